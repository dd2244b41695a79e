//! The OpenAPI 3.1 document, generated from the code: every route registered through
//! `utoipa_axum::routes!` carries its own `#[utoipa::path]`, so the router and the document come
//! from the same declarations. Served at `/openapi.json`, with Swagger UI (vendored, offline) at
//! `/docs`.

use serde::Serialize;
use serde_json::{json, Value};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{AllOfBuilder, ObjectBuilder, Ref};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::Required;
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

/// Completes the generated document with what the route annotations cannot say: the links from a
/// created row to the routes that read, change and delete it, the `id` the equipment PATCH
/// requires, and the rules of the auth mode. With `session_tokens` (Clerk: production, and the
/// committed `openapi.json`), the expense routes require a session token and `userId` is optional
/// (when given, it must be the token's user). In `AUTH_MODE=none` they take no token and nothing
/// but `userId` names the user, so it is required in the query and in the body.
pub fn complete(mut document: utoipa::openapi::OpenApi, session_tokens: bool) -> Value {
    // The equipment PATCH names its row in the body; batch items share its schema without `id`.
    let patch = document
        .paths
        .paths
        .get_mut("/api/expenses/equipment-costs")
        .and_then(|item| item.patch.as_mut())
        .expect("PATCH equipment-costs is documented");
    require_in_body(patch, "id", Ref::from_schema_name("Id"));
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.patch,
            &mut item.delete,
        ];
        for operation in operations.into_iter().flatten() {
            if operation.security.take().is_none() {
                continue; // not an expense route
            }
            if session_tokens {
                let token = SecurityRequirement::new("clerk", Vec::<String>::new());
                operation.security = Some(vec![token]);
            } else {
                require_user_id(operation);
            }
        }
    }
    let mut document = serde_json::to_value(document).expect("the OpenAPI document serializes");
    link_created_rows(&mut document);
    document
}

/// `userId` required in the query and in the JSON body of an expense route.
fn require_user_id(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.name == "userId" && parameter.parameter_in == ParameterIn::Query {
            parameter.required = Required::True;
        }
    }
    require_in_body(operation, "userId", Ref::from_schema_name("UserId"));
}

/// The operation's JSON body, if it has one, must carry `field` (and not as `null`).
fn require_in_body(operation: &mut Operation, field: &str, schema: Ref) {
    let json = operation
        .request_body
        .as_mut()
        .and_then(|body| body.content.get_mut("application/json"));
    if let Some(content) = json {
        let body = content.schema.take().expect("a JSON body has a schema");
        let required = ObjectBuilder::new().property(field, schema).required(field);
        content.schema = Some(AllOfBuilder::new().item(body).item(required).into());
    }
}

/// The links of each create route's answers: from the row it returns to the routes that read,
/// change and delete it, as that row's user. (Written as JSON: utoipa 5 spells a link's fields
/// in snake case.)
fn link_created_rows(document: &mut Value) {
    const USER: &str = "$response.body#/data/userId";
    const ID: &str = "$response.body#/data/id";
    let fixed = json!({
        "list": { "operationId": "listFixedCosts", "parameters": { "userId": USER } },
        "update": { "operationId": "updateFixedCost", "parameters": { "id": ID },
                    "requestBody": { "userId": USER } },
        "delete": { "operationId": "deleteFixedCost", "parameters": { "user_id": USER, "id": ID } },
    });
    let equipment = json!({
        "list": { "operationId": "listEquipmentCosts", "parameters": { "userId": USER } },
        "update": { "operationId": "updateEquipmentCost", "requestBody": { "userId": USER, "id": ID } },
        "delete": { "operationId": "deleteEquipmentCost", "parameters": { "user_id": USER, "id": ID } },
    });
    let billable = json!({
        "read": { "operationId": "getBillableCost", "parameters": { "userId": USER } },
        "update": { "operationId": "updateBillableCost", "requestBody": { "userId": USER } },
    });
    let routes = [
        ("fixed-costs", &["201"][..], fixed),
        ("equipment-costs", &["201"][..], equipment),
        ("billable-costs", &["200", "201"][..], billable),
    ];
    for (route, statuses, links) in routes {
        for status in statuses {
            let pointer = format!("/paths/~1api~1expenses~1{route}/post/responses/{status}");
            let response = document
                .pointer_mut(&pointer)
                .expect("every create route is documented");
            response["links"] = links.clone();
        }
    }
}
