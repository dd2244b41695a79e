//! Clerk session tokens: RSA keys generated at test time, tokens minted as Clerk mints them, and
//! the service verifying them.

use std::sync::LazyLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};

use super::{TestApp, TestDatabase};

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
