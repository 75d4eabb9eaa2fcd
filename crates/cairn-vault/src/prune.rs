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
use crate::index::{Index, IndexFile};
use crate::repo::{PruneMark, Repository, pack_name, pending_packs};

/// Completed marks are kept this long, so that a writer started before a mark still sees it at commit.
const DONE_MARK_RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// Largest ranged read when repacking adjacent blobs of one pack.
const REPACK_READ: u64 = 8 * 1024 * 1024;

/// Runs of blobs (sorted by offset) that follow each other without a gap, each at most [`REPACK_READ`] bytes
/// (or one larger blob).
fn adjacent_runs<'a>(sorted: &[&'a PackedBlob]) -> Vec<Vec<&'a PackedBlob>> {
    let mut runs: Vec<Vec<&PackedBlob>> = Vec::new();
    for &e in sorted {
        if let Some(run) = runs.last_mut()
            && let (Some(first), Some(last)) = (run.first(), run.last())
            && last.offset as u64 + last.length as u64 == e.offset as u64
            && e.offset as u64 + e.length as u64 - first.offset as u64 <= REPACK_READ
        {
            run.push(e);
            continue;
        }
        runs.push(vec![e]);
    }
    runs
}

/// What prune knows of the repository; see [`Repository::refresh`]. Trees are content-addressed, so the blobs
/// below a walked tree never change and each tree is walked once per prune.
#[derive(Default)]
struct Scan {
    /// Snapshots whose trees are walked.
    snapshots: HashSet<Id>,
    /// Index files as last read.
    files: Vec<IndexFile>,
    /// Trees walked.
    trees: HashSet<Id>,
    /// Blobs (data and trees) used by those snapshots.
    used: HashSet<Id>,
}

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
    /// Bring `scan` up to date: read the snapshot files and index files it has not read, and walk the trees of
    /// new snapshots that it has not walked. Snapshots are listed before the index is read (writers store the
    /// index before the snapshot, so it then covers them all). A damaged snapshot stops prune: its blobs are
    /// unknown, so nothing may be deleted.
    async fn refresh(&self, scan: &mut Scan) -> Result<()> {
        let new: Vec<Id> = self
            .snapshot_ids()
            .await?
            .into_iter()
            .map(|(id, _)| id)
            .filter(|id| !scan.snapshots.contains(id))
            .collect();
        let list = self.read_snapshots(new).await?;
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
        let known = scan.files.iter().map(|f| f.0.clone()).collect();
        let (listed, fresh) = self.read_index_files_except(&known).await?;
        scan.files.retain(|f| listed.contains(&f.0));
        scan.files.extend(fresh);
        let index = Index::from_files(&scan.files, &HashSet::new());
        let start = list.snapshots.iter().map(|s| (s.file.tree, s.id)).collect();
        let Scan { trees, used, .. } = scan;
        self.walk_trees(&index, start, trees, |t, sid, raw| {
            let raw = raw.map_err(|e| e.in_entry(sid, "/"))?;
            let node = TreeNode::decode(&raw).map_err(|e| Error::damaged("tree", t.to_hex(), e))?;
            used.insert(t);
            let mut next: Vec<(Id, Id)> = node.pages.iter().map(|p| (p.tree, sid)).collect();
            for e in node.entries {
                used.extend(e.content);
                if let (EntryKind::Dir, Some(sub)) = (e.kind, e.tree) {
                    next.push((sub, sid));
                }
            }
            Ok(next)
        })
        .await?;
        scan.snapshots.extend(list.snapshots.iter().map(|s| s.id));
        Ok(())
    }

    /// Run prune: complete due marks (phase 2), then mark (phase 1); with a zero grace period, complete at once.
    pub async fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let mut report = PruneReport::default();
        // One scan of the repository, brought up to date (not repeated) before each phase.
        let mut scan = Scan::default();
        self.prune_phase2(opts, &mut report, &mut scan).await?;
        self.prune_phase1(opts, &mut report, &mut scan).await?;
        if opts.grace.is_zero() && report.new_mark.is_some() && !opts.dry_run {
            self.prune_phase2(opts, &mut report, &mut scan).await?;
        }
        self.invalidate_index();
        Ok(report)
    }

    async fn prune_phase2(
        &self,
        opts: &PruneOptions,
        report: &mut PruneReport,
        scan: &mut Scan,
    ) -> Result<()> {
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
        self.refresh(scan).await?;
        let (files, used) = (&scan.files, &scan.used);
        let index = Index::from_files(files, &condemned);
        let mut delete: HashSet<Id> = condemned.clone();
        for (_, packs) in files {
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
        for (fname, packs) in files {
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

    async fn prune_phase1(
        &self,
        opts: &PruneOptions,
        report: &mut PruneReport,
        scan: &mut Scan,
    ) -> Result<()> {
        let now = chrono::Utc::now();
        let grace = chrono::TimeDelta::from_std(opts.grace).unwrap_or(chrono::TimeDelta::MAX);
        let pending = pending_packs(&self.read_marks().await?);
        self.refresh(scan).await?;
        let used = &scan.used;
        let mut packs: HashMap<Id, &Vec<PackedBlob>> = HashMap::new();
        for (_, ps) in &scan.files {
            for (p, e) in ps {
                packs.entry(*p).or_insert(e);
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
                        to_repack.push((id, entries.to_vec()));
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
                let mut keep: Vec<&PackedBlob> = entries
                    .iter()
                    .filter(|e| used.contains(&e.id) && moved.insert(e.id))
                    .collect();
                keep.sort_by_key(|e| e.offset);
                // Adjacent blobs are fetched with one ranged read (up to REPACK_READ bytes).
                for run in adjacent_runs(&keep) {
                    let start = run[0].offset as u64;
                    let end = run
                        .last()
                        .map_or(start, |e| e.offset as u64 + e.length as u64);
                    let raw = self
                        .backend()
                        .get_range(&pack_name(pack), start..end)
                        .await?
                        .ok_or_else(|| Error::MissingObject {
                            kind: "pack",
                            name: pack.to_hex(),
                        })?;
                    for e in run {
                        let at = (e.offset as u64 - start) as usize;
                        let plain = raw
                            .get(at..at + e.length as usize)
                            .and_then(|sealed| self.key().open_blob(&e.id, sealed))
                            .ok_or(Error::DamagedBlob {
                                blob: e.id,
                                pack: *pack,
                                context: Default::default(),
                            })?;
                        w.put_blob_forced(e.kind, plain).await?;
                        report.blobs_repacked += 1;
                        report.bytes_repacked += e.raw_length as u64;
                    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BlobKind;

    fn blob(offset: u32, length: u32) -> PackedBlob {
        PackedBlob {
            kind: BlobKind::Data,
            id: Id([offset as u8; 32]),
            offset,
            length,
            raw_length: length,
        }
    }

    /// Blobs that follow each other are read together; a gap or the size cap starts a new read.
    #[test]
    fn adjacent_blobs_share_one_read() {
        let big = REPACK_READ as u32 / 2;
        let v = [
            blob(8, 100),
            blob(108, 50),
            blob(200, 10),
            blob(210, big),
            blob(210 + big, big),
        ];
        let refs: Vec<&PackedBlob> = v.iter().collect();
        let runs: Vec<Vec<u32>> = adjacent_runs(&refs)
            .iter()
            .map(|r| r.iter().map(|e| e.offset).collect())
            .collect();
        assert_eq!(runs, [vec![8, 108], vec![200, 210], vec![210 + big]]);
    }
}
