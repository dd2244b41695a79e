-- no-transaction
-- The list query ("userId" = $1 ORDER BY rank, id) and the cascade of a user's deletion find a
-- user's fixed costs through this index instead of scanning the table. Built CONCURRENTLY, so
-- applying it to the live production table blocks no write; outside a transaction, as Postgres
-- requires for CONCURRENTLY (one statement per file for the same reason). IF NOT EXISTS: a rerun
-- after an interrupted build finds the name taken; see README ("Indexes") for an invalid leftover.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "expenses-fixed-cost_userId_rank_idx"
    ON "expenses-fixed-cost" ("userId", "rank", "id");
