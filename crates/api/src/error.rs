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
    /// A credential that is wrong (a webhook signature, a cron secret).
    #[error("{0}")]
    Unauthorized(String),
    /// No valid session token: answered with `WWW-Authenticate: Bearer`.
    #[error("{0}")]
    Unauthenticated(String),
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
    /// Overloaded or briefly down (too many database loads waiting, the database unreachable):
    /// a 503 with `Retry-After`, so clients back off instead of piling on.
    #[error("{0}")]
    TryLater(String),
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
            ApiError::Unauthorized(_) | ApiError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable(_) | ApiError::TryLater(_) => StatusCode::SERVICE_UNAVAILABLE,
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
            DbError::Unavailable(_) => {
                tracing::error!(error = %error_chain(&error), "database unavailable");
                ApiError::TryLater("the database is unavailable; try again shortly".into())
            }
            other => ApiError::Internal(other.into()),
        }
    }
}

impl From<CacheError> for ApiError {
    fn from(error: CacheError) -> Self {
        ApiError::Internal(error.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match self {
            ApiError::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
                reply::internal_error()
            }
            ApiError::Unauthenticated(reason) => {
                let mut response = reply::error(status, &reason);
                let challenge = format!(
                    "Bearer realm=\"formula-api\", error=\"invalid_token\", error_description=\"{}\"",
                    reason.replace('"', "'")
                );
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                response
            }
            ApiError::TryLater(reason) => {
                let mut response = reply::error(status, &reason);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
                response
            }
            other => reply::error(status, &other.to_string()),
        }
    }
}

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
