use thiserror::Error;

/// The one error type of the storage layer.
#[derive(Debug, Error)]
pub enum DbError {
    /// No row matched: the id is unknown or belongs to another user (the two are not told apart).
    #[error("{0} not found")]
    NotFound(String),
    /// The user was deleted in Clerk (a tombstone in `clerk_user_versions`): nothing is written.
    #[error("{0} was deleted")]
    Gone(String),
    /// The database cannot be reached or is overloaded; the request may succeed later.
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Migrations could not be applied.
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL scheme (expected postgres://, postgresql:// or sqlite:)")]
    UnsupportedUrl,
    /// The database URL could not be read.
    #[error("invalid database URL: {0}")]
    BadUrl(String),
    /// Migrations need a direct connection, and only a pooled (PgBouncer) URL was given.
    #[error(
        "migrations need a direct connection, and DATABASE_URL goes through a pooler (PgBouncer): \
         set DATABASE_URL_UNPOOLED to the direct URL, or AUTO_MIGRATE=false"
    )]
    MigrationNeedsDirectUrl,
    /// TLS to the server failed: it does not offer TLS that `sslmode` requires, or its certificate
    /// does not verify against `sslrootcert`.
    #[error("TLS to the database failed (check sslmode and sslrootcert in the URL)")]
    Tls(#[source] sqlx::Error),
    /// Any other database failure: a bug or a schema mismatch.
    #[error("database query failed")]
    Query(#[source] sqlx::Error),
}

impl From<sqlx::Error> for DbError {
    fn from(error: sqlx::Error) -> Self {
        if is_unavailable(&error) {
            DbError::Unavailable(error)
        } else {
            DbError::Query(error)
        }
    }
}

impl DbError {
    /// An error of opening a pool: TLS failures named as such.
    pub(crate) fn connecting(error: sqlx::Error) -> DbError {
        let refused_certificate = match &error {
            sqlx::Error::Io(io) => io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
            _ => false,
        };
        if refused_certificate || matches!(error, sqlx::Error::Tls(_)) {
            DbError::Tls(error)
        } else {
            error.into()
        }
    }
}

/// Faults of the connection rather than of the query: worth a 503 and a retry.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // A connection cut while it was being set up (the TLS request answered by a closed socket).
        | sqlx::Error::Protocol(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // Postgres: connection exceptions (08), operator intervention such as a shutdown (57P),
            // insufficient resources (53). SQLite: SQLITE_BUSY (5) and SQLITE_LOCKED (6).
            code.starts_with("08")
                || code.starts_with("57P")
                || code.starts_with("53")
                || code == "5"
                || code == "6"
        }),
        _ => false,
    }
}
