//! `cairn vault ...`: direct access to a vault repository (see `crates/cairn-vault`).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_vault::dir::{self, BackupDirOptions, DirParent, DirProgress, RestoreDirOptions};
use cairn_vault::{
    Backend, ChunkerParams, EntryKind, ForgetPolicy, InitOptions, KdfParams, KeySource, Location,
    PruneOptions, Repository, S3Config, VerifyOptions,
};
use futures::TryStreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::AsyncWriteExt;

/// Where the repository is and how to open it (every subcommand takes these).
#[derive(Debug, Clone, clap::Args)]
pub struct RepoArgs {
    /// Repository: a local directory, or `s3://bucket/prefix`.
    #[arg(long, env = "CAIRN_VAULT_REPO")]
    repo: String,
    /// S3 endpoint URL (e.g. `http://127.0.0.1:8333`); default AWS.
    #[arg(long, env = "CAIRN_VAULT_S3_ENDPOINT")]
    s3_endpoint: Option<String>,
    #[arg(long, env = "CAIRN_VAULT_S3_REGION", default_value = "us-east-1")]
    s3_region: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID", hide_env_values = true)]
    s3_access_key_id: Option<String>,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    s3_secret_access_key: Option<String>,
    /// Allow plain HTTP to a non-loopback endpoint (loopback is always allowed).
    #[arg(long)]
    s3_allow_http: bool,
    /// File holding the passphrase (first line).
    #[arg(long, conflicts_with = "key_file")]
    passphrase_file: Option<PathBuf>,
    /// File holding a raw 32-byte key (64 hex digits or base64).
    #[arg(long)]
    key_file: Option<PathBuf>,
    /// Print JSON instead of text (and no progress bars).
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
pub enum VaultCommand {
    /// Create a new, empty vault.
    Init {
        #[command(flatten)]
        repo: RepoArgs,
        /// Pack target size in MiB.
        #[arg(long, default_value_t = 16)]
        pack_size_mib: u64,
        /// Default zstd level of backups.
        #[arg(long, default_value_t = 3)]
        zstd_level: i32,
        /// Label of the first key slot.
        #[arg(long, default_value = "initial key")]
        label: String,
        /// Cheap Argon2id parameters (tests only).
        #[arg(long, hide = true)]
        insecure_fast_kdf: bool,
        /// Small chunks (tests only).
        #[arg(long, hide = true)]
        small_chunks: bool,
    },
    /// Manage key slots.
    #[command(subcommand)]
    Key(KeyCommand),
    /// Back up a directory tree into a new snapshot.
    BackupDir {
        #[command(flatten)]
        repo: RepoArgs,
        dir: PathBuf,
        /// Tag the snapshot (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
        /// Snapshot metadata `key=value` (repeatable).
        #[arg(long = "meta", value_parser = parse_kv)]
        meta: Vec<(String, String)>,
        /// Parent snapshot for change detection (default: latest snapshot of the same directory).
        #[arg(long)]
        parent: Option<String>,
        /// Read every file even if size and mtime match the parent.
        #[arg(long)]
        no_parent: bool,
        #[arg(long)]
        zstd_level: Option<i32>,
    },
    /// List snapshots.
    Snapshots {
        #[command(flatten)]
        repo: RepoArgs,
        /// Only snapshots with this tag.
        #[arg(long)]
        tag: Option<String>,
    },
    /// List entries of a snapshot.
    Ls {
        #[command(flatten)]
        repo: RepoArgs,
        snapshot: String,
        #[arg(default_value = "")]
        path: String,
        /// Recurse into directories.
        #[arg(short, long)]
        recursive: bool,
    },
    /// Write one entry to standard output.
    Cat {
        #[command(flatten)]
        repo: RepoArgs,
        snapshot: String,
        path: String,
    },
    /// Restore a snapshot (or a directory in it) into a target directory.
    RestoreDir {
        #[command(flatten)]
        repo: RepoArgs,
        snapshot: String,
        target: PathBuf,
        /// Only this directory or entry of the snapshot.
        #[arg(long, default_value = "")]
        path: String,
    },
    /// Remove snapshots by policy (their data goes at the next `prune`).
    Forget {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long)]
        keep_last: Option<usize>,
        /// e.g. `30d`, `12h`.
        #[arg(long, value_parser = parse_duration)]
        keep_within: Option<Duration>,
        #[arg(long)]
        keep_daily: Option<usize>,
        /// Always keep snapshots with this tag (repeatable).
        #[arg(long = "keep-tag")]
        keep_tags: Vec<String>,
        /// Only consider snapshots with this tag (repeatable).
        #[arg(long = "tag")]
        only_tags: Vec<String>,
        /// Apply the policy to each set of tags separately.
        #[arg(long)]
        group_by_tags: bool,
        #[arg(long)]
        dry_run: bool,
    },
    /// Reclaim space of unreferenced data (two-phase: mark, then delete after the grace period).
    Prune {
        #[command(flatten)]
        repo: RepoArgs,
        /// Time between marking and deleting; longer than any backup takes.
        #[arg(long, value_parser = parse_duration, default_value = "1h")]
        grace: Duration,
        /// Repack packs with at least this share of unused bytes.
        #[arg(long, default_value_t = 0.2)]
        repack_threshold: f64,
        #[arg(long)]
        dry_run: bool,
    },
    /// Check the repository.
    Verify {
        #[command(flatten)]
        repo: RepoArgs,
        /// Read and check every blob.
        #[arg(long)]
        read_data: bool,
        /// Read a random share of packs, e.g. `10%`.
        #[arg(long, value_parser = parse_percent)]
        read_data_subset: Option<f64>,
    },
    /// Repository figures.
    Stats {
        #[command(flatten)]
        repo: RepoArgs,
    },
}

#[derive(Debug, clap::Subcommand)]
pub enum KeyCommand {
    /// Add a key slot; the new key comes from --new-passphrase-file, --new-key-file,
    /// CAIRN_VAULT_NEW_PASSPHRASE or CAIRN_VAULT_NEW_KEY.
    Add {
        #[command(flatten)]
        repo: RepoArgs,
        #[arg(long)]
        new_passphrase_file: Option<PathBuf>,
        #[arg(long)]
        new_key_file: Option<PathBuf>,
        #[arg(long, default_value = "added key")]
        label: String,
        #[arg(long, hide = true)]
        insecure_fast_kdf: bool,
    },
    /// List key slots.
    List {
        #[command(flatten)]
        repo: RepoArgs,
    },
    /// Remove a key slot (not the one used to open, never the last).
    Remove {
        #[command(flatten)]
        repo: RepoArgs,
        slot: String,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("expected key=value, got {s:?}"))
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("bad duration {s:?} (e.g. 30s, 10m, 1h, 7d)"))?;
    let unit_secs: u64 = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        "w" => 7 * 86400,
        _ => return Err(format!("bad duration unit in {s:?} (s, m, h, d, w)")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("duration {s:?} is too long"))
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("bad percentage {s:?}"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(format!("percentage out of range: {s:?}"));
    }
    Ok(v)
}

fn is_loopback(endpoint: &str) -> bool {
    let host = endpoint
        .split("://")
        .nth(1)
        .unwrap_or(endpoint)
        .split(['/', ':'])
        .next()
        .unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost" | "[" | "::1") || endpoint.contains("://[::1]")
}

impl RepoArgs {
    fn backend(&self) -> anyhow::Result<Backend> {
        let loc = if let Some(rest) = self.repo.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let http = self
                .s3_endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            if http && !self.s3_allow_http && !self.s3_endpoint.as_deref().is_some_and(is_loopback)
            {
                bail!("plain HTTP to a non-loopback S3 endpoint; pass --s3-allow-http to allow it");
            }
            Location::S3(S3Config {
                endpoint: self.s3_endpoint.clone(),
                region: self.s3_region.clone(),
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
                access_key_id: self.s3_access_key_id.clone(),
                secret_access_key: self.s3_secret_access_key.clone(),
                allow_http: http,
                // The operator's own command: the host's credentials are theirs to use.
                ambient_credentials: true,
                resolver: None,
            })
        } else {
            Location::Local(PathBuf::from(&self.repo))
        };
        Ok(Backend::open(&loc)?)
    }

    fn key(&self) -> anyhow::Result<KeySource> {
        key_from(
            self.passphrase_file.as_deref(),
            self.key_file.as_deref(),
            "CAIRN_VAULT_PASSPHRASE",
            "CAIRN_VAULT_KEY",
            "--passphrase-file, --key-file, CAIRN_VAULT_PASSPHRASE or CAIRN_VAULT_KEY",
        )
    }

    async fn open(&self) -> anyhow::Result<Repository> {
        let repo = Repository::open(self.backend()?, &self.key()?).await?;
        Ok(repo)
    }

    fn bar(&self, len: u64, template: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}

fn key_from(
    passphrase_file: Option<&Path>,
    key_file: Option<&Path>,
    pass_env: &str,
    key_env: &str,
    what: &str,
) -> anyhow::Result<KeySource> {
    if let Some(p) = passphrase_file {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let line = text.lines().next().unwrap_or("").to_owned();
        if line.is_empty() {
            bail!("passphrase file {} is empty", p.display());
        }
        return Ok(KeySource::Passphrase(line));
    }
    if let Some(p) = key_file {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        return KeySource::raw_from_text(&text).with_context(|| {
            format!(
                "{} does not hold a 32-byte key (64 hex digits or base64)",
                p.display()
            )
        });
    }
    if let Ok(p) = std::env::var(pass_env) {
        return Ok(KeySource::Passphrase(p));
    }
    if let Ok(k) = std::env::var(key_env) {
        return KeySource::raw_from_text(&k)
            .with_context(|| format!("{key_env} is not a 32-byte key (64 hex digits or base64)"));
    }
    bail!("no key given: use {what}")
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn human(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// Fault injection for tests, read only by this binary: `CAIRN_VAULT_CRASH_AT=after-packs|after-index` makes
/// the process announce the commit point on stderr and stop there until killed;
/// `CAIRN_VAULT_PAUSE_AT=after-packs|after-index` makes it announce the point and wait there for a line on
/// standard input (or its end), so a test can run a prune in between.
fn commit_hook() -> Option<cairn_vault::CommitHook> {
    let crash = std::env::var("CAIRN_VAULT_CRASH_AT").ok();
    let pause = std::env::var("CAIRN_VAULT_PAUSE_AT").ok();
    if crash.is_none() && pause.is_none() {
        return None;
    }
    Some(Arc::new(move |p: cairn_vault::CommitPoint| {
        let at = p.name();
        if crash.as_deref() == Some(at) {
            eprintln!("cairn-vault: reached commit point {at}; waiting to be killed");
            let _ = std::io::stderr().flush();
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
        if pause.as_deref() == Some(at) {
            eprintln!(
                "cairn-vault: paused at commit point {at}; waiting for a line on standard input"
            );
            let _ = std::io::stderr().flush();
            let _ = std::io::stdin().read_line(&mut String::new());
        }
    }))
}

pub async fn run(cmd: VaultCommand) -> anyhow::Result<()> {
    match cmd {
        VaultCommand::Init {
            repo,
            pack_size_mib,
            zstd_level,
            label,
            insecure_fast_kdf,
            small_chunks,
        } => {
            let mut opts = InitOptions {
                pack_target_size: pack_size_mib * 1024 * 1024,
                zstd_level,
                key_label: label,
                ..Default::default()
            };
            if insecure_fast_kdf {
                opts.kdf = KdfParams::insecure_fast();
            }
            if small_chunks {
                opts.chunker = ChunkerParams {
                    min_size: 4096,
                    avg_size: 16384,
                    max_size: 65536,
                    ..Default::default()
                };
            }
            let r = Repository::init(repo.backend()?, &repo.key()?, opts).await?;
            if repo.json {
                print_json(&serde_json::json!({"id": r.config().id, "version": r.config().version}))
            } else {
                println!(
                    "created vault {} at {}",
                    r.config().id,
                    r.backend().description()
                );
                Ok(())
            }
        }
        VaultCommand::Key(k) => key_cmd(k).await,
        VaultCommand::BackupDir {
            repo,
            dir,
            tags,
            meta,
            parent,
            no_parent,
            zstd_level,
        } => backup_dir(&repo, &dir, tags, meta, parent, no_parent, zstd_level).await,
        VaultCommand::Snapshots { repo, tag } => {
            let r = repo.open().await?;
            let list = r.snapshots().await?;
            // Damaged snapshot files are named on stderr; the readable ones are listed as usual.
            for d in &list.damaged {
                eprintln!("warning: snapshot {} cannot be read: {}", d.id, d.error);
            }
            let snaps: Vec<_> = list
                .snapshots
                .into_iter()
                .filter(|s| tag.as_ref().is_none_or(|t| s.file.tags.contains(t)))
                .collect();
            if repo.json {
                return print_json(&snaps);
            }
            for s in snaps {
                let meta: Vec<_> = s
                    .file
                    .meta
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                println!(
                    "{}  {}  {:>6} entries  {:>10}  tags=[{}]  {}",
                    s.id.short(),
                    s.file.time.format("%Y-%m-%d %H:%M:%S"),
                    s.file.stats.entries,
                    human(s.file.stats.bytes_in),
                    s.file.tags.join(","),
                    meta.join(" ")
                );
            }
            Ok(())
        }
        VaultCommand::Ls {
            repo,
            snapshot,
            path,
            recursive,
        } => {
            let r = repo.open().await?;
            let reader = r.reader(&snapshot).await?;
            let entries = if recursive {
                reader.walk(&path).await?
            } else {
                reader.list(&path).await?
            };
            if repo.json {
                return print_json(&entries);
            }
            for e in entries {
                let kind = match e.kind {
                    EntryKind::Dir => "dir   ",
                    EntryKind::Doc => "doc   ",
                    EntryKind::Stream => "stream",
                };
                println!("{kind} {:>12}  {}", e.size, e.path);
            }
            Ok(())
        }
        VaultCommand::Cat {
            repo,
            snapshot,
            path,
        } => {
            let r = repo.open().await?;
            let reader = r.reader(&snapshot).await?;
            let mut s = reader.stream(&path).await?;
            let mut out = tokio::io::stdout();
            while let Some(b) = s.try_next().await? {
                out.write_all(&b).await?;
            }
            out.flush().await?;
            Ok(())
        }
        VaultCommand::RestoreDir {
            repo,
            snapshot,
            target,
            path,
        } => restore_dir(&repo, &snapshot, &target, &path).await,
        VaultCommand::Forget {
            repo,
            keep_last,
            keep_within,
            keep_daily,
            keep_tags,
            only_tags,
            group_by_tags,
            dry_run,
        } => {
            let r = repo.open().await?;
            let policy = ForgetPolicy {
                keep_last,
                keep_within: keep_within
                    .map(|d| chrono::TimeDelta::from_std(d).unwrap_or(chrono::TimeDelta::MAX)),
                keep_daily,
                keep_tags,
                only_tags,
                group_by_tags,
            };
            let decisions = r.forget(&policy, dry_run).await?;
            if repo.json {
                return print_json(&decisions);
            }
            for d in &decisions {
                let what = if d.keep {
                    format!("keep   ({})", d.reasons.join(", "))
                } else if dry_run {
                    "would remove".into()
                } else {
                    "removed".into()
                };
                println!(
                    "{}  {}  {what}",
                    d.id.short(),
                    d.time.format("%Y-%m-%d %H:%M:%S")
                );
            }
            Ok(())
        }
        VaultCommand::Prune {
            repo,
            grace,
            repack_threshold,
            dry_run,
        } => {
            let r = repo.open().await?;
            let report = r
                .prune(&PruneOptions {
                    grace,
                    repack_threshold,
                    dry_run,
                })
                .await?;
            if repo.json {
                return print_json(&report);
            }
            println!(
                "deleted {} pack(s) ({}) from {} completed mark(s), rescued {}; marked {} pack(s) ({}) for deletion after {}s, repacked {} blob(s) ({})",
                report.packs_deleted,
                human(report.bytes_deleted),
                report.marks_completed,
                report.packs_rescued,
                report.packs_condemned,
                human(report.bytes_condemned),
                grace.as_secs(),
                report.blobs_repacked,
                human(report.bytes_repacked)
            );
            Ok(())
        }
        VaultCommand::Verify {
            repo,
            read_data,
            read_data_subset,
        } => {
            let r = repo.open().await?;
            let bar = repo.bar(0, "verify {bar:40} {pos}/{len} packs {elapsed}");
            let progress = |done: u64, total: u64| {
                bar.set_length(total);
                bar.set_position(done);
            };
            let report = r
                .verify(
                    &VerifyOptions {
                        read_data,
                        read_data_subset_percent: read_data_subset,
                    },
                    &progress,
                )
                .await?;
            bar.finish_and_clear();
            if repo.json {
                print_json(&report)?;
            } else {
                println!(
                    "{} snapshot(s), {} index file(s), {} pack(s), {} blob(s); read {} pack(s), {}; {} unindexed pack(s)",
                    report.snapshots,
                    report.index_files,
                    report.packs,
                    report.blobs,
                    report.packs_read,
                    human(report.bytes_read),
                    report.unindexed_packs
                );
                for d in &report.damage {
                    println!("DAMAGE {}: {}", d.kind, d.message);
                    for (snap, paths) in &d.affected {
                        println!("  affects snapshot {}: {}", snap.short(), paths.join(", "));
                    }
                }
                if report.is_ok() {
                    println!("no damage found");
                }
            }
            if !report.is_ok() {
                bail!("verify found {} problem(s)", report.damage.len());
            }
            Ok(())
        }
        VaultCommand::Stats { repo } => {
            let r = repo.open().await?;
            let s = r.stats().await?;
            if repo.json {
                return print_json(&s);
            }
            println!("snapshots        {}", s.snapshots);
            println!("packs            {} ({})", s.packs, human(s.pack_bytes));
            println!("blobs            {} ({} trees)", s.blobs, s.tree_blobs);
            println!("unique data      {}", human(s.raw_bytes));
            println!("stored in total  {}", human(s.total_bytes));
            println!(
                "index memory     {} (~{} B/blob)",
                human(s.index_heap_bytes),
                s.index_heap_bytes / s.blobs.max(1)
            );
            Ok(())
        }
    }
}

async fn key_cmd(k: KeyCommand) -> anyhow::Result<()> {
    match k {
        KeyCommand::Add {
            repo,
            new_passphrase_file,
            new_key_file,
            label,
            insecure_fast_kdf,
        } => {
            let r = repo.open().await?;
            let new = key_from(
                new_passphrase_file.as_deref(),
                new_key_file.as_deref(),
                "CAIRN_VAULT_NEW_PASSPHRASE",
                "CAIRN_VAULT_NEW_KEY",
                "--new-passphrase-file, --new-key-file, CAIRN_VAULT_NEW_PASSPHRASE or CAIRN_VAULT_NEW_KEY",
            )?;
            let kdf = if insecure_fast_kdf {
                KdfParams::insecure_fast()
            } else {
                KdfParams::default()
            };
            let id = r.add_key(&new, kdf, &label).await?;
            if repo.json {
                print_json(&serde_json::json!({"id": id}))
            } else {
                println!("added key slot {id}");
                Ok(())
            }
        }
        KeyCommand::List { repo } => {
            let r = repo.open().await?;
            let keys = r.list_keys().await?;
            if repo.json {
                return print_json(&keys);
            }
            for k in keys {
                println!(
                    "{}{}  {:<10}  {}  {}",
                    if k.current { "*" } else { " " },
                    k.id,
                    k.kind,
                    k.created.format("%Y-%m-%d %H:%M:%S"),
                    k.label
                );
            }
            Ok(())
        }
        KeyCommand::Remove { repo, slot } => {
            let r = repo.open().await?;
            r.remove_key(&slot).await?;
            if repo.json {
                print_json(&serde_json::json!({"removed": slot}))
            } else {
                println!("removed key slot {slot}");
                Ok(())
            }
        }
    }
}

/// The progress bar of `backup-dir` and `restore-dir`, drawn once the library knows the total.
struct DirBar<'a> {
    args: &'a RepoArgs,
    template: &'static str,
    bar: OnceLock<ProgressBar>,
}

impl<'a> DirBar<'a> {
    fn new(args: &'a RepoArgs, template: &'static str) -> Self {
        DirBar {
            args,
            template,
            bar: OnceLock::new(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = self.bar.get() {
            bar.finish_and_clear();
        }
    }
}

impl DirProgress for DirBar<'_> {
    fn start(&self, total_bytes: u64) {
        let _ = self.bar.set(self.args.bar(total_bytes, self.template));
    }

    fn advance(&self, bytes: u64) {
        if let Some(bar) = self.bar.get() {
            bar.inc(bytes);
        }
    }
}

async fn backup_dir(
    args: &RepoArgs,
    dir: &Path,
    tags: Vec<String>,
    meta: Vec<(String, String)>,
    parent: Option<String>,
    no_parent: bool,
    zstd_level: Option<i32>,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let r = args.open().await?;
    let parent = match (no_parent, parent) {
        (true, _) => DirParent::Nothing,
        (false, Some(p)) => DirParent::Given(p),
        (false, None) => DirParent::Latest,
    };
    let opts = BackupDirOptions {
        parent,
        tags,
        meta: meta.into_iter().collect(),
        zstd_level,
        hook: commit_hook(),
    };
    let bar = DirBar::new(
        args,
        "backup {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    let done = dir::backup_dir(&r, dir, opts, &bar).await?;
    bar.finish();
    if args.json {
        return print_json(&serde_json::json!({
            "snapshot": done.snapshot,
            "parent": done.parent,
            "stats": done.stats,
            "seconds": started.elapsed().as_secs_f64(),
        }));
    }
    let s = done.stats;
    println!(
        "snapshot {} saved: {} entries ({} unchanged from parent), {} in, {} stored, {} new / {} reused blobs, {:.1}s",
        done.snapshot.short(),
        s.entries,
        s.entries_from_parent,
        human(s.bytes_in),
        human(s.bytes_stored),
        s.blobs_new,
        s.blobs_reused,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn restore_dir(
    args: &RepoArgs,
    snapshot: &str,
    target: &Path,
    path: &str,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let r = args.open().await?;
    let bar = DirBar::new(
        args,
        "restore {bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    );
    let opts = RestoreDirOptions {
        path: path.to_owned(),
    };
    let done = match dir::restore_dir(&r, snapshot, target, &opts, &bar).await {
        Ok(done) => done,
        // restore-dir has always named the snapshot by its short id here.
        Err(cairn_vault::Error::EntryNotFound { snapshot, path }) => {
            bail!("no entry {path:?} in snapshot {}", snapshot.short())
        }
        Err(e) => return Err(e.into()),
    };
    bar.finish();
    if args.json {
        return print_json(
            &serde_json::json!({"files": done.files, "bytes": done.bytes, "seconds": started.elapsed().as_secs_f64()}),
        );
    }
    println!(
        "restored {} file(s), {} into {} in {:.1}s",
        done.files,
        human(done.bytes),
        target.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_overflow_is_an_error() {
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("2w"), Ok(Duration::from_secs(14 * 86400)));
        assert!(parse_duration("9999999999999999999w").is_err());
        assert!(parse_duration("3y").is_err());
    }
}
