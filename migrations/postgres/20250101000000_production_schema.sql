-- The production schema as the old API's ORM (Prisma) created it. Every statement is guarded with
-- IF NOT EXISTS, so this applies to an empty database and is a no-op on the production database,
-- which already holds these tables and their rows. Nothing here may rename, retype or drop.

CREATE TABLE IF NOT EXISTS "users" (
    "id"        TEXT NOT NULL,
    "email"     TEXT,
    "name"      TEXT,
    "avatar"    TEXT,
    "plan"      TEXT NOT NULL DEFAULT 'free',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX IF NOT EXISTS "users_email_key" ON "users"("email");

CREATE TABLE IF NOT EXISTS "expenses-fixed-cost" (
    "id"        SERIAL NOT NULL,
    "userId"    TEXT NOT NULL,
    "rank"      INTEGER NOT NULL DEFAULT 0,
    "name"      TEXT NOT NULL,
    "amount"    DOUBLE PRECISION NOT NULL,
    "period"    TEXT,
    "category"  TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "expenses-fixed-cost_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "expenses-fixed-cost_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE IF NOT EXISTS "expenses-billabe-cost" (
    "id"            SERIAL NOT NULL,
    "userId"        TEXT NOT NULL,
    "workDays"      DOUBLE PRECISION NOT NULL DEFAULT 5,
    "hoursPerDay"   DOUBLE PRECISION NOT NULL DEFAULT 6,
    "holidaysDays"  DOUBLE PRECISION NOT NULL DEFAULT 12,
    "vacationsDays" DOUBLE PRECISION NOT NULL DEFAULT 30,
    "sickLeaveDays" DOUBLE PRECISION NOT NULL DEFAULT 3,
    "monthlySalary" DOUBLE PRECISION NOT NULL DEFAULT 5000,
    "taxes"         DOUBLE PRECISION NOT NULL DEFAULT 0,
    "fees"          DOUBLE PRECISION NOT NULL DEFAULT 0,
    "margin"        DOUBLE PRECISION NOT NULL DEFAULT 15,
    "billableHours" DOUBLE PRECISION,
    "createdAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"     TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "expenses-billabe-cost_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "expenses-billabe-cost_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS "expenses-billabe-cost_userId_key" ON "expenses-billabe-cost"("userId");

CREATE TABLE IF NOT EXISTS "equipment-expense" (
    "id"           SERIAL NOT NULL,
    "userId"       TEXT NOT NULL,
    "name"         TEXT NOT NULL,
    "amount"       DOUBLE PRECISION NOT NULL,
    "rank"         INTEGER NOT NULL DEFAULT 0,
    "category"     TEXT NOT NULL,
    "purchaseDate" TIMESTAMP(3) NOT NULL,
    "usage"        DOUBLE PRECISION NOT NULL,
    "lifeSpan"     DOUBLE PRECISION NOT NULL,
    "createdAt"    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt"    TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "equipment-expense_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "equipment-expense_userId_fkey" FOREIGN KEY ("userId")
        REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
