//! The streaming snapshot writer: entries go in one at a time; commit writes packs → index → snapshot.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::task::JoinSet;

use crate::Id;
use crate::chunker::Chunker;
use crate::crypto::{AD_INDEX, AD_PACK_HEADER, AD_SNAPSHOT, MasterKey};
use crate::error::{Error, Result};
use crate::format::{
    BlobKind, EntryKind, FORMAT_VERSION, PACK_MAGIC, PackedBlob, SnapshotFile, TreeEntry, TreeNode,
    TreePage, WriteStats, encode_entries, encode_index, name_problem, page_boundary_after,
};
use crate::index::Index;
use crate::reader::SnapshotReader;
use crate::repo::{Repository, pack_name};
use crate::spill::{DEFAULT_BUDGET, EntrySorter, Merge};

/// Named points of a commit, for fault injection in crash tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPoint {
    /// All packs are stored; no index references them yet.
    PacksWritten,
    /// The index is stored; no snapshot references it yet.
    IndexWritten,
    /// The snapshot is stored.
    SnapshotWritten,
}

impl CommitPoint {
    pub fn name(self) -> &'static str {
        match self {
            CommitPoint::PacksWritten => "after-packs",
            CommitPoint::IndexWritten => "after-index",
            CommitPoint::SnapshotWritten => "after-snapshot",
        }
    }
}

/// Called at each [`CommitPoint`].
pub type CommitHook = Arc<dyn Fn(CommitPoint) + Send + Sync>;

/// Options of one writer.
#[derive(Clone, Default)]
pub struct WriterOptions {
    /// Parent snapshot: entries whose size and attributes are unchanged are taken from it unread.
    pub parent: Option<Id>,
    /// zstd level (default: the repository's, 3).
    pub zstd_level: Option<i32>,
    /// Pack target size in bytes (default: the repository's).
    pub pack_target_size: Option<u64>,
    pub hook: Option<CommitHook>,
    /// Memory for the metadata of added entries before it is sorted into a temporary file (default 8 MiB).
    /// The writer's memory does not grow with the number of entries beyond this.
    pub entry_memory: Option<usize>,
    /// Directory of those temporary files (default: the system's temporary directory).
    pub temp_dir: Option<PathBuf>,
}

/// The result of a commit.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct CommitResult {
    pub snapshot: Id,
    pub stats: WriteStats,
}

/// Writes one snapshot. Not `Sync`; one task feeds it.
pub struct SnapshotWriter {
    repo: Repository,
    index: Arc<Index>,
    chunker: Chunker,
    level: i32,
    target: usize,
    pack_buf: Vec<u8>,
    pack_entries: Vec<PackedBlob>,
    uploads: JoinSet<Result<(Id, Vec<PackedBlob>)>>,
    sealing: JoinSet<(BlobKind, Id, u32, Vec<u8>)>,
    parallelism: usize,
    /// Packs written and their blobs: the index file this writer will store (~50 bytes per new blob).
    written: Vec<(Id, Vec<PackedBlob>)>,
    /// Blobs stored by this writer (~40 bytes per new blob).
    session: HashSet<Id>,
    /// Packs of the repository whose blobs this writer reused (checked against prune marks at commit).
    reused_packs: HashSet<Id>,
    /// Entry metadata, sorted through temporary files (bounded memory).
    entries: EntrySorter,
    parent: Option<SnapshotReader>,
    marks_at_start: HashSet<String>,
    stats: WriteStats,
    hook: Option<CommitHook>,
    read_buf: BytesMut,
}

/// Check and normalise an entry path: `a/b/c`, no empty, `.` or `..` components.
pub(crate) fn check_path(path: &str) -> Result<String> {
    let p = path.trim_matches('/');
    let bad = |reason| {
        Err(Error::InvalidPath {
            path: path.to_owned(),
            reason,
        })
    };
    if p.is_empty() {
        return bad("empty");
    }
    for c in p.split('/') {
        if let Some(why) = name_problem(c) {
            return bad(why);
        }
    }
    Ok(p.to_owned())
}

impl SnapshotWriter {
    pub(crate) async fn new(repo: &Repository, opts: WriterOptions) -> Result<Self> {
        // One read of the marks: those pending now are condemned in the index, the rest are checked at commit.
        let marks = repo.read_marks().await?;
        let index = repo.reload_index(&marks).await?;
        let marks_at_start = marks.into_iter().map(|(n, _)| n).collect();
        let parent = match opts.parent {
            Some(p) => Some(SnapshotReader::open(repo, p).await?),
            None => None,
        };
        let cfg = repo.config();
        // The config is plaintext: check what the chunker would panic on before it is built.
        cfg.chunker
            .check()
            .map_err(|reason| Error::damaged("config", "config", reason))?;
        let chunker = Chunker::new(&cfg.chunker, repo.key().chunker_seed());
        let target = opts
            .pack_target_size
            .unwrap_or(cfg.pack_target_size)
            .clamp(64 * 1024, 1 << 31) as usize;
        Ok(SnapshotWriter {
            repo: repo.clone(),
            index,
            read_buf: BytesMut::with_capacity(chunker.max_size() * 2),
            chunker,
            level: opts.zstd_level.unwrap_or(cfg.zstd_level),
            target,
            pack_buf: Vec::new(),
            pack_entries: Vec::new(),
            uploads: JoinSet::new(),
            sealing: JoinSet::new(),
            parallelism: std::thread::available_parallelism().map_or(2, |n| n.get()),
            written: Vec::new(),
            session: HashSet::new(),
            reused_packs: HashSet::new(),
            entries: EntrySorter::new(opts.entry_memory.unwrap_or(DEFAULT_BUDGET), opts.temp_dir),
            parent,
            marks_at_start,
            stats: WriteStats::default(),
            hook: opts.hook,
        })
    }

    /// Statistics so far.
    pub fn stats(&self) -> WriteStats {
        self.stats
    }

    fn key(&self) -> &MasterKey {
        self.repo.key()
    }

    /// Store one blob unless it is already stored. Returns its id.
    async fn put_blob(&mut self, kind: BlobKind, data: Bytes) -> Result<Id> {
        self.put_blob_inner(kind, data, false).await
    }

    /// Store a blob even if the index has it (prune's repacking); still once per writer.
    pub(crate) async fn put_blob_forced(&mut self, kind: BlobKind, data: Bytes) -> Result<Id> {
        self.put_blob_inner(kind, data, true).await
    }

    async fn put_blob_inner(&mut self, kind: BlobKind, data: Bytes, force: bool) -> Result<Id> {
        let id = self.key().blob_id(&data);
        if self.session.contains(&id) {
            self.stats.blobs_reused += 1;
            return Ok(id);
        }
        if !force && let Some(loc) = self.index.get(&id).filter(|l| !l.condemned) {
            self.stats.blobs_reused += 1;
            self.reused_packs.insert(loc.pack);
            return Ok(id);
        }
        self.session.insert(id);
        self.stats.blobs_new += 1;
        let raw_length = data.len() as u32;
        if data.len() < 1024 {
            let sealed = self.key().seal_blob(&id, &data, self.level);
            return self
                .append_sealed(kind, id, raw_length, sealed)
                .await
                .map(|()| id);
        }
        // Compression and encryption of large blobs run on the blocking pool, several at once.
        let key = self.key().clone();
        let level = self.level;
        self.sealing
            .spawn_blocking(move || (kind, id, raw_length, key.seal_blob(&id, &data, level)));
        while self.sealing.len() >= self.parallelism * 2 {
            self.append_one_sealed().await?;
        }
        Ok(id)
    }

    async fn append_one_sealed(&mut self) -> Result<()> {
        if let Some(r) = self.sealing.join_next().await {
            let (kind, id, raw, sealed) = r.map_err(|e| Error::task_ended("sealing", e))?;
            self.append_sealed(kind, id, raw, sealed).await?;
        }
        Ok(())
    }

    async fn append_sealed(
        &mut self,
        kind: BlobKind,
        id: Id,
        raw_length: u32,
        sealed: Vec<u8>,
    ) -> Result<()> {
        if self.pack_buf.is_empty() {
            self.pack_buf.reserve(self.target + 1024 * 1024);
            self.pack_buf.extend_from_slice(PACK_MAGIC);
        }
        self.pack_entries.push(PackedBlob {
            kind,
            id,
            offset: self.pack_buf.len() as u32,
            length: sealed.len() as u32,
            raw_length,
        });
        self.pack_buf.extend_from_slice(&sealed);
        self.stats.bytes_stored += sealed.len() as u64;
        if self.pack_buf.len() >= self.target {
            self.flush_pack().await?;
        }
        Ok(())
    }

    async fn flush_pack(&mut self) -> Result<()> {
        if self.pack_entries.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.pack_buf);
        let entries = std::mem::take(&mut self.pack_entries);
        let mut header = Vec::new();
        encode_entries(&mut header, &entries);
        let sealed = self.key().seal_object(AD_PACK_HEADER, &header);
        buf.extend_from_slice(&sealed);
        buf.extend_from_slice(&(sealed.len() as u32).to_le_bytes());
        self.stats.bytes_stored += (sealed.len() + 4 + PACK_MAGIC.len()) as u64;
        self.stats.packs_written += 1;
        // At most two uploads in flight.
        while self.uploads.len() >= 2 {
            self.join_one().await?;
        }
        let backend = self.repo.backend().clone();
        self.uploads.spawn(async move {
            let id = Id::hash_of(&buf);
            backend.put_new(&pack_name(&id), Bytes::from(buf)).await?;
            Ok((id, entries))
        });
        Ok(())
    }

    async fn join_one(&mut self) -> Result<()> {
        if let Some(r) = self.uploads.join_next().await {
            let (id, entries) = r.map_err(|e| Error::task_ended("upload", e))??;
            self.written.push((id, entries));
        }
        Ok(())
    }

    /// Paths added twice, or both a file and a directory, are found when the entries are merged at commit.
    fn insert_entry(&mut self, path: String, entry: TreeEntry) -> Result<()> {
        self.stats.entries += 1;
        self.stats.bytes_in += entry.size;
        self.entries.push(&path, entry)
    }

    /// Add a small document (one blob; documents larger than the maximum chunk size are chunked).
    pub async fn add_document(
        &mut self,
        path: &str,
        data: &[u8],
        attrs: BTreeMap<String, String>,
    ) -> Result<()> {
        let path = check_path(path)?;
        if data.len() > self.chunker.max_size() {
            let mut cur = std::io::Cursor::new(data);
            return self.add_stream_checked(path, &mut cur, attrs).await;
        }
        let id = self
            .put_blob(BlobKind::Data, Bytes::copy_from_slice(data))
            .await?;
        let name = last_component(&path);
        self.insert_entry(
            path,
            TreeEntry {
                name,
                kind: EntryKind::Doc,
                size: data.len() as u64,
                content: vec![id],
                tree: None,
                attrs,
            },
        )
    }

    /// Add a byte stream, cut into content-defined chunks as it is read (never held whole in memory).
    pub async fn add_stream<R: AsyncRead + Unpin>(
        &mut self,
        path: &str,
        reader: &mut R,
        attrs: BTreeMap<String, String>,
    ) -> Result<()> {
        let path = check_path(path)?;
        self.add_stream_checked(path, reader, attrs).await
    }

    async fn add_stream_checked<R: AsyncRead + Unpin>(
        &mut self,
        path: String,
        reader: &mut R,
        attrs: BTreeMap<String, String>,
    ) -> Result<()> {
        let max = self.chunker.max_size();
        let mut buf = std::mem::take(&mut self.read_buf);
        buf.clear();
        let mut content = Vec::new();
        let mut size = 0u64;
        let mut eof = false;
        loop {
            while !eof && buf.len() < max {
                if buf.capacity() - buf.len() < 64 * 1024 {
                    buf.reserve(max);
                }
                if reader.read_buf(&mut buf).await? == 0 {
                    eof = true;
                }
            }
            if buf.is_empty() {
                break;
            }
            let n = self.chunker.next_cut(&buf);
            let chunk = buf.split_to(n);
            size += n as u64;
            content.push(self.put_blob(BlobKind::Data, chunk.freeze()).await?);
        }
        self.read_buf = buf;
        let name = last_component(&path);
        self.insert_entry(
            path,
            TreeEntry {
                name,
                kind: EntryKind::Stream,
                size,
                content,
                tree: None,
                attrs,
            },
        )
    }

    /// If the parent snapshot has an entry at `path` with the same size and the same (non-empty) attributes,
    /// take it over without reading it and return `true`. Otherwise return `false`; the caller adds it.
    pub async fn reuse_from_parent(
        &mut self,
        path: &str,
        size: u64,
        attrs: &BTreeMap<String, String>,
    ) -> Result<bool> {
        let path = check_path(path)?;
        if attrs.is_empty() {
            return Ok(false);
        }
        let Some(parent) = &self.parent else {
            return Ok(false);
        };
        let Some(e) = parent.tree_entry(&path).await? else {
            return Ok(false);
        };
        if e.kind == EntryKind::Dir || e.size != size || &e.attrs != attrs {
            return Ok(false);
        }
        let counted = self.take_over(path, e)?;
        if counted {
            self.stats.entries_from_parent += 1;
        }
        Ok(counted)
    }

    /// Takes over a file entry read from another snapshot of this repository (a backup's own
    /// checkpoint, say) without reading its data. Returns `false`, adding nothing, when the
    /// entry is a directory or its data is no longer all in the repository.
    pub fn reuse_entry(&mut self, entry: &crate::reader::Entry) -> Result<bool> {
        let path = check_path(&entry.path)?;
        if entry.kind == EntryKind::Dir {
            return Ok(false);
        }
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        let e = TreeEntry {
            name,
            kind: entry.kind,
            size: entry.size,
            content: entry.content.clone(),
            tree: None,
            attrs: entry.attrs.clone(),
        };
        self.take_over(path, e)
    }

    /// Adds `e` at `path` if every blob it names is live in the index (or stored by this writer).
    fn take_over(&mut self, path: String, e: TreeEntry) -> Result<bool> {
        if !e
            .content
            .iter()
            .all(|id| self.index.is_live(id) || self.session.contains(id))
        {
            return Ok(false);
        }
        for id in &e.content {
            if !self.session.contains(id)
                && let Some(loc) = self.index.get(id)
            {
                self.reused_packs.insert(loc.pack);
            }
        }
        self.stats.blobs_reused += e.content.len() as u64;
        self.insert_entry(path, e)?;
        Ok(true)
    }

    /// Write the trees, the last pack, the index and the snapshot.
    pub async fn commit(
        mut self,
        meta: BTreeMap<String, String>,
        tags: Vec<String>,
    ) -> Result<CommitResult> {
        let entries = std::mem::replace(&mut self.entries, EntrySorter::new(1, None));
        let tree = self.write_tree(entries.finish()?).await?;
        self.commit_tree(tree, meta, tags).await
    }

    /// Store packs, index and a snapshot whose root is `tree`.
    async fn commit_tree(
        mut self,
        tree: Id,
        meta: BTreeMap<String, String>,
        tags: Vec<String>,
    ) -> Result<CommitResult> {
        self.write_packs_and_index().await?;
        self.check_prune_race().await?;
        let file = SnapshotFile {
            version: FORMAT_VERSION,
            time: chrono::Utc::now(),
            tree,
            meta,
            tags,
            parent: self.parent.as_ref().map(|p| p.id()),
            stats: self.stats,
        };
        let json = serde_json::to_vec(&file).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let sealed = self.key().seal_object(AD_SNAPSHOT, &json);
        let id = Id::hash_of(&sealed);
        self.repo
            .backend()
            .put_new(&format!("snapshots/{id}"), Bytes::from(sealed))
            .await?;
        self.repo.invalidate_index();
        self.fire(CommitPoint::SnapshotWritten);
        Ok(CommitResult {
            snapshot: id,
            stats: file.stats,
        })
    }

    /// Finish without a snapshot (prune's repacking): packs, then index. Returns the packs written.
    pub(crate) async fn finish_without_snapshot(mut self) -> Result<Vec<(Id, Vec<PackedBlob>)>> {
        self.write_packs_and_index().await?;
        self.repo.invalidate_index();
        Ok(self.written)
    }

    async fn write_packs_and_index(&mut self) -> Result<()> {
        while !self.sealing.is_empty() {
            self.append_one_sealed().await?;
        }
        self.flush_pack().await?;
        while !self.uploads.is_empty() {
            self.join_one().await?;
        }
        self.fire(CommitPoint::PacksWritten);
        if !self.written.is_empty() {
            let plain = encode_index(&self.written);
            let sealed = self.key().seal_object(AD_INDEX, &plain);
            self.stats.bytes_stored += sealed.len() as u64;
            let name = format!("index/{}", Id::hash_of(&sealed));
            self.repo
                .backend()
                .put_new(&name, Bytes::from(sealed))
                .await?;
        }
        self.fire(CommitPoint::IndexWritten);
        Ok(())
    }

    fn fire(&self, p: CommitPoint) {
        if let Some(h) = &self.hook {
            h(p);
        }
    }

    /// A prune mark that appeared after this writer started and condemns a pack it relies on aborts the commit.
    async fn check_prune_race(&self) -> Result<()> {
        let marks = self.repo.read_marks().await?;
        for (name, mark) in marks {
            if self.marks_at_start.contains(&name) {
                continue;
            }
            // A pending mark whose deletion phase cannot start for at least another half grace period:
            // committing now makes the snapshot visible to that phase, which then keeps the packs.
            if !mark.done
                && let Some(g) = mark.grace_secs
                && chrono::TimeDelta::try_milliseconds(
                    i64::try_from(g.saturating_mul(500)).unwrap_or(i64::MAX),
                )
                .and_then(|half| mark.created.checked_add_signed(half))
                .is_none_or(|t| chrono::Utc::now() < t)
            {
                continue;
            }
            let count = mark
                .condemned_packs
                .iter()
                .filter(|p| {
                    self.reused_packs.contains(p) || self.written.iter().any(|(w, _)| w == *p)
                })
                .count();
            if count > 0 {
                return Err(Error::RacedWithPrune { mark: name, count });
            }
        }
        Ok(())
    }

    /// Write the trees of entries that arrive in tree order, one open directory per path level: memory is one
    /// page per open directory plus its page references, whatever the number of entries.
    async fn write_tree(&mut self, mut entries: Merge) -> Result<Id> {
        let mut stack = vec![OpenDir::new(String::new())];
        let mut prev: Option<String> = None;
        while let Some((path, entry)) = entries.next_entry()? {
            if prev.as_deref() == Some(path.as_str()) {
                return Err(Error::InvalidPath {
                    path,
                    reason: "added twice",
                });
            }
            let parts: Vec<&str> = path.split('/').collect();
            let dirs = &parts[..parts.len() - 1];
            let common = dirs
                .iter()
                .zip(&stack[1..])
                .take_while(|(d, open)| **d == open.name)
                .count();
            while stack.len() > common + 1 {
                self.close_dir(&mut stack).await?;
            }
            for d in &dirs[common..] {
                // Tree order puts a file `a` right before the entries below `a/`.
                if stack.last().is_some_and(|top| top.last_name == *d) {
                    return Err(Error::InvalidPath {
                        path,
                        reason: "a parent is also a file",
                    });
                }
                stack.push(OpenDir::new((*d).to_owned()));
            }
            let top = stack
                .last_mut()
                .ok_or_else(|| internal("no open directory"))?;
            if let Some(page) = top.add(entry) {
                let r = self.put_page(page).await?;
                stack
                    .last_mut()
                    .ok_or_else(|| internal("no open directory"))?
                    .pages
                    .push(r);
            }
            prev = Some(path);
        }
        while stack.len() > 1 {
            self.close_dir(&mut stack).await?;
        }
        let root = stack.pop().ok_or_else(|| internal("no root directory"))?;
        self.finish_dir(root).await
    }

    /// Write the innermost open directory and add it to its parent.
    async fn close_dir(&mut self, stack: &mut Vec<OpenDir>) -> Result<()> {
        let dir = stack.pop().ok_or_else(|| internal("no open directory"))?;
        let (name, size) = (dir.name.clone(), dir.size);
        let id = self.finish_dir(dir).await?;
        let parent = stack
            .last_mut()
            .ok_or_else(|| internal("no parent directory"))?;
        let full = parent.add(TreeEntry {
            name,
            kind: EntryKind::Dir,
            size,
            content: Vec::new(),
            tree: Some(id),
            attrs: BTreeMap::new(),
        });
        if let Some(page) = full {
            let r = self.put_page(page).await?;
            stack
                .last_mut()
                .ok_or_else(|| internal("no parent directory"))?
                .pages
                .push(r);
        }
        Ok(())
    }

    /// A directory's tree: its entries, or (more than one page) its list of pages.
    async fn finish_dir(&mut self, mut dir: OpenDir) -> Result<Id> {
        if dir.pages.is_empty() {
            return self
                .put_tree(&TreeNode {
                    entries: dir.page,
                    pages: Vec::new(),
                })
                .await;
        }
        if !dir.page.is_empty() {
            let r = self.put_page(std::mem::take(&mut dir.page)).await?;
            dir.pages.push(r);
        }
        if let [only] = &dir.pages[..] {
            // One page that ended exactly at the last entry: that page is the directory's tree.
            return Ok(only.tree);
        }
        self.put_tree(&TreeNode {
            entries: Vec::new(),
            pages: dir.pages,
        })
        .await
    }

    async fn put_page(&mut self, entries: Vec<TreeEntry>) -> Result<TreePage> {
        let first = entries
            .first()
            .map(|e| e.name.clone())
            .ok_or_else(|| internal("empty page"))?;
        let tree = self
            .put_tree(&TreeNode {
                entries,
                pages: Vec::new(),
            })
            .await?;
        Ok(TreePage { first, tree })
    }

    async fn put_tree(&mut self, node: &TreeNode) -> Result<Id> {
        let json = serde_json::to_vec(node).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.put_blob(BlobKind::Tree, Bytes::from(json)).await
    }
}

fn last_component(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_owned()
}

fn internal(what: &str) -> Error {
    Error::InvalidArgument(format!("internal error in the tree builder: {what}"))
}

/// A directory whose entries are still arriving.
struct OpenDir {
    name: String,
    size: u64,
    /// Name of the last entry added (entries arrive sorted).
    last_name: String,
    /// The page being filled.
    page: Vec<TreeEntry>,
    /// Pages already written.
    pages: Vec<TreePage>,
}

impl OpenDir {
    fn new(name: String) -> Self {
        OpenDir {
            name,
            size: 0,
            last_name: String::new(),
            page: Vec::new(),
            pages: Vec::new(),
        }
    }

    /// Add an entry; returns the page when this entry ends it (content-defined boundary).
    fn add(&mut self, e: TreeEntry) -> Option<Vec<TreeEntry>> {
        self.size += e.size;
        self.last_name.clone_from(&e.name);
        let boundary = page_boundary_after(&e.name, self.page.len() + 1);
        self.page.push(e);
        boundary.then(|| std::mem::take(&mut self.page))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Backend, KdfParams, KeySource, Location, VerifyOptions};

    /// A tree naming `..`, `a/b`, an empty name or a NUL (another writer's bug, or a crafted repository) is
    /// damage for every reader: listing, walking and looking up never hand such a name to a restore.
    #[tokio::test]
    async fn trees_with_escaping_names_are_damaged() {
        let opts = crate::InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let b = Backend::open(&Location::Memory).unwrap();
        let repo = Repository::init(b, &KeySource::Passphrase("k".into()), opts)
            .await
            .unwrap();
        for bad in ["..", ".", "a/b", "/etc", "", "x\0y"] {
            let mut w = repo.writer(WriterOptions::default()).await.unwrap();
            let doc = w
                .put_blob(BlobKind::Data, Bytes::from_static(b"pwned"))
                .await
                .unwrap();
            let node = TreeNode {
                entries: vec![TreeEntry {
                    name: bad.to_owned(),
                    kind: EntryKind::Doc,
                    size: 5,
                    content: vec![doc],
                    tree: None,
                    attrs: BTreeMap::new(),
                }],
                pages: Vec::new(),
            };
            let root = w.put_tree(&node).await.unwrap();
            let snap = w
                .commit_tree(root, BTreeMap::new(), vec![])
                .await
                .unwrap()
                .snapshot;
            let r = repo.reader(&snap.to_hex()).await.unwrap();
            for err in [
                r.list("").await.map(|_| ()).unwrap_err(),
                r.walk("").await.map(|_| ()).unwrap_err(),
                r.entry("x").await.map(|_| ()).unwrap_err(),
            ] {
                assert!(err.is_damage(), "{bad:?}: {err}");
                assert!(err.to_string().contains("invalid"), "{bad:?}: {err}");
            }
            let report = repo
                .verify(&VerifyOptions::default(), &|_, _| {})
                .await
                .unwrap();
            assert!(
                report.damage.iter().any(|d| d.kind == "damaged-tree"),
                "{bad:?}: {report:?}"
            );
            repo.remove_snapshot(&snap).await.unwrap();
        }
    }
}
