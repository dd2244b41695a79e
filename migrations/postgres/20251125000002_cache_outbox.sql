-- Cache invalidations owed after a commit (a new table only; nothing existing changes). Each
-- write records the cache keys it made stale in its own transaction; a worker deletes them from
-- the cache (memory, Cloudflare KV, other instances) and then deletes the rows, retrying until
-- done, so neither a cancelled request nor a crash loses an invalidation.
CREATE TABLE IF NOT EXISTS "cache_outbox" (
    "id"  BIGSERIAL NOT NULL PRIMARY KEY,
    "key" TEXT NOT NULL
);
