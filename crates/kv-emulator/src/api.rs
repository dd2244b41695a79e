//! Cloudflare's KV REST paths, envelopes, statuses and error codes.
//!
//! Codes 10000 (authentication), 10009 (key not found) and 10013 (namespace not found) are
//! Cloudflare's, as `docs/cloudflare-kv.md` gives them; for the other refusals that page gives
//! status and message only, and the emulator's codes are its own.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine;
use bytes::Bytes;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::store::{Entry, WriteRefused, MAX_KEY_BYTES, MAX_VALUE_BYTES, MIN_TTL_SECS};
use crate::Shared;

pub const CODE_AUTH: u32 = 10000;
pub const CODE_KEY_NOT_FOUND: u32 = 10009;
pub const CODE_NAMESPACE_NOT_FOUND: u32 = 10013;
pub const CODE_INTERNAL: u32 = 10001;
pub const CODE_BAD_REQUEST: u32 = 10026;
pub const CODE_KEY_TOO_LONG: u32 = 10033;
pub const CODE_VALUE_TOO_LARGE: u32 = 10011;
pub const CODE_RATE_LIMITED: u32 = 10048;
pub const CODE_TOO_MANY_API_REQUESTS: u32 = 971;

/// The routes under `/accounts/{account}/storage/kv/namespaces`.
pub fn router() -> Router<Shared> {
    Router::new()
        .route("/", get(list_namespaces))
        .route("/{namespace}", get(get_namespace))
        .route(
            "/{namespace}/values/{key}",
            get(read).put(write).delete(remove),
        )
        .route("/{namespace}/metadata/{key}", get(read_metadata))
        .route("/{namespace}/bulk", put(bulk_write).delete(bulk_delete))
        .route("/{namespace}/bulk/delete", post(bulk_delete))
        .route("/{namespace}/bulk/get", post(bulk_get))
        .route("/{namespace}/keys", get(list))
}

#[derive(Deserialize)]
struct NamespacePath {
    namespace: String,
}

#[derive(Deserialize)]
struct KeyPath {
    namespace: String,
    key: String,
}

type Answer = Result<Response, Refusal>;

/// A request Cloudflare would refuse: rendered as its error envelope.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    code: u32,
    message: String,
    retry_after: Option<u64>,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({
            "success": false,
            "errors": [{"code": self.code, "message": self.message}],
            "messages": [],
            "result": null,
        });
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

fn success(result: Value) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result})).into_response()
}

fn failure(status: StatusCode, code: u32, message: &str) -> Refusal {
    Refusal {
        status,
        code,
        message: message.to_owned(),
        retry_after: None,
    }
}

fn bad_request(message: &str) -> Refusal {
    failure(StatusCode::BAD_REQUEST, CODE_BAD_REQUEST, message)
}

/// Counts the request, applies injected faults, then checks the token and the namespace.
async fn admit(
    emulator: &Shared,
    operation: &str,
    headers: &HeaderMap,
    namespace: &str,
) -> Result<(), Refusal> {
    admit_account(emulator, operation, headers).await?;
    if emulator.knows_namespace(namespace) {
        Ok(())
    } else {
        let message = format!("{operation}: 'namespace not found'");
        Err(failure(
            StatusCode::NOT_FOUND,
            CODE_NAMESPACE_NOT_FOUND,
            &message,
        ))
    }
}

/// Counts the request, applies injected faults, then checks the token.
async fn admit_account(
    emulator: &Shared,
    operation: &str,
    headers: &HeaderMap,
) -> Result<(), Refusal> {
    {
        let mut stats = emulator.stats.lock().expect("stats lock");
        stats.total += 1;
        *stats.by_operation.entry(operation.to_owned()).or_default() += 1;
    }
    let faults = emulator.faults.lock().expect("faults lock").clone();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    if faults.hang {
        std::future::pending::<()>().await;
    }
    if faults.force_429 {
        let mut refusal = failure(
            StatusCode::TOO_MANY_REQUESTS,
            CODE_TOO_MANY_API_REQUESTS,
            "More than 1200 requests per 300 seconds reached. Please wait and consider throttling your request speed",
        );
        refusal.retry_after = Some(faults.retry_after_secs.unwrap_or(300));
        return Err(refusal);
    }
    let injected_failure = {
        let mut faults = emulator.faults.lock().expect("faults lock");
        if faults.fail_next > 0 {
            faults.fail_next -= 1;
            true
        } else {
            faults.error_rate > 0.0 && rand::thread_rng().gen_bool(faults.error_rate.min(1.0))
        }
    };
    if injected_failure {
        return Err(failure(
            StatusCode::INTERNAL_SERVER_ERROR,
            CODE_INTERNAL,
            "Internal error (injected)",
        ));
    }
    check_token(&emulator.options.token, headers)
}

fn check_token(token: &str, headers: &HeaderMap) -> Result<(), Refusal> {
    let refused = || failure(StatusCode::FORBIDDEN, CODE_AUTH, "Authentication error");
    let value = headers.get(header::AUTHORIZATION).ok_or_else(refused)?;
    let Some(given) = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) else {
        let malformed = "Invalid request headers";
        return Err(failure(StatusCode::BAD_REQUEST, 6003, malformed));
    };
    (given == token).then_some(()).ok_or_else(refused)
}

fn check_key(key: &str) -> Result<(), Refusal> {
    if key.len() > MAX_KEY_BYTES {
        let message = format!(
            "UTF-8 encoded length of {} exceeds key length limit of {MAX_KEY_BYTES}.",
            key.len()
        );
        return Err(failure(
            StatusCode::URI_TOO_LONG,
            CODE_KEY_TOO_LONG,
            &message,
        ));
    }
    if key.is_empty() || key == "." || key == ".." {
        return Err(bad_request(
            "Illegal key name: keys cannot be empty, \".\" or \"..\".",
        ));
    }
    Ok(())
}

/// The expiry of a write: `expiration_ttl` wins over `expiration`; both at least 60 s ahead.
fn expiry(ttl: Option<&str>, at: Option<&str>, now: f64) -> Result<Option<u64>, Refusal> {
    if let Some(ttl) = ttl {
        let secs: i64 = ttl
            .parse()
            .map_err(|_| bad_request(&format!("Invalid expiration_ttl of {ttl}.")))?;
        if secs < MIN_TTL_SECS as i64 {
            let message = format!(
                "Invalid expiration_ttl of {secs}. Expiration TTL must be at least {MIN_TTL_SECS}."
            );
            return Err(bad_request(&message));
        }
        return Ok(Some(now as u64 + secs as u64));
    }
    if let Some(at) = at {
        let at: u64 = at
            .parse()
            .map_err(|_| bad_request(&format!("Invalid expiration of {at}.")))?;
        if (at as f64) < now + MIN_TTL_SECS as f64 {
            let message = format!("Invalid expiration of {at}. Please specify integer greater than the current number of seconds since the UNIX epoch plus {MIN_TTL_SECS}.");
            return Err(bad_request(&message));
        }
        return Ok(Some(at));
    }
    Ok(None)
}

/// The live entry of a key, or Cloudflare's 404 naming the operation.
fn live_entry(emulator: &Shared, path: &KeyPath, operation: &str) -> Result<Entry, Refusal> {
    check_key(&path.key)?;
    emulator
        .store
        .get(&path.namespace, &path.key, emulator.now())
        .ok_or_else(|| {
            let message = format!("{operation}: 'key not found'");
            failure(StatusCode::NOT_FOUND, CODE_KEY_NOT_FOUND, &message)
        })
}

async fn read(
    State(emulator): State<Shared>,
    Path(path): Path<KeyPath>,
    headers: HeaderMap,
) -> Answer {
    admit(&emulator, "get", &headers, &path.namespace).await?;
    let entry = live_entry(&emulator, &path, "get")?;
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        )],
        Body::from(entry.value),
    )
        .into_response();
    if let Some(expiration) = entry.expiration {
        response
            .headers_mut()
            .insert("expiration", HeaderValue::from(expiration));
    }
    Ok(response)
}

/// `GET /metadata/{key}`: the key's metadata (`null` when it was written without any).
async fn read_metadata(
    State(emulator): State<Shared>,
    Path(path): Path<KeyPath>,
    headers: HeaderMap,
) -> Answer {
    admit(&emulator, "metadata", &headers, &path.namespace).await?;
    let entry = live_entry(&emulator, &path, "metadata")?;
    Ok(success(entry.metadata.unwrap_or(Value::Null)))
}

async fn write(
    State(emulator): State<Shared>,
    Path(path): Path<KeyPath>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Answer {
    admit(&emulator, "put", request.headers(), &path.namespace).await?;
    check_key(&path.key)?;
    let now = emulator.now();
    let ttl = query.get("expiration_ttl").map(String::as_str);
    let expiration = expiry(ttl, query.get("expiration").map(String::as_str), now)?;
    let (value, metadata) = value_and_metadata(request).await?;
    if value.len() > MAX_VALUE_BYTES {
        let message = format!(
            "Value length of {} exceeds limit of {MAX_VALUE_BYTES}.",
            value.len()
        );
        return Err(failure(
            StatusCode::PAYLOAD_TOO_LARGE,
            CODE_VALUE_TOO_LARGE,
            &message,
        ));
    }
    let entry = Entry {
        value,
        expiration,
        metadata,
    };
    if let Err(WriteRefused::TooFrequent) =
        emulator.store.put(&path.namespace, &path.key, entry, now)
    {
        return Err(failure(
            StatusCode::TOO_MANY_REQUESTS,
            CODE_RATE_LIMITED,
            "KV PUT failed: 429 Too Many Requests (more than one write per second to the same key)",
        ));
    }
    let ttl = ttl.and_then(|t| t.parse().ok());
    emulator
        .stats
        .lock()
        .expect("stats lock")
        .write_ttls
        .push(ttl);
    Ok(success(Value::Null))
}

/// The value of a PUT: the raw body, or the `value` (and `metadata`) fields of a multipart form.
async fn value_and_metadata(request: Request) -> Result<(Bytes, Option<Value>), Refusal> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if !is_multipart {
        let body = Bytes::from_request(request, &()).await.map_err(|_| {
            failure(
                StatusCode::PAYLOAD_TOO_LARGE,
                CODE_VALUE_TOO_LARGE,
                "Value too large.",
            )
        })?;
        return Ok((body, None));
    }
    let mut form = Multipart::from_request(request, &())
        .await
        .map_err(|e| bad_request(&format!("Malformed multipart body: {e}")))?;
    let (mut value, mut metadata) = (None, None);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| bad_request(&format!("Malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_owned();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| bad_request(&format!("Malformed multipart body: {e}")))?;
        match name.as_str() {
            "value" => value = Some(bytes),
            "metadata" => {
                let parsed = serde_json::from_slice(&bytes)
                    .map_err(|_| bad_request("metadata must be valid JSON"))?;
                metadata = Some(parsed);
            }
            _ => {}
        }
    }
    let value = value.ok_or_else(|| bad_request("Multipart form has no 'value' field."))?;
    Ok((value, metadata))
}

async fn remove(
    State(emulator): State<Shared>,
    Path(path): Path<KeyPath>,
    headers: HeaderMap,
) -> Answer {
    admit(&emulator, "delete", &headers, &path.namespace).await?;
    check_key(&path.key)?;
    emulator.store.delete(&path.namespace, &path.key);
    Ok(success(Value::Null))
}

#[derive(Deserialize)]
struct BulkItem {
    key: String,
    value: String,
    #[serde(default)]
    base64: bool,
    expiration: Option<u64>,
    expiration_ttl: Option<u64>,
    metadata: Option<Value>,
}

const MAX_BULK: usize = 10_000;

/// The JSON array of a bulk call, of at most `MAX_BULK` `what`.
fn bulk<T: serde::de::DeserializeOwned>(body: &[u8], what: &str) -> Result<Vec<T>, Refusal> {
    let items: Vec<T> = serde_json::from_slice(body)
        .map_err(|e| bad_request(&format!("Invalid request body: {e}")))?;
    if items.len() > MAX_BULK {
        return Err(bad_request(&format!("At most {MAX_BULK} {what}.")));
    }
    Ok(items)
}

async fn bulk_write(
    State(emulator): State<Shared>,
    Path(path): Path<NamespacePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    admit(&emulator, "bulk_write", &headers, &path.namespace).await?;
    let items: Vec<BulkItem> = bulk(&body, "pairs per bulk write")?;
    let now = emulator.now();
    let mut written = 0u64;
    let mut refused = Vec::new();
    for item in items {
        let value = if item.base64 {
            base64::engine::general_purpose::STANDARD
                .decode(&item.value)
                .ok()
                .map(Bytes::from)
        } else {
            Some(Bytes::from(item.value))
        };
        let ttl = item.expiration_ttl.map(|t| t.to_string());
        let at = item.expiration.map(|t| t.to_string());
        let expiration = expiry(ttl.as_deref(), at.as_deref(), now);
        match (check_key(&item.key), value, expiration) {
            (Ok(()), Some(value), Ok(expiration)) if value.len() <= MAX_VALUE_BYTES => {
                let entry = Entry {
                    value,
                    expiration,
                    metadata: item.metadata,
                };
                // Bulk writes are not subject to the one-write-per-second rule here.
                let _ = emulator
                    .store
                    .put(&path.namespace, &item.key, entry, now - 1.0);
                written += 1;
            }
            _ => refused.push(item.key),
        }
    }
    Ok(success(
        json!({"successful_key_count": written, "unsuccessful_keys": refused}),
    ))
}

async fn bulk_delete(
    State(emulator): State<Shared>,
    Path(path): Path<NamespacePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    admit(&emulator, "bulk_delete", &headers, &path.namespace).await?;
    let keys: Vec<String> = bulk(&body, "keys per bulk delete")?;
    for key in &keys {
        emulator.store.delete(&path.namespace, key);
    }
    Ok(success(
        json!({"successful_key_count": keys.len(), "unsuccessful_keys": []}),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BulkGet {
    keys: Vec<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    with_metadata: bool,
}

async fn bulk_get(
    State(emulator): State<Shared>,
    Path(path): Path<NamespacePath>,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    admit(&emulator, "bulk_get", &headers, &path.namespace).await?;
    let request: BulkGet = serde_json::from_slice(&body)
        .map_err(|e| bad_request(&format!("Invalid request body: {e}")))?;
    if request.keys.is_empty() || request.keys.len() > 100 {
        return Err(bad_request("Between 1 and 100 keys per bulk get."));
    }
    let as_json = match request.kind.as_deref() {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(bad_request(&format!(
                "Invalid type {other:?}: expected text or json."
            )))
        }
    };
    let now = emulator.now();
    let mut values = serde_json::Map::new();
    for key in request.keys {
        let found = match emulator.store.get(&path.namespace, &key, now) {
            None => Value::Null,
            Some(entry) => {
                let value = if as_json {
                    serde_json::from_slice(&entry.value)
                        .map_err(|_| bad_request(&format!("The value of {key:?} is not JSON.")))?
                } else {
                    Value::String(String::from_utf8_lossy(&entry.value).into_owned())
                };
                if request.with_metadata {
                    json!({"value": value, "metadata": entry.metadata, "expiration": entry.expiration})
                } else {
                    value
                }
            }
        };
        values.insert(key, found);
    }
    Ok(success(json!({"values": values})))
}

async fn list(
    State(emulator): State<Shared>,
    Path(path): Path<NamespacePath>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Answer {
    admit(&emulator, "list", &headers, &path.namespace).await?;
    let limit = match query.get("limit") {
        None => 1000,
        Some(text) => match text.parse::<usize>() {
            Ok(n) if (10..=1000).contains(&n) => n,
            _ => return Err(bad_request("Invalid limit: expected 10 to 1000.")),
        },
    };
    let prefix = query.get("prefix").map(String::as_str).unwrap_or_default();
    let cursor = query
        .get("cursor")
        .map(String::as_str)
        .filter(|c| !c.is_empty());
    let (page, next) = emulator
        .store
        .list(&path.namespace, prefix, cursor, limit, emulator.now());
    let keys: Vec<Value> = page
        .into_iter()
        .map(|(name, entry)| {
            let mut key = json!({"name": name});
            if let Some(expiration) = entry.expiration {
                key["expiration"] = json!(expiration);
            }
            if let Some(metadata) = entry.metadata {
                key["metadata"] = metadata;
            }
            key
        })
        .collect();
    let body = json!({
        "success": true, "errors": [], "messages": [],
        "result": keys,
        "result_info": {"count": keys.len(), "cursor": next.unwrap_or_default()},
    });
    Ok(Json(body).into_response())
}

/// A namespace as Cloudflare describes it; the emulator's titles are the ids.
fn namespace_json(id: &str) -> Value {
    json!({"id": id, "title": id, "supports_url_encoding": true})
}

#[derive(Deserialize)]
struct PageQuery {
    page: Option<usize>,
    per_page: Option<usize>,
}

/// `GET /namespaces?page=&per_page=` (per_page 5 to 100, default 20): the configured namespaces,
/// or, when any is accepted, those holding data.
async fn list_namespaces(
    State(emulator): State<Shared>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Answer {
    admit_account(&emulator, "list_namespaces", &headers).await?;
    let per_page = query.per_page.unwrap_or(20);
    if !(5..=100).contains(&per_page) {
        return Err(bad_request("Invalid per_page: expected 5 to 100."));
    }
    let page = query.page.unwrap_or(1).max(1);
    let all = emulator.namespace_ids();
    let shown: Vec<Value> = all
        .iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .map(|id| namespace_json(id))
        .collect();
    let body = json!({
        "success": true, "errors": [], "messages": [],
        "result": shown,
        "result_info": {"page": page, "per_page": per_page, "count": shown.len(), "total_count": all.len()},
    });
    Ok(Json(body).into_response())
}

/// `GET /namespaces/{namespace}`.
async fn get_namespace(
    State(emulator): State<Shared>,
    Path(path): Path<NamespacePath>,
    headers: HeaderMap,
) -> Answer {
    admit(&emulator, "get_namespace", &headers, &path.namespace).await?;
    Ok(success(namespace_json(&path.namespace)))
}
