//! Clerk session tokens on the expense routes, minted with the RSA keys of `helpers/clerk.rs`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{json, Value};

use formula_api::config::{KeySource, SessionSettings, JWKS_MAX_AGE};
use formula_api::session::{SessionError, SessionVerifier};

use crate::helpers::*;
use crate::on_both_databases;

async fn send(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Reply {
    let mut request = app.client.request(method, format!("{}{path}", app.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    read(request.send().await.unwrap()).await
}

#[tokio::test]
async fn only_valid_tokens_get_in() {
    let app = clerk_app(TestDatabase::sqlite()).await;
    let path = "/api/expenses/fixed-costs";
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims("alice").to_string())
    );
    let hmac_with_public_key = encode(
        &Header::new(Algorithm::HS256),
        &claims("alice"),
        &EncodingKey::from_secret(KEY_A.public_pem.as_bytes()),
    )
    .unwrap();
    let cases: Vec<(&str, String, u16)> = vec![
        ("valid", KEY_A.token("alice"), 200),
        (
            "expired",
            KEY_A.sign(&with(claims("alice"), "exp", json!(now() - 60))),
            401,
        ),
        (
            "not yet valid",
            KEY_A.sign(&with(claims("alice"), "nbf", json!(now() + 60))),
            401,
        ),
        (
            "issued in the future",
            KEY_A.sign(&with(claims("alice"), "iat", json!(now() + 60))),
            401,
        ),
        (
            "within the 5 s skew",
            KEY_A.sign(&with(claims("alice"), "nbf", json!(now() + 3))),
            200,
        ),
        ("wrong key", KEY_B.token("alice"), 401),
        ("alg none", unsigned, 401),
        (
            "HS256 with the public key as secret",
            hmac_with_public_key,
            401,
        ),
        (
            "wrong azp",
            KEY_A.sign(&with(claims("alice"), "azp", json!("https://evil.example"))),
            401,
        ),
        (
            "no azp",
            KEY_A.sign(&with(claims("alice"), "azp", json!(null))),
            401,
        ),
        (
            "no iss, with CLERK_ISSUER set",
            KEY_A.sign(&with(claims("alice"), "iss", json!(null))),
            401,
        ),
        (
            "wrong iss",
            KEY_A.sign(&with(claims("alice"), "iss", json!("https://other.clerk"))),
            401,
        ),
        (
            "no sub",
            KEY_A.sign(&with(claims("alice"), "sub", json!(null))),
            401,
        ),
        ("garbage", "not.a.token".into(), 401),
        ("empty", "x".into(), 401),
    ];
    for (case, token, status) in cases {
        let reply = send(&app, Method::GET, path, Some(&token), None).await;
        assert_eq!(reply.status, status, "{case}: {reply:?}");
        if status == 401 {
            assert!(
                reply.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer"),
                "{case}"
            );
            assert_eq!(reply.body["success"], false, "{case}");
        }
    }
    let missing = send(&app, Method::GET, path, None, None).await;
    assert_eq!(missing.status, 401);
    assert!(missing.error().contains("missing session token"));

    let cookie = app
        .client
        .get(format!("{}{path}", app.base))
        .header(
            "cookie",
            format!("theme=dark; __session={}", KEY_A.token("alice")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        cookie.status(),
        200,
        "the __session cookie works same-origin"
    );
}

#[tokio::test]
async fn keys_from_a_jwks_are_cached_and_refetched_on_rotation() {
    let jwks = JwksServer::start(keys_of(&KEY_A)).await;
    let url = jwks.url.clone();
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[
            ("CLERK_JWKS_URL", url.as_str()),
            ("CLERK_JWKS_REFETCH_FLOOR_SECONDS", "1"),
        ],
    )
    .await;
    let path = "/api/expenses/fixed-costs";

    for _ in 0..5 {
        let reply = send(&app, Method::GET, path, Some(&KEY_A.token("alice")), None).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(jwks.fetches(), 1, "cached");

    jwks.answer(keys_of(&KEY_B));
    let too_soon = send(&app, Method::GET, path, Some(&KEY_B.token("alice")), None).await;
    assert_eq!(too_soon.status, 401, "no refetch within the floor");
    for _ in 0..20 {
        let unknown = KEY_A.sign(&claims("alice"));
        send(
            &app,
            Method::GET,
            path,
            Some(&unknown.replace("key-a", "zzz")),
            None,
        )
        .await;
    }
    assert_eq!(jwks.fetches(), 1, "unknown kids cannot force fetches");

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rotated = send(&app, Method::GET, path, Some(&KEY_B.token("alice")), None).await;
    assert_eq!(
        rotated.status, 200,
        "refetched on the unknown kid: {rotated:?}"
    );
    assert_eq!(jwks.fetches(), 2);
    let retired = send(&app, Method::GET, path, Some(&KEY_A.token("alice")), None).await;
    assert_eq!(retired.status, 401, "a key no longer served is refused");
}

on_both_databases!(
    start = clerk_app;
    every_route_refuses_strangers_and_changes_nothing,
    the_web_app_request_shapes_work_with_a_token,
);

/// Every expense route, as the web app calls it for `user` (ids of that user's rows).
fn routes(user: &str, fixed: i64, gear: i64) -> Vec<(Method, String, Option<Value>)> {
    let e = "/api/expenses";
    vec![
        (Method::GET, format!("{e}/fixed-costs?userId={user}"), None),
        (
            Method::POST,
            format!("{e}/fixed-costs"),
            Some(fixed_cost(user, "New", 1.0, 1)),
        ),
        (
            Method::PATCH,
            format!("{e}/fixed-costs/{fixed}"),
            Some(json!({"userId": user, "amount": 2})),
        ),
        (
            Method::PUT,
            format!("{e}/fixed-costs"),
            Some(json!({"userId": user, "updates": [{"id": fixed, "data": {"rank": 3}}]})),
        ),
        (
            Method::GET,
            format!("{e}/billable-costs?userId={user}"),
            None,
        ),
        (
            Method::POST,
            format!("{e}/billable-costs"),
            Some(json!({"userId": user})),
        ),
        (
            Method::PATCH,
            format!("{e}/billable-costs"),
            Some(json!({"userId": user, "taxes": 9})),
        ),
        (
            Method::GET,
            format!("{e}/equipment-costs?userId={user}"),
            None,
        ),
        (
            Method::POST,
            format!("{e}/equipment-costs"),
            Some(equipment(user, "New", 1)),
        ),
        (
            Method::PATCH,
            format!("{e}/equipment-costs"),
            Some(json!({"userId": user, "id": gear, "usage": 5})),
        ),
        (
            Method::PUT,
            format!("{e}/equipment-costs"),
            Some(json!({"userId": user, "updates": [{"id": gear, "data": {"rank": 3}}]})),
        ),
        (
            Method::DELETE,
            format!("{e}/fixed-costs/{user}/{fixed}"),
            None,
        ),
        (
            Method::DELETE,
            format!("{e}/equipment-costs/{user}/{gear}"),
            None,
        ),
    ]
}

/// Alice's rows, created with her token; returns (fixed id, equipment id).
async fn alice_with_data(app: &TestApp) -> (i64, i64) {
    let token = KEY_A.token("alice");
    let fixed = send(
        app,
        Method::POST,
        "/api/expenses/fixed-costs",
        Some(&token),
        Some(&fixed_cost("alice", "Rent", 9.0, 0)),
    )
    .await;
    let gear = send(
        app,
        Method::POST,
        "/api/expenses/equipment-costs",
        Some(&token),
        Some(&equipment("alice", "Laptop", 0)),
    )
    .await;
    send(
        app,
        Method::POST,
        "/api/expenses/billable-costs",
        Some(&token),
        Some(&json!({"userId": "alice"})),
    )
    .await;
    (
        fixed.data()["id"].as_i64().unwrap(),
        gear.data()["id"].as_i64().unwrap(),
    )
}

async fn snapshot(app: &TestApp) -> String {
    let db = app.db();
    format!(
        "{:?}{:?}{:?}",
        db.list_fixed_costs("alice").await.unwrap(),
        db.list_equipment("alice").await.unwrap(),
        db.get_billable_cost("alice").await.unwrap()
    )
}

async fn every_route_refuses_strangers_and_changes_nothing(app: TestApp) {
    let (fixed, gear) = alice_with_data(&app).await;
    let before = snapshot(&app).await;
    let mallory = KEY_A.token("mallory");

    for (method, path, body) in routes("alice", fixed, gear) {
        let anonymous = send(&app, method.clone(), &path, None, body.as_ref()).await;
        assert_eq!(anonymous.status, 401, "{method} {path} without a token");
        let stranger = send(&app, method.clone(), &path, Some(&mallory), body.as_ref()).await;
        assert_eq!(
            stranger.status, 403,
            "{method} {path} with another user's token: {stranger:?}"
        );
        assert_eq!(stranger.error(), "userId: not the signed-in user");
    }
    // Mallory naming herself, but Alice's row ids: not found, as if they did not exist.
    for (method, path, body) in routes("mallory", fixed, gear) {
        let reply = send(&app, method.clone(), &path, Some(&mallory), body.as_ref()).await;
        let touches_alice_rows = path.contains(&format!("/{fixed}"))
            || path.contains(&format!("/{gear}"))
            || body
                .as_ref()
                .is_some_and(|b| b.get("id").is_some() || b.get("updates").is_some());
        if touches_alice_rows {
            assert_eq!(reply.status, 404, "{method} {path}: {reply:?}");
        }
    }
    assert_eq!(snapshot(&app).await, before);
}

async fn the_web_app_request_shapes_work_with_a_token(app: TestApp) {
    let (fixed, gear) = alice_with_data(&app).await;
    let token = KEY_A.token("alice");
    for (method, path, body) in routes("alice", fixed, gear) {
        let reply = send(&app, method.clone(), &path, Some(&token), body.as_ref()).await;
        assert!(reply.status < 300, "{method} {path}: {reply:?}");
    }
    // With a token, the userId may be left out.
    let listed = send(
        &app,
        Method::GET,
        "/api/expenses/equipment-costs",
        Some(&token),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.data()[0]["userId"], "alice");
}

#[tokio::test]
async fn a_token_is_verified_once_for_thousands_of_requests() {
    let app = clerk_app(TestDatabase::sqlite()).await;
    let token = KEY_A.token("alice");
    let path = format!("{}/api/expenses/fixed-costs", app.base);
    let (app, token, path) = (&app, &token, &path);
    let workers = (0..16).map(|_| async move {
        for _ in 0..625 {
            let response = app
                .client
                .get(path)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    });
    futures::future::join_all(workers).await;
    let sessions = app.state.sessions.as_ref().unwrap();
    assert_eq!(
        sessions.verifications(),
        1,
        "10,000 requests, one RSA verification"
    );
}

#[tokio::test]
async fn a_remembered_token_is_refused_once_past_its_exp() {
    let app = clerk_app(TestDatabase::sqlite()).await;
    // Expired 4 s ago: still inside the 5 s skew, so it verifies and is remembered.
    let token = KEY_A.sign(&with(claims("alice"), "exp", json!(now() - 4)));
    let path = "/api/expenses/fixed-costs";
    assert_eq!(
        send(&app, Method::GET, path, Some(&token), None)
            .await
            .status,
        200
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let late = send(&app, Method::GET, path, Some(&token), None).await;
    assert_eq!(late.status, 401, "{late:?}");
    assert!(late.error().contains("expired"));
}

#[tokio::test]
async fn a_forgery_of_a_remembered_token_is_refused() {
    let app = clerk_app(TestDatabase::sqlite()).await;
    let path = "/api/expenses/fixed-costs";
    let token = KEY_A.token("alice");
    assert_eq!(
        send(&app, Method::GET, path, Some(&token), None)
            .await
            .status,
        200
    );
    // The same header and claims, signed with another key.
    let forged_signature = KEY_B.token("alice");
    let (signed, _) = token.rsplit_once('.').unwrap();
    let forged = format!("{signed}.{}", forged_signature.rsplit_once('.').unwrap().1);
    let reply = send(&app, Method::GET, path, Some(&forged), None).await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(app.state.sessions.as_ref().unwrap().verifications(), 2);
}

/// A JWKS endpoint on a real port whose answer the test changes: keys, a failure, or a hang.
struct JwksServer {
    url: String,
    served: Arc<Mutex<JwksAnswer>>,
    fetches: Arc<AtomicUsize>,
}

#[derive(Clone)]
enum JwksAnswer {
    Keys(Value),
    Fails,
    Hangs,
}

impl JwksServer {
    async fn start(answer: JwksAnswer) -> JwksServer {
        let served = Arc::new(Mutex::new(answer));
        let fetches = Arc::new(AtomicUsize::new(0));
        let jwks = Router::new().route(
            "/.well-known/jwks.json",
            get({
                let (served, fetches) = (served.clone(), fetches.clone());
                move || async move {
                    fetches.fetch_add(1, Ordering::SeqCst);
                    let answer = served.lock().unwrap().clone();
                    match answer {
                        JwksAnswer::Keys(keys) => Ok(Json(keys)),
                        JwksAnswer::Fails => Err(axum::http::StatusCode::BAD_GATEWAY),
                        JwksAnswer::Hangs => std::future::pending().await,
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/.well-known/jwks.json",
            listener.local_addr().unwrap()
        );
        tokio::spawn(async move { axum::serve(listener, jwks).await });
        JwksServer {
            url,
            served,
            fetches,
        }
    }

    fn answer(&self, answer: JwksAnswer) {
        *self.served.lock().unwrap() = answer;
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    fn verifier(&self, max_age: Duration) -> SessionVerifier {
        SessionVerifier::new(&SessionSettings {
            keys: KeySource::Jwks {
                url: self.url.clone(),
                refetch_floor: Duration::from_millis(500),
                max_age,
            },
            authorized_parties: vec![],
            issuer: None,
        })
        .unwrap()
    }
}

fn keys_of(key: &TestKey) -> JwksAnswer {
    JwksAnswer::Keys(json!({"keys": [key.jwk.clone()]}))
}

#[tokio::test]
async fn old_keys_keep_serving_while_the_jwks_fails() {
    let jwks = JwksServer::start(keys_of(&KEY_A)).await;
    let verifier = jwks.verifier(Duration::from_millis(300));
    assert!(verifier.verify(&KEY_A.token("alice")).await.is_ok());
    jwks.answer(JwksAnswer::Fails);
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Older than their max age, and the JWKS fails: the last good keys still verify.
    for user in ["bob", "carol", "dave"] {
        let verified = verifier.verify(&KEY_A.token(user)).await;
        assert_eq!(verified.unwrap().as_str(), user);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        jwks.fetches(),
        2,
        "one background refresh tried, and failed"
    );
}

#[tokio::test]
async fn failed_fetches_count_for_the_floor() {
    let jwks = JwksServer::start(JwksAnswer::Fails).await;
    let verifier = jwks.verifier(JWKS_MAX_AGE);
    for _ in 0..20 {
        let refused = verifier.verify(&KEY_A.token("alice")).await;
        assert!(matches!(refused, Err(SessionError::KeysUnavailable)));
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "a failure waits out the floor like a success"
    );
    jwks.answer(keys_of(&KEY_A));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert!(
        verifier.verify(&KEY_A.token("alice")).await.is_ok(),
        "backoff after one failure: 1 s"
    );
}

#[tokio::test]
async fn a_hanging_jwks_holds_requests_for_one_timeout_at_most() {
    let jwks = JwksServer::start(JwksAnswer::Hangs).await;
    let verifier = jwks.verifier(JWKS_MAX_AGE);
    let started = std::time::Instant::now();
    let waiting = (0..8).map(|_| {
        let verifier = &verifier;
        async move {
            let result = verifier.verify(&KEY_A.token("alice")).await;
            (result, started.elapsed())
        }
    });
    for (result, waited) in futures::future::join_all(waiting).await {
        assert!(matches!(result, Err(SessionError::KeysUnavailable)));
        assert!(waited < Duration::from_secs(5), "answered after {waited:?}");
    }
    assert_eq!(
        jwks.fetches(),
        1,
        "one fetch in flight, not one per request"
    );
}

#[tokio::test]
async fn a_new_key_set_forgets_remembered_tokens() {
    let jwks = JwksServer::start(keys_of(&KEY_A)).await;
    let verifier = jwks.verifier(JWKS_MAX_AGE);
    let remembered = KEY_A.token("alice");
    assert!(verifier.verify(&remembered).await.is_ok());
    jwks.answer(keys_of(&KEY_B));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert!(
        verifier.verify(&KEY_B.token("alice")).await.is_ok(),
        "refetched on the new kid"
    );
    let retired = verifier.verify(&remembered).await;
    assert!(
        matches!(retired, Err(SessionError::Rejected(_))),
        "a token of a retired key is not served from memory"
    );
}
