//! Clerk as the tests play it: RSA keys generated at test time and session tokens minted as
//! Clerk mints them; the webhook's signing secret, Clerk's user and event payloads, and deliveries
//! signed by the `svix` crate's own signer.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Utc;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use svix::webhooks::Webhook;

use super::{read, Reply, TestApp, TestDatabase};

pub const ISSUER: &str = "https://clerk.example.com";
pub const ORIGIN: &str = "http://localhost:3000";

pub struct TestKey {
    kid: &'static str,
    encoding: EncodingKey,
    pub public_pem: String,
    pub jwk: Value,
}

impl TestKey {
    fn generate(kid: &'static str) -> TestKey {
        let private = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("RSA key");
        let private_pem = private.to_pkcs8_pem(LineEnding::LF).expect("PEM");
        let public_pem = private
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .expect("public PEM");
        let jwk = json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid,
            "n": URL_SAFE_NO_PAD.encode(private.n().to_bytes_be()),
            "e": URL_SAFE_NO_PAD.encode(private.e().to_bytes_be()),
        });
        TestKey {
            kid,
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes()).expect("encoding key"),
            public_pem,
            jwk,
        }
    }

    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.into());
        encode(&header, claims, &self.encoding).expect("token")
    }

    /// A valid session token of `user`, as Clerk mints them.
    pub fn token(&self, user: &str) -> String {
        self.sign(&claims(user))
    }
}

pub static KEY_A: LazyLock<TestKey> = LazyLock::new(|| TestKey::generate("key-a"));
pub static KEY_B: LazyLock<TestKey> = LazyLock::new(|| TestKey::generate("key-b"));

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn claims(user: &str) -> Value {
    json!({
        "sub": user, "sid": "sess_1", "azp": ORIGIN, "iss": ISSUER, "v": 2,
        "iat": now() - 1, "nbf": now() - 1, "exp": now() + 60,
    })
}

pub fn with(mut claims: Value, field: &str, value: Value) -> Value {
    claims[field] = value;
    claims
}

/// The service with Clerk verification on, over `database`.
pub async fn clerk_app(database: TestDatabase) -> TestApp {
    TestApp::start(
        database,
        &[
            ("CLERK_JWT_KEY", KEY_A.public_pem.as_str()),
            ("CLERK_AUTHORIZED_PARTIES", ORIGIN),
            ("CLERK_ISSUER", ISSUER),
        ],
    )
    .await
}

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
