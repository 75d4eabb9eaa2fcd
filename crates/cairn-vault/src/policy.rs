//! `forget` policies: which snapshots to keep.

use std::collections::{BTreeMap, BTreeSet};

use crate::Id;
use crate::error::{Error, Result};
use crate::repo::{Repository, SnapshotInfo};

/// Which snapshots to keep. A snapshot is kept if any rule keeps it.
#[derive(Debug, Clone, Default)]
pub struct ForgetPolicy {
    /// Keep the newest N snapshots (per group).
    pub keep_last: Option<usize>,
    /// Keep snapshots younger than this, measured from the newest snapshot of the group.
    pub keep_within: Option<chrono::Duration>,
    /// Keep the newest snapshot of each of the last N days that have snapshots (per group, UTC days).
    pub keep_daily: Option<usize>,
    /// Always keep snapshots carrying any of these tags.
    pub keep_tags: Vec<String>,
    /// Only consider snapshots carrying all of these tags; others are left alone.
    pub only_tags: Vec<String>,
    /// Apply the rules separately to each set of tags (e.g. per site or product).
    pub group_by_tags: bool,
}

/// The decision for one snapshot.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ForgetDecision {
    pub id: Id,
    pub time: chrono::DateTime<chrono::Utc>,
    pub tags: Vec<String>,
    pub keep: bool,
    pub reasons: Vec<String>,
}

impl ForgetPolicy {
    fn is_empty(&self) -> bool {
        self.keep_last.is_none()
            && self.keep_within.is_none()
            && self.keep_daily.is_none()
            && self.keep_tags.is_empty()
    }

    /// Decide for each snapshot (newest first within each group).
    pub fn apply(&self, snapshots: &[SnapshotInfo]) -> Result<Vec<ForgetDecision>> {
        if self.is_empty() {
            return Err(Error::InvalidArgument(
                "no keep rule given (keep-last, keep-within, keep-daily or keep-tag); refusing to forget every snapshot".into(),
            ));
        }
        let mut groups: BTreeMap<Vec<String>, Vec<&SnapshotInfo>> = BTreeMap::new();
        for s in snapshots {
            if !self.only_tags.iter().all(|t| s.file.tags.contains(t)) {
                continue;
            }
            let key = if self.group_by_tags {
                let set: BTreeSet<_> = s.file.tags.iter().cloned().collect();
                set.into_iter().collect()
            } else {
                Vec::new()
            };
            groups.entry(key).or_default().push(s);
        }
        let mut out = Vec::new();
        for (_, mut g) in groups {
            g.sort_by(|a, b| b.file.time.cmp(&a.file.time).then(b.id.cmp(&a.id)));
            let newest = g.first().map(|s| s.file.time);
            let mut days_seen = BTreeSet::new();
            for (i, s) in g.iter().enumerate() {
                let mut reasons = Vec::new();
                if self.keep_last.is_some_and(|n| i < n) {
                    reasons.push("last".to_owned());
                }
                if let (Some(d), Some(newest)) = (self.keep_within, newest)
                    && newest
                        .checked_sub_signed(d)
                        .is_none_or(|from| s.file.time >= from)
                {
                    reasons.push("within".to_owned());
                }
                if let Some(n) = self.keep_daily {
                    let day = s.file.time.date_naive();
                    if !days_seen.contains(&day) && days_seen.len() < n {
                        days_seen.insert(day);
                        reasons.push("daily".to_owned());
                    }
                }
                for t in &self.keep_tags {
                    if s.file.tags.contains(t) {
                        reasons.push(format!("tag {t}"));
                    }
                }
                out.push(ForgetDecision {
                    id: s.id,
                    time: s.file.time,
                    tags: s.file.tags.clone(),
                    keep: !reasons.is_empty(),
                    reasons,
                });
            }
        }
        Ok(out)
    }
}

impl Repository {
    /// Apply a policy and delete the snapshots it does not keep (unless `dry_run`). Damaged snapshot files are
    /// left alone (their time and tags are unknown); `snapshots()` lists them.
    pub async fn forget(
        &self,
        policy: &ForgetPolicy,
        dry_run: bool,
    ) -> Result<Vec<ForgetDecision>> {
        let snaps = self.snapshots().await?.snapshots;
        let decisions = policy.apply(&snaps)?;
        if !dry_run {
            for d in decisions.iter().filter(|d| !d.keep) {
                self.remove_snapshot(&d.id).await?;
            }
        }
        Ok(decisions)
    }
}
