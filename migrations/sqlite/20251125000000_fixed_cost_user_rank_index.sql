-- The index of migrations/postgres/20251125000000 (same name): a user's fixed costs in the list
-- query's order (rank, id).
CREATE INDEX IF NOT EXISTS "expenses-fixed-cost_userId_rank_idx"
    ON "expenses-fixed-cost" ("userId", "rank", "id");
