//! The restore's persistent map from source ids to destination ids, kept in the job checkpoint so
//! that a restore killed and resumed creates nothing twice.
//!
//! The checkpoint is compact JSON: `{"v":1,"m":{kind:{sourceId:destId}},"o":{kind:[sourceId]},
//! "p":[phase],"s":summary,"c":{container:{kind:count}}}`. `o` names the containers (an issue, a
//! page) created but whose children (comments, attachments, ...) were not all written yet; `p`
//! the phases finished; `c` (written by engines before restores wrote items side by side) the
//! children of each open container already counted in `s`.
//!
//! Counts stay exact across a kill: what an earlier attempt wrote after its last save is in
//! the destination but not in `s`. A resumed attempt counts what it finds there (an item not in
//! the map, a child of an open container) as created. A container's children are counted when
//! the task writing them ends, in the same step that closes the container, so an open
//! container has none counted (for a checkpoint with `c`, they are first taken out of `s`).
//! It is saved at the end of each phase and, within one, after [`SAVE_EVERY`] creates once
//! [`SAVE_INTERVAL`] has passed (or after [`SAVE_AT_MOST`] creates): the map grows with the
//! restore, and saving it every few creates would write it whole, over and over (quadratic in
//! the site's size). What a crash loses is the creates since the last save: the restore finds
//! those in the destination before creating anything again (see `restore/mod.rs`, "Resuming").

use std::collections::{BTreeMap, BTreeSet};

use cairn_control::jobs::{EngineError, JobContext};
use cairn_control::management::{FailedItem, RestoreSummary, SkippedItem};
use serde::{Deserialize, Serialize};

/// Creates before a checkpoint save is considered.
pub const SAVE_EVERY: usize = 50;
/// The least time between two saves within a phase ...
pub const SAVE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
/// ... unless this many creates are unsaved.
pub const SAVE_AT_MOST: usize = 5_000;

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct IdMap {
    #[serde(rename = "v", default)]
    version: u32,
    #[serde(rename = "m", default)]
    ids: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(rename = "o", default)]
    open: BTreeMap<String, BTreeSet<String>>,
    #[serde(rename = "p", default)]
    phases: BTreeSet<String>,
    #[serde(rename = "s", default)]
    summary: RestoreSummary,
    /// Creates counted in `summary` per open container (`kind:source`), by kind: written by
    /// engines that counted an item's children as they went; this one records an item's
    /// children when the item is closed, so it only reads this (see the module's doc).
    #[serde(rename = "c", default)]
    ledger: BTreeMap<String, BTreeMap<String, u64>>,
    /// Creates since the last save.
    #[serde(skip)]
    unsaved: usize,
    /// True when this map came from a checkpoint: the destination may hold creates it lacks.
    #[serde(skip)]
    resumed: bool,
    /// When the map was last saved (or started).
    #[serde(skip)]
    saved_at: Option<std::time::Instant>,
}

impl IdMap {
    /// The map of the checkpoint the previous holder of the job saved, or an empty one.
    pub fn from_checkpoint(checkpoint: Option<&str>) -> Result<IdMap, EngineError> {
        let Some(text) = checkpoint else {
            return Ok(IdMap {
                version: VERSION,
                ..IdMap::default()
            });
        };
        let mut map: IdMap = serde_json::from_str(text).map_err(|e| {
            EngineError::Permanent(format!("the restore's checkpoint is unreadable: {e}"))
        })?;
        if map.version != VERSION {
            return Err(EngineError::Permanent(format!(
                "the restore's checkpoint has version {}, this engine writes {VERSION}",
                map.version
            )));
        }
        map.resumed = true;
        Ok(map)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Whether this restore resumes an earlier attempt.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    pub fn get(&self, kind: &str, source: &str) -> Option<&str> {
        self.ids.get(kind)?.get(source).map(String::as_str)
    }

    /// Every source → destination pair of a kind.
    pub fn all(&self, kind: &str) -> BTreeMap<String, String> {
        self.ids.get(kind).cloned().unwrap_or_default()
    }

    /// Every destination id of a kind (to tell the restore's own items from others).
    pub fn destinations(&self, kind: &str) -> BTreeSet<&str> {
        self.ids
            .get(kind)
            .map(|m| m.values().map(String::as_str).collect())
            .unwrap_or_default()
    }

    /// Records a create (or an item found in the destination that an earlier attempt created).
    pub fn insert(&mut self, kind: &str, source: &str, dest: &str) {
        self.ids
            .entry(kind.to_string())
            .or_default()
            .insert(source.to_string(), dest.to_string());
    }

    /// Counts a create in the summary. Also for an item found in the destination that an
    /// earlier attempt created but did not save.
    pub fn created(&mut self, kind: &str) {
        *self.summary.created.entry(kind.to_string()).or_default() += 1;
        self.unsaved += 1;
    }

    /// The children of this container are written next. With `reconcile` (a resumed attempt
    /// takes what the destination holds), the children an earlier attempt counted while the
    /// container was open are taken out of the summary: each is counted again when found or
    /// written.
    pub fn children_of(&mut self, kind: &str, source: &str, reconcile: bool) {
        let key = format!("{kind}:{source}");
        if reconcile && let Some(counted) = self.ledger.remove(&key) {
            for (k, n) in counted {
                if let Some(c) = self.summary.created.get_mut(&k) {
                    *c = c.saturating_sub(n);
                    if *c == 0 {
                        self.summary.created.remove(&k);
                    }
                }
            }
        }
    }

    pub fn skipped(&mut self, kind: &str) {
        *self.summary.skipped.entry(kind.to_string()).or_default() += 1;
    }

    /// Leaves an item out on purpose, saying why (`result.skippedItems`); counted in
    /// `skipped`. Recorded once per item, however often a resumed restore meets it again.
    pub fn skipped_because(&mut self, kind: &str, source: &str, reason: impl Into<String>) {
        let known = self
            .summary
            .skipped_items
            .iter()
            .any(|s| s.kind == kind && s.source_id == source);
        if known {
            return;
        }
        let reason = reason.into();
        tracing::info!(kind, source, %reason, "restore item left out");
        self.skipped(kind);
        self.summary.skipped_items.push(SkippedItem {
            kind: kind.to_string(),
            source_id: source.to_string(),
            reason,
        });
    }

    pub fn failed(&mut self, kind: &str, source: &str, message: impl Into<String>) {
        let message = message.into();
        tracing::warn!(kind, source, %message, "restore item failed");
        self.summary.failed.push(FailedItem {
            kind: kind.to_string(),
            source_id: source.to_string(),
            message,
        });
    }

    /// Whether an earlier attempt already recorded this item as failed (not tried again).
    pub fn has_failed(&self, kind: &str, source: &str) -> bool {
        self.summary
            .failed
            .iter()
            .any(|f| f.kind == kind && f.source_id == source)
    }

    pub fn open(&mut self, kind: &str, source: &str) {
        self.open
            .entry(kind.to_string())
            .or_default()
            .insert(source.to_string());
    }

    pub fn close(&mut self, kind: &str, source: &str) {
        if let Some(s) = self.open.get_mut(kind) {
            s.remove(source);
        }
        self.ledger.remove(&format!("{kind}:{source}"));
    }

    pub fn is_open(&self, kind: &str, source: &str) -> bool {
        self.open.get(kind).is_some_and(|s| s.contains(source))
    }

    pub fn phase_done(&self, phase: &str) -> bool {
        self.phases.contains(phase)
    }

    pub fn summary(&self) -> &RestoreSummary {
        &self.summary
    }

    /// Saves when enough creates have accumulated for long enough (see the module's doc).
    pub async fn maybe_save(&mut self, ctx: &JobContext) -> Result<(), EngineError> {
        let since = *self.saved_at.get_or_insert_with(std::time::Instant::now);
        if self.unsaved >= SAVE_AT_MOST
            || (self.unsaved >= SAVE_EVERY && since.elapsed() >= SAVE_INTERVAL)
        {
            self.save(ctx).await?;
        }
        Ok(())
    }

    pub async fn save(&mut self, ctx: &JobContext) -> Result<(), EngineError> {
        ctx.save_checkpoint(&self.to_json()).await?;
        self.unsaved = 0;
        self.saved_at = Some(std::time::Instant::now());
        Ok(())
    }

    /// Marks a phase finished and saves.
    pub async fn finish_phase(&mut self, phase: &str, ctx: &JobContext) -> Result<(), EngineError> {
        self.phases.insert(phase.to_string());
        self.save(ctx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_checkpoint_round_trips_compactly() {
        let mut m = IdMap::from_checkpoint(None).unwrap();
        assert!(!m.resumed());
        m.insert("issue", "10001", "PLAT-1");
        m.created("issue");
        m.open("issue", "10001");
        m.skipped("space");
        m.failed("comment", "5", "refused");
        m.phases.insert("projects".into());
        let text = m.to_json();
        assert!(!text.contains(' '), "compact: {text}");
        let back = IdMap::from_checkpoint(Some(&text)).unwrap();
        assert!(back.resumed());
        assert_eq!(back.get("issue", "10001"), Some("PLAT-1"));
        assert!(back.is_open("issue", "10001"));
        assert!(back.phase_done("projects"));
        assert!(back.has_failed("comment", "5"));
        assert_eq!(back.summary().created["issue"], 1);
        assert_eq!(back.summary().skipped["space"], 1);
    }

    /// An item left out on purpose keeps its reason across a checkpoint and is counted once,
    /// however often a resumed restore meets it again.
    #[test]
    fn a_reasoned_skip_survives_a_resume_and_counts_once() {
        let mut m = IdMap::from_checkpoint(None).unwrap();
        m.skipped_because("workflowRule", "wf-1:3", "a third-party app's rule");
        let mut back = IdMap::from_checkpoint(Some(&m.to_json())).unwrap();
        back.skipped_because("workflowRule", "wf-1:3", "a third-party app's rule");
        let s = back.summary();
        assert_eq!(s.skipped["workflowRule"], 1);
        assert_eq!(s.skipped_items.len(), 1);
        assert_eq!(s.skipped_items[0].reason, "a third-party app's rule");
    }

    /// A resumed container's children are counted once: those an older engine's checkpoint
    /// counted while the container was open come out of the summary, and each found or written
    /// one goes back in.
    #[test]
    fn children_of_a_resumed_container_are_counted_once() {
        let mut m = IdMap::from_checkpoint(None).unwrap();
        m.insert("issue", "1", "P-1");
        m.created("issue");
        m.open("issue", "1");
        m.created("comment");
        m.created("comment");
        let mut saved: serde_json::Value = serde_json::from_str(&m.to_json()).unwrap();
        saved["c"] = serde_json::json!({"issue:1": {"comment": 2}});
        // Killed after a third comment that the checkpoint lacks; resumed, three are found.
        let mut m = IdMap::from_checkpoint(Some(&saved.to_string())).unwrap();
        m.children_of("issue", "1", true);
        assert_eq!(m.summary().created.get("comment"), None);
        for _ in 0..3 {
            m.created("comment");
        }
        m.close("issue", "1");
        m.created("issue");
        assert_eq!(m.summary().created["comment"], 3);
        assert_eq!(m.summary().created["issue"], 2);
        assert!(
            !m.to_json().contains("\"c\":{\"issue"),
            "closed: {}",
            m.to_json()
        );
    }

    #[test]
    fn an_unreadable_or_foreign_checkpoint_is_refused() {
        assert!(IdMap::from_checkpoint(Some("{not json")).is_err());
        assert!(IdMap::from_checkpoint(Some(r#"{"v":99}"#)).is_err());
    }
}
