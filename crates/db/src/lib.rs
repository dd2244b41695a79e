//! Storage for formula-api: the production schema (`docs/database.md`), its migrations,
//! and one repository whose every query serves both Postgres (production) and SQLite (embedded).

mod connect;
mod error;
pub mod models;
mod notify;
mod repo;

pub use connect::{connect, postgres_options, DbKind, DbOptions};
pub use error::DbError;
pub use notify::{PgNotifier, PgSubscription, CHANNEL};
pub use repo::Store;

/// The store the service holds: one per process, shared by every request.
pub type DynStore = std::sync::Arc<dyn Store>;
