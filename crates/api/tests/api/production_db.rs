//! The database as production reaches it: over TLS (Neon accepts nothing else), and through
//! PgBouncer in transaction mode (Neon's `-pooler` hosts). `scripts/test` starts both locally:
//! a TLS-only cluster whose certificate a CA made at test time signed (`scripts/ensure-postgres-tls`)
//! and Debian's PgBouncer in front of the local server (`scripts/ensure-pgbouncer`).

use futures::future::join_all;
use serde_json::json;
use sqlx::{Connection, PgConnection, Row};

use crate::helpers::*;

/// The TLS-only server, its URL trusting the test CA (`verify-full`).
fn tls_admin_url() -> String {
    env_url(
        "TEST_TLS_DATABASE_URL",
        "postgres://postgres@localhost:5433/postgres?sslmode=verify-full&sslrootcert=target/pg-tls/ca.pem",
    )
}

/// PgBouncer in transaction mode in front of the server of `TEST_DATABASE_URL`.
fn pgbouncer_url(database: &str) -> String {
    let admin = env_url(
        "TEST_PGBOUNCER_URL",
        "postgres://postgres@127.0.0.1:6432/postgres",
    );
    with_database(&admin, database)
}

fn database_name(url: &str) -> &str {
    let path = url.split('?').next().unwrap();
    path.rsplit_once('/').unwrap().1
}

/// `url` with its `sslmode` and `sslrootcert` replaced by `params`.
fn with_tls_params(url: &str, params: &str) -> String {
    format!("{}?{params}", url.split('?').next().unwrap())
}

/// Whether every connection the service holds to `database` is encrypted.
async fn service_connections_use_tls(admin_url: &str, database: &str) -> bool {
    let mut admin = PgConnection::connect(admin_url).await.unwrap();
    let row = sqlx::query(
        "SELECT count(*) AS total, count(*) FILTER (WHERE s.ssl) AS encrypted
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.datname = $1",
    )
    .bind(database)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    let (total, encrypted): (i64, i64) = (row.get("total"), row.get("encrypted"));
    total > 0 && total == encrypted
}

#[tokio::test]
async fn verify_full_against_the_test_ca_serves_writes_and_reads() {
    let admin = tls_admin_url();
    let db = PgTestDb::create_on(&admin).await;
    let url = db.url.clone();
    let app = TestApp::start(
        TestDatabase::Postgres(db),
        &[("DATABASE_URL", url.as_str())],
    )
    .await;
    let id = create_fixed(&app, "tls-user", "Rent", 0).await;
    let path = "/api/expenses/fixed-costs?userId=tls-user";
    let list = app.get(path).await;
    assert_eq!(list.data()[0]["id"], id);
    assert!(service_connections_use_tls(&admin, database_name(&url)).await);
}

#[tokio::test]
async fn a_neon_style_url_starts_and_serves() {
    let db = PgTestDb::create_on(&tls_admin_url()).await;
    // Neon's own parameters: encryption without verification, and channel binding, which sqlx
    // does not implement and ignores (SCRAM is not in use here: trust authentication).
    let url = with_tls_params(&db.url, "sslmode=require&channel_binding=require");
    let app = TestApp::start(
        TestDatabase::Postgres(db),
        &[("DATABASE_URL", url.as_str())],
    )
    .await;
    create_fixed(&app, "neon-user", "Rent", 0).await;
    let list = app.get("/api/expenses/fixed-costs?userId=neon-user").await;
    assert_eq!(list.data().as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn plaintext_and_a_wrong_ca_are_refused_at_start_up() {
    let db = PgTestDb::create_on(&tls_admin_url()).await;
    let plaintext = with_tls_params(&db.url, "sslmode=disable");
    let error = start_up_error(&[("DATABASE_URL", plaintext.as_str())]).await;
    assert!(error.contains("no encryption"), "{error}");

    let ca = env_url("TEST_TLS_WRONG_CA", "target/pg-tls/wrong-ca.pem");
    let wrong_ca = with_tls_params(&db.url, &format!("sslmode=verify-full&sslrootcert={ca}"));
    let error = start_up_error(&[("DATABASE_URL", wrong_ca.as_str())]).await;
    assert!(error.contains("TLS to the database failed"), "{error}");
}

#[tokio::test]
async fn sslmode_require_refuses_a_server_without_tls() {
    // PgBouncer here offers no TLS: a URL that requires it must not fall back to plaintext.
    let db = PgTestDb::create().await;
    let url = format!("{}?sslmode=require", pgbouncer_url(database_name(&db.url)));
    let error = start_up_error(&[
        ("DATABASE_URL", url.as_str()),
        ("DATABASE_URL_UNPOOLED", db.url.as_str()),
    ])
    .await;
    assert!(
        error.contains("TLS to the database failed") && error.contains("does not support TLS"),
        "{error}"
    );
}

/// The service on `database` through PgBouncer for queries, directly for migrations and LISTEN.
async fn pooled_app(database: TestDatabase) -> TestApp {
    let direct = database.url().to_owned();
    let pooled = pgbouncer_url(database_name(&direct));
    TestApp::start(
        database,
        &[
            ("DATABASE_URL", pooled.as_str()),
            ("DATABASE_URL_UNPOOLED", direct.as_str()),
            ("DATABASE_MAX_CONNECTIONS", "8"),
        ],
    )
    .await
}

#[tokio::test]
async fn every_route_works_through_pgbouncer_in_transaction_mode() {
    let app = pooled_app(TestDatabase::postgres().await).await;
    let e = EXPENSES;
    // Many requests at once: each store call lands on whichever server connection PgBouncer has
    // free, so a statement prepared by name on one would be missing on the next.
    let app = &app;
    let creates = (0..24).map(|n| async move {
        create_fixed(app, &format!("pooled-{}", n % 4), &format!("cost {n}"), n).await
    });
    let ids = join_all(creates).await;
    let reads = (0..40).map(|n| app.get_owned(format!("{e}/fixed-costs?userId=pooled-{}", n % 4)));
    for reply in join_all(reads).await {
        assert_eq!(reply.data().as_array().unwrap().len(), 6, "{reply:?}");
    }
    let id = ids[0];
    let patched = app
        .patch(
            &format!("{e}/fixed-costs/{id}"),
            &json!({"userId": "pooled-0", "amount": 7}),
        )
        .await;
    assert_eq!(patched.data()["amount"], 7);
    let batch = json!({"userId": "pooled-0", "updates": [{"id": id, "data": {"rank": 9}}]});
    assert_eq!(
        app.put(&format!("{e}/fixed-costs"), &batch).await.status,
        200
    );
    assert_eq!(
        app.delete(&format!("{e}/fixed-costs/pooled-0/{id}"))
            .await
            .status,
        200
    );

    let billable = app
        .post(
            &format!("{e}/billable-costs"),
            &json!({"userId": "pooled-0"}),
        )
        .await;
    assert_eq!(billable.status, 201);
    let changed = app
        .patch(
            &format!("{e}/billable-costs"),
            &json!({"userId": "pooled-0", "taxes": 21}),
        )
        .await;
    assert_eq!(changed.data()["taxes"], 21);
    assert_eq!(
        app.get(&format!("{e}/billable-costs?userId=pooled-0"))
            .await
            .data()["taxes"],
        21
    );

    let gear = create_equipment(app, "pooled-0", "Laptop", 0).await;
    let renamed = app
        .patch(
            &format!("{e}/equipment-costs"),
            &json!({"userId": "pooled-0", "id": gear, "name": "Desk"}),
        )
        .await;
    assert_eq!(renamed.data()["name"], "Desk");
    let batch = json!({"userId": "pooled-0", "updates": [{"id": gear, "data": {"usage": 50}}]});
    assert_eq!(
        app.put(&format!("{e}/equipment-costs"), &batch)
            .await
            .status,
        200
    );
    assert_eq!(
        app.get(&format!("{e}/equipment-costs?userId=pooled-0"))
            .await
            .data()[0]["usage"],
        50
    );
    assert_eq!(
        app.delete(&format!("{e}/equipment-costs/pooled-0/{gear}"))
            .await
            .status,
        200
    );
    assert_eq!(app.get("/ready").await.status, 200);
}

#[tokio::test]
async fn pooled_instances_evict_each_other_within_a_second() {
    let first = pooled_app(TestDatabase::postgres().await).await;
    let direct = first.database.url().to_owned();
    let pooled = pgbouncer_url(database_name(&direct));
    let second = TestApp::start(
        TestDatabase::sqlite(),
        &[
            ("DATABASE_URL", pooled.as_str()),
            ("DATABASE_URL_UNPOOLED", direct.as_str()),
        ],
    )
    .await;
    a_write_on_one_evicts_the_other_within_a_second(&first, &second).await;
}

#[tokio::test]
async fn a_pooled_url_alone_does_not_migrate_but_serves() {
    let db = PgTestDb::create().await;
    let name = database_name(&db.url).to_owned();
    // Prisma's mark of a pooled URL; without a direct URL, migrations cannot run.
    let pooled = format!("{}?pgbouncer=true", pgbouncer_url(&name));
    let error = start_up_error(&[("DATABASE_URL", pooled.as_str())]).await;
    assert!(error.contains("DATABASE_URL_UNPOOLED"), "{error}");

    let migrated =
        TestApp::start(TestDatabase::sqlite(), &[("DATABASE_URL", db.url.as_str())]).await;
    drop(migrated);
    let app = TestApp::start(
        TestDatabase::Postgres(db),
        &[("DATABASE_URL", pooled.as_str()), ("AUTO_MIGRATE", "false")],
    )
    .await;
    create_fixed(&app, "alone", "Rent", 0).await;
    assert_eq!(
        app.get("/api/expenses/fixed-costs?userId=alone")
            .await
            .data()[0]["name"],
        "Rent"
    );
}
