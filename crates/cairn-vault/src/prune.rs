//! Two-phase prune: phase 1 marks packs (after repacking the still-used blobs of partly-used packs),
//! phase 2 deletes them once the grace period has passed and they are still unused.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use rand::RngCore;

use crate::Id;
use crate::crypto::{AD_INDEX, AD_PRUNE_MARK};
use crate::error::{Error, Result};
use crate::format::{EntryKind, PackedBlob, TreeNode, encode_index};
use crate::index::Index;
use crate::repo::{PruneMark, Repository, SnapshotInfo, pack_name, pending_packs};

/// Completed marks are kept this long, so that a writer started before a mark still sees it at commit.
const DONE_MARK_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Prune settings.
#[derive(Debug, Clone)]
pub struct PruneOptions {
    /// Time between marking a pack and deleting it; longer than any backup may take (default 1 hour).
    pub grace: Duration,
    /// Repack a partly-used pack when at least this fraction of its bytes is unused (default 0.2).
    pub repack_threshold: f64,
    /// Report only.
    pub dry_run: bool,
}

impl Default for PruneOptions {
    fn default() -> Self {
        PruneOptions {
            grace: Duration::from_secs(3600),
            repack_threshold: 0.2,
            dry_run: false,
        }
    }
}

/// What a prune did (or would do).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PruneReport {
    pub marks_completed: usize,
    pub packs_deleted: usize,
    pub bytes_deleted: u64,
    /// Condemned packs found in use again at deletion time and kept.
    pub packs_rescued: usize,
    pub index_files_rewritten: usize,
    pub new_mark: Option<String>,
    pub packs_condemned: usize,
    pub bytes_condemned: u64,
    pub packs_repacked: usize,
    pub blobs_repacked: usize,
    pub bytes_repacked: u64,
    pub unindexed_packs_condemned: usize,
}

impl Repository {
    /// Every blob (data and tree) referenced by the given snapshots. The index must have been read after the
    /// snapshots were listed (writers store the index before the snapshot, so it then covers them all).
    pub(crate) async fn used_blobs(
        &self,
        snapshots: &[SnapshotInfo],
        index: &Index,
    ) -> Result<HashSet<Id>> {
        let mut used = HashSet::new();
        for s in snapshots {
            let mut stack = vec![s.file.tree];
            while let Some(t) = stack.pop() {
                if !used.insert(t) {
                    continue;
                }
                let raw = self
                    .read_blob(index, &t)
                    .await
                    .map_err(|e| e.in_entry(s.id, "/"))?;
                let node =
                    TreeNode::decode(&raw).map_err(|e| Error::damaged("tree", t.to_hex(), e))?;
                for p in node.pages {
                    stack.push(p.tree);
                }
                for e in node.entries {
                    used.extend(e.content);
                    if let (EntryKind::Dir, Some(sub)) = (e.kind, e.tree) {
                        stack.push(sub);
                    }
                }
            }
        }
        Ok(used)
    }

    /// All snapshots, or an error if one cannot be read: its blobs are unknown, so nothing may be deleted.
    async fn snapshots_for_prune(&self) -> Result<Vec<SnapshotInfo>> {
        let list = self.snapshots().await?;
        if let Some(d) = list.damaged.first() {
            return Err(Error::damaged(
                "snapshot",
                d.id.to_hex(),
                format!(
                    "{}; prune does not run while a snapshot cannot be read (delete snapshots/{} if it is beyond repair)",
                    d.error, d.id
                ),
            ));
        }
        Ok(list.snapshots)
    }

    /// Run prune: complete due marks (phase 2), then mark (phase 1); with a zero grace period, complete at once.
    pub async fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        self.prune_phase2(opts, &mut report).await?;
        self.prune_phase1(opts, &mut report).await?;
        if opts.grace.is_zero() && report.new_mark.is_some() && !opts.dry_run {
            self.prune_phase2(opts, &mut report).await?;
        }
        self.invalidate_index();
        Ok(report)
    }

    async fn prune_phase2(&self, opts: &PruneOptions, report: &mut PruneReport) -> Result<()> {
        let now = chrono::Utc::now();
        let grace = chrono::TimeDelta::from_std(opts.grace).unwrap_or(chrono::TimeDelta::MAX);
        let marks = self.read_marks().await?;
        for (name, m) in &marks {
            if m.done && m.created + DONE_MARK_RETENTION < now && !opts.dry_run {
                self.backend().delete(name).await?;
            }
        }
        let due: Vec<_> = marks
            .into_iter()
            .filter(|(_, m)| {
                !m.done
                    && m.created
                        .checked_add_signed(grace)
                        .is_some_and(|due| due <= now)
            })
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let condemned: HashSet<Id> = due
            .iter()
            .flat_map(|(_, m)| m.condemned_packs.iter().copied())
            .collect();
        // Re-check against the snapshots present now, with an index where condemned packs are last resort.
        self.invalidate_index();
        let snapshots = self.snapshots_for_prune().await?;
        let files = self.read_index_files().await?;
        let index = Index::from_files(&files, &condemned);
        let used = self.used_blobs(&snapshots, &index).await?;
        let mut delete: HashSet<Id> = condemned.clone();
        for (_, packs) in &files {
            for (p, entries) in packs {
                if delete.contains(p)
                    && entries.iter().any(|e| {
                        used.contains(&e.id) && index.get(&e.id).is_some_and(|l| l.pack == *p)
                    })
                {
                    delete.remove(p);
                    report.packs_rescued += 1;
                }
            }
        }
        if opts.dry_run {
            report.packs_deleted += delete.len();
            return Ok(());
        }
        // Index files naming a deleted pack are replaced by one without it, before any pack goes.
        let mut keep: Vec<(Id, Vec<PackedBlob>)> = Vec::new();
        let mut seen = HashSet::new();
        let mut replaced = Vec::new();
        for (fname, packs) in &files {
            if packs.iter().any(|(p, _)| delete.contains(p)) {
                replaced.push(fname.clone());
                for (p, e) in packs {
                    if !delete.contains(p) && seen.insert(*p) {
                        keep.push((*p, e.clone()));
                    }
                }
            }
        }
        if !keep.is_empty() {
            let sealed = self.key().seal_object(AD_INDEX, &encode_index(&keep));
            self.backend()
                .put_new(
                    &format!("index/{}", Id::hash_of(&sealed)),
                    Bytes::from(sealed),
                )
                .await?;
        }
        for f in &replaced {
            self.backend().delete(f).await?;
        }
        report.index_files_rewritten += replaced.len();
        let sizes: HashMap<String, u64> = self
            .backend()
            .list("packs")
            .await?
            .into_iter()
            .map(|o| (o.name, o.size))
            .collect();
        for p in &delete {
            let name = pack_name(p);
            if let Some(sz) = sizes.get(&name) {
                report.bytes_deleted += sz;
                report.packs_deleted += 1;
            }
            self.backend().delete(&name).await?;
        }
        for (name, mut m) in due {
            m.done = true;
            self.write_mark(&name, &m).await?;
            report.marks_completed += 1;
        }
        Ok(())
    }

    async fn write_mark(&self, name: &str, m: &PruneMark) -> Result<()> {
        let json = serde_json::to_vec(m).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.backend()
            .put(
                name,
                Bytes::from(self.key().seal_object(AD_PRUNE_MARK, &json)),
            )
            .await
    }

    async fn prune_phase1(&self, opts: &PruneOptions, report: &mut PruneReport) -> Result<()> {
        let now = chrono::Utc::now();
        let grace = chrono::TimeDelta::from_std(opts.grace).unwrap_or(chrono::TimeDelta::MAX);
        let pending = pending_packs(&self.read_marks().await?);
        self.invalidate_index();
        let snapshots = self.snapshots_for_prune().await?;
        let files = self.read_index_files().await?;
        let index = Index::from_files(&files, &pending);
        let used = self.used_blobs(&snapshots, &index).await?;
        let mut packs: HashMap<Id, Vec<PackedBlob>> = HashMap::new();
        for (_, ps) in files {
            for (p, e) in ps {
                packs.entry(p).or_insert(e);
            }
        }
        let listed = self.backend().list("packs").await?;
        let mut condemn = Vec::new();
        let mut to_repack: Vec<(Id, Vec<PackedBlob>)> = Vec::new();
        for o in &listed {
            let Some(id) = o.name.rsplit('/').next().and_then(|n| n.parse::<Id>().ok()) else {
                continue;
            };
            if pending.contains(&id) {
                continue;
            }
            match packs.get(&id) {
                None => {
                    // Leftover of a crashed or still-running writer: only once older than the grace period.
                    if o.last_modified
                        .checked_add_signed(grace)
                        .is_some_and(|due| due <= now)
                    {
                        condemn.push(id);
                        report.unindexed_packs_condemned += 1;
                        report.bytes_condemned += o.size;
                    }
                }
                Some(entries) => {
                    let total: u64 = entries.iter().map(|e| e.length as u64).sum();
                    let used_bytes: u64 = entries
                        .iter()
                        .filter(|e| used.contains(&e.id))
                        .map(|e| e.length as u64)
                        .sum();
                    if used_bytes == 0 {
                        condemn.push(id);
                        report.bytes_condemned += o.size;
                    } else if used_bytes < total
                        && (total - used_bytes) as f64 >= opts.repack_threshold * total as f64
                    {
                        to_repack.push((id, entries.clone()));
                        condemn.push(id);
                        report.bytes_condemned += o.size;
                    }
                }
            }
        }
        report.packs_condemned += condemn.len();
        report.packs_repacked += to_repack.len();
        if opts.dry_run || condemn.is_empty() {
            return Ok(());
        }
        if !to_repack.is_empty() {
            let mut w = self.writer(crate::WriterOptions::default()).await?;
            let mut moved = HashSet::new();
            for (pack, entries) in &to_repack {
                for e in entries.iter().filter(|e| used.contains(&e.id)) {
                    if !moved.insert(e.id) {
                        continue;
                    }
                    let range = e.offset as u64..e.offset as u64 + e.length as u64;
                    let raw = self
                        .backend()
                        .get_range(&pack_name(pack), range)
                        .await?
                        .ok_or_else(|| Error::MissingObject {
                            kind: "pack",
                            name: pack.to_hex(),
                        })?;
                    let plain = self
                        .key()
                        .open_blob(&e.id, &raw)
                        .ok_or(Error::DamagedBlob {
                            blob: e.id,
                            pack: *pack,
                            context: Default::default(),
                        })?;
                    w.put_blob_forced(e.kind, Bytes::from(plain)).await?;
                    report.blobs_repacked += 1;
                    report.bytes_repacked += e.raw_length as u64;
                }
            }
            w.finish_without_snapshot().await?;
        }
        let mut r = [0u8; 16];
        rand::rng().fill_bytes(&mut r);
        let name = format!(
            "prune/{}",
            r.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
        let mark = PruneMark {
            version: 1,
            created: now,
            condemned_packs: condemn,
            done: false,
            grace_secs: Some(opts.grace.as_secs()),
        };
        self.write_mark(&name, &mark).await?;
        report.new_mark = Some(name);
        Ok(())
    }
}
