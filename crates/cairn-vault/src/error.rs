//! The one public error type of the vault.

use crate::Id;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the vault. Messages are written for operators.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No key slot opens with the key-encryption key that was given.
    #[error(
        "wrong key: none of the repository's {slots} key slot(s) of this kind opens with the given {kind}"
    )]
    WrongKey { kind: &'static str, slots: usize },
    /// The location holds no repository.
    #[error("no vault repository at {0} (no `config` object); run `cairn vault init` first")]
    NotARepository(String),
    /// `init` on a location that already holds one.
    #[error("a vault repository already exists at {0}")]
    AlreadyExists(String),
    /// The repository was written by a newer (or unknown) format.
    #[error("unsupported vault format version {found} (this build reads version {supported})")]
    UnsupportedVersion { found: u32, supported: u32 },
    /// A blob failed authentication, decompression or its id check.
    #[error("blob {blob} in pack {pack} is damaged{context}")]
    DamagedBlob {
        blob: Id,
        pack: Id,
        context: Box<DamageContext>,
    },
    /// A referenced blob is in no index.
    #[error("blob {blob} is missing from the index{context}")]
    MissingBlob {
        blob: Id,
        context: Box<DamageContext>,
    },
    /// A whole object (pack, index, snapshot, key, config) is missing.
    #[error("{kind} {name} is missing from storage")]
    MissingObject { kind: &'static str, name: String },
    /// A whole object is unreadable (truncated, not decryptable, not parseable).
    #[error("{kind} {name} is damaged: {reason}")]
    DamagedObject {
        kind: &'static str,
        name: String,
        reason: String,
    },
    /// No snapshot matches the given id or prefix.
    #[error("no snapshot matches {0:?}")]
    SnapshotNotFound(String),
    /// A snapshot prefix matches several snapshots.
    #[error("snapshot prefix {0:?} is ambiguous")]
    AmbiguousSnapshot(String),
    /// No entry at that path in the snapshot.
    #[error("no entry {path:?} in snapshot {snapshot}")]
    EntryNotFound { snapshot: Id, path: String },
    /// An entry path that the vault refuses (empty component, `..`, both file and directory, ...).
    #[error("invalid entry path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },
    /// A concurrent prune condemned blobs this writer relied on; nothing was committed.
    #[error(
        "a concurrent prune (mark {mark}) condemned {count} pack(s) holding data this backup relies on; nothing was committed, run the backup again"
    )]
    RacedWithPrune { mark: String, count: usize },
    /// Removing the last key slot, or the one in use.
    #[error("refusing to remove key slot {0}: {1}")]
    KeySlotInUse(String, &'static str),
    /// A background task of the vault ended without its result: it was cancelled (the runtime is
    /// shutting down) or it panicked. Nothing it did was committed.
    #[error("a background {task} task ended early: {reason}")]
    TaskEnded { task: &'static str, reason: String },
    /// Bad argument given by the caller.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Storage failed (after retries).
    #[error("storage error: {0}")]
    Storage(#[from] object_store::Error),
    /// A local file or directory could not be read or written (directory backup and restore); the
    /// message says what was done to which path, the source says why.
    #[error("{context}")]
    LocalFile {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// A directory restore refused an entry whose path would leave the target directory.
    #[error("refusing to restore entry {0:?}: it would leave the target directory")]
    OutsideTarget(String),
    /// Local I/O failed (reading a stream to back up).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// Which snapshot and entry a damaged or missing blob was being read for, if known.
#[derive(Debug, Clone, Default)]
pub struct DamageContext {
    pub snapshot: Option<Id>,
    pub path: Option<String>,
}

impl std::fmt::Display for DamageContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.snapshot, &self.path) {
            (Some(s), Some(p)) => write!(f, " (affects snapshot {}, entry {p:?})", s.short()),
            (Some(s), None) => write!(f, " (affects snapshot {})", s.short()),
            (None, Some(p)) => write!(f, " (affects entry {p:?})"),
            (None, None) => Ok(()),
        }
    }
}

impl Error {
    pub(crate) fn task_ended(task: &'static str, e: tokio::task::JoinError) -> Self {
        Error::TaskEnded {
            task,
            reason: e.to_string(),
        }
    }

    pub(crate) fn damaged(
        kind: &'static str,
        name: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        Error::DamagedObject {
            kind,
            name: name.into(),
            reason: reason.into(),
        }
    }

    /// Attach the snapshot and entry to a damaged/missing blob error.
    pub(crate) fn in_entry(self, snapshot: Id, path: &str) -> Self {
        match self {
            Error::DamagedBlob { blob, pack, .. } => Error::DamagedBlob {
                blob,
                pack,
                context: Box::new(DamageContext {
                    snapshot: Some(snapshot),
                    path: Some(path.to_owned()),
                }),
            },
            Error::MissingBlob { blob, .. } => Error::MissingBlob {
                blob,
                context: Box::new(DamageContext {
                    snapshot: Some(snapshot),
                    path: Some(path.to_owned()),
                }),
            },
            other => other,
        }
    }

    /// True when the error means data in the repository is damaged or missing.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            Error::DamagedBlob { .. }
                | Error::MissingBlob { .. }
                | Error::MissingObject { .. }
                | Error::DamagedObject { .. }
        )
    }
}
