//! Verify: structure, and optionally every (or a share of) blob's bytes. Names what damage affects.

use std::collections::{BTreeMap, HashMap, HashSet};

use futures::StreamExt;
use rand::Rng;

use crate::Id;
use crate::crypto::AD_INDEX;
use crate::error::Result;
use crate::format::{EntryKind, PackedBlob, TreeNode, decode_index};
use crate::index::Index;
use crate::repo::{Repository, pack_name, pending_packs};

/// What to check.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Read and check every blob of every pack.
    pub read_data: bool,
    /// Read a random share of packs (0–100), if `read_data` is false.
    pub read_data_subset_percent: Option<f64>,
}

/// One problem found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Damage {
    /// `missing-pack`, `truncated-pack`, `damaged-blob`, `missing-blob`, `damaged-index`, `damaged-snapshot`, `damaged-tree`.
    pub kind: String,
    pub pack: Option<Id>,
    pub blob: Option<Id>,
    pub message: String,
    /// Snapshot id → entry paths that use the damaged or missing data.
    pub affected: BTreeMap<Id, Vec<String>>,
}

/// The outcome.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VerifyReport {
    pub snapshots: usize,
    pub index_files: usize,
    pub packs: usize,
    pub blobs: usize,
    pub packs_read: usize,
    pub blobs_read: usize,
    pub bytes_read: u64,
    /// Packs in storage that no index names (leftovers that `prune` reclaims); not damage.
    pub unindexed_packs: usize,
    pub damage: Vec<Damage>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.damage.is_empty()
    }
}

fn damage(kind: &str, pack: Option<Id>, blob: Option<Id>, message: String) -> Damage {
    Damage {
        kind: kind.into(),
        pack,
        blob,
        message,
        affected: BTreeMap::new(),
    }
}

impl Repository {
    /// Check the repository. `progress` is called with (packs read, packs to read).
    pub async fn verify(
        &self,
        opts: &VerifyOptions,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        // Snapshots are listed before the index is read: writers store the index first, so it covers them.
        let listed_snapshots = self.backend().list("snapshots").await?;
        // Index files, each on its own so one damaged file does not hide the rest.
        let mut packs: HashMap<Id, Vec<PackedBlob>> = HashMap::new();
        let mut index = Index::new();
        let none = HashSet::new();
        for o in self.backend().list("index").await? {
            report.index_files += 1;
            let parsed = match self.backend().get(&o.name).await? {
                None => None,
                Some(raw) => self
                    .key()
                    .open_object(AD_INDEX, &raw)
                    .and_then(|p| decode_index(&p)),
            };
            match parsed {
                Some(ps) => {
                    for (p, e) in ps {
                        index.add_pack(p, &e, &none);
                        packs.entry(p).or_insert(e);
                    }
                }
                None => report.damage.push(damage(
                    "damaged-index",
                    None,
                    None,
                    format!("index file {} is truncated or altered; blobs it lists are reported missing below", o.name),
                )),
            }
        }
        report.packs = packs.len();
        report.blobs = index.len();
        let stored: HashMap<Id, u64> = self
            .backend()
            .list("packs")
            .await?
            .into_iter()
            .filter_map(|o| Some((o.name.rsplit('/').next()?.parse::<Id>().ok()?, o.size)))
            .collect();
        report.unindexed_packs = stored.keys().filter(|p| !packs.contains_key(p)).count();
        // Per-blob problems: blob → damage index in report.damage.
        let mut bad_blob: HashMap<Id, usize> = HashMap::new();
        for (p, entries) in &packs {
            let end = entries
                .iter()
                .map(|e| e.offset as u64 + e.length as u64)
                .max()
                .unwrap_or(0);
            let (kind, msg) = match stored.get(p) {
                None => ("missing-pack", format!("pack {p} is missing from storage")),
                Some(sz) if *sz < end + 4 => (
                    "truncated-pack",
                    format!(
                        "pack {p} is truncated ({sz} bytes, index needs {})",
                        end + 4
                    ),
                ),
                _ => continue,
            };
            report.damage.push(damage(kind, Some(*p), None, msg));
            let di = report.damage.len() - 1;
            for e in entries {
                if index.get(&e.id).is_some_and(|l| l.pack == *p)
                    && (kind == "missing-pack" || e.offset as u64 + e.length as u64 > stored[p])
                {
                    bad_blob.insert(e.id, di);
                }
            }
        }
        // Read data.
        let mut rng = rand::rng();
        let to_read: Vec<Id> = packs
            .keys()
            .filter(|p| stored.contains_key(p))
            .filter(|_| match (opts.read_data, opts.read_data_subset_percent) {
                (true, _) => true,
                (false, Some(pct)) => rng.random::<f64>() * 100.0 < pct,
                (false, None) => false,
            })
            .copied()
            .collect();
        let total = to_read.len() as u64;
        let mut results = futures::stream::iter(to_read.into_iter().map(|p| {
            let entries = packs[&p].clone();
            async move {
                let raw = self.backend().get(&pack_name(&p)).await?;
                let key = self.key().clone();
                let checked = tokio::task::spawn_blocking(move || {
                    let Some(raw) = raw else {
                        return (0u64, entries.iter().map(|e| e.id).collect::<Vec<_>>());
                    };
                    let bad = entries
                        .iter()
                        .filter(|e| {
                            let r = e.offset as usize..e.offset as usize + e.length as usize;
                            raw.get(r).and_then(|b| key.open_blob(&e.id, b)).is_none()
                        })
                        .map(|e| e.id)
                        .collect();
                    (raw.len() as u64, bad)
                })
                .await
                // A failed check must not pass for a clean pack.
                .map_err(|e| crate::Error::InvalidArgument(format!("verify task failed: {e}")))?;
                Ok::<_, crate::Error>((p, checked))
            }
        }))
        .buffer_unordered(2);
        let mut done = 0;
        while let Some(r) = results.next().await {
            let (p, (bytes, bad)) = r?;
            done += 1;
            progress(done, total);
            report.packs_read += 1;
            report.bytes_read += bytes;
            report.blobs_read += packs[&p].len();
            for b in bad {
                if bad_blob.contains_key(&b) {
                    continue;
                }
                report.damage.push(damage(
                    "damaged-blob",
                    Some(p),
                    Some(b),
                    format!("blob {b} in pack {p} is damaged (does not decrypt or does not match its id)"),
                ));
                bad_blob.insert(b, report.damage.len() - 1);
            }
        }
        drop(results);
        // Snapshots and trees: every referenced blob must be indexed; attribute damage to entries.
        for o in listed_snapshots {
            let Some(sid) = o
                .name
                .strip_prefix("snapshots/")
                .and_then(|n| n.parse::<Id>().ok())
            else {
                continue;
            };
            report.snapshots += 1;
            let file = match self.read_snapshot(&sid).await {
                Ok(Some(f)) => f,
                Ok(None) => continue,
                Err(e) => {
                    report
                        .damage
                        .push(damage("damaged-snapshot", None, None, e.to_string()));
                    continue;
                }
            };
            let mut stack = vec![(file.tree, String::new())];
            let mut seen = HashSet::new();
            while let Some((t, dir)) = stack.pop() {
                if !seen.insert(t) {
                    continue;
                }
                let shown = if dir.is_empty() {
                    "/".to_owned()
                } else {
                    dir.clone()
                };
                if let Some(&di) = bad_blob.get(&t) {
                    report.damage[di]
                        .affected
                        .entry(sid)
                        .or_default()
                        .push(format!("{shown} (directory listing)"));
                    continue;
                }
                let node = match self.read_blob(&index, &t).await {
                    Ok(raw) => TreeNode::decode(&raw).ok(),
                    Err(_) => None,
                };
                let Some(node) = node else {
                    let msg = if index.get(&t).is_none() {
                        format!("tree blob {t} of directory {shown} is missing from the index")
                    } else {
                        format!("tree blob {t} of directory {shown} is damaged")
                    };
                    let mut d = damage("damaged-tree", index.get(&t).map(|l| l.pack), Some(t), msg);
                    d.affected
                        .insert(sid, vec![format!("{shown} (directory listing)")]);
                    report.damage.push(d);
                    continue;
                };
                for p in node.pages {
                    stack.push((p.tree, dir.clone()));
                }
                for e in node.entries {
                    let path = if dir.is_empty() {
                        e.name.clone()
                    } else {
                        format!("{dir}/{}", e.name)
                    };
                    if let (EntryKind::Dir, Some(sub)) = (e.kind, e.tree) {
                        stack.push((sub, path));
                        continue;
                    }
                    for b in &e.content {
                        let di = match bad_blob.get(b) {
                            Some(&di) => di,
                            None if index.get(b).is_none() => {
                                report.damage.push(damage(
                                    "missing-blob",
                                    None,
                                    Some(*b),
                                    format!("blob {b} is missing from the index"),
                                ));
                                bad_blob.insert(*b, report.damage.len() - 1);
                                report.damage.len() - 1
                            }
                            None => continue,
                        };
                        let v = report.damage[di].affected.entry(sid).or_default();
                        if v.last() != Some(&path) {
                            v.push(path.clone());
                        }
                    }
                }
            }
        }
        Ok(report)
    }

    /// Repository-wide figures.
    pub async fn stats(&self) -> Result<RepoStats> {
        // One read of the index files: the index is built from the same files the figures walk.
        let condemned = pending_packs(&self.read_marks().await?);
        let files = self.read_index_files().await?;
        let index = Index::from_files(&files, &condemned);
        let mut seen = HashSet::new();
        let mut s = RepoStats {
            index_heap_bytes: index.approx_heap_bytes() as u64,
            ..Default::default()
        };
        for (_, packs) in files {
            for (p, entries) in packs {
                if !seen.insert(p) {
                    continue;
                }
                for e in entries {
                    if index
                        .get(&e.id)
                        .is_some_and(|l| l.pack == p && l.offset == e.offset)
                    {
                        s.blobs += 1;
                        s.raw_bytes += e.raw_length as u64;
                        s.stored_blob_bytes += e.length as u64;
                        if e.kind == crate::BlobKind::Tree {
                            s.tree_blobs += 1;
                        }
                    }
                }
            }
        }
        let all = self.backend().list("").await?;
        for o in &all {
            s.total_bytes += o.size;
            if o.name.starts_with("packs/") {
                s.packs += 1;
                s.pack_bytes += o.size;
            }
        }
        let list = self.snapshots().await?;
        s.snapshots = list.snapshots.len() as u64;
        s.damaged_snapshots = list.damaged.len() as u64;
        Ok(s)
    }
}

/// Figures of a repository.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RepoStats {
    pub snapshots: u64,
    /// Snapshot files that do not decrypt or parse (`verify` names them).
    pub damaged_snapshots: u64,
    pub packs: u64,
    pub pack_bytes: u64,
    /// Everything stored (packs, index, snapshots, keys, config).
    pub total_bytes: u64,
    pub blobs: u64,
    pub tree_blobs: u64,
    /// Plaintext bytes of all distinct blobs.
    pub raw_bytes: u64,
    pub stored_blob_bytes: u64,
    /// Approximate memory of the loaded index.
    pub index_heap_bytes: u64,
}
