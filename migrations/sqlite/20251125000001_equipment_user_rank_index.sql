-- The index of migrations/postgres/20251125000001 (same name): a user's equipment in the list
-- query's order (rank, id).
CREATE INDEX IF NOT EXISTS "equipment-expense_userId_rank_idx"
    ON "equipment-expense" ("userId", "rank", "id");
