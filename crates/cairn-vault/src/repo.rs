//! Opening, creating and reading a repository; keys; snapshots list; blob reads.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::Id;
use crate::backend::Backend;
use crate::crypto::{
    AD_INDEX, AD_PRUNE_MARK, AD_SNAPSHOT, KdfParams, KeySlotFile, KeySource, MasterKey,
};
use crate::error::{Error, Result};
use crate::format::{ChunkerParams, Config, FORMAT_VERSION, SnapshotFile, decode_index};
use crate::index::{Index, IndexFile};

/// Settings of a new repository.
#[derive(Debug, Clone)]
pub struct InitOptions {
    pub kdf: KdfParams,
    pub chunker: ChunkerParams,
    /// Target size of pack files in bytes (default 16 MiB).
    pub pack_target_size: u64,
    /// Default zstd level of writers (default 3).
    pub zstd_level: i32,
    pub key_label: String,
}

impl Default for InitOptions {
    fn default() -> Self {
        InitOptions {
            kdf: KdfParams::default(),
            chunker: ChunkerParams::default(),
            pack_target_size: 16 * 1024 * 1024,
            zstd_level: 3,
            key_label: "initial key".into(),
        }
    }
}

/// A key slot as listed.
#[derive(Debug, Clone, Serialize)]
pub struct KeySlotInfo {
    pub id: String,
    pub kind: &'static str,
    pub label: String,
    pub created: chrono::DateTime<chrono::Utc>,
    /// This slot opened the current handle.
    pub current: bool,
}

/// A snapshot as listed.
#[derive(Debug, Clone, Serialize)]
pub struct SnapshotInfo {
    pub id: Id,
    #[serde(flatten)]
    pub file: SnapshotFile,
}

/// Snapshots as listed by [`Repository::snapshots`].
#[derive(Debug, Clone, Default, Serialize)]
pub struct SnapshotList {
    /// Readable snapshots, oldest first.
    pub snapshots: Vec<SnapshotInfo>,
    /// Snapshot files that do not decrypt or parse.
    pub damaged: Vec<DamagedSnapshot>,
}

/// A snapshot file that cannot be read.
#[derive(Debug, Clone, Serialize)]
pub struct DamagedSnapshot {
    pub id: Id,
    pub error: String,
}

/// A pending or completed prune mark (`prune/<id>`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PruneMark {
    pub version: u32,
    pub created: chrono::DateTime<chrono::Utc>,
    pub condemned_packs: Vec<Id>,
    #[serde(default)]
    pub done: bool,
    /// The grace period of the prune that wrote the mark (phase 2 runs no earlier than `created + grace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_secs: Option<u64>,
}

pub(crate) struct Inner {
    pub backend: Backend,
    pub config: Config,
    pub key: MasterKey,
    pub slot: String,
    index_cache: Mutex<Option<Arc<Index>>>,
}

/// An open repository. Cheap to clone; safe to share between tasks.
#[derive(Clone)]
pub struct Repository(pub(crate) Arc<Inner>);

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Repository({})", self.0.backend.description())
    }
}

pub(crate) fn pack_name(id: &Id) -> String {
    let h = id.to_hex();
    format!("packs/{}/{h}", &h[..2])
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

impl Repository {
    /// Read the plaintext config (no key needed).
    pub async fn read_config(backend: &Backend) -> Result<Config> {
        let raw = backend
            .get("config")
            .await?
            .ok_or_else(|| Error::NotARepository(backend.description().into()))?;
        let cfg: Config = serde_json::from_slice(&raw)
            .map_err(|e| Error::damaged("config", "config", e.to_string()))?;
        if cfg.format != "cairn-vault" {
            return Err(Error::damaged(
                "config",
                "config",
                format!("format is {:?}, not cairn-vault", cfg.format),
            ));
        }
        if cfg.version != FORMAT_VERSION {
            return Err(Error::UnsupportedVersion {
                found: cfg.version,
                supported: FORMAT_VERSION,
            });
        }
        Ok(cfg)
    }

    /// Create a new repository with one key slot.
    pub async fn init(backend: Backend, key: &KeySource, opts: InitOptions) -> Result<Repository> {
        opts.chunker.check().map_err(Error::InvalidArgument)?;
        if backend.get("config").await?.is_some() {
            return Err(Error::AlreadyExists(backend.description().into()));
        }
        let config = Config {
            format: "cairn-vault".into(),
            version: FORMAT_VERSION,
            id: random_hex(16),
            created: chrono::Utc::now(),
            chunker: opts.chunker,
            pack_target_size: opts.pack_target_size,
            zstd_level: opts.zstd_level,
        };
        let master = MasterKey::random();
        let slot = KeySlotFile::create(&config.id, &master, key, opts.kdf, &opts.key_label);
        let slot_id = random_hex(8);
        backend
            .put_new(
                &format!("keys/{slot_id}"),
                Bytes::from(serde_json::to_vec_pretty(&slot).unwrap_or_default()),
            )
            .await?;
        // The config last: a repository exists once its config does. Two first backups may
        // create it at once; the one whose config is not stored must not go on with its own
        // master key (what it wrote could not be read with the stored one), so it takes its slot
        // back and answers AlreadyExists, and the caller opens the repository that won.
        let created = backend
            .create_once(
                "config",
                Bytes::from(serde_json::to_vec_pretty(&config).unwrap_or_default()),
            )
            .await?;
        if !created {
            backend.delete(&format!("keys/{slot_id}")).await?;
            return Err(Error::AlreadyExists(backend.description().into()));
        }
        Ok(Repository(Arc::new(Inner {
            backend,
            config,
            key: master,
            slot: slot_id,
            index_cache: Mutex::new(None),
        })))
    }

    /// Open an existing repository. A key that opens no slot is [`Error::WrongKey`].
    pub async fn open(backend: Backend, key: &KeySource) -> Result<Repository> {
        let config = Self::read_config(&backend).await?;
        let slots = read_slots(&backend).await?;
        let candidates: Vec<_> = slots
            .into_iter()
            .filter(|(_, s)| s.matches_kind(key))
            .collect();
        for (slot_id, slot) in &candidates {
            if let Some(master) = slot.try_open(&config.id, key) {
                return Ok(Repository(Arc::new(Inner {
                    backend,
                    config,
                    key: master,
                    slot: slot_id.clone(),
                    index_cache: Mutex::new(None),
                })));
            }
        }
        Err(Error::WrongKey {
            kind: key.kind(),
            slots: candidates.len(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.0.config
    }

    pub fn backend(&self) -> &Backend {
        &self.0.backend
    }

    pub(crate) fn key(&self) -> &MasterKey {
        &self.0.key
    }

    /// Add a key slot opening the same master key. Returns the slot id.
    pub async fn add_key(&self, key: &KeySource, kdf: KdfParams, label: &str) -> Result<String> {
        let slot = KeySlotFile::create(&self.0.config.id, &self.0.key, key, kdf, label);
        let slot_id = random_hex(8);
        self.0
            .backend
            .put_new(
                &format!("keys/{slot_id}"),
                Bytes::from(serde_json::to_vec_pretty(&slot).unwrap_or_default()),
            )
            .await?;
        Ok(slot_id)
    }

    pub async fn list_keys(&self) -> Result<Vec<KeySlotInfo>> {
        Ok(read_slots(&self.0.backend)
            .await?
            .into_iter()
            .map(|(id, s)| KeySlotInfo {
                current: id == self.0.slot,
                id,
                kind: s.kind_name(),
                label: s.label,
                created: s.created,
            })
            .collect())
    }

    /// Remove a key slot (not the one in use, never the last).
    pub async fn remove_key(&self, slot_id: &str) -> Result<()> {
        let slots = read_slots(&self.0.backend).await?;
        if !slots.iter().any(|(id, _)| id == slot_id) {
            return Err(Error::InvalidArgument(format!("no key slot {slot_id}")));
        }
        if slot_id == self.0.slot {
            return Err(Error::KeySlotInUse(
                slot_id.into(),
                "it is the key this command was opened with; open with another key",
            ));
        }
        if slots.len() <= 1 {
            return Err(Error::KeySlotInUse(
                slot_id.into(),
                "it is the last key slot",
            ));
        }
        self.0.backend.delete(&format!("keys/{slot_id}")).await
    }

    /// All snapshots: the readable ones oldest first, and (separately) those whose file is damaged. Storage
    /// errors fail the whole listing; one damaged file does not.
    pub async fn snapshots(&self) -> Result<SnapshotList> {
        let ids = self.snapshot_ids().await?;
        self.read_snapshots(ids.into_iter().map(|(id, _)| id)).await
    }

    /// Snapshot ids in storage with the time each was stored, newest first (no snapshot file is read).
    pub(crate) async fn snapshot_ids(&self) -> Result<Vec<(Id, chrono::DateTime<chrono::Utc>)>> {
        let mut ids: Vec<_> = self
            .0
            .backend
            .list("snapshots")
            .await?
            .into_iter()
            .filter_map(|o| {
                let id = o.name.strip_prefix("snapshots/")?.parse::<Id>().ok()?;
                Some((id, o.last_modified))
            })
            .collect();
        ids.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        Ok(ids)
    }

    /// Read these snapshot files (16 at a time); damaged ones are listed apart, removed ones skipped.
    pub(crate) async fn read_snapshots(
        &self,
        ids: impl IntoIterator<Item = Id>,
    ) -> Result<SnapshotList> {
        let read: Vec<(Id, Result<Option<SnapshotFile>>)> = futures::stream::iter(ids)
            .map(|id| async move { (id, self.read_snapshot(&id).await) })
            .buffer_unordered(16)
            .collect()
            .await;
        let mut list = SnapshotList::default();
        for (id, r) in read {
            match r {
                Ok(Some(file)) => list.snapshots.push(SnapshotInfo { id, file }),
                Ok(None) => {}
                Err(e) if e.is_damage() => list.damaged.push(DamagedSnapshot {
                    id,
                    error: e.to_string(),
                }),
                Err(e) => return Err(e),
            }
        }
        list.snapshots
            .sort_by(|a, b| a.file.time.cmp(&b.file.time).then(a.id.cmp(&b.id)));
        list.damaged.sort_by_key(|d| d.id);
        Ok(list)
    }

    /// The newest snapshot that `want` accepts, reading snapshot files newest-stored first and stopping at the
    /// first batch that holds a match (so a backup's parent costs one or a few reads, not one per snapshot).
    pub async fn latest_snapshot(
        &self,
        want: impl Fn(&SnapshotInfo) -> bool,
    ) -> Result<Option<SnapshotInfo>> {
        let ids = self.snapshot_ids().await?;
        // Batches grow, so a match far back costs few round trips.
        let mut start = 0;
        let mut batch = 4;
        while start < ids.len() {
            let end = (start + batch).min(ids.len());
            // Collected before the await: a closure over borrowed pairs held across it makes
            // this future unprovably `Send` (rustc's higher-ranked lifetime limitation).
            let batch_ids: Vec<Id> = ids[start..end].iter().map(|(id, _)| *id).collect();
            let list = self.read_snapshots(batch_ids).await?;
            if let Some(best) = list.snapshots.into_iter().rfind(|s| want(s)) {
                return Ok(Some(best));
            }
            start = end;
            batch = (batch * 2).min(64);
        }
        Ok(None)
    }

    /// Read one snapshot file; `None` if it was removed meanwhile.
    pub(crate) async fn read_snapshot(&self, id: &Id) -> Result<Option<SnapshotFile>> {
        let name = format!("snapshots/{id}");
        let Some(raw) = self.0.backend.get(&name).await? else {
            return Ok(None);
        };
        let plain = self.0.key.open_object(AD_SNAPSHOT, &raw).ok_or_else(|| {
            Error::damaged(
                "snapshot",
                id.to_hex(),
                "does not decrypt (truncated or altered)",
            )
        })?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| Error::damaged("snapshot", id.to_hex(), e.to_string()))
    }

    /// Find a snapshot by full id or unique prefix; `latest` is the newest.
    pub async fn find_snapshot(&self, spec: &str) -> Result<SnapshotInfo> {
        // A full id: read that one snapshot, not every snapshot file.
        if let Ok(id) = spec.parse::<Id>() {
            return match self.read_snapshot(&id).await? {
                Some(file) => Ok(SnapshotInfo { id, file }),
                None => Err(Error::SnapshotNotFound(spec.into())),
            };
        }
        if spec == "latest" {
            return self
                .latest_snapshot(|_| true)
                .await?
                .ok_or_else(|| Error::SnapshotNotFound(spec.into()));
        }
        // A prefix: only the matching snapshot files are read.
        let prefix = spec.to_ascii_lowercase();
        // A loop, not closures over borrowed pairs: those make this future unprovably `Send`
        // behind `async_trait` (rustc's higher-ranked lifetime limitation).
        let mut ids: Vec<Id> = Vec::new();
        for (id, _) in self.snapshot_ids().await? {
            if id.to_hex().starts_with(&prefix) {
                ids.push(id);
            }
        }
        match ids.len() {
            0 => Err(Error::SnapshotNotFound(spec.into())),
            1 => {
                let id = ids.remove(0);
                match self.read_snapshot(&id).await? {
                    Some(file) => Ok(SnapshotInfo { id, file }),
                    None => Err(Error::SnapshotNotFound(spec.into())),
                }
            }
            _ => Err(Error::AmbiguousSnapshot(spec.into())),
        }
    }

    /// Delete a snapshot (its data is reclaimed by `prune`).
    pub async fn remove_snapshot(&self, id: &Id) -> Result<()> {
        self.0.backend.delete(&format!("snapshots/{id}")).await
    }

    /// Read all index files: (file name, packs and their blobs).
    pub(crate) async fn read_index_files(&self) -> Result<Vec<IndexFile>> {
        Ok(self.read_index_files_except(&HashSet::new()).await?.1)
    }

    /// List the index files, and read those not in `known`: (names listed, files read).
    pub(crate) async fn read_index_files_except(
        &self,
        known: &HashSet<String>,
    ) -> Result<(HashSet<String>, Vec<IndexFile>)> {
        let listed = self.0.backend.list("index").await?;
        let names = listed.iter().map(|o| o.name.clone()).collect();
        let files: Vec<IndexFile> =
            futures::stream::iter(listed.into_iter().filter(|o| !known.contains(&o.name)))
                .map(|o| async move {
                    let raw = self.0.backend.get(&o.name).await?;
                    let Some(raw) = raw else { return Ok(None) };
                    let plain = self.0.key.open_object(AD_INDEX, &raw).ok_or_else(|| {
                        Error::damaged(
                            "index file",
                            o.name.clone(),
                            "does not decrypt (truncated or altered)",
                        )
                    })?;
                    let packs = decode_index(&plain).ok_or_else(|| {
                        Error::damaged("index file", o.name.clone(), "malformed contents")
                    })?;
                    Ok::<_, Error>(Some((o.name, packs)))
                })
                .buffer_unordered(16)
                .try_filter_map(|x| async move { Ok(x) })
                .try_collect()
                .await?;
        Ok((names, files))
    }

    /// Prune marks: (object name, mark).
    pub(crate) async fn read_marks(&self) -> Result<Vec<(String, PruneMark)>> {
        let listed = self.0.backend.list("prune").await?;
        let mut out = Vec::new();
        for o in listed {
            let Some(raw) = self.0.backend.get(&o.name).await? else {
                continue;
            };
            let plain =
                self.0.key.open_object(AD_PRUNE_MARK, &raw).ok_or_else(|| {
                    Error::damaged("prune mark", o.name.clone(), "does not decrypt")
                })?;
            let mark: PruneMark = serde_json::from_slice(&plain)
                .map_err(|e| Error::damaged("prune mark", o.name.clone(), e.to_string()))?;
            out.push((o.name, mark));
        }
        Ok(out)
    }

    /// The index as of now (cached until this handle writes or prunes).
    pub async fn index(&self) -> Result<Arc<Index>> {
        if let Some(i) = self.0.index_cache.lock().map_err(|_| poisoned())?.clone() {
            return Ok(i);
        }
        let marks = self.read_marks().await?;
        self.reload_index(&marks).await
    }

    /// Read the index files now, with the packs of these prune marks condemned, and cache the result.
    pub(crate) async fn reload_index(&self, marks: &[(String, PruneMark)]) -> Result<Arc<Index>> {
        let files = self.read_index_files().await?;
        let index = Arc::new(Index::from_files(&files, &pending_packs(marks)));
        *self.0.index_cache.lock().map_err(|_| poisoned())? = Some(index.clone());
        Ok(index)
    }

    pub(crate) fn invalidate_index(&self) {
        if let Ok(mut g) = self.0.index_cache.lock() {
            *g = None;
        }
    }

    /// Read, decrypt and check one blob.
    pub async fn read_blob(&self, index: &Index, id: &Id) -> Result<Bytes> {
        let loc = index.get(id).ok_or(Error::MissingBlob {
            blob: *id,
            context: Box::default(),
        })?;
        let name = pack_name(&loc.pack);
        let range = loc.offset as u64..loc.offset as u64 + loc.length as u64;
        let damaged = || Error::DamagedBlob {
            blob: *id,
            pack: loc.pack,
            context: Box::default(),
        };
        let raw = match self.0.backend.get_range(&name, range).await {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Err(Error::MissingObject {
                    kind: "pack",
                    name: loc.pack.to_hex(),
                });
            }
            // A range past the end of a truncated pack.
            Err(Error::Storage(object_store::Error::Generic { .. }))
            | Err(Error::Storage(object_store::Error::NotModified { .. })) => {
                return Err(damaged());
            }
            Err(e) => return Err(e),
        };
        if raw.len() != loc.length as usize {
            return Err(damaged());
        }
        let plain = if raw.len() < 64 * 1024 {
            self.0.key.open_blob(id, &raw)
        } else {
            let key = self.0.key.clone();
            let id2 = *id;
            // A task that ended early says nothing about the blob: not "damaged".
            tokio::task::spawn_blocking(move || key.open_blob(&id2, &raw))
                .await
                .map_err(|e| Error::task_ended("decrypting", e))?
        };
        plain.ok_or_else(damaged)
    }
}

/// Trees read at once by [`Repository::walk_trees`].
const TREE_READS: usize = 8;

impl Repository {
    /// Read trees, [`TREE_READS`] at a time, each at most once (`seen` is shared across calls, so trees that several
    /// snapshots share are read once). `visit` gets each tree's read result with the context it was queued with,
    /// and returns the trees to read next; an error from it stops the walk.
    pub(crate) async fn walk_trees<C>(
        &self,
        index: &Index,
        start: Vec<(Id, C)>,
        seen: &mut HashSet<Id>,
        mut visit: impl FnMut(Id, C, Result<Bytes>) -> Result<Vec<(Id, C)>>,
    ) -> Result<()> {
        let mut queue = start;
        let mut reading = futures::stream::FuturesUnordered::new();
        loop {
            while reading.len() < TREE_READS
                && let Some((t, ctx)) = queue.pop()
            {
                if seen.insert(t) {
                    reading.push(async move { (t, ctx, self.read_blob(index, &t).await) });
                }
            }
            let Some((t, ctx, raw)) = reading.next().await else {
                return Ok(());
            };
            queue.extend(visit(t, ctx, raw)?);
        }
    }
}

/// The packs condemned by pending (not yet completed) prune marks.
pub(crate) fn pending_packs(marks: &[(String, PruneMark)]) -> HashSet<Id> {
    marks
        .iter()
        .filter(|(_, m)| !m.done)
        .flat_map(|(_, m)| m.condemned_packs.iter().copied())
        .collect()
}

fn poisoned() -> Error {
    Error::InvalidArgument("internal lock poisoned".into())
}

async fn read_slots(backend: &Backend) -> Result<Vec<(String, KeySlotFile)>> {
    let mut out = Vec::new();
    for o in backend.list("keys").await? {
        let Some(raw) = backend.get(&o.name).await? else {
            continue;
        };
        let slot: KeySlotFile = serde_json::from_slice(&raw)
            .map_err(|e| Error::damaged("key slot", o.name.clone(), e.to_string()))?;
        out.push((o.name.trim_start_matches("keys/").to_owned(), slot));
    }
    Ok(out)
}
