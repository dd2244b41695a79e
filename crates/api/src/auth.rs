//! Who is calling. The expense routes act for one user: the caller's, never one named by a
//! request field alone.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::fields::UserId;
use crate::state::AppState;

/// How the expense routes learn their user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Trust the request's `userId`, as the old API did. For local use on loopback.
    None,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::None => "none",
        }
    }
}

/// The caller of an expense route.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `AUTH_MODE=none`: whoever the request says.
    Trusted,
}

impl Caller {
    /// The user a request acts for, given the `userId` it names (if any).
    pub fn user(&self, named: Option<UserId>) -> Result<UserId, ApiError> {
        match self {
            Caller::Trusted => named.ok_or_else(|| ApiError::bad_request("userId: required")),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(_parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match state.config.auth_mode {
            AuthMode::None => Ok(Caller::Trusted),
        }
    }
}
