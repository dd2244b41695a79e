//! The OpenAPI 3.1 document, generated from the code: every route registered through
//! `utoipa_axum::routes!` carries its own `#[utoipa::path]`, so the router and the document come
//! from the same declarations. Served at `/openapi.json`, with Swagger UI (vendored, offline) at
//! `/docs`.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoResponses, Modify, OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "formula-api",
        description = "Expenses of the freelancer pricing app, Clerk webhooks and the keep-alive cron. Every /api answer is an envelope whose `status` equals the HTTP status.",
    ),
    modifiers(&SessionToken),
    tags(
        (name = "fixed costs", description = "Routes 1–5"),
        (name = "billable costs", description = "Routes 6–8"),
        (name = "equipment", description = "Routes 9–13"),
        (name = "webhooks", description = "Clerk user events through Svix"),
        (name = "operations", description = "Cron, liveness, readiness"),
    )
)]
pub struct ApiDoc;

/// The Clerk session token scheme of the expense routes (required in `AUTH_MODE=clerk`).
struct SessionToken;

impl Modify for SessionToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "clerk",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some("Clerk session token (or the __session cookie)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "cron",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("CRON_SECRET, when configured"))
                    .build(),
            ),
        );
    }
}

/// A successful answer: `data` is the payload.
#[derive(Serialize, ToSchema)]
pub struct Success<T> {
    /// Equals the HTTP status.
    pub status: u16,
    /// Always true.
    pub success: bool,
    pub data: T,
}

/// A DELETE's answer: `data` is null (a body, because the web app parses every response).
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub status: u16,
    pub success: bool,
    #[schema(value_type = Option<Object>)]
    pub data: Option<()>,
}

/// A refused or failed request: `error` names the field or the reason.
#[derive(Serialize, ToSchema)]
pub struct Failure {
    /// Equals the HTTP status.
    pub status: u16,
    /// Always false.
    pub success: bool,
    /// A sentence naming the offending field or the reason; never internals.
    pub error: String,
}

/// The errors any expense route may answer.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum ExpenseErrors {
    #[response(
        status = 400,
        description = "Validation failed, malformed JSON or wrong types: `error` names the field"
    )]
    BadRequest(#[to_schema] Failure),
    #[response(
        status = 401,
        description = "Missing or invalid session token (AUTH_MODE=clerk)"
    )]
    Unauthorized(#[to_schema] Failure),
    #[response(status = 403, description = "The userId is not the signed-in user")]
    Forbidden(#[to_schema] Failure),
    #[response(status = 404, description = "Unknown id, or an id of another user")]
    NotFound(#[to_schema] Failure),
    #[response(status = 405, description = "Method not allowed on this path")]
    MethodNotAllowed(#[to_schema] Failure),
    #[response(
        status = 410,
        description = "The user was deleted in Clerk: nothing is written"
    )]
    Gone(#[to_schema] Failure),
    #[response(status = 413, description = "Body over the limit")]
    PayloadTooLarge(#[to_schema] Failure),
    #[response(status = 415, description = "Body is not JSON")]
    UnsupportedMediaType(#[to_schema] Failure),
    #[response(
        status = 500,
        description = "Server fault: an opaque message with the request id"
    )]
    Internal(#[to_schema] Failure),
    #[response(
        status = 503,
        description = "The database is unavailable or overloaded (with `Retry-After`), or the request timed out"
    )]
    Unavailable(#[to_schema] Failure),
}

/// The errors of the webhook and cron routes.
#[derive(IntoResponses)]
#[allow(dead_code)]
pub enum OperationErrors {
    #[response(
        status = 400,
        description = "Missing headers, stale timestamp or not an event"
    )]
    BadRequest(#[to_schema] Failure),
    #[response(status = 401, description = "Bad signature or secret")]
    Unauthorized(#[to_schema] Failure),
    #[response(status = 405, description = "Method not allowed on this path")]
    MethodNotAllowed(#[to_schema] Failure),
    #[response(status = 413, description = "Body over the limit")]
    PayloadTooLarge(#[to_schema] Failure),
    #[response(status = 500, description = "Server fault")]
    Internal(#[to_schema] Failure),
    #[response(
        status = 503,
        description = "Not configured, or the database is unavailable"
    )]
    Unavailable(#[to_schema] Failure),
}
