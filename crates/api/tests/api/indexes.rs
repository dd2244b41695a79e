//! The `"userId"` indexes (migrations 20251125000000/1) on a seeded Postgres table: the list
//! queries and the cascade of a user's deletion read through them (`EXPLAIN` names them), and the
//! real cascade scans them.

use sqlx::{Connection, Executor, PgConnection, Row};

use crate::helpers::*;

const FIXED_INDEX: &str = "expenses-fixed-cost_userId_rank_idx";
const EQUIPMENT_INDEX: &str = "equipment-expense_userId_rank_idx";

/// 5,000 users with 20 fixed costs and 5 equipment rows each (125,000 rows): enough that a
/// sequential scan costs the planner far more than the index, with fresh statistics.
const SEED: &str = r#"
INSERT INTO users (id) SELECT 'user_' || n FROM generate_series(1, 5000) n;
INSERT INTO "expenses-fixed-cost" ("userId", rank, name, amount, period, category)
    SELECT 'user_' || u, r, 'Expense ' || r, 100 + r, 'monthly', 'office'
    FROM generate_series(1, 5000) u, generate_series(0, 19) r;
INSERT INTO "equipment-expense" ("userId", name, amount, rank, category, "purchaseDate", usage, "lifeSpan")
    SELECT 'user_' || u, 'Laptop ' || r, 2400, r, 'hardware', '2024-05-01', 80, 3
    FROM generate_series(1, 5000) u, generate_series(0, 4) r;
ANALYZE;
"#;

/// The list queries exactly as `formula_db`'s repository sends them.
const LIST_FIXED: &str = r#"SELECT id, "userId", rank, name, amount, period, category, "createdAt", "updatedAt" FROM "expenses-fixed-cost" WHERE "userId" = $1 ORDER BY rank, id"#;
const LIST_EQUIPMENT: &str = r#"SELECT id, "userId", name, amount, rank, category, "purchaseDate", usage, "lifeSpan", "createdAt", "updatedAt" FROM "equipment-expense" WHERE "userId" = $1 ORDER BY rank, id"#;

/// What the foreign key's `ON DELETE CASCADE` trigger runs for each table (Postgres's
/// `ri_triggers.c` builds it this way), as a parameterized statement like the trigger's.
fn cascade_of(table: &str) -> String {
    format!(r#"DELETE FROM ONLY "public"."{table}" WHERE $1 OPERATOR(pg_catalog.=) "userId""#)
}

/// The plan Postgres picks for `sql` with `$1 = 'user_42'`, as text, in a throw-away transaction;
/// `generic` asks for the plan a cached statement (like the cascade trigger's) ends up with.
async fn plan(conn: &mut PgConnection, sql: &str, generic: bool) -> String {
    let mut tx = conn.begin().await.unwrap();
    let mode = if generic {
        "force_generic_plan"
    } else {
        "auto"
    };
    tx.execute(format!("SET LOCAL plan_cache_mode = {mode}").as_str())
        .await
        .unwrap();
    tx.execute(format!("PREPARE probe(text) AS {sql}").as_str())
        .await
        .unwrap();
    let rows = tx
        .fetch_all("EXPLAIN EXECUTE probe('user_42')")
        .await
        .unwrap();
    tx.execute("DEALLOCATE probe").await.unwrap();
    tx.rollback().await.unwrap();
    rows.iter()
        .map(|row| row.get::<String, _>(0))
        .collect::<Vec<_>>()
        .join("\n")
}

/// How often each index has been scanned, after making this session's counts visible.
async fn index_scans(conn: &mut PgConnection) -> (i64, i64) {
    conn.execute("SELECT pg_stat_force_next_flush()")
        .await
        .unwrap();
    conn.execute("SELECT pg_stat_clear_snapshot()")
        .await
        .unwrap();
    let row = conn
        .fetch_one(
            format!(
                "SELECT
                   (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '{FIXED_INDEX}'),
                   (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = '{EQUIPMENT_INDEX}')"
            )
            .as_str(),
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test]
async fn list_queries_and_the_user_cascade_read_through_the_user_indexes() {
    let app = TestApp::postgres().await;
    let mut conn = PgConnection::connect(app.database.url()).await.unwrap();
    conn.execute(SEED).await.unwrap();

    for (sql, index) in [(LIST_FIXED, FIXED_INDEX), (LIST_EQUIPMENT, EQUIPMENT_INDEX)] {
        let plan = plan(&mut conn, sql, false).await;
        assert!(plan.contains(index), "list query not on {index}:\n{plan}");
        assert!(
            !plan.contains("Seq Scan"),
            "list query scans the table:\n{plan}"
        );
    }
    for (table, index) in [
        ("expenses-fixed-cost", FIXED_INDEX),
        ("equipment-expense", EQUIPMENT_INDEX),
    ] {
        for generic in [false, true] {
            let plan = plan(&mut conn, &cascade_of(table), generic).await;
            assert!(plan.contains(index), "cascade not on {index}:\n{plan}");
            assert!(
                !plan.contains("Seq Scan"),
                "cascade scans the table:\n{plan}"
            );
        }
    }

    // The real cascade: deleting a user scans each index (once per table) and removes the rows.
    let before = index_scans(&mut conn).await;
    conn.execute("DELETE FROM users WHERE id = 'user_42'")
        .await
        .unwrap();
    let after = index_scans(&mut conn).await;
    assert!(after.0 > before.0, "cascade did not scan {FIXED_INDEX}");
    assert!(after.1 > before.1, "cascade did not scan {EQUIPMENT_INDEX}");
    let left: i64 = conn
        .fetch_one(r#"SELECT count(*) FROM "expenses-fixed-cost" WHERE "userId" = 'user_42'"#)
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);

    // And the service's own list is served (the read the index is for).
    let listed = app
        .get(&format!("{EXPENSES}/fixed-costs?userId=user_7"))
        .await;
    assert_eq!(listed.data().as_array().unwrap().len(), 20);
}

/// Asserts both indexes exist and are valid (a `CONCURRENTLY` build that failed leaves an invalid
/// one behind, which `IF NOT EXISTS` would then keep).
pub async fn assert_user_indexes_valid(conn: &mut PgConnection) {
    let rows = conn
        .fetch_all(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
             WHERE c.relname LIKE '%userId_rank_idx' ORDER BY 1",
        )
        .await
        .unwrap();
    let found: Vec<(String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        found,
        vec![
            (EQUIPMENT_INDEX.to_owned(), true),
            (FIXED_INDEX.to_owned(), true)
        ]
    );
}
