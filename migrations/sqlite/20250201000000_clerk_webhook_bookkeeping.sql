-- Bookkeeping for Clerk webhooks; see migrations/postgres for what each table is for.
CREATE TABLE IF NOT EXISTS "clerk_webhook_events" (
    "svixId"     TEXT NOT NULL PRIMARY KEY,
    "eventType"  TEXT NOT NULL,
    "userId"     TEXT,
    "receivedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS "clerk_user_versions" (
    "userId"      TEXT NOT NULL PRIMARY KEY,
    "lastEventAt" INTEGER NOT NULL,
    "deleted"     BOOLEAN NOT NULL DEFAULT FALSE
);
