//! The contract's envelope (`docs/contract.md`): `{"status", "success", "data"}` or
//! `{"status", "success", "error"}`, with the HTTP status equal to `status`. Its shape is
//! `openapi.rs`'s `Success` and `Failure`, which the OpenAPI document describes.

use axum::body::Body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use formula_cache::Lookup;
use serde::Serialize;

use crate::openapi::{Failure, Success};

/// Marks a 500 whose body still lacks the request id; the edge (`edge.rs`) adds it.
#[derive(Clone, Copy, Debug)]
pub struct InternalErrorMarker;

/// Why an answer failed, for the log only (never the body): the edge writes it on the request's
/// one line, beside its method, route, status and request id.
#[derive(Clone, Debug)]
pub struct ErrorCause(pub String);

pub const CACHE_HEADER: HeaderName = HeaderName::from_static("x-cache");

pub fn ok<T: Serialize>(data: &T) -> Response {
    success(StatusCode::OK, data)
}

pub fn created<T: Serialize>(data: &T) -> Response {
    success(StatusCode::CREATED, data)
}

/// `data: null`, for a DELETE: the web app parses every body, so no bodiless 204.
pub fn deleted() -> Response {
    success(StatusCode::OK, &())
}

pub fn success<T: Serialize>(status: StatusCode, data: &T) -> Response {
    let envelope = Success {
        status: status.as_u16(),
        success: true,
        data,
    };
    match serde_json::to_vec(&envelope) {
        Ok(body) => json(status, Bytes::from(body)),
        Err(error) => internal_error_because(format!("response could not be encoded: {error}")),
    }
}

/// A 200 around JSON that is already encoded (a cached value), without parsing it again: the
/// bytes `success` writes around it (a test holds the two together).
pub fn cached(data: Bytes, lookup: Lookup) -> Response {
    const HEAD: &[u8] = br#"{"status":200,"success":true,"data":"#;
    let mut body = BytesMut::with_capacity(HEAD.len() + data.len() + 1);
    body.put_slice(HEAD);
    body.put_slice(&data);
    body.put_u8(b'}');
    let mut response = json(StatusCode::OK, body.freeze());
    response
        .headers_mut()
        .insert(CACHE_HEADER, HeaderValue::from_static(lookup.as_str()));
    response
}

pub fn error(status: StatusCode, message: &str) -> Response {
    let envelope = Failure {
        status: status.as_u16(),
        success: false,
        error: message.to_owned(),
    };
    let body = serde_json::to_vec(&envelope).unwrap_or_default();
    json(status, Bytes::from(body))
}

/// The opaque 500; the edge (`edge.rs`) stamps the request id in.
pub fn internal_error() -> Response {
    let mut response = error(StatusCode::INTERNAL_SERVER_ERROR, "internal server error");
    response.extensions_mut().insert(InternalErrorMarker);
    response
}

/// The opaque 500, with its cause for the log.
pub fn internal_error_because(cause: String) -> Response {
    with_cause(internal_error(), cause)
}

/// `response` with why it failed, for the log.
pub fn with_cause(mut response: Response, cause: String) -> Response {
    response.extensions_mut().insert(ErrorCause(cause));
    response
}

/// Room for every header a response leaves with (content type and length, `x-cache`, the request
/// id, CORS), so the map is allocated once rather than grown on the way out.
const RESPONSE_HEADERS: usize = 8;

fn json(status: StatusCode, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.reserve(RESPONSE_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_cached_answer_is_the_envelope_success_writes() {
        let data = serde_json::json!([{"id": 1, "name": "Rent"}]);
        let encoded = Bytes::from(serde_json::to_vec(&data).unwrap());
        let [cached, written] = [cached(encoded, Lookup::Hit), ok(&data)]
            .map(|response| axum::body::to_bytes(response.into_body(), usize::MAX));
        assert_eq!(cached.await.unwrap(), written.await.unwrap());
    }
}
