//! The router and its middleware, and serving it on a listener.

use std::future::Future;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderName, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::CorsOrigins;
use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::reply::{self, InternalErrorMarker};
use crate::state::AppState;
use crate::{cron, expenses, health, webhooks};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every route of the service, with its middleware.
pub fn router(state: AppState) -> Router {
    let middleware = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(|_| reply::internal_error()))
        .layer(middleware::from_fn(envelope_errors_and_latency))
        .layer(cors(&state.config.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            state.config.request_timeout,
        ))
        .layer(DefaultBodyLimit::max(state.config.body_limit_bytes));
    crate::metrics::handle();
    let (mut router, openapi) = api_router().split_for_parts();
    router = router.merge(SwaggerUi::new("/docs").url("/openapi.json", openapi));
    if state.config.metrics_addr.is_none() {
        router = router.route("/metrics", get(crate::metrics::render));
    }
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware)
        .with_state(state)
}

/// The documented routes: each one's `#[utoipa::path]` goes into the OpenAPI document.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(expenses::router())
        .merge(webhooks::router())
        .merge(cron::router())
        .merge(health::router())
}

/// The OpenAPI document the service serves at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_router().into_openapi()
}

/// `/metrics` alone, for `METRICS_ADDR`.
pub fn metrics_router() -> Router {
    crate::metrics::handle();
    Router::new().route("/metrics", get(crate::metrics::render))
}

/// How long requests in flight may take to finish once shutdown begins.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long shutdown keeps trying to apply queued cache invalidations.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// Serves until `shutdown` resolves; then stops accepting, lets requests in flight finish (for
/// at most `SHUTDOWN_GRACE`), and applies queued cache invalidations before returning.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router(state.clone())).with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stopping.send(());
    });
    let grace = async {
        if stopped.await.is_ok() {
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = server => served?,
        _ = grace => tracing::warn!("requests still running after the grace period; closing"),
    }
    flush_invalidations(&state).await;
    Ok(())
}

/// Applies what is left in the invalidation queue, for at most `FLUSH_GRACE`.
async fn flush_invalidations(state: &AppState) {
    let deadline = tokio::time::Instant::now() + FLUSH_GRACE;
    while state.cache.pending_invalidations() > 0 {
        if state.cache.flush_invalidations().await {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            tracing::error!(
                pending = state.cache.pending_invalidations(),
                "shutting down with cache invalidations not applied; their keys expire with the TTL"
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One span per request, named by its route template (never the raw URI: it holds user ids).
fn request_span(request: &Request) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str)
        .unwrap_or("unmatched");
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!("request", method = %request.method(), route, request_id)
}

fn cors(origins: &CorsOrigins) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, REQUEST_ID])
        .expose_headers([REQUEST_ID]);
    match origins {
        CorsOrigins::Any => layer.allow_origin(AllowOrigin::any()),
        CorsOrigins::List(list) => layer
            .allow_origin(AllowOrigin::list(list.iter().cloned()))
            .allow_credentials(true),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// One middleware for two jobs, so the hot path pays for one layer: records the request's
/// latency, and keeps every error in the envelope (stamps the request id into opaque 500s, wraps
/// the plain-text errors of layers and axum's own rejections).
async fn envelope_errors_and_latency(request: Request, next: Next) -> Response {
    let latency = crate::metrics::RequestTimer::start(&request);
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let response = next.run(request).await;
    latency.finish(response.status());
    let status = response.status();
    if response.extensions().get::<InternalErrorMarker>().is_some() {
        let request_id = request_id
            .as_ref()
            .and_then(|value| value.to_str().ok())
            .unwrap_or("unknown");
        let message = format!("internal server error (request id {request_id})");
        return reply::error(StatusCode::INTERNAL_SERVER_ERROR, &message);
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
    if status.as_u16() < 400 || is_json {
        return response;
    }
    let body = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&body);
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        text => text.to_owned(),
    };
    if status.is_server_error() {
        tracing::error!(%status, %message, "request failed");
    }
    reply::error(status, &message)
}
