//! The router and its middleware, and serving it on a listener.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceBuilder;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::{Auth, ServerSettings};
use crate::cors::CorsPolicy;
use crate::edge::EdgeLayer;
use crate::error::ApiError;
use crate::first_request::{Started, Tracked};
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::{cron, expenses, health, webhooks};

/// Every route of the service, with its middleware (outer → inner): the edge (`edge.rs`: request
/// id, CORS, timeout, panics, envelope), the body limit.
pub fn router(state: AppState) -> Router {
    let server = &state.config.server;
    let cors = CorsPolicy::new(server.cors_origins.clone(), server.cors_max_age);
    let middleware = ServiceBuilder::new()
        .layer(EdgeLayer::new(server.request_timeout, cors))
        .layer(DefaultBodyLimit::max(server.body_limit_bytes));
    crate::metrics::handle();
    let (mut router, openapi) = api_router().split_for_parts();
    let session_tokens = matches!(state.config.auth, Auth::Clerk(_));
    let openapi = crate::openapi::complete(openapi, session_tokens);
    router = router.merge(SwaggerUi::new("/docs").external_url_unchecked("/openapi.json", openapi));
    if server.metrics_addr.is_none() {
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

/// The OpenAPI document an instance serves at `/openapi.json`: with `session_tokens`
/// (`AUTH_MODE=clerk`), or without (`none`).
pub fn openapi(session_tokens: bool) -> serde_json::Value {
    crate::openapi::complete(api_router().into_openapi(), session_tokens)
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
    let app = router(state.clone());
    let server = accept_until(listener, app, &state.config.server, async move {
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
    state.drain_outbox(FLUSH_GRACE).await;
    flush_invalidations(&state).await;
    Ok(())
}

/// Serves connections until `shutdown`, then waits for the open ones to finish the requests they
/// carry. At most `MAX_CONNECTIONS` are open at once (more wait in the listen backlog), and a
/// client has `HEADER_READ_TIMEOUT_SECONDS` to send a request's headers, counted from when the
/// connection begins waiting for them: a slow client and an idle keep-alive connection are both
/// closed then (hyper's timer), and so is a connection that has not begun a request by then
/// (`first_request.rs`). `axum::serve` runs hyper without a timer, so it has none of these.
async fn accept_until(
    listener: TcpListener,
    app: Router,
    config: &ServerSettings,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout);
    let header_timeout = config.header_read_timeout;
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(config.max_connections));
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
            () = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, typically: pause rather than spin.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let started = Started::new();
        let service = Tracked::new(TowerToHyperService::new(app.clone()), started.clone());
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Dropping the connection closes it.
            tokio::select! {
                biased;
                _ = connection => {}
                () = started.unless_started_within(header_timeout) => {}
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
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

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
