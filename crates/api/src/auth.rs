//! Who is calling. The expense routes act for one user: with Clerk, the one the session token
//! names (a `userId` in the request must be that user or absent); in `none` mode, whoever the
//! request names, as the old API did.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use crate::error::ApiError;
use crate::fields::UserId;
use crate::session::SessionError;
use crate::state::AppState;

/// The caller of an expense route.
#[derive(Debug, Clone)]
pub enum Caller {
    /// `AUTH_MODE=none`: whoever the request says.
    Trusted,
    /// The user a verified session token names.
    User(UserId),
}

impl Caller {
    /// The user a request acts for, given the `userId` it names (if any).
    pub fn user(&self, named: Option<UserId>) -> Result<UserId, ApiError> {
        match (self, named) {
            (Caller::Trusted, named) => {
                named.ok_or_else(|| ApiError::bad_request("userId: required"))
            }
            (Caller::User(user), None) => Ok(user.clone()),
            (Caller::User(user), Some(named)) if named == *user => Ok(named),
            (Caller::User(_), Some(_)) => {
                Err(ApiError::Forbidden("userId: not the signed-in user".into()))
            }
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Some(verifier) = &state.sessions else {
            return Ok(Caller::Trusted);
        };
        let token = session_token(&parts.headers).ok_or_else(|| {
            ApiError::NoCredentials(
                "missing session token: send Authorization: Bearer <token>".into(),
            )
        })?;
        let user = verifier.verify(token).await.map_err(|error| match error {
            SessionError::Rejected(reason) => ApiError::BadCredentials(reason),
            SessionError::KeysUnavailable => ApiError::Unavailable(error.to_string()),
        })?;
        Ok(Caller::User(user))
    }
}

/// The token of `Authorization: Bearer …` (cross-origin), else of the `__session` cookie.
fn session_token(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|value| bearer_token(value.as_bytes()));
    bearer
        .or_else(|| {
            headers
                .get_all(header::COOKIE)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(';'))
                .find_map(|pair| pair.trim().strip_prefix("__session="))
        })
        .filter(|token| !token.is_empty())
}

/// The token of an `Authorization` value `Bearer <token>` (the scheme in any case). A value that
/// is not ASCII is no bearer token (the `__session` cookie is looked at instead), as before; the
/// check runs on the bytes, a word at a time, not through `HeaderValue::to_str`.
fn bearer_token(value: &[u8]) -> Option<&str> {
    let (scheme, token) = value.split_at_checked(7)?;
    if !scheme.eq_ignore_ascii_case(b"bearer ") || !token.is_ascii() {
        return None;
    }
    std::str::from_utf8(token).ok().map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn tokens_come_from_the_bearer_header_or_the_session_cookie() {
        let mut headers = HeaderMap::new();
        assert_eq!(session_token(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; __session=cookie-token"),
        );
        assert_eq!(session_token(&headers), Some("cookie-token"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_bytes("Bearer t\u{f6}ken".as_bytes()).unwrap(),
        );
        assert_eq!(
            session_token(&headers),
            Some("cookie-token"),
            "a bearer value that is not ASCII is no token"
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer header-token"),
        );
        assert_eq!(session_token(&headers), Some("header-token"));
    }

    #[test]
    fn the_bearer_scheme_is_read_in_any_case_and_nothing_else_is() {
        assert_eq!(bearer_token(b"Bearer abc.def"), Some("abc.def"));
        assert_eq!(bearer_token(b"bEARER  abc "), Some("abc"));
        assert_eq!(bearer_token(b"Bearer "), Some(""));
        assert_eq!(bearer_token(b"Basic abc"), None);
        assert_eq!(bearer_token(b"Bearerabc"), None);
        assert_eq!(bearer_token(b"Bearer"), None);
        assert_eq!(bearer_token(b"Bearer t\xf6ken"), None);
        assert_eq!(bearer_token("Bearer t\u{f6}ken".as_bytes()), None);
    }

    #[test]
    fn a_signed_in_user_may_name_only_themselves() {
        let alice = UserId::parse("alice").unwrap();
        let caller = Caller::User(alice.clone());
        assert_eq!(caller.user(None).unwrap(), alice);
        assert_eq!(caller.user(Some(alice.clone())).unwrap(), alice);
        let bob = UserId::parse("bob").unwrap();
        assert!(matches!(
            caller.user(Some(bob)),
            Err(ApiError::Forbidden(_))
        ));
        assert!(Caller::Trusted.user(None).is_err());
    }
}
