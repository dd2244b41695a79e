-- Bookkeeping for Clerk webhooks (new tables only; nothing existing changes).
-- Every Svix message applied, so a redelivery is answered without applying it twice.
CREATE TABLE IF NOT EXISTS "clerk_webhook_events" (
    "svixId"     TEXT NOT NULL PRIMARY KEY,
    "eventType"  TEXT NOT NULL,
    "userId"     TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP
);
-- The newest event applied to each user (Clerk's milliseconds), so an older event delivered late
-- never overwrites a newer one; "deleted" remembers a deletion after the user row is gone.
CREATE TABLE IF NOT EXISTS "clerk_user_versions" (
    "userId"      TEXT NOT NULL PRIMARY KEY,
    "lastEventAt" BIGINT NOT NULL,
    "deleted"     BOOLEAN NOT NULL DEFAULT FALSE
);
