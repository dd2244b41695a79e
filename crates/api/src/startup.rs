//! Building the shared state from the configuration, and running the server until a signal.

use std::sync::Arc;

use anyhow::Context;
use formula_cache::{Cache, CloudflareKv, KvStore};
use formula_db::{DbOptions, DynStore};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

use crate::config::{Config, RUST_LOG};
use crate::logbatch::LogFlush;
use crate::state::AppState;

/// How to reach the configured database: `DATABASE_URL`, and the direct URL beside it when
/// Neon's Vercel integration sets both (`DATABASE_URL` is then the pooled one).
fn database_options(config: &Config, migrate: bool) -> DbOptions {
    let mut options = DbOptions::new(config.database.url.expose_secret());
    if let Some(direct) = &config.database.url_unpooled {
        let direct = direct.expose_secret();
        options.pooled |= direct != options.url;
        options.direct_url = Some(direct.to_owned());
    }
    options.migrate = migrate;
    options.max_connections = config.database.max_connections;
    options
}

/// Opens the database (migrating it when configured to) at the configured URL.
pub async fn open_database(config: &Config, migrate: bool) -> anyhow::Result<DynStore> {
    connect_database(&database_options(config, migrate)).await
}

async fn connect_database(options: &DbOptions) -> anyhow::Result<DynStore> {
    let kind = match formula_db::DbKind::of_url(&options.url) {
        Some(formula_db::DbKind::Sqlite) => "SQLite",
        _ => "Postgres",
    };
    formula_db::connect(options)
        .await
        .with_context(|| format!("opening the {kind} database named by DATABASE_URL"))
}

/// The state every request shares: database, cache (with peers on Postgres), verifiers.
pub async fn build_state(config: Config) -> anyhow::Result<AppState> {
    let options = database_options(&config, config.database.auto_migrate);
    let db = connect_database(&options).await?;
    let remote: Option<Arc<dyn KvStore>> = match &config.cache.cloudflare {
        None => None,
        Some(options) => Some(Arc::new(
            CloudflareKv::new(options.clone()).context("building the Cloudflare KV client")?,
        )),
    };
    let cache = Cache::new(remote, config.cache.options.clone());
    let local_ttl = config.cache.options.local_ttl;
    crate::peers::connect(options.direct_url(), &db, &cache, local_ttl).await?;
    AppState::new(config, db, cache)
}

/// Binds the configured address and serves until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let bind_addr = config.server.bind_addr;
    let state = build_state(config).await?;
    let listener = TcpListener::bind(bind_addr)
        .await
        .with_context(|| format!("binding BIND_ADDR {bind_addr}"))?;
    tracing::info!(
        address = %listener.local_addr()?,
        database = ?state.db.kind(),
        cache = state.cache.backend_name(),
        auth = if state.sessions.is_some() { "clerk" } else { "none" },
        "formula-api listening"
    );
    if let Some(metrics_addr) = state.config.server.metrics_addr {
        let metrics = TcpListener::bind(metrics_addr)
            .await
            .with_context(|| format!("binding METRICS_ADDR {metrics_addr}"))?;
        tracing::info!(address = %metrics_addr, "metrics listening");
        tokio::spawn(async move { axum::serve(metrics, crate::server::metrics_router()).await });
    }
    if state.sessions.is_none() {
        tracing::warn!(
            "AUTH_MODE=none: expense routes trust the userId of each request; anyone who can reach \
             this address can read and change anyone's data"
        );
    }
    if state.config.webhook.is_none() {
        tracing::warn!(
            "CLERK_WEBHOOK_SIGNING_SECRET is not set: /webhooks/clerk answers 503 to every event"
        );
    }
    crate::server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("formula-api stopped");
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "SIGTERM handler unavailable");
                std::future::pending::<()>().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing requests in flight");
}

/// Logs to stderr: plain text by default, JSON with `LOG_FORMAT=json` (`logfmt.rs`); `RUST_LOG`
/// filters.
///
/// Lines are written by a thread of their own (tracing-appender), batched into a buffer that is
/// flushed whenever the queue runs dry, so a request never waits on stderr; the runtime's workers
/// hand their lines to it a batch at a time (`logbatch.rs`). Under overload the queue
/// (`LOG_QUEUE_WRITES`) fills and further lines are dropped and counted
/// (`log_lines_dropped_total`), never blocking a request. A request's access line goes to the
/// same writer without a tracing event (`logfmt::log_access_line`). Keep the returned value until
/// the process ends: dropping it writes what is still held or queued.
pub fn init_logging(json: bool) -> LogFlush {
    let (queue, guard) = log_writer(std::io::BufWriter::with_capacity(
        64 << 10,
        std::io::stderr(),
    ));
    let (writer, flush) = crate::logbatch::batching(queue, guard);
    crate::metrics::count_dropped_log_lines(writer.dropped());
    let value = std::env::var_os(RUST_LOG.name);
    let (filter, refused) = log_filter(value.as_deref());
    let format = crate::logfmt::LogFormat::new(json);
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(format)
        .event_format(format)
        .with_writer(writer.clone())
        .try_init();
    if installed.is_ok() {
        crate::logfmt::install_access_log(writer, format);
    }
    if let Some(error) = refused {
        let value = value.unwrap_or_default();
        tracing::warn!(value = %value.to_string_lossy(), %error, default = RUST_LOG.default,
            "RUST_LOG is not a valid filter; using the default");
    }
    flush
}

/// The filter `RUST_LOG` names: unset or blank (`RUST_LOG=` in an env file) is the default level,
/// not tracing's "errors only"; a filter that is not UTF-8 or does not parse is the default too,
/// and why is returned to be logged.
fn log_filter(value: Option<&std::ffi::OsStr>) -> (tracing_subscriber::EnvFilter, Option<String>) {
    use tracing_subscriber::EnvFilter;
    let default = || EnvFilter::new(RUST_LOG.default);
    let Some(value) = value else {
        return (default(), None);
    };
    let Some(text) = value.to_str() else {
        return (default(), Some("not UTF-8".to_owned()));
    };
    match text.trim() {
        "" => (default(), None),
        text => match EnvFilter::try_new(text) {
            Ok(filter) => (filter, None),
            Err(error) => (default(), Some(error.to_string())),
        },
    }
}

/// Writes queued for the writer thread at most: a line, or a worker's batch of about
/// `logbatch::BATCH_BYTES` (so 8,192 lines of a quiet service, whose workers park after each
/// request, and 16 MiB or so when full of batches); beyond, lines are dropped (and counted).
const LOG_QUEUE_WRITES: usize = 8192;

/// A writer that hands lines to a thread writing to `inner`, dropping (and counting) what does
/// not fit in its queue rather than waiting.
fn log_writer<W: std::io::Write + Send + 'static>(inner: W) -> (NonBlocking, WorkerGuard) {
    tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(LOG_QUEUE_WRITES)
        .thread_name("log-writer")
        .finish(inner)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::{Duration, Instant};

    use super::*;

    /// Stands for a stderr nobody reads: every write blocks.
    struct Stuck;

    impl Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            std::thread::sleep(Duration::from_secs(3600));
            Ok(0)
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blank_or_invalid_rust_log_is_the_default_level() {
        use tracing::level_filters::LevelFilter;
        let default = log_filter(None).0.max_level_hint();
        assert_eq!(default, Some(LevelFilter::INFO));
        for blank in ["", "  "] {
            let (filter, refused) = log_filter(Some(std::ffi::OsStr::new(blank)));
            assert_eq!(filter.max_level_hint(), default, "RUST_LOG={blank:?}");
            assert!(refused.is_none());
        }
        let (filter, refused) = log_filter(Some(std::ffi::OsStr::new("warn")));
        assert_eq!(filter.max_level_hint(), Some(LevelFilter::WARN));
        assert!(refused.is_none());
        let (filter, refused) = log_filter(Some(std::ffi::OsStr::new("info,sqlx=loud")));
        assert_eq!(filter.max_level_hint(), default);
        assert!(refused.is_some_and(|error| !error.is_empty()));
    }

    #[test]
    fn a_stuck_log_drops_and_counts_lines_instead_of_blocking() {
        let (mut writer, guard) = log_writer(Stuck);
        let started = Instant::now();
        let lines = LOG_QUEUE_WRITES * 2;
        for n in 0..lines {
            writer.write_all(format!("line {n}\n").as_bytes()).unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "writing never waits on the log"
        );
        let dropped = writer.error_counter().dropped_lines();
        assert!(
            dropped >= lines - LOG_QUEUE_WRITES - 1,
            "{dropped} of {lines} dropped"
        );
        std::mem::forget(guard); // its flush would wait on the stuck writer
    }
}
