//! The HTTP edges: content types, malformed and oversize bodies, methods, unknown routes, CORS,
//! request ids, health, and data surviving a restart.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const FIXED: &str = "/api/expenses/fixed-costs";

#[tokio::test]
async fn wrong_content_type_is_415() {
    let app = TestApp::sqlite().await;
    let response = app
        .client
        .post(format!("{}{FIXED}", app.base))
        .header("content-type", "text/plain")
        .body(fixed_cost("u", "Rent", 1.0, 0).to_string())
        .send()
        .await
        .unwrap();
    let reply = read(response).await;
    assert_eq!(reply.status, 415);
    assert_eq!(
        reply.error(),
        "expected a JSON body with Content-Type: application/json"
    );
}

#[tokio::test]
async fn malformed_and_non_object_bodies_are_400() {
    let app = TestApp::sqlite().await;
    for (body, expected) in [
        (r#"{"userId": "u", "name": "#, "malformed JSON"),
        (r#"{"userId": "u"} trailing"#, "malformed JSON"),
        ("[1, 2]", "body: expected a JSON object"),
        ("", "malformed JSON"),
    ] {
        let response = app
            .client
            .post(format!("{}{FIXED}", app.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let reply = read(response).await;
        assert_eq!(reply.status, 400, "{body}");
        assert!(reply.error().starts_with(expected), "{body}: {reply:?}");
    }
}

#[tokio::test]
async fn oversize_bodies_are_413_and_write_nothing() {
    let app = TestApp::sqlite().await;
    let mut body = fixed_cost("u", "Rent", 1.0, 0);
    body["padding"] = json!("x".repeat(1 << 20));
    let reply = app.post(FIXED, &body).await;
    assert_eq!(reply.status, 413);
    assert!(reply.error().contains("larger than the limit"));
    assert!(app.db().list_fixed_costs("u").await.unwrap().is_empty());
}

#[tokio::test]
async fn wrong_methods_are_405_and_unknown_routes_404_in_the_envelope() {
    let app = TestApp::sqlite().await;
    let reply = app.request(Method::DELETE, FIXED, None).await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.error(), "method not allowed");
    let reply = app.get("/api/expenses/nothing-here").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.error(), "no such route");
}

/// What axum's own extractors would refuse in plain text comes in the envelope: a path segment
/// that is not UTF-8, a webhook body over the limit.
#[tokio::test]
async fn extractor_rejections_are_in_the_envelope() {
    let app = TestApp::sqlite().await;
    let reply = app.patch(&format!("{FIXED}/%FF"), &json!({})).await;
    assert!(
        reply.status == 400 && reply.error().contains("UTF-8"),
        "{reply:?}"
    );
    let oversize = json!({"padding": "x".repeat(1 << 20)});
    let reply = app.post("/webhooks/clerk", &oversize).await;
    assert!(reply.status == 413 && reply.error().contains("larger than the limit"));
}

#[tokio::test]
async fn health_answers_ok() {
    let app = TestApp::sqlite().await;
    let response = reqwest::get(format!("{}/health", app.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "OK");
}

#[tokio::test]
async fn request_ids_are_returned_and_propagated() {
    let app = TestApp::sqlite().await;
    let generated = app.get(&format!("{FIXED}?userId=u")).await;
    let id = generated.headers.get("x-request-id").expect("request id");
    assert!(!id.is_empty());
    let response = app
        .client
        .get(format!("{}{FIXED}?userId=u", app.base))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn cors_lets_the_web_app_call_every_method() {
    let app = TestApp::start(
        TestDatabase::sqlite(),
        &[("CORS_ALLOWED_ORIGINS", "http://localhost:3000")],
    )
    .await;
    for method in ["GET", "POST", "PATCH", "PUT", "DELETE"] {
        let response = app
            .client
            .request(Method::OPTIONS, format!("{}{FIXED}/1", app.base))
            .header("origin", "http://localhost:3000")
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "content-type,authorization",
            )
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "{method}");
        let headers = response.headers();
        assert_eq!(
            headers["access-control-allow-origin"], "http://localhost:3000",
            "{method}"
        );
        let allowed = headers["access-control-allow-methods"].to_str().unwrap();
        assert!(allowed.contains(method), "{method}: {allowed}");
    }
    let foreign = app
        .client
        .get(format!("{}{FIXED}?userId=u", app.base))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(foreign
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn data_survives_a_restart() {
    let app = TestApp::sqlite().await;
    let id = create_fixed(&app, "u", "Rent", 0).await;
    let before = app.get(&format!("{FIXED}?userId=u")).await.data().clone();
    let app = app.restart().await;
    let after = app.get(&format!("{FIXED}?userId=u")).await;
    assert_eq!(
        after.cache(),
        "miss",
        "a new process starts with a cold cache"
    );
    assert_eq!(after.data(), &before);
    assert_eq!(after.data()[0]["id"], id);
}

#[tokio::test]
async fn metrics_are_exposed_in_prometheus_text() {
    let app = TestApp::sqlite().await;
    create_fixed(&app, "u", "Rent", 0).await;
    app.get(&format!("{FIXED}?userId=u")).await;
    app.get(&format!("{FIXED}?userId=u")).await;
    let response = reqwest::get(format!("{}/metrics", app.base)).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = response.text().await.unwrap();
    for name in [
        "cache_lookups_total{layer=\"local\",result=\"hit\"}",
        "cache_loads_total",
        "db_queries_total{op=\"list_fixed_costs\"}",
        "http_request_duration_seconds_bucket{method=\"GET\",route=\"/api/expenses/fixed-costs\",status=\"200\"",
    ] {
        assert!(text.contains(name), "{name} missing from:\n{text}");
    }
}
