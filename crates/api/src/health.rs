//! Liveness and readiness, outside authentication.

use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::error_chain;
use crate::openapi::Failure;
use crate::reply;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(alive))
        .routes(routes!(ready))
}

/// `GET /health`: 200 `OK` while the process runs.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Alive", body = String, content_type = "text/plain")))]
pub async fn alive() -> &'static str {
    "OK"
}

/// `GET /ready`: whether the database and the cache answer, each reported. 503 only when the
/// database does not: without the cache the service still serves every request (more slowly).
#[utoipa::path(get, path = "/ready", tag = "operations",
    responses(
        (status = 200, description = "The database answers; the cache's state is reported", body = Object),
        (status = 503, description = "The database does not answer", body = Object),
        (status = 500, description = "Server fault", body = Failure)))]
pub async fn ready(State(app): State<AppState>) -> Response {
    let database = ping_database(&app).await.map(|mut report| {
        report["kind"] = json!(format!("{:?}", app.db.kind()).to_lowercase());
        report
    });
    let mut cache = json!({
        "backend": app.cache.backend_name(),
        "ok": true,
        "pendingInvalidations": app.cache.pending_invalidations(),
    });
    if let Err(error) = app.cache.probe().await {
        tracing::warn!(%error, "readiness: the cache did not answer");
        cache["ok"] = json!(false);
        cache["reason"] = json!("the cache did not answer");
    }
    let status = match database {
        Ok(_) => StatusCode::OK,
        Err(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let (Ok(database) | Err(database)) = database;
    reply::success(status, &json!({"database": database, "cache": cache}))
}

/// `SELECT 1`: `{"ok": true, "latencyMs": …}`, or `Err({"ok": false, "reason": …})` with the
/// cause in the log.
pub async fn ping_database(app: &AppState) -> Result<Value, Value> {
    let started = Instant::now();
    match app.db.ping().await {
        Ok(()) => Ok(json!({"ok": true, "latencyMs": started.elapsed().as_secs_f64() * 1000.0})),
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "the database did not answer a ping");
            Err(json!({"ok": false, "reason": "the database did not answer"}))
        }
    }
}
