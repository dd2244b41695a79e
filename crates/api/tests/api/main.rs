//! Integration tests: the real server on a real port, over real SQLite and (with the
//! `postgres-tests` feature) real Postgres.

mod helpers;

mod auth;
mod billable_costs;
mod cache;
mod cloudflare;
mod cron;
#[cfg(feature = "postgres-tests")]
mod database_down;
mod equipment_costs;
mod fixed_costs;
mod http_surface;
#[cfg(feature = "postgres-tests")]
mod indexes;
mod openapi;
mod outbox;
#[cfg(feature = "postgres-tests")]
mod overload;
mod ownership;
#[cfg(feature = "postgres-tests")]
mod peers;
mod process;
#[cfg(feature = "postgres-tests")]
mod production_db;
#[cfg(feature = "postgres-tests")]
mod production_schema;
mod purchase_dates;
mod slow_clients;
mod validation;
mod webhooks;
