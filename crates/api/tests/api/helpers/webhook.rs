//! Clerk's webhook as Svix delivers it: the signing secret, Clerk's user and event payloads, and
//! signed deliveries (signed by the `svix` crate's own signer).

use chrono::Utc;
use serde_json::{json, Value};
use svix::webhooks::Webhook;

use super::{read, Reply, TestApp, TestDatabase};

pub const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";

pub async fn webhook_app(database: TestDatabase) -> TestApp {
    webhook_app_with(database, &[]).await
}

pub async fn webhook_app_with(database: TestDatabase, env: &[(&str, &str)]) -> TestApp {
    let mut env = env.to_vec();
    env.push(("CLERK_WEBHOOK_SIGNING_SECRET", SECRET));
    TestApp::start(database, &env).await
}

pub fn clerk_user(id: &str, first: Option<&str>, last: Option<&str>, updated_at: i64) -> Value {
    json!({
        "id": id, "object": "user",
        "first_name": first, "last_name": last, "username": null,
        "image_url": "https://img.clerk.com/xxxxxx",
        "primary_email_address_id": "idn_primary",
        "email_addresses": [
            {"id": "idn_other", "object": "email_address", "email_address": format!("old-{id}@example.org"),
             "linked_to": [], "verification": {"status": "verified", "strategy": "ticket"}},
            {"id": "idn_primary", "object": "email_address", "email_address": format!("{id}@example.org"),
             "linked_to": [], "verification": {"status": "verified", "strategy": "ticket"}},
        ],
        "phone_numbers": [], "external_id": null,
        "public_metadata": {}, "private_metadata": {}, "unsafe_metadata": {},
        "created_at": 1654012591514i64, "updated_at": updated_at, "last_sign_in_at": null,
    })
}

pub fn event(kind: &str, data: Value, timestamp: i64) -> Value {
    json!({
        "data": data, "object": "event", "type": kind, "timestamp": timestamp,
        "instance_id": "ins_123",
        "event_attributes": {"http_request": {"client_ip": "0.0.0.0", "user_agent": "test"}},
    })
}

/// Posts `body` to the webhook route at `base`, signed with `secret` as Svix message `id` at
/// `timestamp` (unix seconds).
pub async fn post_signed(
    client: &reqwest::Client,
    base: &str,
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> reqwest::Response {
    let signature = Webhook::new(secret)
        .unwrap()
        .sign(id, timestamp, body)
        .unwrap();
    client
        .post(format!("{base}/webhooks/clerk"))
        .header("content-type", "application/json")
        .header("svix-id", id)
        .header("svix-timestamp", timestamp.to_string())
        .header("svix-signature", signature)
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// `post_signed` to the test app, its reply read.
pub async fn deliver_signed(
    app: &TestApp,
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Reply {
    read(post_signed(&app.client, &app.base, secret, id, timestamp, body).await).await
}

pub async fn deliver(app: &TestApp, id: &str, body: &Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap();
    deliver_signed(app, SECRET, id, Utc::now().timestamp(), &bytes).await
}
