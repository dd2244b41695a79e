-- no-transaction
-- The same index as 20251125000000 for equipment: the list query and the cascade of a user's
-- deletion read a user's rows through it. CONCURRENTLY, outside a transaction, one statement.
CREATE INDEX CONCURRENTLY IF NOT EXISTS "equipment-expense_userId_rank_idx"
    ON "equipment-expense" ("userId", "rank", "id");
