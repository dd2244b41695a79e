//! Opening the database named by a URL, and applying the migrations of its dialect.
//!
//! Postgres URLs are read as libpq reads them (sqlx parses them): `sslmode` `disable | allow |
//! prefer | require | verify-ca | verify-full` and `sslrootcert` keep their meaning, TLS is rustls
//! on aws-lc-rs, and parameters sqlx does not know (Neon's `channel_binding`) are ignored.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
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

/// Whether a Postgres URL goes through a transaction-mode pooler (PgBouncer): Neon's pooled
/// hosts carry `-pooler` in their name, and Prisma's convention marks such URLs `pgbouncer=true`.
pub fn is_pooled_url(url: &str) -> bool {
    let Ok(options) = PgConnectOptions::from_str(url) else {
        return false;
    };
    options.get_host().contains("-pooler") || url.contains("pgbouncer=true")
}

/// How to open the database.
#[derive(Debug, Clone)]
pub struct DbOptions {
    pub url: String,
    /// Postgres only: `url` goes through PgBouncer in transaction mode (see `SqlStore::pooled`).
    pub pooled: bool,
    /// Postgres only: a direct connection for migrations (and, in the service, LISTEN) when
    /// `url` is pooled.
    pub direct_url: Option<String>,
    /// Apply pending migrations before returning.
    pub migrate: bool,
    pub max_connections: u32,
    /// How long a request waits for a connection before the database counts as unavailable.
    pub acquire_timeout: Duration,
}

impl DbOptions {
    pub fn new(url: impl Into<String>) -> Self {
        let url = url.into();
        DbOptions {
            pooled: is_pooled_url(&url),
            url,
            direct_url: None,
            migrate: true,
            max_connections: 10,
            acquire_timeout: Duration::from_secs(3),
        }
    }

    /// The URL of a direct (unpooled) connection, if there is one.
    pub fn direct_url(&self) -> Option<&str> {
        match (&self.direct_url, self.pooled) {
            (Some(url), _) => Some(url),
            (None, false) => Some(&self.url),
            (None, true) => None,
        }
    }
}

/// Opens the database (creating a SQLite file if missing) and, if asked, migrates it.
pub async fn connect(options: &DbOptions) -> Result<DynStore, DbError> {
    match DbKind::of_url(&options.url).ok_or(DbError::UnsupportedUrl)? {
        DbKind::Postgres => connect_postgres(options).await,
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
                pooled: false,
            }))
        }
    }
}

async fn connect_postgres(options: &DbOptions) -> Result<DynStore, DbError> {
    let connect = postgres_options(&options.url)?;
    warn_if_unencrypted(&connect);
    if options.migrate {
        migrate_postgres(options).await?;
    }
    let connect = if options.pooled {
        // Nothing is prepared by name: see `SqlStore::pooled`.
        connect.statement_cache_capacity(0)
    } else {
        connect
    };
    let pool = PgPoolOptions::new()
        .max_connections(options.max_connections)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(DbError::connecting)?;
    Ok(Arc::new(SqlStore {
        pool,
        kind: DbKind::Postgres,
        pooled: options.pooled,
    }))
}

/// Migrations take session locks and prepare statements: they run on a direct connection.
async fn migrate_postgres(options: &DbOptions) -> Result<(), DbError> {
    let url = options
        .direct_url()
        .ok_or(DbError::MigrationNeedsDirectUrl)?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(options.acquire_timeout)
        .connect_with(postgres_options(url)?)
        .await
        .map_err(DbError::connecting)?;
    POSTGRES_MIGRATIONS.run(&pool).await?;
    pool.close().await;
    Ok(())
}

/// The connect options a Postgres URL gives, as libpq reads it.
pub fn postgres_options(url: &str) -> Result<PgConnectOptions, DbError> {
    PgConnectOptions::from_str(url).map_err(|error| DbError::BadUrl(error.to_string()))
}

/// A remote server under a `sslmode` that falls back to plaintext deserves a word at start-up.
fn warn_if_unencrypted(options: &PgConnectOptions) {
    let host = options.get_host();
    let local = host.starts_with('/') || ["localhost", "127.0.0.1", "::1"].contains(&host);
    let mode = options.get_ssl_mode();
    if !local
        && matches!(
            mode,
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer
        )
    {
        tracing::warn!(
            host,
            sslmode = ?mode,
            "DATABASE_URL may connect without TLS; production URLs should say sslmode=verify-full (or require)"
        );
    }
}
