//! `kv-emulator`: serves Cloudflare's KV REST paths on loopback.

use clap::Parser;
use kv_emulator::{Faults, Options};
use tokio::net::TcpListener;

#[derive(Debug, Parser)]
#[command(
    name = "kv-emulator",
    version,
    about = "A local stand-in for Cloudflare Workers KV's REST API"
)]
struct Cli {
    /// Address to listen on; point CLOUDFLARE_API_BASE_URL at http://ADDR/client/v4.
    #[arg(long, env = "KV_EMULATOR_LISTEN", default_value = "127.0.0.1:8787")]
    listen: String,
    /// The API token clients must send as `Authorization: Bearer …`.
    #[arg(long, env = "KV_EMULATOR_TOKEN", default_value = "emulator-token")]
    token: String,
    /// Namespace ids that exist (repeatable); without any, every id exists.
    #[arg(long = "namespace")]
    namespaces: Vec<String>,
    /// Delay every KV request by this many milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Share of KV requests (0 to 1) answered with a 500.
    #[arg(long, default_value_t = 0.0)]
    error_rate: f64,
    /// Never answer KV requests.
    #[arg(long)]
    hang: bool,
    /// Answer every KV request with 429 and this `retry-after`.
    #[arg(long)]
    force_429: bool,
    /// `retry-after` seconds of forced 429s.
    #[arg(long)]
    retry_after_secs: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let options = Options {
        token: cli.token,
        namespaces: (!cli.namespaces.is_empty()).then_some(cli.namespaces),
        faults: Faults {
            latency_ms: cli.latency_ms,
            error_rate: cli.error_rate,
            fail_next: 0,
            hang: cli.hang,
            force_429: cli.force_429,
            retry_after_secs: cli.retry_after_secs,
        },
    };
    let stop = stop_signal()?;
    let listener = TcpListener::bind(&cli.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "kv-emulator listening; API base http://{addr}/client/v4, control http://{addr}/__emulator");
    tokio::select! {
        served = kv_emulator::serve(listener, options) => served?,
        () = stop => tracing::info!("kv-emulator stopping"),
    }
    Ok(())
}

/// Resolves on SIGTERM (`docker stop`: as a container's PID 1 nothing else handles it) or Ctrl-C.
/// Requests in flight are dropped: the emulator keeps nothing worth draining for.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    })
}
