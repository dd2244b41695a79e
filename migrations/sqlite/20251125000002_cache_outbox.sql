-- Cache invalidations owed after a commit; see migrations/postgres for what the table is for.
CREATE TABLE IF NOT EXISTS "cache_outbox" (
    "id"  INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "key" TEXT NOT NULL
);
