//! The expense routes end to end with `CACHE_BACKEND=cloudflare`, pointed at `kv-emulator`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use formula_db::models::FixedCostPatch;
use futures::StreamExt;
use kv_emulator::{Faults, Options, Running, Stats};

use crate::helpers::*;

const TOKEN: &str = "e2e-token";
const FIXED: &str = "/api/expenses/fixed-costs";

async fn app_on_emulator(extra: &[(&str, &str)]) -> (TestApp, Running) {
    let emulator = kv_emulator::spawn(Options {
        token: TOKEN.into(),
        namespaces: Some(vec!["ns-e2e".into()]),
        ..Options::default()
    })
    .await
    .unwrap();
    let base = emulator.api_base();
    let mut env = vec![
        ("CACHE_BACKEND", "cloudflare"),
        ("CLOUDFLARE_ACCOUNT_ID", "acc-e2e"),
        ("CLOUDFLARE_KV_NAMESPACE", "ns-e2e"),
        ("CLOUDFLARE_KV_API_TOKEN", TOKEN),
        ("CLOUDFLARE_API_BASE_URL", base.as_str()),
    ];
    env.extend_from_slice(extra);
    (TestApp::start(TestDatabase::sqlite(), &env).await, emulator)
}

async fn stats(emulator: &Running) -> Stats {
    emulator.stats().await.unwrap()
}

async fn stored(emulator: &Running, key: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(format!(
            "{}/accounts/acc-e2e/storage/kv/namespaces/ns-e2e/values/{key}",
            emulator.api_base()
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn reads_go_through_kv_with_the_contract_keys_values_and_ttl() {
    let (app, emulator) = app_on_emulator(&[]).await;
    let id = create_fixed(&app, "user_1", "Rent", 0).await;

    let response = app
        .client
        .get(format!("{}{FIXED}?userId=user_1", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-cache"], "miss");
    let body = response.bytes().await.unwrap();
    let after_miss = stats(&emulator).await;
    assert_eq!(after_miss.count("get"), 1);
    assert_eq!(after_miss.count("put"), 1);
    assert_eq!(after_miss.write_ttls, vec![Some(1200)]);

    // The stored value is, byte for byte, the `data` of the answer, under the contract's key.
    let value = stored(&emulator, "fixed-cost-list:user_1").await;
    assert_eq!(value.status(), 200);
    let value = value.bytes().await.unwrap();
    let envelope = br#"{"status":200,"success":true,"data":"#;
    assert_eq!(&body[..envelope.len()], envelope);
    assert_eq!(&body[envelope.len()..body.len() - 1], &value[..]);

    // Served without the database: a change behind the service's back is not seen.
    let patch = FixedCostPatch {
        name: Some("changed".into()),
        ..FixedCostPatch::default()
    };
    app.db()
        .update_fixed_costs("user_1", &[(id as i32, patch)], &[])
        .await
        .unwrap();
    let second = app.get(&format!("{FIXED}?userId=user_1")).await;
    assert_eq!(second.cache(), "hit");
    assert_eq!(second.data()[0]["name"], "Rent");
    assert_eq!(stats(&emulator).await.count("put"), 1);

    // A write deletes the key.
    create_fixed(&app, "user_1", "Phone", 1).await;
    assert_eq!(
        stored(&emulator, "fixed-cost-list:user_1").await.status(),
        404
    );
    let fresh = app.get(&format!("{FIXED}?userId=user_1")).await;
    assert_eq!(fresh.cache(), "miss");
    assert_eq!(fresh.data().as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_burst_over_distinct_users_stays_within_the_budget_and_all_answer() {
    let (app, emulator) = app_on_emulator(&[("KV_BUDGET_PER_5_MIN", "100")]).await;
    let started = Instant::now();
    let statuses: Vec<u16> = futures::stream::iter(0..2000)
        .map(|i| {
            let app = &app;
            async move { app.get(&format!("{FIXED}?userId=burst_{i}")).await.status }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let sent = stats(&emulator).await.total;
    // 100 per five minutes: the burst plus what refilled while the test ran.
    let refilled = (started.elapsed().as_secs_f64() / 3.0).ceil() as u64;
    assert!(sent <= 10 + refilled, "{sent} KV calls for 2000 GETs");
}

#[tokio::test]
async fn a_kv_outage_loses_no_invalidation() {
    let (app, emulator) = app_on_emulator(&[]).await;
    create_fixed(&app, "u", "Rent", 0).await;
    app.get(&format!("{FIXED}?userId=u")).await;
    let outage = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    emulator.set_faults(&outage).await.unwrap();

    let created = app.post(FIXED, &fixed_cost("u", "Phone", 30.0, 1)).await;
    assert_eq!(created.status, 201, "the write is applied with KV down");
    let read = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(read.status, 200);
    assert_eq!(
        read.cache(),
        "bypass",
        "a key with a pending invalidation skips KV"
    );
    assert_eq!(read.data().as_array().unwrap().len(), 2);

    emulator.set_faults(&Faults::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.state.cache.pending_invalidations() > 0 {
        assert!(Instant::now() < deadline, "invalidation never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored(&emulator, "fixed-cost-list:u").await.status(), 404);
    let read = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(
        read.cache(),
        "hit",
        "the bypass read kept the fresh rows in memory"
    );
    assert_eq!(read.data().as_array().unwrap().len(), 2);
}

#[test]
fn start_up_with_a_cloudflare_variable_missing_fails_fast_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_api"))
        .current_dir(dir.path())
        .env_clear()
        .env("CLOUDFLARE_ACCOUNT_ID", "acc")
        .env("CLOUDFLARE_KV_API_TOKEN", "secret-token-value")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CLOUDFLARE_KV_NAMESPACE"), "{stderr}");
    assert!(!stderr.contains("CLOUDFLARE_ACCOUNT_ID,"), "{stderr}");
    assert!(!stderr.contains("secret-token-value"), "{stderr}");
}

#[tokio::test]
async fn a_webhook_with_kv_down_is_applied_and_its_cache_work_is_queued() {
    let (app, emulator) = app_on_emulator(&[("CLERK_WEBHOOK_SIGNING_SECRET", SECRET)]).await;
    // An old value of the user sits in KV.
    app.post(
        "/api/expenses/billable-costs",
        &serde_json::json!({"userId": "user_k"}),
    )
    .await;
    app.patch(
        "/api/expenses/billable-costs",
        &serde_json::json!({"userId": "user_k", "taxes": 40}),
    )
    .await;
    app.get("/api/expenses/billable-costs?userId=user_k").await;
    let outage = Faults {
        error_rate: 1.0,
        ..Faults::default()
    };
    emulator.set_faults(&outage).await.unwrap();

    let body = event("user.created", clerk_user("user_k", Some("K"), None, 9), 9);
    let reply = deliver(&app, "msg_k", &body).await;
    assert_eq!(reply.status, 200, "applied with the cache down: {reply:?}");
    assert!(app
        .db()
        .get_user("user_k")
        .await
        .unwrap()
        .unwrap()
        .name
        .is_some());
    assert!(
        app.state.cache.pending_invalidations() > 0,
        "cache work queued"
    );
    let read = app.get("/api/expenses/billable-costs?userId=user_k").await;
    // The webhook's own generation-checked read filled memory from the database.
    assert!(
        ["bypass", "hit"].contains(&read.cache()),
        "the queued key is not served from KV: {read:?}"
    );
    assert_eq!(read.data()["taxes"], 40);

    emulator.set_faults(&Faults::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while app.state.cache.pending_invalidations() > 0 {
        assert!(Instant::now() < deadline, "queued cache work never applied");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(stored(&emulator, "user:user_k").await.status(), 404);
    assert_eq!(
        stored(&emulator, "billable-cost:user_k").await.status(),
        404
    );
}

#[tokio::test]
async fn with_kv_hanging_every_request_answers_and_few_pay_a_timeout() {
    let (app, emulator) = app_on_emulator(&[("KV_TIMEOUT_MS", "300")]).await;
    create_fixed(&app, "u", "Rent", 0).await;
    let hang = Faults {
        hang: true,
        ..Faults::default()
    };
    emulator.set_faults(&hang).await.unwrap();
    let started = Instant::now();
    let mut statuses = Vec::new();
    for i in 0..60 {
        let write = app
            .post(FIXED, &fixed_cost(&format!("w{i}"), "x", 1.0, 0))
            .await;
        statuses.push(write.status);
        statuses.push(app.get(&format!("{FIXED}?userId=r{i}")).await.status);
    }
    assert!(
        statuses.iter().all(|s| (200..300).contains(s)),
        "{statuses:?}"
    );
    let elapsed = started.elapsed();
    // The breaker opens after 3 failed calls (each up to 3 attempts of 300 ms): a handful of
    // timeouts, not one per request (120 requests would take over 36 s).
    assert!(elapsed < Duration::from_secs(8), "{elapsed:?}");
}
