//! CORS for the web app, applied by the edge (`edge.rs`) to every answer.
//!
//! Written by hand, like the edge, because tower-http's `CorsLayer` cost a cached read about a
//! twentieth of its CPU: it built a header map per request and its configuration was cloned with
//! every route's service. Here a request costs a comparison of its `Origin` with the configured
//! list (`CORS_ALLOWED_ORIGINS`) and a few header inserts. It answers as that layer did for this
//! service's configuration:
//!
//! - every answer varies on `Origin`;
//! - an answer to an allowed origin carries `Access-Control-Allow-Origin` (the origin itself, or
//!   `*` when any origin may call), `Access-Control-Expose-Headers: x-request-id` and, for a listed
//!   origin, `Access-Control-Allow-Credentials: true` (the web app sends its Clerk cookie);
//! - an `OPTIONS` request is a preflight: answered 200 with no body, the methods and headers the
//!   API accepts and `Access-Control-Max-Age` (`CORS_MAX_AGE_SECONDS`; without it browsers ask again
//!   after 5 s, and the web app's calls all carry `Authorization`, so each would need one), without
//!   reaching a route.
//!
//! A request without `Origin` is not a CORS request (browsers send it on every cross-origin call),
//! so it gets the `Vary` alone.

use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;

const ALLOW_METHODS: HeaderValue = HeaderValue::from_static("GET,POST,PUT,PATCH,DELETE,OPTIONS");
const ALLOW_HEADERS: HeaderValue =
    HeaderValue::from_static("content-type,authorization,x-request-id");
const EXPOSE_HEADERS: HeaderValue = HeaderValue::from_static("x-request-id");
const ORIGIN: HeaderValue = HeaderValue::from_static("origin");
const ANY: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");

/// Which origins may call the API from a browser (`CORS_ALLOWED_ORIGINS`).
#[derive(Debug, Clone)]
pub enum CorsOrigins {
    Any,
    List(Vec<HeaderValue>),
}

/// The configured policy: who may call, and how long a preflight's answer may be reused.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    origins: CorsOrigins,
    max_age: HeaderValue,
}

impl CorsPolicy {
    pub fn new(origins: CorsOrigins, max_age: Duration) -> CorsPolicy {
        CorsPolicy {
            origins,
            max_age: HeaderValue::from(max_age.as_secs()),
        }
    }

    /// The answer to a preflight (any `OPTIONS` request): 200, no body, the methods and headers
    /// the API accepts, and how long to remember them. `decorate` adds the origin's grant, as to
    /// every answer; without it the browser refuses the call.
    pub fn preflight(&self) -> Response {
        let mut response = Response::new(Body::empty());
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
        headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
        headers.insert(header::ACCESS_CONTROL_MAX_AGE, self.max_age.clone());
        response
    }
}

/// What one request from an allowed origin is granted.
#[derive(Debug, Clone)]
pub struct CorsGrant {
    allow_origin: HeaderValue,
    credentials: bool,
}

impl CorsPolicy {
    /// The grant for a request's `Origin`; `None` without one or for an origin not allowed.
    pub fn grant(&self, request_headers: &HeaderMap) -> Option<CorsGrant> {
        let origin = request_headers.get(header::ORIGIN)?;
        match &self.origins {
            CorsOrigins::Any => Some(CorsGrant {
                allow_origin: ANY,
                credentials: false,
            }),
            CorsOrigins::List(list) => list.contains(origin).then(|| CorsGrant {
                allow_origin: origin.clone(),
                credentials: true,
            }),
        }
    }
}

/// Adds the CORS headers to an answer: the `Vary` always, the rest if the origin was granted.
pub fn decorate(headers: &mut HeaderMap, grant: Option<&CorsGrant>) {
    headers.append(header::VARY, ORIGIN);
    let Some(grant) = grant else { return };
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        grant.allow_origin.clone(),
    );
    headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
    if grant.credentials {
        headers.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
    }
}
