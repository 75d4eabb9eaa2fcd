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
}
