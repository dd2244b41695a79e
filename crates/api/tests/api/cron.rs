//! `/cron/keep-alive`: the heartbeat (at most once a minute), the database query, the secret.

use futures::StreamExt;
use kv_emulator::Options;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;

const KEEP_ALIVE: &str = "/cron/keep-alive";

#[tokio::test]
async fn writes_the_heartbeat_and_queries_the_database() {
    let app = TestApp::sqlite().await;
    let reply = app.get(KEEP_ALIVE).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.data()["database"]["ok"], true);
    assert_eq!(reply.data()["heartbeat"]["written"], true);
    let at = reply.data()["heartbeat"]["at"].as_str().unwrap().to_owned();
    assert_timestamp(&Value::String(at.clone()));
    let stored = app
        .state
        .cache
        .get_raw("keep-alive")
        .await
        .unwrap()
        .expect("heartbeat");
    assert_eq!(serde_json::from_slice::<Value>(&stored).unwrap(), at);

    let again = app.request(Method::POST, KEEP_ALIVE, None).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.data()["heartbeat"]["written"], false);
    assert_eq!(again.data()["database"]["ok"], true);
}

#[tokio::test]
async fn with_a_cron_secret_only_its_bearer_gets_in() {
    let app = TestApp::start(TestDatabase::sqlite(), &[("CRON_SECRET", "cron-s3cret")]).await;
    let missing = app.get(KEEP_ALIVE).await;
    assert_eq!(missing.status, 401);
    assert!(missing.error().contains("CRON_SECRET"));
    for auth in ["Bearer wrong", "cron-s3cret", "Bearer cron-s3cre"] {
        let response = app
            .client
            .get(format!("{}{KEEP_ALIVE}", app.base))
            .header("authorization", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{auth}");
    }
    for method in [Method::GET, Method::POST] {
        let response = app
            .client
            .request(method.clone(), format!("{}{KEEP_ALIVE}", app.base))
            .header("authorization", "Bearer cron-s3cret")
            .header("user-agent", "vercel-cron/1.0")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{method}");
    }
}

#[tokio::test]
async fn a_thousand_calls_cost_one_kv_write() {
    let emulator = kv_emulator::spawn(Options::default()).await.unwrap();
    let base = emulator.api_base();
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[
            ("CLOUDFLARE_ACCOUNT_ID", "acc"),
            ("CLOUDFLARE_KV_NAMESPACE", "ns"),
            ("CLOUDFLARE_KV_API_TOKEN", "emulator-token"),
            ("CLOUDFLARE_API_BASE_URL", base.as_str()),
        ],
    )
    .await;
    let statuses: Vec<u16> = futures::stream::iter(0..1000)
        .map(|_| async { app.get(KEEP_ALIVE).await.status })
        .buffer_unordered(50)
        .collect()
        .await;
    assert!(statuses.iter().all(|s| *s == 200));
    let stats = emulator.stats().await.unwrap();
    assert_eq!(stats.count("put"), 1);
    assert_eq!(stats.total, 1);
}

#[tokio::test]
async fn keep_alive_forgets_webhook_messages_older_than_a_week() {
    let app = webhook_app(TestDatabase::sqlite()).await;
    for (id, user) in [("msg_old", "user_old"), ("msg_new", "user_new")] {
        let body = event("user.created", clerk_user(user, None, None, 1), 1);
        assert_eq!(deliver(&app, id, &body).await.status, 200);
    }
    execute(
        &app,
        r#"UPDATE clerk_webhook_events SET "receivedAt" = '2020-01-01 00:00:00.000' WHERE "svixId" = 'msg_old'"#,
    )
    .await;
    let reply = app.get(KEEP_ALIVE).await;
    assert_eq!(reply.data()["database"]["prunedWebhookEvents"], 1);
    let again = app.get(KEEP_ALIVE).await;
    assert_eq!(
        again.data()["database"]["prunedWebhookEvents"],
        Value::Null,
        "hourly at most"
    );
    // The recent message is still remembered: its redelivery is a duplicate.
    let body = event("user.created", clerk_user("user_new", None, None, 1), 1);
    assert_eq!(
        deliver(&app, "msg_new", &body).await.data()["result"],
        "duplicate"
    );
}
