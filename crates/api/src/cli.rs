//! The command line: `api` (or `api serve`), `api migrate`, `api openapi` and the rest.

use clap::{Parser, Subcommand};

use crate::config::{self, Config};
use crate::startup;

#[derive(Debug, Parser)]
#[command(name = "api", version, about = "formula-api: expenses, Clerk webhooks, keep-alive cron", after_help = config::help_text())]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Apply pending database migrations, then exit.
    Migrate,
    /// Ask the running service at BIND_ADDR whether it is ready (exit 0) or not (exit 1); for
    /// container health checks.
    Healthcheck,
    /// Print the configuration the environment gives, secrets redacted, then exit.
    Config,
    /// Print production's OpenAPI document (Clerk session tokens; the committed `openapi.json`),
    /// then exit; reads no configuration.
    Openapi,
    /// Print `.env.example` (every variable, its default, range and meaning), then exit; reads
    /// no configuration.
    EnvExample,
}

/// Parses the command line and runs it; the process's exit code follows the result.
pub async fn run() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            print!("{}", openapi_json());
            Ok(())
        }
        Command::EnvExample => {
            print!("{}", config::env_example());
            Ok(())
        }
        command => run_configured(command).await,
    }
}

/// The subcommands that read the configuration (and log).
async fn run_configured(command: Command) -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let config = Config::from_env()?;
    let _flush_logs_on_exit = startup::init_logging(config.json_logs);
    match command {
        Command::Serve => startup::serve(config).await,
        Command::Migrate => {
            let db = startup::open_database(&config, true).await?;
            tracing::info!(database = ?db.kind(), "migrations applied");
            Ok(())
        }
        Command::Healthcheck => healthcheck(&config).await,
        Command::Config => {
            println!("{config:#?}");
            Ok(())
        }
        Command::Openapi | Command::EnvExample => {
            unreachable!("answered by run before the configuration is read")
        }
    }
}

/// The OpenAPI document as committed in `openapi.json`: production's (Clerk session tokens), pretty
/// JSON with a final newline.
pub fn openapi_json() -> String {
    let document = serde_json::to_string_pretty(&crate::server::openapi(true))
        .expect("the OpenAPI document serializes");
    format!("{document}\n")
}

/// `GET /ready` of the local service; an error unless it answers 200.
async fn healthcheck(config: &Config) -> anyhow::Result<()> {
    let mut addr = config.server.bind_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let response = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(format!("http://{addr}/ready"))
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "not ready: {}",
        response.text().await.unwrap_or_default()
    );
    Ok(())
}
