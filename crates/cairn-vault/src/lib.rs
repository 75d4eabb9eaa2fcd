//! # cairn-vault
//!
//! Cairn's backup repository: an encrypted, deduplicated, content-addressed store of snapshots, each a
//! tree of named entries (small documents or large streams) with free-form metadata. It knows nothing
//! of Jira. The on-storage format is specified in `FORMAT.md`.
//!
//! ```no_run
//! # async fn demo() -> cairn_vault::Result<()> {
//! use cairn_vault::{Backend, KeySource, Location, Repository, InitOptions, WriterOptions};
//! let backend = Backend::open(&Location::Local("/tmp/vault".into()))?;
//! let key = KeySource::Passphrase("correct horse".into());
//! let repo = Repository::init(backend, &key, InitOptions::default()).await?;
//! let mut w = repo.writer(WriterOptions::default()).await?;
//! w.add_document("jira/issues/PROJ-1.json", br#"{"key":"PROJ-1"}"#, Default::default()).await?;
//! let done = w.commit(Default::default(), vec![]).await?;
//! let r = repo.reader(&done.snapshot.to_hex()).await?;
//! assert_eq!(&r.get("jira/issues/PROJ-1.json").await?[..], br#"{"key":"PROJ-1"}"#);
//! # Ok(()) }
//! ```

mod backend;
mod chunker;
mod crypto;
pub mod dir;
mod error;
mod format;
mod id;
mod index;
mod policy;
mod prune;
mod reader;
mod repo;
mod spill;
mod verify;
mod writer;

pub use backend::{Backend, ListedObject, Location, S3Config};
pub use chunker::Chunker;
pub use crypto::{KdfParams, KeySource, MasterKey, SEAL_OVERHEAD};
pub use error::{DamageContext, Error, Result};
pub use format::{
    BlobKind, ChunkerParams, Config, EntryKind, FORMAT_VERSION, SnapshotFile, TreeEntry, TreeNode,
    TreePage, WriteStats,
};
pub use id::{Id, ParseIdError};
pub use index::{BlobLocation, Index};
pub use policy::{ForgetDecision, ForgetPolicy};
pub use prune::{PruneOptions, PruneReport};
pub use reader::{Entry, SnapshotReader};
pub use repo::{DamagedSnapshot, InitOptions, KeySlotInfo, Repository, SnapshotInfo, SnapshotList};
pub use verify::{Damage, RepoStats, VerifyOptions, VerifyReport};
pub use writer::{CommitHook, CommitPoint, CommitResult, SnapshotWriter, WriterOptions};
