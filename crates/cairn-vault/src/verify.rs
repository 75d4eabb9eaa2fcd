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
                .map_err(|e| crate::Error::task_ended("verify", e))?;
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
        // Snapshots and trees: every referenced blob must be indexed; attribute damage to entries. Each tree is
        // read once, however many snapshots share it; what is damaged below it is remembered per tree.
        let mut roots = Vec::new();
        for o in listed_snapshots {
            let Some(sid) = o
                .name
                .strip_prefix("snapshots/")
                .and_then(|n| n.parse::<Id>().ok())
            else {
                continue;
            };
            report.snapshots += 1;
            match self.read_snapshot(&sid).await {
                Ok(Some(f)) => roots.push((sid, f.tree)),
                Ok(None) => continue,
                Err(e) => report
                    .damage
                    .push(damage("damaged-snapshot", None, None, e.to_string())),
            }
        }
        let mut trees: HashMap<Id, TreeFindings> = HashMap::new();
        let mut start = Vec::new();
        for (_, root) in &roots {
            match bad_blob.get(root) {
                Some(&di) => {
                    trees.insert(*root, TreeFindings::unreadable(di));
                }
                None => start.push((*root, "/".to_owned())),
            }
        }
        let mut seen = HashSet::new();
        self.walk_trees(&index, start, &mut seen, |t, shown, raw| {
            let Some(node) = raw.ok().and_then(|raw| TreeNode::decode(&raw).ok()) else {
                let msg = if index.get(&t).is_none() {
                    format!("tree blob {t} of directory {shown} is missing from the index")
                } else {
                    format!("tree blob {t} of directory {shown} is damaged")
                };
                report.damage.push(damage(
                    "damaged-tree",
                    index.get(&t).map(|l| l.pack),
                    Some(t),
                    msg,
                ));
                trees.insert(t, TreeFindings::unreadable(report.damage.len() - 1));
                return Ok(Vec::new());
            };
            let mut found = TreeFindings {
                subtrees: node.pages.iter().map(|p| (String::new(), p.tree)).collect(),
                ..Default::default()
            };
            for e in node.entries {
                if let (EntryKind::Dir, Some(sub)) = (e.kind, e.tree) {
                    found.subtrees.push((e.name, sub));
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
                    if found.bad.last() != Some(&(di, e.name.clone())) {
                        found.bad.push((di, e.name.clone()));
                    }
                }
            }
            let mut next = Vec::new();
            for (name, sub) in &found.subtrees {
                match bad_blob.get(sub) {
                    Some(&di) => {
                        trees.entry(*sub).or_insert(TreeFindings::unreadable(di));
                    }
                    None => next.push((*sub, join_shown(&shown, name))),
                }
            }
            if !found.subtrees.is_empty() || !found.bad.is_empty() {
                trees.insert(t, found);
            }
            Ok(next)
        })
        .await?;
        // Attribute: per snapshot, descend only into trees with damage below them (no storage reads).
        let mut dirty: HashMap<Id, bool> = HashMap::new();
        for (sid, root) in &roots {
            let mut stack = vec![(*root, String::new())];
            while let Some((t, dir)) = stack.pop() {
                if !is_dirty(&t, &trees, &mut dirty) {
                    continue;
                }
                let Some(f) = trees.get(&t) else { continue };
                if let Some(di) = f.unreadable {
                    let shown = if dir.is_empty() { "/" } else { dir.as_str() };
                    report.damage[di]
                        .affected
                        .entry(*sid)
                        .or_default()
                        .push(format!("{shown} (directory listing)"));
                    continue;
                }
                for (di, name) in &f.bad {
                    let path = join_path(&dir, name);
                    let v = report.damage[*di].affected.entry(*sid).or_default();
                    if v.last() != Some(&path) {
                        v.push(path);
                    }
                }
                for (name, sub) in &f.subtrees {
                    stack.push((*sub, join_path(&dir, name)));
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

/// What verify found in one tree (kept only for trees with subtrees or damage).
#[derive(Default)]
struct TreeFindings {
    /// The tree itself cannot be read: index of its damage.
    unreadable: Option<usize>,
    /// Pages (name "") and subdirectories.
    subtrees: Vec<(String, Id)>,
    /// Entries of this tree using damaged or missing blobs: (damage index, entry name).
    bad: Vec<(usize, String)>,
}

impl TreeFindings {
    fn unreadable(di: usize) -> Self {
        TreeFindings {
            unreadable: Some(di),
            ..Default::default()
        }
    }
}

/// Whether a tree has damage at or below it (memoised; trees form a DAG).
fn is_dirty(t: &Id, trees: &HashMap<Id, TreeFindings>, memo: &mut HashMap<Id, bool>) -> bool {
    if let Some(&d) = memo.get(t) {
        return d;
    }
    let d = trees.get(t).is_some_and(|f| {
        f.unreadable.is_some()
            || !f.bad.is_empty()
            || f.subtrees.iter().any(|(_, sub)| is_dirty(sub, trees, memo))
    });
    memo.insert(*t, d);
    d
}

/// A path below `dir`; a page (empty name) stays in `dir`.
fn join_path(dir: &str, name: &str) -> String {
    match (dir.is_empty(), name.is_empty()) {
        (_, true) => dir.to_owned(),
        (true, false) => name.to_owned(),
        (false, false) => format!("{dir}/{name}"),
    }
}

/// `join_path` for messages, where the root is shown as `/`.
fn join_shown(shown: &str, name: &str) -> String {
    let p = join_path(if shown == "/" { "" } else { shown }, name);
    if p.is_empty() { "/".to_owned() } else { p }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::backend::tests::{Flaky, reset};
    use crate::{Backend, KdfParams, KeySource, PruneOptions, WriterOptions};

    /// Trees shared by several snapshots are read once by verify and by prune: six snapshots of the same three
    /// directories (the last with one changed document) cost six distinct tree reads, not one per snapshot.
    #[tokio::test]
    async fn shared_trees_are_read_once() {
        let store = Flaky::new(0, reset);
        let b = Backend::from_store(store.clone(), "");
        let opts = crate::InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let repo = Repository::init(b, &KeySource::Passphrase("k".into()), opts)
            .await
            .unwrap();
        for i in 0..6 {
            let mut w = repo.writer(WriterOptions::default()).await.unwrap();
            for d in ["a", "b", "c"] {
                let body = if i == 5 && d == "c" { "changed" } else { d };
                w.add_document(&format!("{d}/doc"), body.as_bytes(), BTreeMap::new())
                    .await
                    .unwrap();
            }
            let meta = [("n".to_owned(), i.to_string())].into();
            w.commit(meta, vec![]).await.unwrap();
        }
        // Distinct trees: root and a, b, c; then a new root and a new c.
        let trees = 6;
        store.rearm(0);
        let report = repo
            .verify(&VerifyOptions::default(), &|_, _| {})
            .await
            .unwrap();
        assert!(report.is_ok(), "{report:?}");
        let calls = store.rearm(0);
        // Lists of snapshots, index and packs; one read per snapshot file and index file; one per tree.
        let expected = 3 + report.snapshots + report.index_files + trees;
        assert_eq!(calls, expected, "{report:?}");

        // Prune (nothing to delete): one list and read of the marks, snapshot files, index files, trees
        // once, then the pack listing of phase 1.
        let r = repo.prune(&PruneOptions::default()).await.unwrap();
        assert_eq!(r.packs_condemned, 0, "{r:?}");
        let calls = store.rearm(0);
        let expected = 2 + 1 + report.snapshots + 1 + report.index_files + trees + 1;
        assert_eq!(calls, expected, "{r:?}");
    }
}
