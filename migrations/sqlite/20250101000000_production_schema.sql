-- The embedded schema: the production tables and columns (see migrations/postgres) in SQLite's
-- types. Timestamps are stored as UTC text ("YYYY-MM-DD HH:MM:SS.SSS").

CREATE TABLE IF NOT EXISTS "users" (
    "id"        TEXT NOT NULL PRIMARY KEY,
    "email"     TEXT,
    "name"      TEXT,
    "avatar"    TEXT,
    "plan"      TEXT NOT NULL DEFAULT 'free',
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS "users_email_key" ON "users"("email");

CREATE TABLE IF NOT EXISTS "expenses-fixed-cost" (
    "id"        INTEGER PRIMARY KEY AUTOINCREMENT,
    "userId"    TEXT NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "rank"      INTEGER NOT NULL DEFAULT 0,
    "name"      TEXT NOT NULL,
    "amount"    REAL NOT NULL,
    "period"    TEXT,
    "category"  TEXT NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "expenses-fixed-cost_userId_idx" ON "expenses-fixed-cost"("userId");

CREATE TABLE IF NOT EXISTS "expenses-billabe-cost" (
    "id"            INTEGER PRIMARY KEY AUTOINCREMENT,
    "userId"        TEXT NOT NULL UNIQUE REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "workDays"      REAL NOT NULL DEFAULT 5,
    "hoursPerDay"   REAL NOT NULL DEFAULT 6,
    "holidaysDays"  REAL NOT NULL DEFAULT 12,
    "vacationsDays" REAL NOT NULL DEFAULT 30,
    "sickLeaveDays" REAL NOT NULL DEFAULT 3,
    "monthlySalary" REAL NOT NULL DEFAULT 5000,
    "taxes"         REAL NOT NULL DEFAULT 0,
    "fees"          REAL NOT NULL DEFAULT 0,
    "margin"        REAL NOT NULL DEFAULT 15,
    "billableHours" REAL,
    "createdAt"     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE IF NOT EXISTS "equipment-expense" (
    "id"           INTEGER PRIMARY KEY AUTOINCREMENT,
    "userId"       TEXT NOT NULL REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    "name"         TEXT NOT NULL,
    "amount"       REAL NOT NULL,
    "rank"         INTEGER NOT NULL DEFAULT 0,
    "category"     TEXT NOT NULL,
    "purchaseDate" DATETIME NOT NULL,
    "usage"        REAL NOT NULL,
    "lifeSpan"     REAL NOT NULL,
    "createdAt"    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"    DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS "equipment-expense_userId_idx" ON "equipment-expense"("userId");
