//! formula-api: the HTTP service. `main.rs` only calls `cli::run`; everything else lives here so
//! that tests can start the real server on a port of their choosing.

pub mod auth;
pub mod cli;
pub mod config;
pub mod cors;
mod cron;
pub mod edge;
pub mod error;
mod expenses;
pub mod extract;
pub mod fields;
mod first_request;
mod health;
pub mod loads;
pub mod logbatch;
pub mod logfmt;
pub mod metrics;
pub mod openapi;
mod outbox;
mod peers;
pub mod reply;
pub mod server;
pub mod session;
pub mod startup;
pub mod state;
mod webhooks;

pub use config::Config;
pub use state::AppState;
