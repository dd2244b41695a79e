//! `GET` and `POST /cron/keep-alive`: writes the `keep-alive` heartbeat (at most once a minute)
//! and runs a cheap database query, for a scheduler calling it as Vercel's cron does
//! (`docs/clerk.md`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use bytes::Bytes;
use formula_cache::keys;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::health::ping_database;
use crate::openapi::OperationErrors;
use crate::reply;
use crate::state::AppState;

const HEARTBEAT_EVERY: Duration = Duration::from_secs(60);
/// How often the keep-alive also forgets old Svix message ids, and how old they must be.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const KEEP_WEBHOOK_EVENTS_DAYS: i64 = 7;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(keep_alive, keep_alive_post))
}

/// When this process last wrote the heartbeat and pruned old webhook message ids.
#[derive(Default)]
pub struct LastRuns {
    heartbeat: Mutex<Option<Instant>>,
    prune: Mutex<Option<Instant>>,
}

/// Claims a run at most once per `every`; `Err` with the seconds since the last one.
fn claim(last: &Mutex<Option<Instant>>, every: Duration) -> Result<(), u64> {
    let mut last = last.lock().expect("chore lock");
    match *last {
        Some(at) if at.elapsed() < every => Err(at.elapsed().as_secs()),
        _ => {
            *last = Some(Instant::now());
            Ok(())
        }
    }
}

/// Writes the `keep-alive` heartbeat (at most once a minute) and runs `SELECT 1`. With
/// `CRON_SECRET` set, requires `Authorization: Bearer <CRON_SECRET>`.
#[utoipa::path(get, path = "/cron/keep-alive", tag = "operations", operation_id = "keepAlive",
    responses(
        (status = 200, description = "What it did: `database` and `heartbeat`, each with whether it succeeded", body = Object),
        OperationErrors),
    security((), ("cron" = [])))]
async fn keep_alive(State(app): State<AppState>, headers: HeaderMap) -> ApiResult {
    authorize(app.config.cron_secret.as_ref(), &headers)?;
    let database = ping_database(&app).await;
    let heartbeat = write_heartbeat(&app).await;
    let Ok(mut database) = database else {
        let reason = "keep-alive: the database did not answer";
        return Err(ApiError::Unavailable(reason.into()));
    };
    database["prunedWebhookEvents"] = prune_webhook_events(&app).await;
    Ok(reply::success(
        StatusCode::OK,
        &json!({"database": database, "heartbeat": heartbeat}),
    ))
}

/// The same as `GET`, for schedulers that POST (its own operation: ids are unique per document).
#[utoipa::path(post, path = "/cron/keep-alive", tag = "operations", operation_id = "keepAlivePost",
    responses(
        (status = 200, description = "What it did: `database` and `heartbeat`, each with whether it succeeded", body = Object),
        OperationErrors),
    security((), ("cron" = [])))]
async fn keep_alive_post(state: State<AppState>, headers: HeaderMap) -> ApiResult {
    keep_alive(state, headers).await
}

/// With `CRON_SECRET` set, the caller must send `Authorization: Bearer <CRON_SECRET>`.
fn authorize(secret: Option<&SecretString>, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(secret) = secret else {
        return Ok(());
    };
    let refusal = "keep-alive requires Authorization: Bearer <CRON_SECRET>".to_owned();
    let Some(given) = headers.get(header::AUTHORIZATION) else {
        return Err(ApiError::NoCredentials(refusal));
    };
    let given = given
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("Bearer "));
    let expected = secret.expose_secret().as_bytes();
    if bool::from(given.unwrap_or_default().as_bytes().ct_eq(expected)) {
        Ok(())
    } else {
        Err(ApiError::BadCredentials(refusal))
    }
}

/// At most hourly: Svix message ids older than a week, which no redelivery can need.
async fn prune_webhook_events(app: &AppState) -> Value {
    if claim(&app.last_runs.prune, PRUNE_EVERY).is_err() {
        return Value::Null;
    }
    let before =
        formula_db::models::now_millis() - chrono::Duration::days(KEEP_WEBHOOK_EVENTS_DAYS);
    match app.db.prune_webhook_events(before).await {
        Ok(count) => json!(count),
        Err(error) => {
            tracing::warn!(%error, "pruning old webhook message ids failed");
            Value::Null
        }
    }
}

async fn write_heartbeat(app: &AppState) -> Value {
    if let Err(seconds) = claim(&app.last_runs.heartbeat, HEARTBEAT_EVERY) {
        return json!({"written": false, "reason": format!("written {seconds}s ago; at most once a minute")});
    }
    let at = formula_db::models::iso_millis::format(&formula_db::models::now_millis());
    let value = Bytes::from(serde_json::to_vec(&at).unwrap_or_default());
    match app.cache.put_raw(keys::KEEP_ALIVE, value).await {
        Ok(()) => json!({"written": true, "at": at}),
        Err(error) => {
            tracing::warn!(%error, "keep-alive: the heartbeat was not written");
            json!({"written": false, "reason": "the cache did not answer"})
        }
    }
}
