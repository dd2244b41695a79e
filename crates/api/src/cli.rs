//! The command line: `api` (or `api serve`) and `api migrate`.

use clap::{Parser, Subcommand};

use crate::config::{Config, VARIABLES};
use crate::startup;

#[derive(Debug, Parser)]
#[command(name = "api", version, about = "formula-api: expenses, Clerk webhooks, keep-alive cron", after_help = environment_help())]
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
}

fn environment_help() -> String {
    let mut text = String::from("Environment (also read from ./.env):\n");
    for (name, default, meaning) in VARIABLES {
        text.push_str(&format!("  {name:<26} {meaning} [default: {default}]\n"));
    }
    text
}

/// Parses the command line and runs it; the process's exit code follows the result.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = dotenvy::dotenv();
    let config = Config::from_env()?;
    startup::init_logging(&config.log_format);
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => startup::serve(config).await,
        Command::Migrate => {
            let db = startup::open_database(&config, true).await?;
            tracing::info!(database = ?db.kind(), "migrations applied");
            Ok(())
        }
    }
}
