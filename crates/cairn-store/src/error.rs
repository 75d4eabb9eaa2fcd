use thiserror::Error;

pub type StoreResult<T> = Result<T, StoreError>;

/// What can go wrong in the store, in terms the domain can act on.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The database cannot be reached or refused the work (maps to 503).
    #[error("the metadata store is unavailable: {0}")]
    Unavailable(String),
    /// A uniqueness rule was violated; names the constraint (column) concerned.
    #[error("a record with the same {0} already exists")]
    Conflict(&'static str),
    /// The database refused a value of the request as text it cannot hold (PostgreSQL: a NUL
    /// character, SQLSTATE 22021 or 22P05). Callers validate first; this is the fallback that
    /// keeps such input a client error (400) rather than an outage.
    #[error("the metadata store cannot hold a value of the request: {0}")]
    Unstorable(String),
    /// A row held something this version cannot read (a bug or a hand-edited database).
    #[error("the metadata store holds an unreadable record: {0}")]
    Corrupt(String),
    /// Migrations or connection settings are wrong; not retryable.
    #[error("the metadata store could not be prepared: {0}")]
    Setup(String),
}

impl StoreError {
    /// Maps a driver error, recognising unique violations so callers get [`StoreError::Conflict`].
    pub(crate) fn from_sqlx(err: sqlx::Error, unique_hint: &'static str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(unique_hint)
            }
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                StoreError::Unstorable(db.message().to_string())
            }
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(err.to_string()),
            _ => StoreError::Unavailable(err.to_string()),
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        StoreError::from_sqlx(err, "key")
    }
}
