//! Invalidations survive the request and the process (the outbox), and no path stores a value
//! over a newer write. Each test runs the service against `kv-emulator` on both databases.

use std::time::{Duration, Instant};

use kv_emulator::{Faults, Running};
use serde_json::json;

use crate::helpers::*;

const FIXED: &str = "/api/expenses/fixed-costs";
const BILLABLE: &str = "/api/expenses/billable-costs";

/// Polls until the list of `user` in KV (if any) and two GETs in a row all have `rows` rows.
async fn assert_converges(base: &str, emulator: &Running, user: &str, rows: usize) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    loop {
        let kv = in_kv(emulator, &format!("fixed-cost-list:{user}")).await;
        let kv_ok = kv
            .as_ref()
            .is_none_or(|list| list.as_array().unwrap().len() == rows);
        let mut gets = Vec::new();
        for _ in 0..2 {
            let reply = read(
                client
                    .get(format!("{base}{FIXED}?userId={user}"))
                    .send()
                    .await
                    .unwrap(),
            )
            .await;
            gets.push(reply.data().as_array().unwrap().len());
        }
        if kv_ok && gets.iter().all(|n| *n == rows) {
            return;
        }
        seen.push((kv.map(|list| list.as_array().unwrap().len()), gets));
        assert!(
            Instant::now() < deadline,
            "never converged to {rows} rows: (KV rows, GET rows) {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn hang() -> Faults {
    Faults {
        hang: true,
        ..Faults::default()
    }
}

/// The client gives up and the request times out while KV hangs on the invalidation: the
/// committed row reaches KV and every GET once KV answers again.
async fn a_request_cancelled_during_a_hanging_kv_loses_no_invalidation(database: TestDatabase) {
    let emulator = kv_emulator(Faults::default()).await;
    let app = app_on_kv(
        database,
        &emulator,
        &[("KV_TIMEOUT_MS", "1500"), ("REQUEST_TIMEOUT_SECONDS", "1")],
    )
    .await;
    create_fixed(&app, "u", "Rent", 0).await;
    assert_eq!(app.get(&format!("{FIXED}?userId=u")).await.cache(), "miss");
    assert!(in_kv(&emulator, "fixed-cost-list:u").await.is_some());

    emulator.set_faults(&hang()).await.unwrap();
    let gave_up = app
        .client
        .post(format!("{}{FIXED}", app.base))
        .json(&fixed_cost("u", "Phone", 30.0, 1))
        .timeout(Duration::from_millis(1200))
        .send()
        .await;
    // The edge's timeout (503) or the client's own: either way the request future is gone.
    assert!(
        gave_up.as_ref().map_or(true, |r| r.status() == 503),
        "{gave_up:?}"
    );
    assert_eq!(app.db().list_fixed_costs("u").await.unwrap().len(), 2);

    emulator.set_faults(&Faults::default()).await.unwrap();
    assert_converges(&app.base, &emulator, "u", 2).await;
}

/// `SIGKILL` of the real process after the commit, while the KV delete hangs; a new process over
/// the same database applies the invalidation the first one owed.
async fn a_process_killed_after_the_commit_loses_no_invalidation(database_url: String) {
    let emulator = kv_emulator(Faults::default()).await;
    let mut env = kv_env(&emulator);
    env.extend([
        ("DATABASE_URL", database_url),
        ("KV_TIMEOUT_MS", "5000".into()),
    ]);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut first = Process::start(&env).await;
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{}{FIXED}", first.base))
        .json(&fixed_cost("k", "Rent", 10.0, 0))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    client
        .get(format!("{}{FIXED}?userId=k", first.base))
        .send()
        .await
        .unwrap();
    assert!(in_kv(&emulator, "fixed-cost-list:k").await.is_some());

    emulator.set_faults(&hang()).await.unwrap();
    let cut = client
        .post(format!("{}{FIXED}", first.base))
        .json(&fixed_cost("k", "Phone", 30.0, 1))
        .timeout(Duration::from_millis(1000))
        .send()
        .await;
    assert!(cut.is_err(), "the write waits on the hanging KV: {cut:?}");
    first.kill();
    emulator.set_faults(&Faults::default()).await.unwrap();

    let second = Process::start(&env).await;
    assert_converges(&second.base, &emulator, "k", 2).await;
}

/// A `user.created` delivery, then a PATCH of the same user 50 ms later: no path stores the row
/// the webhook read before the PATCH, so every GET shows the PATCH.
async fn a_webhook_never_overwrites_a_newer_write_in_the_cache(database: TestDatabase) {
    let emulator = kv_emulator(Faults {
        latency_ms: 300,
        ..Faults::default()
    })
    .await;
    let app = app_on_kv(
        database,
        &emulator,
        &[("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)],
    )
    .await;
    let created = app.post(BILLABLE, &json!({"userId": "user_r"})).await;
    assert_eq!(created.status, 201);
    // Cloudflare (and the emulator) refuse a second write to one key within a second.
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let body = event("user.created", clerk_user("user_r", Some("R"), None, 5), 5);
    let webhook = deliver(&app, "msg_race", &body);
    let patch = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        app.patch(BILLABLE, &json!({"userId": "user_r", "taxes": 42}))
            .await
    };
    let (delivered, patched) = tokio::join!(webhook, patch);
    assert_eq!(delivered.status, 200, "{delivered:?}");
    assert_eq!(patched.status, 200, "{patched:?}");

    for _ in 0..3 {
        let read = app.get(&format!("{BILLABLE}?userId=user_r")).await;
        assert_eq!(read.data()["taxes"], 42, "{read:?}");
    }
    if let Some(cached) = in_kv(&emulator, "billable-cost:user_r").await {
        assert_eq!(cached["taxes"], 42, "{cached}");
    }
}

mod sqlite {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_cancelled_during_a_hanging_kv_loses_no_invalidation() {
        super::a_request_cancelled_during_a_hanging_kv_loses_no_invalidation(TestDatabase::sqlite())
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_process_killed_after_the_commit_loses_no_invalidation() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/killed.db", dir.path().display());
        super::a_process_killed_after_the_commit_loses_no_invalidation(url).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_never_overwrites_a_newer_write_in_the_cache() {
        super::a_webhook_never_overwrites_a_newer_write_in_the_cache(TestDatabase::sqlite()).await
    }
}

#[cfg(feature = "postgres-tests")]
mod postgres {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_request_cancelled_during_a_hanging_kv_loses_no_invalidation() {
        super::a_request_cancelled_during_a_hanging_kv_loses_no_invalidation(
            TestDatabase::postgres().await,
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_process_killed_after_the_commit_loses_no_invalidation() {
        let database = PgTestDb::create().await;
        super::a_process_killed_after_the_commit_loses_no_invalidation(database.url.clone()).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_webhook_never_overwrites_a_newer_write_in_the_cache() {
        super::a_webhook_never_overwrites_a_newer_write_in_the_cache(TestDatabase::postgres().await)
            .await
    }
}
