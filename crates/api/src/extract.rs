//! Every extractor a handler uses besides `State`: each rejection is an `ApiError`, so it speaks
//! the contract's envelope (and names the offending field); nothing is left for the edge to wrap.

use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{header, request::Parts, HeaderMap, StatusCode};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Rules that span several fields (batch sizes, repeated ids), checked after parsing.
pub trait Validate {
    fn validate(&self) -> Result<(), ApiError> {
        Ok(())
    }
}

/// A JSON body: `Content-Type: application/json` required (415), well-formed (400), every field
/// valid (400 naming the field), within the body limit (413).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Validate,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(request.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".into(),
            ));
        }
        let RawBody(bytes) = RawBody::from_request(request, state).await?;
        let value: T = parse_json(&bytes)?;
        value.validate()?;
        Ok(JsonBody(value))
    }
}

/// The body's bytes as received (the webhook verifies its signature over them): 413 over the body
/// limit, 400 when it cannot be read.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(request, state).await {
            Ok(bytes) => Ok(RawBody(bytes)),
            Err(too_large) if too_large.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(
                ApiError::PayloadTooLarge("request body is larger than the limit".into()),
            ),
            Err(other) => Err(ApiError::bad_request(format!(
                "request body could not be read: {}",
                other.body_text()
            ))),
        }
    }
}

/// axum's `Path` with the envelope's rejection (as axum's `customize-path-rejection` example
/// does): a segment that does not decode is a 400 naming the reason.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(error)) => {
                Err(ApiError::bad_request(error.body_text()))
            }
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(other.body_text()))),
        }
    }
}

/// Query parameters, with the same field-naming errors as bodies. Percent-escapes that decode to
/// invalid UTF-8 are refused (400 naming the parameter), as the same bytes in a body are.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        check_utf8(query)?;
        let deserializer =
            || serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        // Parsed again with the path tracked only when it fails, to name the parameter: the
        // tracking cost every valid query a third of its parsing.
        T::deserialize(deserializer())
            .map(QueryParams)
            .map_err(|plain| {
                let named = serde_path_to_error::deserialize::<_, T>(deserializer()).err();
                ApiError::bad_request(named.map_or_else(
                    || plain.to_string().replace('`', ""),
                    |error| describe(error.path(), &error.inner().to_string()),
                ))
            })
    }
}

/// Refuses a query string one of whose names or values is not UTF-8 once decoded. Without a `%`
/// there is nothing to decode, and the query is text already.
fn check_utf8(query: &str) -> Result<(), ApiError> {
    if !query.contains('%') {
        return Ok(());
    }
    for pair in query.split('&') {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        // Borrowed, without a copy, unless the part has escapes.
        let decoded = |part| percent_encoding::percent_decode_str(part).decode_utf8();
        let Ok(name) = decoded(name) else {
            return Err(ApiError::bad_request(
                "query: a parameter name is not valid UTF-8",
            ));
        };
        if decoded(value).is_err() {
            return Err(ApiError::bad_request(format!("{name}: not valid UTF-8")));
        }
    }
    Ok(())
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// Parses a JSON object into `T`. In order: the document's syntax ("malformed JSON: …"), that it
/// is an object, then every field (errors name the field's path).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .map_err(|error| ApiError::bad_request(format!("malformed JSON: {error}")))?;
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request("body: expected a JSON object"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        ApiError::bad_request(describe(error.path(), &without_position(error.inner())))
    })
}

/// `amount: must be ≥ 0`, or the bare message for the document itself.
fn describe(path: &serde_path_to_error::Path, message: &str) -> String {
    let path = path.to_string();
    let message = message.replace('`', "");
    if path == "." {
        message
    } else {
        format!("{path}: {message}")
    }
}

/// serde_json appends " at line L column C" to data errors; the field path says more.
fn without_position(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fields::NonNegative;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        amount: NonNegative,
        nested: Option<Vec<Inner>>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        amount: NonNegative,
    }

    fn message(json: &str) -> String {
        match parse_json::<Body>(json.as_bytes()) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn names_the_field() {
        assert_eq!(
            message(r#"{"amount":"x"}"#),
            "amount: expected a number, got a string"
        );
        assert_eq!(message(r#"{"amount":-2}"#), "amount: must be ≥ 0");
        assert_eq!(
            message(r#"{"amount":1,"nested":[{"amount":1},{"amount":-1}]}"#),
            "nested[1].amount: must be ≥ 0"
        );
        assert_eq!(message(r#"{}"#), "missing field amount");
    }

    #[test]
    fn query_strings_must_decode_to_utf8() {
        assert!(check_utf8("userId=user_1&x=%C3%A9+a").is_ok());
        match check_utf8("userId=%FF%FE") {
            Err(ApiError::BadRequest(message)) => assert_eq!(message, "userId: not valid UTF-8"),
            other => panic!("expected a 400, got {other:?}"),
        }
        assert!(check_utf8("%FF=1").is_err());
    }

    #[test]
    fn malformed_json() {
        assert!(message(r#"{"amount":"#).starts_with("malformed JSON"));
        assert!(message(r#"{"amount":-1} x"#).starts_with("malformed JSON"));
        assert_eq!(message("[1]"), "body: expected a JSON object");
    }
}
