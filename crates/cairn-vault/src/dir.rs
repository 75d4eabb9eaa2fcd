//! Backing up a directory tree into a snapshot and restoring a snapshot (or part of it) into one: the
//! library side of `cairn vault backup-dir` and `restore-dir`, so that any program gets the same files
//! in the same snapshots.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use tokio::io::AsyncWriteExt;

use crate::Id;
use crate::error::{Error, Result};
use crate::format::{EntryKind, WriteStats};
use crate::repo::Repository;
use crate::writer::{CommitHook, WriterOptions};

/// Snapshot metadata key naming the backed-up directory (canonical path); the default parent is the
/// newest snapshot with the same value.
pub const SOURCE_META: &str = "source";

/// Files up to this size are restored with one write after gathering their bytes.
const SMALL_RESTORE: u64 = 4 * 1024 * 1024;
/// Files restored at the same time.
const RESTORE_PARALLELISM: usize = 16;

/// Progress of a directory backup or restore, in bytes of file content.
pub trait DirProgress: Send + Sync {
    /// Called once, before any file is read or written, with the bytes to go through.
    fn start(&self, _total_bytes: u64) {}
    /// `bytes` more are done (unchanged files taken from the parent count as done).
    fn advance(&self, _bytes: u64) {}
}

/// No progress reporting.
impl DirProgress for () {}

/// Which snapshot a directory backup compares files with (same size and `mtime`: taken over unread).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum DirParent {
    /// The newest snapshot of the same directory (its [`SOURCE_META`]), if any.
    #[default]
    Latest,
    /// A snapshot id, unique prefix or `latest`.
    Given(String),
    /// None: every file is read.
    Nothing,
}

/// Settings of [`backup_dir`].
#[derive(Clone, Default)]
pub struct BackupDirOptions {
    pub parent: DirParent,
    pub tags: Vec<String>,
    /// Snapshot metadata. [`SOURCE_META`] is added unless given; `files` (the number of files) is set.
    pub meta: BTreeMap<String, String>,
    /// Compression level (default: the repository's).
    pub zstd_level: Option<i32>,
    /// Called at each commit point (fault injection in tests).
    pub hook: Option<CommitHook>,
}

/// What [`backup_dir`] stored.
#[derive(Debug, Clone)]
pub struct DirBackup {
    pub snapshot: Id,
    pub parent: Option<Id>,
    pub stats: WriteStats,
    /// Regular files found in the directory.
    pub files: usize,
}

/// Settings of [`restore_dir`].
#[derive(Debug, Clone, Default)]
pub struct RestoreDirOptions {
    /// Only this directory or entry of the snapshot (default: everything).
    pub path: String,
}

/// What [`restore_dir`] wrote.
#[derive(Debug, Clone)]
pub struct DirRestore {
    pub snapshot: Id,
    pub files: usize,
    pub bytes: u64,
}

/// An I/O error on a local file, with what was being done to which path.
fn local(context: impl FnOnce() -> String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::LocalFile {
        context: context(),
        source,
    }
}

fn creating(d: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    local(move || format!("creating {}", d.display()))
}

/// A file of the directory being backed up.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct LocalFile {
    /// Relative path with `/`.
    rel: String,
    abs: PathBuf,
    size: u64,
    /// Modification time in ns since the epoch (0 if unknown).
    mtime: u128,
}

/// Regular files of a directory tree, sorted by relative path.
fn walk_dir(root: &Path) -> Result<Vec<LocalFile>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        let reading = || format!("reading {}", d.display());
        for e in std::fs::read_dir(&d).map_err(local(reading))? {
            let e = e.map_err(local(reading))?;
            let ft = e.file_type().map_err(local(reading))?;
            let p = e.path();
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let md = e
                    .metadata()
                    .map_err(local(|| format!("reading {}", p.display())))?;
                let rel = p
                    .strip_prefix(root)
                    .unwrap_or(&p)
                    .to_string_lossy()
                    .replace('\\', "/");
                let mtime = md
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                out.push(LocalFile {
                    rel,
                    abs: p,
                    size: md.len(),
                    mtime,
                });
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Back up the regular files below `dir` into a new snapshot. Files with the size and `mtime` they have
/// in the parent are taken over unread; small files are read ahead on a separate thread, large ones are
/// streamed.
pub async fn backup_dir(
    repo: &Repository,
    dir: &Path,
    opts: BackupDirOptions,
    progress: &dyn DirProgress,
) -> Result<DirBackup> {
    let source = std::fs::canonicalize(dir)
        .map_err(local(|| format!("{} is not readable", dir.display())))?;
    let source_s = source.to_string_lossy().to_string();
    let parent = match opts.parent {
        DirParent::Nothing => None,
        DirParent::Given(p) => Some(repo.find_snapshot(&p).await?.id),
        // Snapshot files are read newest first until one of this directory matches.
        DirParent::Latest => repo
            .latest_snapshot(|s| s.file.meta.get(SOURCE_META) == Some(&source_s))
            .await?
            .map(|s| s.id),
    };
    let files = walk_dir(&source)?;
    progress.start(files.iter().map(|f| f.size).sum());
    let mut w = repo
        .writer(WriterOptions {
            parent,
            zstd_level: opts.zstd_level,
            hook: opts.hook,
            ..Default::default()
        })
        .await?;
    let small = repo.config().chunker.min_size as u64;
    let attrs_of = |mtime: u128| -> BTreeMap<String, String> {
        [("mtime".to_owned(), mtime.to_string())].into()
    };
    let mut todo = Vec::new();
    for f in files.iter() {
        if w.reuse_from_parent(&f.rel, f.size, &attrs_of(f.mtime))
            .await?
        {
            progress.advance(f.size);
        } else {
            todo.push(f);
        }
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel::<std::io::Result<Option<Vec<u8>>>>(512);
    let ahead: Vec<_> = todo
        .iter()
        .map(|f| (f.abs.clone(), f.size <= small))
        .collect();
    let reader = std::thread::spawn(move || {
        for (path, is_small) in ahead {
            let item = if is_small {
                std::fs::read(&path).map(Some)
            } else {
                Ok(None)
            };
            if tx.blocking_send(item).is_err() {
                break;
            }
        }
    });
    for f in &todo {
        let reading = || format!("reading {}", f.abs.display());
        let item = rx.recv().await.ok_or_else(|| Error::TaskEnded {
            task: "file reader",
            reason: "it stopped".into(),
        })?;
        match item.map_err(local(reading))? {
            Some(data) => w.add_document(&f.rel, &data, attrs_of(f.mtime)).await?,
            None => {
                let mut file = tokio::fs::File::open(&f.abs)
                    .await
                    .map_err(local(reading))?;
                w.add_stream(&f.rel, &mut file, attrs_of(f.mtime)).await?;
            }
        }
        progress.advance(f.size);
    }
    drop(rx);
    let _ = reader.join();
    let mut meta = opts.meta;
    meta.entry(SOURCE_META.into()).or_insert(source_s);
    meta.insert("files".into(), files.len().to_string());
    let done = w.commit(meta, opts.tags).await?;
    Ok(DirBackup {
        snapshot: done.snapshot,
        parent,
        stats: done.stats,
        files: files.len(),
    })
}

/// A restored path must stay inside the target: only plain components (the reader already refuses trees
/// with such names; this guards the file system whatever the vault returns).
fn inside_target(path: &str) -> Result<()> {
    let p = Path::new(path);
    let plain = !path.is_empty()
        && !path.contains('\0')
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain {
        return Err(Error::OutsideTarget(path.to_owned()));
    }
    Ok(())
}

/// Restore a snapshot (id, unique prefix or `latest`), or the directory or entry `opts.path` of it,
/// into `target`. Every path is checked to stay inside `target` before anything is written.
pub async fn restore_dir(
    repo: &Repository,
    snapshot: &str,
    target: &Path,
    opts: &RestoreDirOptions,
    progress: &dyn DirProgress,
) -> Result<DirRestore> {
    let reader = Arc::new(repo.reader(snapshot).await?);
    let path = opts.path.trim_matches('/');
    let entries = if path.is_empty() {
        reader.walk("").await?
    } else {
        match reader.entry(path).await? {
            Some(e) if e.kind != EntryKind::Dir => vec![e],
            Some(_) => reader.walk(path).await?,
            None => {
                return Err(Error::EntryNotFound {
                    snapshot: reader.id(),
                    path: path.to_owned(),
                });
            }
        }
    };
    for e in &entries {
        inside_target(&e.path)?;
    }
    let total: u64 = entries
        .iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .map(|e| e.size)
        .sum();
    progress.start(total);
    tokio::fs::create_dir_all(target)
        .await
        .map_err(creating(target))?;
    let mut dirs: BTreeSet<PathBuf> = BTreeSet::new();
    for e in &entries {
        let p = target.join(&e.path);
        if e.kind == EntryKind::Dir {
            dirs.insert(p);
        } else if let Some(parent) = p.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for d in &dirs {
        tokio::fs::create_dir_all(d).await.map_err(creating(d))?;
    }
    let files: Vec<_> = entries
        .into_iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .collect();
    let count = files.len();
    futures::stream::iter(files)
        .map(|e| {
            let reader = reader.clone();
            let dest = target.join(&e.path);
            async move {
                let writing = || format!("writing {}", dest.display());
                let mut s = reader.stream_entry(&e);
                if e.size <= SMALL_RESTORE {
                    // Small entries: gather, then one write.
                    let mut data = Vec::with_capacity(e.size as usize);
                    while let Some(b) = s.try_next().await? {
                        data.extend_from_slice(&b);
                    }
                    tokio::fs::write(&dest, &data)
                        .await
                        .map_err(local(writing))?;
                    progress.advance(data.len() as u64);
                    return Ok(());
                }
                let mut f = tokio::fs::File::create(&dest)
                    .await
                    .map_err(creating(&dest))?;
                while let Some(b) = s.try_next().await? {
                    f.write_all(&b).await.map_err(local(writing))?;
                    progress.advance(b.len() as u64);
                }
                f.flush().await.map_err(local(writing))
            }
        })
        .buffer_unordered(RESTORE_PARALLELISM)
        .try_collect::<()>()
        .await?;
    Ok(DirRestore {
        snapshot: reader.id(),
        files: count,
        bytes: total,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::{Backend, InitOptions, KdfParams, KeySource, Location};

    #[test]
    fn restore_paths_stay_inside_the_target() {
        for ok in ["a", "a/b.json", "jira/issues/PROJ-1.json", "a b/..c"] {
            assert!(inside_target(ok).is_ok(), "{ok}");
        }
        for bad in ["", "..", "a/../../b", "/etc/passwd", "./a", "a\0b"] {
            let err = inside_target(bad).unwrap_err();
            assert!(
                err.to_string().contains("would leave the target directory"),
                "{bad:?}: {err}"
            );
        }
    }

    #[derive(Default)]
    struct Counted {
        total: AtomicU64,
        done: AtomicU64,
    }

    impl DirProgress for Counted {
        fn start(&self, total_bytes: u64) {
            self.total.store(total_bytes, Ordering::SeqCst);
        }
        fn advance(&self, bytes: u64) {
            self.done.fetch_add(bytes, Ordering::SeqCst);
        }
    }

    /// A directory goes in and comes out byte for byte, progress adds up to the total, the second backup
    /// takes the unchanged files from the first unread, and a missing `path` is an error.
    #[tokio::test]
    async fn a_directory_round_trips() {
        let opts = InitOptions {
            kdf: KdfParams::insecure_fast(),
            ..Default::default()
        };
        let b = Backend::open(&Location::Memory).unwrap();
        let repo = Repository::init(b, &KeySource::Passphrase("k".into()), opts)
            .await
            .unwrap();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        std::fs::create_dir_all(src.join("a/b")).unwrap();
        std::fs::write(src.join("top.json"), b"{}").unwrap();
        std::fs::write(src.join("a/b/doc.txt"), b"hello").unwrap();
        let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(src.join("a/big.bin"), &big).unwrap();

        let p = Counted::default();
        let first = backup_dir(&repo, &src, BackupDirOptions::default(), &p)
            .await
            .unwrap();
        assert_eq!((first.files, first.parent), (3, None));
        assert_eq!(p.total.load(Ordering::SeqCst), 3_000_007);
        assert_eq!(p.done.load(Ordering::SeqCst), 3_000_007);
        let second = backup_dir(&repo, &src, BackupDirOptions::default(), &())
            .await
            .unwrap();
        assert_eq!(second.parent, Some(first.snapshot));
        assert_eq!(second.stats.entries_from_parent, 3);

        let out = tmp.path().join("out");
        let p = Counted::default();
        let r = restore_dir(&repo, "latest", &out, &Default::default(), &p)
            .await
            .unwrap();
        assert_eq!(
            (r.snapshot, r.files, r.bytes),
            (second.snapshot, 3, 3_000_007)
        );
        assert_eq!(p.done.load(Ordering::SeqCst), 3_000_007);
        assert_eq!(std::fs::read(out.join("a/big.bin")).unwrap(), big);
        assert_eq!(std::fs::read(out.join("a/b/doc.txt")).unwrap(), b"hello");
        assert_eq!(std::fs::read(out.join("top.json")).unwrap(), b"{}");

        let part = tmp.path().join("part");
        let only = RestoreDirOptions {
            path: "/a/b/".into(),
        };
        restore_dir(&repo, "latest", &part, &only, &())
            .await
            .unwrap();
        assert!(part.join("a/b/doc.txt").exists() && !part.join("top.json").exists());
        let nope = RestoreDirOptions {
            path: "a/nope".into(),
        };
        let err = restore_dir(&repo, "latest", &part, &nope, &())
            .await
            .unwrap_err();
        assert!(matches!(err, Error::EntryNotFound { .. }), "{err}");
    }
}
