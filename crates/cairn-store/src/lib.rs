//! Persistence of Cairn's control plane.
//!
//! The rest of Cairn sees traits ([`IdentityStore`], [`AuditStore`], ...) and plain record types.
//! One SQL implementation, [`SqlStore`], serves both dialects: SQLite (the embedded default, a file
//! under the data directory) and PostgreSQL (for many nodes). Statements are written once in the
//! SQL both understand; the few places where the dialects differ live in [`dialect`]. Each dialect
//! has its own migrations folder, embedded in the binary and applied by [`SqlStore::connect`].
//!
//! Architecture invariant: this crate knows SQL and nothing of HTTP, of Atlassian, or of rules.
//! It returns `Result<Option<T>>` for look-ups, so a database failure never reads as "not found".

mod dialect;
mod error;
mod management;
mod records;
mod run_reports;
mod sessions;
mod sql;
mod sqlite_files;
mod traits;

#[cfg(feature = "testing")]
pub mod testing;

pub use dialect::Dialect;
pub use error::{StoreError, StoreResult};
pub use management::*;
pub use records::*;
pub use run_reports::*;
pub use sessions::{SessionRecord, SessionStore};
pub use sql::SqlStore;
pub use traits::*;
