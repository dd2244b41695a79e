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

/// Faults of the connection rather than of the query: worth a 503 and a retry.
fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
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
