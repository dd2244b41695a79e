//! The one error type of the HTTP layer, and how it becomes the contract's error envelope.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use formula_cache::CacheError;
use formula_db::DbError;

use crate::reply;

/// Everything a handler can answer besides success. Client mistakes carry a sentence naming the
/// field or the reason; server faults carry their cause for the log only.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// The request carries no credentials (no session token, no cron secret): 401.
    #[error("{0}")]
    NoCredentials(String),
    /// The request's credentials do not verify (a session token, a webhook signature, the cron
    /// secret): 401.
    #[error("{0}")]
    BadCredentials(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The user was deleted (in Clerk): their writes are refused.
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unavailable(String),
    /// Overloaded (too many database loads waiting): a 503 with `Retry-After`, so clients back
    /// off instead of piling on.
    #[error("{0}")]
    TryLater(String),
    /// The database is unreachable: a `TryLater` whose cause goes to the log.
    #[error("the database is unavailable; try again shortly")]
    DatabaseDown(#[source] DbError),
    /// A server fault: an opaque 500 whose cause goes to the log.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

/// What a `TryLater` answer's `Retry-After` asks for: long enough for a burst to drain.
pub const RETRY_AFTER_SECONDS: u32 = 1;

pub type ApiResult<T = Response> = Result<T, ApiError>;

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NoCredentials(_) | ApiError::BadCredentials(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::TryLater(_) | ApiError::DatabaseDown(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest(message.into())
    }
}

impl From<DbError> for ApiError {
    fn from(error: DbError) -> Self {
        match error {
            DbError::NotFound(what) => ApiError::NotFound(format!("{what} not found")),
            DbError::Gone(what) => {
                ApiError::Gone(format!("{what} was deleted; nothing was written"))
            }
            DbError::Unavailable(_) => ApiError::DatabaseDown(error),
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<CacheError> for ApiError {
    fn from(error: CacheError) -> Self {
        ApiError::Internal(error.into())
    }
}

/// The one place an error becomes an answer. A 5xx's cause goes with the answer to the edge, which
/// logs it on the request's line (`reply::ErrorCause`); an internal one never reaches the client.
impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = self.to_string();
        let cause = match &self {
            ApiError::Internal(cause) => {
                return reply::internal_error_because(error_chain(cause.as_ref()));
            }
            ApiError::DatabaseDown(cause) => Some(error_chain(cause)),
            // Every other 5xx: what the client is told is what went wrong.
            _ if self.status().is_server_error() => Some(message.clone()),
            _ => None,
        };
        let mut response = reply::error(self.status(), &message);
        if let Some(cause) = cause {
            response = reply::with_cause(response, cause);
        }
        let headers = response.headers_mut();
        match self {
            ApiError::TryLater(_) | ApiError::DatabaseDown(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
            }
            // Every 401 names its scheme (RFC 7235); a refused token also says why (RFC 6750).
            ApiError::NoCredentials(_) => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(REALM));
            }
            ApiError::BadCredentials(reason) => {
                let reason = reason.replace('"', "'");
                let challenge =
                    format!("{REALM}, error=\"invalid_token\", error_description=\"{reason}\"");
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    headers.insert(header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

const REALM: &str = "Bearer realm=\"formula-api\"";

/// An error and all its causes on one line, for the log.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
