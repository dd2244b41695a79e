//! Opening the database named by a URL, and applying the migrations of its dialect.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};

use crate::repo::SqlStore;
use crate::{DbError, DynStore};

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbKind {
    Postgres,
    Sqlite,
}

impl DbKind {
    /// The dialect a URL names, if any.
    pub fn of_url(url: &str) -> Option<DbKind> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(DbKind::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(DbKind::Sqlite)
        } else {
            None
        }
    }
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    /// Apply pending migrations before returning.
    pub migrate: bool,
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        DbOptions {
            url: url.into(),
            migrate: true,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }
}

/// Opens the database (creating a SQLite file if missing) and, if asked, migrates it.
pub async fn connect(options: &DbOptions) -> Result<DynStore, DbError> {
    match DbKind::of_url(&options.url).ok_or(DbError::UnsupportedUrl)? {
        DbKind::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections)
                .acquire_timeout(options.acquire_timeout)
                .connect(&options.url)
                .await?;
            if options.migrate {
                POSTGRES_MIGRATIONS.run(&pool).await?;
            }
            Ok(Arc::new(SqlStore {
                pool,
                kind: DbKind::Postgres,
            }))
        }
        DbKind::Sqlite => {
            let connect = SqliteConnectOptions::from_str(&options.url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            let pool = SqlitePoolOptions::new()
                .max_connections(options.max_connections.min(4))
                .acquire_timeout(options.acquire_timeout)
                .connect_with(connect)
                .await?;
            if options.migrate {
                SQLITE_MIGRATIONS.run(&pool).await?;
            }
            Ok(Arc::new(SqlStore {
                pool,
                kind: DbKind::Sqlite,
            }))
        }
    }
}
