//! The places where SQLite and PostgreSQL differ. Everything else is written once.

/// Which database a [`crate::SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("sqlite:") {
            Some(Dialect::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Dialect::Postgres)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    /// A statement that locks the account row until the transaction ends, so that concurrent
    /// token creations for one account are serialised. SQLite serialises every writer already
    /// (transactions start with `BEGIN IMMEDIATE` there), so it needs none.
    pub(crate) fn lock_account_sql(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => None,
            Dialect::Postgres => Some("SELECT id FROM accounts WHERE id = $1 FOR UPDATE"),
        }
    }

    /// How a writing transaction starts. SQLite's default (deferred) transaction can fail with
    /// "database is locked" when it upgrades to a writer; `IMMEDIATE` takes the write lock first
    /// and waits (busy timeout) instead.
    pub(crate) fn begin_write_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }

    /// The row-locking suffix of the job claim's inner SELECT: PostgreSQL lets concurrent
    /// claimers skip each other's rows; SQLite has one writer at a time and needs none.
    pub(crate) fn skip_locked_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }
}
