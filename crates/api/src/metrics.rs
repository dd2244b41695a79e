//! Prometheus metrics: the recorder (one per process), `/metrics`, and request latency.
//!
//! Recorded elsewhere: `cache_lookups_total{layer,result}`, `cache_loads_total`,
//! `cache_loads_coalesced_total`, `cache_pending_invalidations` (formula-cache),
//! `kv_calls_total{op,outcome}`, `kv_requests_sent_total` (the Cloudflare client),
//! `db_queries_total{op}` (formula-db), `session_token_verifications_total`,
//! `jwks_fetch_failures_total` (session), `peer_messages_dropped_total` (peers),
//! `log_lines_dropped_total` (the log writer).

use std::collections::HashMap;
use std::sync::{LazyLock, OnceLock, RwLock};
use std::time::{Duration, Instant};

use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use formula_cache::MetricHandles;
use metrics::Histogram;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::logbatch::DroppedLines;

const LATENCY: &str = "http_request_duration_seconds";

/// The process's recorder, installed on first use.
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(LATENCY.into()),
                &[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed");
        }
        spawn_upkeep(handle.clone());
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_PERIOD: Duration = Duration::from_secs(5);

/// The recorder keeps each histogram sample until upkeep folds it into the buckets; without it,
/// samples pile up between scrapes (8 bytes per request, forever if nobody scrapes). A thread of
/// its own rather than a task, so it outlives any one runtime.
fn spawn_upkeep(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || loop {
            std::thread::sleep(UPKEEP_PERIOD);
            handle.run_upkeep();
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "metrics upkeep could not start; histograms grow until scraped");
    }
}

/// `GET /metrics`: the Prometheus text format.
pub async fn render() -> Response {
    if let Some(dropped) = DROPPED_LOG_LINES.get() {
        metrics::counter!("log_lines_dropped_total").absolute(dropped.dropped_lines());
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle().render(),
    )
        .into_response()
}

/// The log writer's count of lines it dropped under overload, reported at each scrape.
static DROPPED_LOG_LINES: OnceLock<DroppedLines> = OnceLock::new();

/// Reports `counter` as `log_lines_dropped_total` (set once, by the logging set-up).
pub fn count_dropped_log_lines(counter: DroppedLines) {
    let _ = DROPPED_LOG_LINES.set(counter);
}

/// Times one request; labelled by method, route template and status without allocating
/// (route templates are few: each is interned once).
pub struct RequestTimer {
    started: Instant,
    method: &'static str,
    route: &'static str,
}

impl RequestTimer {
    /// Starts timing a request to `route` (its template).
    pub fn start(method: &Method, route: &str) -> RequestTimer {
        RequestTimer {
            started: Instant::now(),
            method: method_label(method),
            route: intern(route),
        }
    }

    /// When the request arrived.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// The request's method and route template, as labelled.
    pub fn labels(&self) -> (&'static str, &'static str) {
        (self.method, self.route)
    }

    /// Records the request's latency under its status, and returns it.
    pub fn finish(self, status: StatusCode) -> Duration {
        let latency = self.started.elapsed();
        let labels = (self.route, self.method, status_label(status));
        histogram(labels).record(latency.as_secs_f64());
        latency
    }
}

type Labels = (&'static str, &'static str, &'static str);

/// The latency histogram of (route, method, status), registered once per combination.
fn histogram(labels: Labels) -> Histogram {
    static HISTOGRAMS: MetricHandles<Labels, Histogram> = MetricHandles::new();
    let (route, method, status) = labels;
    HISTOGRAMS.get(
        labels,
        || metrics::histogram!(LATENCY, "method" => method, "route" => route, "status" => status),
    )
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::HEAD => "HEAD",
        _ => "other",
    }
}

fn status_label(status: StatusCode) -> &'static str {
    const CODES: [&str; 15] = [
        "200", "201", "204", "400", "401", "403", "404", "405", "408", "413", "415", "429", "500",
        "503", "other",
    ];
    let index = [
        200, 201, 204, 400, 401, 403, 404, 405, 408, 413, 415, 429, 500, 503,
    ]
    .iter()
    .position(|code| *code == status.as_u16())
    .unwrap_or(CODES.len() - 1);
    CODES[index]
}

/// The `'static` copy of a route template, made once per template.
fn intern(route: &str) -> &'static str {
    static ROUTES: LazyLock<RwLock<HashMap<Box<str>, &'static str, foldhash::fast::RandomState>>> =
        LazyLock::new(Default::default);
    if let Some(interned) = ROUTES.read().expect("routes lock").get(route) {
        return interned;
    }
    let mut routes = ROUTES.write().expect("routes lock");
    routes
        .entry(route.into())
        .or_insert_with(|| Box::leak(route.to_owned().into_boxed_str()))
}
