//! `POST /webhooks/clerk`: Clerk's user events, delivered by Svix at least once and in no order
//! (`docs/clerk.md`: signatures, retries, payloads).
//!
//! The signature is checked over the raw body before anything is parsed. The event is applied in
//! one database transaction (at most once per Svix message, never over a newer event of the same
//! user) that also records the user's cache keys in the outbox; they are dropped after the
//! commit (never overwritten: the next read loads them, checked against newer writes).

use axum::extract::State;
use axum::http::HeaderMap;
use formula_cache::keys;
use formula_db::models::{EventOutcome, UserChange, UserEvent, UserProfile};
use serde::Deserialize;
use serde_json::{json, Value};
use svix::webhooks::{Webhook, WebhookError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult};
use crate::extract::RawBody;
use crate::fields::UserId;
use crate::openapi::OperationErrors;
use crate::reply;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(receive))
}

/// A Clerk event delivered by Svix (`user.created`, `user.updated`, `user.deleted`; others are
/// acknowledged and ignored). 2xx only once applied or deliberately ignored; 5xx so Svix retries.
#[utoipa::path(post, path = "/webhooks/clerk", tag = "webhooks",
    params(
        ("svix-id" = String, Header, description = "Message id, the same on every redelivery"),
        ("svix-timestamp" = String, Header, description = "Unix seconds"),
        ("svix-signature" = String, Header, description = "v1,<base64> entries"),
    ),
    request_body(content = Object, description = "Clerk's event envelope, signed over its raw bytes"),
    responses(
        (status = 200, description = "Applied, a duplicate, superseded by a newer event, or ignored", body = Object),
        OperationErrors))]
async fn receive(
    State(app): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> ApiResult {
    let Some(verifier) = &app.config.webhook else {
        let reason = "webhook signing secret is not configured";
        return Err(ApiError::Unavailable(reason.into()));
    };
    verify(verifier, &headers, &body)?;
    let event = match parse_event(&headers, &body)? {
        Parsed::User(event) => event,
        Parsed::Ignored(kind) => {
            return Ok(reply::ok(&json!({"event": kind, "result": "ignored"})));
        }
    };
    let stale = stale_keys(&event);
    let outcome = app.db.apply_user_event(&event, &stale).await?;
    if !matches!(outcome, EventOutcome::Duplicate) {
        app.after_commit(&stale).await;
        warm_cache(&app, &event).await;
    }
    Ok(reply::ok(&summary(&event, &outcome)))
}

/// Svix's signature over the raw bytes: 400 for missing or malformed headers and stale or future
/// timestamps, 401 for a signature that does not match.
fn verify(verifier: &Webhook, headers: &HeaderMap, body: &[u8]) -> Result<(), ApiError> {
    verifier.verify(body, headers).map_err(|error| match error {
        WebhookError::InvalidSignature => {
            ApiError::BadCredentials("webhook signature does not match".into())
        }
        WebhookError::TimestampTooOldError | WebhookError::FutureTimestampError => {
            ApiError::bad_request("webhook timestamp is more than 5 minutes from now")
        }
        other => ApiError::bad_request(format!("webhook not verifiable: {other}")),
    })
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: String,
    data: Value,
    /// When Clerk emitted the event, in milliseconds.
    timestamp: Option<i64>,
}

#[derive(Deserialize)]
struct ClerkUser {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    image_url: Option<String>,
    primary_email_address_id: Option<String>,
    #[serde(default)]
    email_addresses: Vec<EmailAddress>,
    updated_at: Option<i64>,
}

#[derive(Deserialize)]
struct EmailAddress {
    id: String,
    email_address: String,
}

#[derive(Deserialize)]
struct DeletedUser {
    id: Option<String>,
}

/// What a verified body asks of this service.
enum Parsed {
    User(UserEvent),
    /// An event type this service does not act on (or a deletion naming no user).
    Ignored(String),
}

/// The user event a verified body describes, parsed once.
fn parse_event(headers: &HeaderMap, body: &[u8]) -> Result<Parsed, ApiError> {
    let envelope: Envelope = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("not a Clerk event: {e}")))?;
    let svix_id = header(headers, "svix-id")
        .or_else(|| header(headers, "webhook-id"))
        .ok_or_else(|| ApiError::bad_request("missing header svix-id"))?;
    let now = chrono::Utc::now().timestamp_millis();
    let (user_id, at_ms, change) = match envelope.kind.as_str() {
        "user.created" | "user.updated" => {
            let user: ClerkUser = serde_json::from_value(envelope.data)
                .map_err(|e| ApiError::bad_request(format!("data: not a Clerk user: {e}")))?;
            let at = user.updated_at.or(envelope.timestamp).unwrap_or(now);
            let profile = profile(&user);
            let change = if envelope.kind == "user.created" {
                UserChange::Created(profile)
            } else {
                UserChange::Updated(profile)
            };
            (user.id, at, change)
        }
        "user.deleted" => {
            let user: DeletedUser = serde_json::from_value(envelope.data)
                .map_err(|e| ApiError::bad_request(format!("data: {e}")))?;
            let Some(id) = user.id else {
                tracing::warn!("user.deleted without a user id: nothing to delete");
                return Ok(Parsed::Ignored(envelope.kind));
            };
            (id, envelope.timestamp.unwrap_or(now), UserChange::Deleted)
        }
        _ => return Ok(Parsed::Ignored(envelope.kind)),
    };
    let user_id = UserId::parse(&user_id)
        .map_err(|reason| ApiError::bad_request(format!("data.id: {reason}")))?;
    Ok(Parsed::User(UserEvent {
        svix_id,
        user_id: user_id.as_str().to_owned(),
        at_ms,
        change,
    }))
}

/// The fields this service keeps: the primary email (not merely the first), the name from the
/// parts that exist (never "null null"), the avatar.
fn profile(user: &ClerkUser) -> UserProfile {
    let email = user
        .email_addresses
        .iter()
        .find(|address| Some(&address.id) == user.primary_email_address_id.as_ref())
        .map(|address| address.email_address.clone());
    let parts: Vec<&str> = [&user.first_name, &user.last_name]
        .into_iter()
        .flatten()
        .map(|part| part.trim())
        .filter(|part| !part.is_empty())
        .collect();
    UserProfile {
        email,
        name: (!parts.is_empty()).then(|| parts.join(" ")),
        avatar: user.image_url.clone().filter(|url| !url.is_empty()),
    }
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
}

/// The cache keys an event can make stale: the user and the billable defaults it may add, or
/// every key of a deleted user.
fn stale_keys(event: &UserEvent) -> Vec<String> {
    let user_id = event.user_id.as_str();
    match event.change {
        UserChange::Deleted => keys::all_of_user(user_id),
        UserChange::Created(_) | UserChange::Updated(_) => {
            vec![keys::user(user_id), keys::billable_cost(user_id)]
        }
    }
}

/// Loads what the contract says `user.created` / `user.updated` put in the cache, through the
/// generation-checked read: a write that commits meanwhile keeps its value out (never the rows
/// this event read in its transaction).
async fn warm_cache(app: &AppState, event: &UserEvent) {
    let user_id = event.user_id.as_str();
    if matches!(event.change, UserChange::Deleted) {
        return;
    }
    let key = keys::user(user_id);
    let user = app.read_through(&key, || app.db.get_user(user_id));
    if let Err(error) = user.await {
        tracing::warn!(%error, "user not cached after the event");
    }
    if matches!(event.change, UserChange::Created(_)) {
        let key = keys::billable_cost(user_id);
        let billable = app.read_through(&key, || app.db.get_billable_cost(user_id));
        if let Err(error) = billable.await {
            tracing::warn!(%error, "billable cost not cached after the event");
        }
    }
}

fn summary(event: &UserEvent, outcome: &EventOutcome) -> Value {
    let result = match outcome {
        EventOutcome::Duplicate => "duplicate",
        EventOutcome::Applied(_) => "applied",
        EventOutcome::Superseded(_) => "superseded",
    };
    json!({"event": event.change.event_type(), "userId": event.user_id, "result": result})
}
