//! The service on a database laid out as production has it: tables created by the old API's ORM
//! (Prisma), with rows in them, migrated in place and read back unchanged.

use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, Row};

use crate::helpers::*;

/// The production schema as Prisma created it, its bookkeeping table, and some rows.
const PRISMA_SCHEMA_AND_ROWS: &str = r#"
CREATE TABLE "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0
);
INSERT INTO "_prisma_migrations" (id, checksum, migration_name) VALUES ('1', 'abc', '0_init');
CREATE TABLE "users" (
    "id" TEXT NOT NULL, "email" TEXT, "name" TEXT, "avatar" TEXT,
    "plan" TEXT NOT NULL DEFAULT 'free',
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "users_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "users_email_key" ON "users"("email");
CREATE TABLE "expenses-fixed-cost" (
    "id" SERIAL NOT NULL, "userId" TEXT NOT NULL, "rank" INTEGER NOT NULL DEFAULT 0,
    "name" TEXT NOT NULL, "amount" DOUBLE PRECISION NOT NULL, "period" TEXT,
    "category" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "expenses-fixed-cost_pkey" PRIMARY KEY ("id")
);
CREATE TABLE "expenses-billabe-cost" (
    "id" SERIAL NOT NULL, "userId" TEXT NOT NULL,
    "workDays" DOUBLE PRECISION NOT NULL DEFAULT 5, "hoursPerDay" DOUBLE PRECISION NOT NULL DEFAULT 6,
    "holidaysDays" DOUBLE PRECISION NOT NULL DEFAULT 12, "vacationsDays" DOUBLE PRECISION NOT NULL DEFAULT 30,
    "sickLeaveDays" DOUBLE PRECISION NOT NULL DEFAULT 3, "monthlySalary" DOUBLE PRECISION NOT NULL DEFAULT 5000,
    "taxes" DOUBLE PRECISION NOT NULL DEFAULT 0, "fees" DOUBLE PRECISION NOT NULL DEFAULT 0,
    "margin" DOUBLE PRECISION NOT NULL DEFAULT 15, "billableHours" DOUBLE PRECISION,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "expenses-billabe-cost_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "expenses-billabe-cost_userId_key" ON "expenses-billabe-cost"("userId");
CREATE TABLE "equipment-expense" (
    "id" SERIAL NOT NULL, "userId" TEXT NOT NULL, "name" TEXT NOT NULL,
    "amount" DOUBLE PRECISION NOT NULL, "rank" INTEGER NOT NULL DEFAULT 0, "category" TEXT NOT NULL,
    "purchaseDate" TIMESTAMP(3) NOT NULL, "usage" DOUBLE PRECISION NOT NULL,
    "lifeSpan" DOUBLE PRECISION NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "equipment-expense_pkey" PRIMARY KEY ("id")
);
ALTER TABLE "expenses-fixed-cost" ADD CONSTRAINT "expenses-fixed-cost_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "expenses-billabe-cost" ADD CONSTRAINT "expenses-billabe-cost_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "equipment-expense" ADD CONSTRAINT "equipment-expense_userId_fkey" FOREIGN KEY ("userId") REFERENCES "users"("id") ON DELETE CASCADE ON UPDATE CASCADE;

INSERT INTO users (id, email, name, avatar, plan, "createdAt", "updatedAt") VALUES
  ('user_2legacy', 'legacy@example.org', 'Legacy User', 'https://img.clerk.com/a', 'pro',
   '2024-01-02 03:04:05.678', '2024-02-03 04:05:06.789');
INSERT INTO "expenses-fixed-cost" ("userId", rank, name, amount, period, category, "createdAt", "updatedAt") VALUES
  ('user_2legacy', 1, 'Rent', 1200.5, 'monthly', 'home', '2024-01-05 10:00:00.123', '2024-01-06 11:00:00.456'),
  ('user_2legacy', 0, 'Insurance', 300, 'yearly', 'admin', '2024-01-05 10:00:01.000', '2024-01-05 10:00:01.000'),
  ('user_2legacy', 2, 'Misc', 12, NULL, 'other', '2024-01-05 10:00:02.000', '2024-01-05 10:00:02.000');
INSERT INTO "expenses-billabe-cost" ("userId", "workDays", "hoursPerDay", "holidaysDays", "vacationsDays", "sickLeaveDays", "monthlySalary", taxes, fees, margin, "billableHours", "createdAt", "updatedAt") VALUES
  ('user_2legacy', 4.5, 7, 10, 25, 2, 5000, 22.5, 3, 15, NULL, '2024-01-07 00:00:00.000', '2024-01-08 00:00:00.000');
INSERT INTO "equipment-expense" ("userId", name, amount, rank, category, "purchaseDate", usage, "lifeSpan", "createdAt", "updatedAt") VALUES
  ('user_2legacy', 'Laptop', 2499.99, 0, 'hardware', '2023-11-20 00:00:00.000', 90, 3, '2024-01-09 00:00:00.000', '2024-01-09 00:00:00.000');
"#;

/// A stable dump of the rows of every production table.
async fn dump(conn: &mut PgConnection) -> Vec<String> {
    let mut rows = Vec::new();
    for table in [
        "users",
        "expenses-fixed-cost",
        "expenses-billabe-cost",
        "equipment-expense",
        "_prisma_migrations",
    ] {
        let sql = format!(r#"SELECT to_jsonb(t)::text AS row FROM "{table}" t ORDER BY 1"#);
        for row in conn.fetch_all(sql.as_str()).await.unwrap() {
            rows.push(format!("{table}: {}", row.get::<String, _>("row")));
        }
    }
    rows
}

#[tokio::test]
async fn migrates_a_production_database_in_place_and_serves_its_rows_unchanged() {
    let database = TestDatabase::postgres().await;
    let mut conn = PgConnection::connect(database.url()).await.unwrap();
    conn.execute(PRISMA_SCHEMA_AND_ROWS).await.unwrap();
    let before = dump(&mut conn).await;

    let app = TestApp::start(database, &[]).await;
    assert_eq!(dump(&mut conn).await, before, "migrating changed a row");
    crate::indexes::assert_user_indexes_valid(&mut conn).await;

    let fixed = app
        .get("/api/expenses/fixed-costs?userId=user_2legacy")
        .await;
    assert_eq!(
        fixed.data(),
        &json!([
            {"id": 2, "userId": "user_2legacy", "rank": 0, "name": "Insurance", "amount": 300,
             "period": "yearly", "category": "admin",
             "createdAt": "2024-01-05T10:00:01.000Z", "updatedAt": "2024-01-05T10:00:01.000Z"},
            {"id": 1, "userId": "user_2legacy", "rank": 1, "name": "Rent", "amount": 1200.5,
             "period": "monthly", "category": "home",
             "createdAt": "2024-01-05T10:00:00.123Z", "updatedAt": "2024-01-06T11:00:00.456Z"},
            {"id": 3, "userId": "user_2legacy", "rank": 2, "name": "Misc", "amount": 12,
             "period": null, "category": "other",
             "createdAt": "2024-01-05T10:00:02.000Z", "updatedAt": "2024-01-05T10:00:02.000Z"},
        ])
    );
    let billable = app
        .get("/api/expenses/billable-costs?userId=user_2legacy")
        .await;
    assert_eq!(
        billable.data(),
        &json!({"id": 1, "userId": "user_2legacy", "workDays": 4.5, "hoursPerDay": 7,
                "holidaysDays": 10, "vacationsDays": 25, "sickLeaveDays": 2,
                "monthlySalary": 5000, "taxes": 22.5, "fees": 3, "margin": 15,
                "billableHours": null,
                "createdAt": "2024-01-07T00:00:00.000Z", "updatedAt": "2024-01-08T00:00:00.000Z"})
    );
    let gear = app
        .get("/api/expenses/equipment-costs?userId=user_2legacy")
        .await;
    assert_eq!(gear.data()[0]["purchaseDate"], "2023-11-20T00:00:00.000Z");
    assert_eq!(gear.data()[0]["amount"], 2499.99);
    let user = app.db().get_user("user_2legacy").await.unwrap().unwrap();
    assert_eq!(user.plan, "pro");
    assert_eq!(dump(&mut conn).await, before, "reading changed a row");

    // New rows continue the existing sequences, and a restart migrates nothing twice.
    let id = create_fixed(&app, "user_2legacy", "New", 3).await;
    assert_eq!(id, 4);
    let app = app.restart().await;
    let listed = app
        .get("/api/expenses/fixed-costs?userId=user_2legacy")
        .await;
    assert_eq!(listed.data().as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_are_idempotent() {
    let database = TestDatabase::postgres().await;
    let app = TestApp::start(database, &[]).await;
    create_fixed(&app, "u", "Rent", 0).await;
    let app = app.restart().await;
    assert_eq!(app.db().list_fixed_costs("u").await.unwrap().len(), 1);
}
