//! What a run reports besides its status (extensions of the spec): the `progress` of a backup or
//! restore in flight, a backup's `stats` and a restore's `result`. They are typed here, at the
//! store's boundary, and stored as JSON text in one place (`sql/management/runs.rs`), so a row
//! that cannot be read is an error, never a silently empty field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The phase of work in flight (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProgressPhase {
    Listing,
    Downloading,
    Storing,
    Committing,
    Done,
}

/// `progress` of a backup or restore (extension), as the engine reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub phase: ProgressPhase,
    pub items_done: u64,
    /// Unknown while the listing runs.
    pub items_total: Option<u64>,
    pub bytes_done: u64,
}

/// `stats` of a finished backup (extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupStatsView {
    /// Bytes the backup added to the storage, after deduplication and compression.
    pub new_bytes_stored: u64,
    pub items_changed: u64,
    pub items_unchanged: u64,
    pub duration_ms: u64,
}

/// One item a restore could not create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FailedItem {
    pub kind: String,
    pub source_id: String,
    pub message: String,
}

/// `result` of a restore (extension): counts by kind of what was created and skipped.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub created: BTreeMap<String, u64>,
    pub skipped: BTreeMap<String, u64>,
    pub failed: Vec<FailedItem>,
}
