//! Reading a snapshot: list, random access by path, streaming out.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use crate::Id;
use crate::error::{Error, Result};
use crate::format::{EntryKind, SnapshotFile, TreeEntry, TreeNode};
use crate::index::Index;
use crate::repo::Repository;
use crate::writer::check_path;

/// An entry of a snapshot as returned by the reader.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// Full path, `a/b/c`.
    pub path: String,
    #[serde(rename = "type")]
    pub kind: EntryKind,
    pub size: u64,
    pub attrs: BTreeMap<String, String>,
    /// Data blobs (documents and streams).
    #[serde(skip)]
    pub content: Vec<Id>,
}

/// Reads one snapshot. Trees are fetched on demand and cached.
pub struct SnapshotReader {
    repo: Repository,
    index: Arc<Index>,
    id: Id,
    file: SnapshotFile,
    trees: Mutex<HashMap<Id, Arc<TreeNode>>>,
}

impl SnapshotReader {
    pub(crate) async fn open(repo: &Repository, id: Id) -> Result<Self> {
        let file = repo
            .read_snapshot(&id)
            .await?
            .ok_or_else(|| Error::SnapshotNotFound(id.to_hex()))?;
        Self::open_read(repo, id, file).await
    }

    /// Open a snapshot whose file has already been read.
    async fn open_read(repo: &Repository, id: Id, file: SnapshotFile) -> Result<Self> {
        let mut index = repo.index().await?;
        if index.get(&file.tree).is_none() {
            // The cached index predates this snapshot (written by another process): refresh it.
            repo.invalidate_index();
            index = repo.index().await?;
        }
        Ok(SnapshotReader {
            repo: repo.clone(),
            index,
            id,
            file,
            trees: Mutex::new(HashMap::new()),
        })
    }

    pub fn id(&self) -> Id {
        self.id
    }

    pub fn snapshot(&self) -> &SnapshotFile {
        &self.file
    }

    async fn tree(&self, id: &Id, path: &str) -> Result<Arc<TreeNode>> {
        if let Some(t) = self.trees.lock().ok().and_then(|g| g.get(id).cloned()) {
            return Ok(t);
        }
        let raw = self
            .repo
            .read_blob(&self.index, id)
            .await
            .map_err(|e| e.in_entry(self.id, dir_label(path)))?;
        let node = TreeNode::decode(&raw).map_err(|e| {
            Error::damaged(
                "tree",
                id.to_hex(),
                format!("{e} (snapshot {}, directory {path:?})", self.id.short()),
            )
        })?;
        let node = Arc::new(node);
        if let Ok(mut g) = self.trees.lock() {
            // Pages hold up to 2048 entries: keep the cache small (a lookup needs one tree per path level).
            if g.len() >= 256 {
                g.clear();
            }
            g.insert(*id, node.clone());
        }
        Ok(node)
    }

    /// Look one name up in a directory node (following pages).
    async fn lookup(&self, node_id: &Id, dir: &str, name: &str) -> Result<Option<TreeEntry>> {
        let mut node = self.tree(node_id, dir).await?;
        if !node.pages.is_empty() {
            let i = node.pages.partition_point(|p| p.first.as_str() <= name);
            if i == 0 {
                return Ok(None);
            }
            let page = node.pages[i - 1].tree;
            node = self.tree(&page, dir).await?;
        }
        Ok(node
            .entries
            .binary_search_by(|e| e.name.as_str().cmp(name))
            .ok()
            .map(|i| node.entries[i].clone()))
    }

    /// The raw tree entry at a path (reads only the trees on the way).
    pub(crate) async fn tree_entry(&self, path: &str) -> Result<Option<TreeEntry>> {
        let path = check_path(path)?;
        let mut dir_id = self.file.tree;
        let mut dir = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let Some(e) = self.lookup(&dir_id, &dir, part).await? else {
                return Ok(None);
            };
            if i + 1 == parts.len() {
                return Ok(Some(e));
            }
            match (e.kind, e.tree) {
                (EntryKind::Dir, Some(t)) => dir_id = t,
                _ => return Ok(None),
            }
            if !dir.is_empty() {
                dir.push('/');
            }
            dir.push_str(part);
        }
        Ok(None)
    }

    /// The entry at `path`, if any.
    pub async fn entry(&self, path: &str) -> Result<Option<Entry>> {
        let p = check_path(path)?;
        Ok(self.tree_entry(&p).await?.map(|e| to_entry(&p, e)))
    }

    async fn dir_entries(&self, tree: &Id, dir: &str) -> Result<Vec<TreeEntry>> {
        let node = self.tree(tree, dir).await?;
        if node.pages.is_empty() {
            return Ok(node.entries.clone());
        }
        let mut out = Vec::new();
        for p in &node.pages {
            out.extend(self.tree(&p.tree, dir).await?.entries.iter().cloned());
        }
        Ok(out)
    }

    /// Entries directly inside a directory (`""` is the root).
    pub async fn list(&self, dir: &str) -> Result<Vec<Entry>> {
        let dir = dir.trim_matches('/');
        let tree = if dir.is_empty() {
            self.file.tree
        } else {
            match self.tree_entry(dir).await? {
                Some(TreeEntry {
                    kind: EntryKind::Dir,
                    tree: Some(t),
                    ..
                }) => t,
                _ => {
                    return Err(Error::EntryNotFound {
                        snapshot: self.id,
                        path: dir.to_owned(),
                    });
                }
            }
        };
        let entries = self.dir_entries(&tree, dir).await?;
        Ok(entries
            .into_iter()
            .map(|e| to_entry(&join(dir, &e.name), e))
            .collect())
    }

    /// Every entry below `dir` (files and directories), depth first, sorted by path.
    pub async fn walk(&self, dir: &str) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        let mut stack = vec![dir.trim_matches('/').to_owned()];
        while let Some(d) = stack.pop() {
            for e in self.list(&d).await? {
                if e.kind == EntryKind::Dir {
                    stack.push(e.path.clone());
                }
                out.push(e);
            }
        }
        out.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(out)
    }

    /// The whole content of an entry in memory (for documents).
    pub async fn get(&self, path: &str) -> Result<Bytes> {
        let e = self.require(path).await?;
        let mut out = Vec::with_capacity(e.size as usize);
        let mut s = self.stream_entry(&e);
        while let Some(b) = s.try_next().await? {
            out.extend_from_slice(&b);
        }
        Ok(Bytes::from(out))
    }

    async fn require(&self, path: &str) -> Result<Entry> {
        match self.entry(path).await? {
            Some(e) if e.kind != EntryKind::Dir => Ok(e),
            _ => Err(Error::EntryNotFound {
                snapshot: self.id,
                path: path.to_owned(),
            }),
        }
    }

    /// Stream an entry's bytes, fetching a few chunks ahead.
    pub async fn stream(&self, path: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        let e = self.require(path).await?;
        Ok(self.stream_entry(&e))
    }

    /// Stream an entry already looked up (e.g. from [`Self::walk`]).
    pub fn stream_entry(&self, e: &Entry) -> BoxStream<'static, Result<Bytes>> {
        let repo = self.repo.clone();
        let index = self.index.clone();
        let snap = self.id;
        let path = Arc::new(e.path.clone());
        futures::stream::iter(e.content.clone())
            .map(move |id| {
                let repo = repo.clone();
                let index = index.clone();
                let path = path.clone();
                async move {
                    repo.read_blob(&index, &id)
                        .await
                        .map_err(|err| err.in_entry(snap, &path))
                }
            })
            .buffered(4)
            .boxed()
    }
}

fn dir_label(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

fn to_entry(path: &str, e: TreeEntry) -> Entry {
    Entry {
        path: path.to_owned(),
        kind: e.kind,
        size: e.size,
        attrs: e.attrs,
        content: e.content,
    }
}

impl Repository {
    /// Start a snapshot writer.
    pub async fn writer(&self, opts: crate::WriterOptions) -> Result<crate::SnapshotWriter> {
        crate::SnapshotWriter::new(self, opts).await
    }

    /// Open a snapshot for reading, by id, unique prefix or `latest`.
    pub async fn reader(&self, spec: &str) -> Result<SnapshotReader> {
        let info = self.find_snapshot(spec).await?;
        SnapshotReader::open_read(self, info.id, info.file).await
    }
}
