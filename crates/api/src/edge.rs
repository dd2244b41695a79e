//! The edge every request passes first: one tower layer, with one concrete future, for the work
//! that wraps every request. Written by hand because a stack of generic layers (tower-http's
//! CORS, request id, trace, catch-panic and timeout, plus a `from_fn` middleware) cost a hot cached
//! read about half its throughput; this does the same jobs in one pass:
//!
//! - gives the request an `x-request-id` (keeps the caller's, or makes a UUID) and returns it;
//! - applies the CORS policy (`cors.rs`): answers preflights, adds the headers to every answer;
//! - logs its end: one line with method, route, status, latency, request id and, for a failure,
//!   its cause (`reply::ErrorCause`); at debug, also runs it inside a `request` span with the
//!   same fields, so that every line it logs carries them;
//! - records `http_request_duration_seconds`;
//! - turns a panic into the opaque 500 and a request slower than the timeout into a 503, and
//!   stamps the request id into opaque 500s.
//!
//! Every error is already in the envelope when it gets here: each extractor's rejection is an
//! `ApiError` (`extract.rs`), and so are the router's fallbacks. The timeout's timer is armed only
//! when the request first has to wait, so a read answered from memory never touches the timer
//! wheel; the deadline still counts from the request's arrival.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower::{Layer, Service};

use crate::cors::{self, CorsGrant, CorsPolicy};
use crate::logfmt::AccessLine;
use crate::metrics::RequestTimer;
use crate::reply::{self, ErrorCause, InternalErrorMarker};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Clone, Debug)]
pub struct EdgeLayer {
    timeout: Duration,
    cors: Arc<CorsPolicy>,
}

impl EdgeLayer {
    /// Requests still running after `timeout` are answered 503; browsers may call from `cors`.
    pub fn new(timeout: Duration, cors: CorsPolicy) -> EdgeLayer {
        EdgeLayer {
            timeout,
            cors: Arc::new(cors),
        }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            timeout: self.timeout,
            cors: Arc::clone(&self.cors),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Edge<S> {
    inner: S,
    timeout: Duration,
    cors: Arc<CorsPolicy>,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let request_id = request_id(&request);
        let route = request
            .extensions()
            .get::<MatchedPath>()
            .map_or("unmatched", MatchedPath::as_str);
        let timer = RequestTimer::start(request.method(), route);
        let span = request_span(&timer, &request_id);
        let deadline = timer.started() + self.timeout;
        let grant = self.cors.grant(request.headers());
        let state = {
            let _entered = span.enter();
            tracing::debug!("started processing request");
            self.start(request)
        };
        EdgeFuture {
            state,
            span,
            record: RequestRecord {
                request_id,
                grant,
                timer: Some(timer),
            },
            deadline,
        }
    }
}

impl<S> Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    /// The handler running, or the answer when no handler runs: a preflight, or a handler that
    /// panicked when called.
    fn start(&mut self, request: Request) -> State<S::Future> {
        if request.method() == Method::OPTIONS {
            return State::Answered {
                response: Some(self.cors.preflight()),
            };
        }
        match catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(inner) => State::Running { inner, alarm: None },
            Err(panic) => State::Answered {
                response: Some(panicked(panic)),
            },
        }
    }
}

pin_project! {
    pub struct EdgeFuture<F> {
        #[pin]
        state: State<F>,
        span: tracing::Span,
        record: RequestRecord,
        deadline: Instant,
    }
}

/// What the edge keeps of a request until its answer leaves: the id, the CORS grant, the timer.
struct RequestRecord {
    request_id: HeaderValue,
    grant: Option<CorsGrant>,
    // Taken when the answer leaves, so it is recorded once.
    timer: Option<RequestTimer>,
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        // The handler runs; `alarm` rings at the deadline, armed once the handler first waits.
        Running { #[pin] inner: F, #[pin] alarm: Option<Sleep> },
        // The answer is known before the handler ran (a preflight, or it panicked when called).
        Answered { response: Option<Response> },
    }
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let response = match this.state.project() {
            StateProj::Running { inner, alarm } => {
                std::task::ready!(poll_handler(inner, alarm, *this.deadline, cx))
            }
            StateProj::Answered { response } => {
                response.take().unwrap_or_else(reply::internal_error)
            }
        };
        Poll::Ready(Ok(this.record.finish(response, this.span.is_disabled())))
    }
}

/// The handler's response, the opaque 500 if it panicked, or a 503 once the deadline passes.
fn poll_handler<F>(
    inner: Pin<&mut F>,
    mut alarm: Pin<&mut Option<Sleep>>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> Poll<Response>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
        Ok(Poll::Ready(Ok(response))) => return Poll::Ready(response),
        Ok(Poll::Ready(Err(never))) => match never {},
        Ok(Poll::Pending) => {}
        Err(panic) => return Poll::Ready(panicked(panic)),
    }
    if alarm.is_none() {
        let deadline = tokio::time::Instant::from_std(deadline);
        alarm.set(Some(tokio::time::sleep_until(deadline)));
    }
    match alarm.as_pin_mut().map(|alarm| alarm.poll(cx)) {
        Some(Poll::Ready(())) => Poll::Ready(timed_out()),
        _ => Poll::Pending,
    }
}

/// The caller's `x-request-id` if it sent a plain one (1 to 128 letters, digits and `-_.:`, so
/// it cannot forge a field in a log line), else a new UUID. Handlers never read it, so it is not
/// written into the request; the span and the answer carry it.
fn request_id(request: &Request) -> HeaderValue {
    let plain = |id: &&HeaderValue| {
        let id = id.as_bytes();
        (1..=128).contains(&id.len())
            && id
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
    };
    if let Some(id) = request.headers().get(REQUEST_ID).filter(plain) {
        return id.clone();
    }
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    let text = uuid::Uuid::new_v4().hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).expect("a UUID is a valid header value")
}

/// One span per request at debug, named by its route template (never the raw URI: it holds user
/// ids). At the default level it is off and costs nothing: the end-of-request line carries the
/// same fields, and a span cost a hot read a tenth of its instructions.
fn request_span(timer: &RequestTimer, request_id: &HeaderValue) -> tracing::Span {
    // The method as labelled: one of the known ones or `other`, never the client's bytes. The
    // values are computed only when the span is enabled.
    tracing::debug_span!(
        "request",
        method = timer.labels().0,
        route = timer.labels().1,
        request_id = request_id.to_str().unwrap_or_default()
    )
}

impl RequestRecord {
    /// The response as it leaves: the request id stamped into an opaque 500, latency recorded,
    /// the end logged (`spanless`: outside a `request` span), request id returned, CORS headers
    /// added.
    fn finish(&mut self, mut response: Response, spanless: bool) -> Response {
        let cause = response.extensions_mut().remove::<ErrorCause>();
        if response.extensions().get::<InternalErrorMarker>().is_some() {
            let request_id = self.request_id.to_str().unwrap_or("unknown");
            let message = format!("internal server error (request id {request_id})");
            response = reply::error(StatusCode::INTERNAL_SERVER_ERROR, &message);
        }
        let status = response.status();
        if let Some(timer) = self.timer.take() {
            log_end(timer, status, &self.request_id, cause, spanless);
        }
        let headers = response.headers_mut();
        headers.insert(REQUEST_ID, self.request_id.clone());
        cors::decorate(headers, self.grant.as_ref());
        response
    }
}

/// Records the request's latency and logs its one line: `finished processing request`, or
/// `request failed` at error for a 5xx, with its cause when it has one. Outside a span (below
/// debug), the first goes straight to the log's writer (`logfmt::log_access_line`), the same line
/// as its tracing event would write, for about two thirds of the cost.
fn log_end(
    timer: RequestTimer,
    status: StatusCode,
    request_id: &HeaderValue,
    cause: Option<ErrorCause>,
    spanless: bool,
) {
    let (method, route) = timer.labels();
    let latency_us = u64::try_from(timer.finish(status).as_micros()).unwrap_or(u64::MAX);
    let request_id = request_id.to_str().unwrap_or_default();
    let status = status.as_u16();
    // Recorded only when there is one.
    let error = cause.as_ref().map(|ErrorCause(cause)| cause.as_str());
    // The message is a plain `&str` field, first as a literal message would be: the formatter
    // writes it as it is, where a literal goes through `core::fmt`.
    if status >= 500 || error.is_some() {
        tracing::error!(
            message = "request failed",
            method,
            route,
            status,
            latency_us,
            request_id,
            error,
        );
    } else {
        let line = AccessLine {
            target: module_path!(),
            message: "finished processing request",
            method,
            route,
            status,
            latency_us,
            request_id,
        };
        if !(spanless && log_access_line_directly(&line)) {
            tracing::info!(
                message = line.message,
                method,
                route,
                status,
                latency_us,
                request_id,
            );
        }
    }
}

/// Writes `line` straight to the log's writer if `RUST_LOG` lets its event through; false if it
/// has to be logged as the event (no writer installed, as in tests, or the thread's line buffer
/// busy). The check describes the event itself (kind, target, level, field names), so a
/// directive that names fields judges it as it would judge the event.
fn log_access_line_directly(line: &AccessLine<'_>) -> bool {
    tracing::enabled!(
        kind: tracing::metadata::Kind::EVENT,
        target: module_path!(),
        tracing::Level::INFO,
        { message, method, route, status, latency_us, request_id }
    ) && crate::logfmt::log_access_line(line)
}

fn panicked(panic: Box<dyn Any + Send>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    reply::internal_error_because(format!("handler panicked: {message}"))
}

fn timed_out() -> Response {
    let response = reply::error(StatusCode::SERVICE_UNAVAILABLE, "request timed out");
    reply::with_cause(
        response,
        "no answer within REQUEST_TIMEOUT_SECONDS".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::header;
    use axum::routing::get;
    use axum::Router;

    use tower::ServiceExt;

    use crate::cors::CorsOrigins;

    const TIMEOUT: Duration = Duration::from_millis(200);

    fn app(cors: CorsOrigins) -> Router {
        Router::new()
            .route("/fast", get(|| async { reply::ok(&"fast") }))
            .route(
                "/waits",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    reply::ok(&"waited")
                }),
            )
            .route(
                "/hangs",
                get(|| async {
                    std::future::pending::<()>().await;
                    reply::ok(&"never")
                }),
            )
            .route("/panics", get(panicking_handler))
            .route(
                "/plain",
                get(|| async { (StatusCode::BAD_REQUEST, "bad thing") }),
            )
            .route("/fails", get(|| async { reply::internal_error() }))
            .route(
                "/breaks",
                get(|| async { reply::internal_error_because("disk on fire".into()) }),
            )
            .layer(EdgeLayer::new(
                TIMEOUT,
                CorsPolicy::new(cors, Duration::from_secs(600)),
            ))
    }

    const WEB_APP: &str = "https://app.example";

    fn web_app_only() -> CorsOrigins {
        CorsOrigins::List(vec![HeaderValue::from_static(WEB_APP)])
    }

    async fn panicking_handler() -> Response {
        panic!("boom")
    }

    async fn get_path(path: &str, request_id: Option<&str>) -> (Response, serde_json::Value) {
        let mut request = Request::get(path);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        send(web_app_only(), request.body(Body::empty()).unwrap()).await
    }

    async fn send(cors: CorsOrigins, request: Request) -> (Response, serde_json::Value) {
        let response = app(cors).oneshot(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (Response::from_parts(parts, Body::empty()), json)
    }

    #[tokio::test]
    async fn answers_pass_through_with_a_request_id() {
        for (path, data) in [("/fast", "fast"), ("/waits", "waited")] {
            let (response, body) = get_path(path, None).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            assert_eq!(body["data"], data);
            let id = response.headers()[REQUEST_ID].to_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{path}: {id}");
        }
        let (response, _) = get_path("/fast", Some("trace-7")).await;
        assert_eq!(response.headers()[REQUEST_ID], "trace-7");
        // An id that could forge a log field (or is overlong) is replaced by a new one.
        let long = "a".repeat(129);
        for forged in ["x route=/admin", "a\"b", "", long.as_str()] {
            let (response, _) = get_path("/fast", Some(forged)).await;
            let id = response.headers()[REQUEST_ID].to_str().unwrap();
            assert!(uuid::Uuid::parse_str(id).is_ok(), "{forged}: {id}");
        }
    }

    #[tokio::test]
    async fn a_request_past_its_deadline_is_503() {
        let started = Instant::now();
        let (response, body) =
            tokio::time::timeout(Duration::from_secs(5), get_path("/hangs", None))
                .await
                .expect("the edge answers a hanging handler");
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body["error"], "request timed out");
        assert!(started.elapsed() >= TIMEOUT);
        assert!(response.headers().contains_key(REQUEST_ID));
    }

    #[tokio::test]
    async fn a_panic_is_an_opaque_500_naming_the_request_id() {
        let (response, body) = get_path("/panics", Some("trace-8")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal server error (request id trace-8)");
        assert_eq!(body["success"], false);
        let (response, body) = get_path("/fails", Some("trace-9")).await;
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["error"], "internal server error (request id trace-9)");
    }

    /// The lines three requests log at INFO: a failure, an answer, a timeout.
    async fn lines_of_three_requests() -> Vec<String> {
        let (subscriber, captured) =
            crate::logfmt::capture::subscriber(false, tracing::Level::INFO);
        let _default = tracing::subscriber::set_default(subscriber);
        tracing::callsite::rebuild_interest_cache();
        let (_, body) = get_path("/breaks", Some("trace-10")).await;
        assert_eq!(body["error"], "internal server error (request id trace-10)");
        get_path("/fast", Some("trace-11")).await;
        get_path("/hangs", Some("trace-12")).await;
        captured.lines()
    }

    /// At the default level each request is one line with its method, route, status, latency
    /// and request id, and no span; a failure's line also has its cause, which its body has not.
    #[tokio::test]
    // The lock keeps the other capturing tests' threads out; this runtime has one thread.
    #[allow(clippy::await_holding_lock)]
    async fn each_request_is_one_line_and_a_failure_names_its_cause() {
        let _exclusive = crate::logfmt::capture::exclusive();
        // The log lines' callsites registered before a subscriber is set (registering one on
        // another thread while it is set could cache "never" for it).
        get_path("/breaks", None).await;
        get_path("/fast", None).await;
        // tracing's state is global (each callsite's interest, the highest level enabled), and
        // the other tests' threads touch it: about one run in fifteen lost a line here, before
        // the log batching too. A line missing in three tries is this test's failure.
        let mut lines = lines_of_three_requests().await;
        for _ in 0..2 {
            if lines.len() == 3 {
                break;
            }
            lines = lines_of_three_requests().await;
        }
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines[0].contains(
                " ERROR formula_api::edge: request failed method=GET route=/breaks status=500 \
                 latency_us="
            ),
            "{lines:?}"
        );
        assert!(
            lines[0].ends_with(" request_id=trace-10 error=\"disk on fire\""),
            "{lines:?}"
        );
        assert!(
            lines[1].contains(
                " INFO formula_api::edge: finished processing request method=GET \
                 route=/fast status=200 latency_us="
            ),
            "{lines:?}"
        );
        assert!(lines[1].ends_with(" request_id=trace-11"), "{lines:?}");
        assert!(
            lines[2].ends_with(
                " request_id=trace-12 error=\"no answer within REQUEST_TIMEOUT_SECONDS\""
            ),
            "{lines:?}"
        );
    }

    fn from(origin: &str, method: Method, path: &str) -> Request {
        Request::builder()
            .method(method)
            .uri(path)
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "PATCH")
            .body(Body::empty())
            .unwrap()
    }

    fn header(response: &Response, name: HeaderName) -> Option<&str> {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap())
    }

    #[tokio::test]
    async fn the_web_app_is_granted_cors_on_every_answer() {
        for (path, status) in [
            ("/fast", StatusCode::OK),
            ("/plain", StatusCode::BAD_REQUEST),
            ("/panics", StatusCode::INTERNAL_SERVER_ERROR),
            ("/hangs", StatusCode::SERVICE_UNAVAILABLE),
        ] {
            let (response, _) = send(web_app_only(), from(WEB_APP, Method::GET, path)).await;
            assert_eq!(response.status(), status, "{path}");
            let granted = |name| header(&response, name);
            assert_eq!(granted(header::ACCESS_CONTROL_ALLOW_ORIGIN), Some(WEB_APP));
            assert_eq!(
                granted(header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
                Some("true")
            );
            assert_eq!(
                granted(header::ACCESS_CONTROL_EXPOSE_HEADERS),
                Some("x-request-id")
            );
            assert_eq!(granted(header::VARY), Some("origin"), "{path}");
        }
    }

    #[tokio::test]
    async fn other_origins_and_plain_requests_get_only_the_vary() {
        let foreign = from("https://evil.example", Method::GET, "/fast");
        let (response, _) = send(web_app_only(), foreign).await;
        let (plain, _) = get_path("/fast", None).await;
        for response in [response, plain] {
            assert_eq!(response.status(), StatusCode::OK);
            assert_eq!(header(&response, header::VARY), Some("origin"));
            for name in [
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
            ] {
                assert_eq!(header(&response, name.clone()), None, "{name}");
            }
        }
    }

    #[tokio::test]
    async fn a_preflight_is_answered_without_reaching_the_route() {
        // `/hangs` has no OPTIONS handler and its GET never answers: a 200 comes from the edge.
        let (response, _) = send(web_app_only(), from(WEB_APP, Method::OPTIONS, "/hangs")).await;
        assert_eq!(response.status(), StatusCode::OK);
        let methods = header(&response, header::ACCESS_CONTROL_ALLOW_METHODS).unwrap();
        for method in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            assert!(
                methods.split(',').any(|m| m == method),
                "{method}: {methods}"
            );
        }
        assert_eq!(
            header(&response, header::ACCESS_CONTROL_MAX_AGE),
            Some("600"),
            "browsers may reuse the answer"
        );
        let allowed = header(&response, header::ACCESS_CONTROL_ALLOW_HEADERS).unwrap();
        assert!(
            allowed.split(',').any(|h| h == "authorization"),
            "{allowed}"
        );
        assert_eq!(
            header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some(WEB_APP)
        );
        let foreign = from("https://evil.example", Method::OPTIONS, "/fast");
        let (refused, _) = send(web_app_only(), foreign).await;
        assert_eq!(header(&refused, header::ACCESS_CONTROL_ALLOW_ORIGIN), None);
    }

    #[tokio::test]
    async fn any_origin_is_granted_without_credentials() {
        let (response, _) = send(
            CorsOrigins::Any,
            from("https://anywhere.example", Method::GET, "/fast"),
        )
        .await;
        assert_eq!(
            header(&response, header::ACCESS_CONTROL_ALLOW_ORIGIN),
            Some("*")
        );
        assert_eq!(
            header(&response, header::ACCESS_CONTROL_ALLOW_CREDENTIALS),
            None
        );
    }
}
