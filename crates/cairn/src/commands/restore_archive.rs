//! `cairn restore-archive FILE ...`: a downloaded export restored into a site with no Cairn
//! server, database or vault: the file alone is a disaster-recovery copy.
//!
//! It runs the same restore as the API, on a private installation in a work directory:
//! 1. one pass over the archive checks every entry against the manifest (names, sizes,
//!    SHA-256s) and writes the files into the work directory's vault; a refused archive commits
//!    nothing, and the site has not been contacted yet;
//! 2. the snapshot is recorded as a finished backup (`Management::import_backup`), the
//!    destination is registered (read-only probe), and a restore is created;
//! 3. a worker in this process runs it with the ordinary engine.
//!
//! The work directory is named after the archive and the destination, so running the same
//! command again after a crash or a kill resumes the restore from its checkpoint instead of
//! starting over. It is removed once the restore has ended well.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::{Context, bail};
use cairn_api::wire::management::PublicApiRestoreV2;
use cairn_control::identity::Actor;
use cairn_control::jobs::{Worker, WorkerSettings};
use cairn_control::management::{NewRestore, NewSite};
use cairn_engine::export::ImportError;
use cairn_store::{BackupFilter, PageQuery, RestoreFilter, RestoreRecord};
use serde_json::json;
use sha2::Digest;

use super::output::{ended_badly, ended_well, follow, key_values, print_one};
use crate::instance::Instance;
use crate::settings::{StoreSettings, load_file};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The archive is checked completely before the site is contacted: a \
    truncated or altered archive, or one whose names leave its folder, is refused with the entry \
    named, and nothing is written. The restore follows the same rules as 'cairn restore create': \
    a whole Jira backup needs an empty destination. If the command is stopped, run it again with \
    the same arguments: it resumes where it stopped."
)]
pub struct RestoreArchiveArgs {
    /// The archive, a zip or a tar, as `.../backups/{id}/export` or the legacy download gave it.
    pub file: PathBuf,
    /// The site to restore into, e.g. https://acme.atlassian.net.
    #[arg(long, value_name = "URL")]
    pub site_url: String,
    /// The email of the site account that writes the restore (an administrator).
    #[arg(long, value_name = "EMAIL")]
    pub email: String,
    /// A file holding that account's API token (kept out of the command line and the process
    /// list).
    #[arg(long, value_name = "FILE")]
    pub api_token_file: PathBuf,
    /// Only these Jira projects, comma-separated (e.g. OPS,WEB).
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub project_keys: Option<Vec<String>>,
    /// Only these Confluence spaces, comma-separated.
    #[arg(long, value_name = "KEYS", value_delimiter = ',')]
    pub space_keys: Option<Vec<String>>,
    /// Restore attachments [default: if the archive holds them].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub include_attachments: Option<bool>,
    /// Restore users and groups [default: if the archive holds them].
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub include_users_and_groups: Option<bool>,
    /// Where the restore keeps its state while it runs [default: cairn/restore-archive under
    /// $XDG_STATE_HOME, or ~/.local/state]. It needs room for the archive's data once more.
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep the work directory after the restore has ended well.
    #[arg(long)]
    pub keep_work_dir: bool,
    /// Settings file (`[engine]` pace and `[outbound]` allow list are used).
    #[arg(long, value_name = "FILE", env = "CAIRN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON (`{"archive": ..., "restore": ...}`, the restore as the API shows it).
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: RestoreArchiveArgs) -> anyhow::Result<()> {
    let token = std::fs::read_to_string(&args.api_token_file).with_context(|| {
        format!(
            "reading the API token file {}",
            args.api_token_file.display()
        )
    })?;
    let token = token.trim().to_string();
    if token.is_empty() {
        bail!(
            "the API token file {} is empty",
            args.api_token_file.display()
        );
    }
    let archive = std::fs::canonicalize(&args.file)
        .with_context(|| format!("opening the archive {}", args.file.display()))?;
    let work = work_dir(&args, &archive)?;
    let resuming = work.join("cairn.db").exists();
    let file = load_file(args.config.as_deref())?;
    let settings = StoreSettings {
        data_dir: work.clone(),
        database_url: format!("sqlite://{}?mode=rwc", work.join("cairn.db").display()),
        max_connections: 4,
    };
    let instance = Instance::open(&settings, &file).await?;
    let outcome = restore(&args, &instance, &archive, &token, resuming).await;
    let ended_well = matches!(&outcome, Ok(r) if ended_well(&r.status.0.to_string()));
    drop(instance);
    match &outcome {
        // A refused archive leaves nothing to resume.
        Err(e) if !resuming && e.downcast_ref::<Refused>().is_some() => {
            let _ = std::fs::remove_dir_all(&work);
        }
        _ if ended_well && !args.keep_work_dir => {
            let _ = std::fs::remove_dir_all(&work);
        }
        _ => {
            eprintln!(
                "The restore's state is kept in {}: run the same command again to resume it.",
                work.display()
            );
        }
    }
    let out = outcome?;
    ended_badly("restore", &out.status.0.to_string(), &out.status_message)
}

/// The archive failed its check.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(String);

/// The work directory of this archive and destination: the same on every run of the same
/// command, so that a run resumes the one before it.
fn work_dir(args: &RestoreArchiveArgs, archive: &Path) -> anyhow::Result<PathBuf> {
    let base = match &args.work_dir {
        Some(dir) => dir.clone(),
        None => match std::env::var_os("XDG_STATE_HOME").filter(|v| !v.is_empty()) {
            Some(state) => PathBuf::from(state).join("cairn/restore-archive"),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".local/state/cairn/restore-archive"),
                None => std::env::temp_dir().join("cairn-restore-archive"),
            },
        },
    };
    let meta = std::fs::metadata(archive)?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let mut key = sha2::Sha256::new();
    for part in [
        archive.display().to_string(),
        meta.len().to_string(),
        modified.to_string(),
        args.site_url.trim_end_matches('/').to_string(),
        format!("{:?}", args.project_keys),
        format!("{:?}", args.space_keys),
    ] {
        key.update(part.as_bytes());
        key.update([0]);
    }
    let name = archive
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let short = hex::encode(&key.finalize()[..8]);
    Ok(base.join(format!(
        "{}-{short}",
        name.chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
            .take(40)
            .collect::<String>()
    )))
}

/// Imports (or, resuming, finds) the backup, registers the destination and runs the restore.
async fn restore(
    args: &RestoreArchiveArgs,
    instance: &Instance,
    archive: &Path,
    token: &str,
    resuming: bool,
) -> anyhow::Result<PublicApiRestoreV2> {
    let management = &instance.management;
    let actor = Actor::cli();
    let org_id = match instance.identity.list_orgs().await?.into_iter().next() {
        Some(org) => org.id,
        None => {
            instance
                .identity
                .create_org("restore-archive", &actor)
                .await?
                .id
        }
    };
    let everything = |org_id: &str| BackupFilter {
        org_id: org_id.to_string(),
        policy_id: None,
        cloud_id: None,
        product: None,
        status: None,
    };
    let first = PageQuery {
        offset: 0,
        limit: 1,
        descending: true,
    };
    let imported = management
        .list_backups(&everything(&org_id), first)
        .await?
        .items
        .into_iter()
        .next();
    let (backup, checked) = match imported {
        Some(backup) => (backup, None),
        None => {
            let storage = management.builtin_storage(&org_id).await?;
            let access = management.storage_access(&org_id, &storage.id).await?;
            let bar = bytes_bar(args.json, std::fs::metadata(archive)?.len());
            let shown = bar.clone();
            let progress = Arc::new(move |read: u64| shown.set_position(read));
            let imported = instance
                .engine
                .import_archive(&access, archive.to_path_buf(), progress)
                .await;
            bar.finish_and_clear();
            let imported = imported.map_err(|e| match e {
                ImportError::Archive(why) => anyhow::Error::new(Refused(format!(
                    "{} is refused, and nothing was written to the site: {why}",
                    archive.display()
                ))),
                ImportError::Vault(why) => {
                    anyhow::anyhow!("the archive could not be read into the work directory: {why}")
                }
            })?;
            let backup = management
                .import_backup(&org_id, &actor, imported.backup)
                .await?;
            (backup, Some(imported.verified))
        }
    };
    // Notes for a person go to stderr, with or without `--json` (stdout is the result).
    match &checked {
        Some(v) => eprintln!(
            "{} is intact: {} files, {} bytes, every one matching the manifest.",
            archive.display(),
            v.files,
            v.bytes
        ),
        None if resuming => eprintln!(
            "Resuming: the archive was checked and read by an earlier run ({}).",
            backup.id
        ),
        None => {}
    }
    let site_url = args.site_url.trim_end_matches('/');
    let sites = management
        .list_sites(
            &org_id,
            PageQuery {
                offset: 0,
                limit: 100,
                descending: false,
            },
        )
        .await?;
    let destination = match sites
        .items
        .into_iter()
        .find(|s| s.cloud_url.trim_end_matches('/') == site_url)
    {
        Some(site) => site,
        None => {
            management
                .register_site(
                    &org_id,
                    &actor,
                    NewSite {
                        cloud_url: site_url.to_string(),
                        email: args.email.clone(),
                        api_token: token.to_string(),
                        cloud_name: None,
                    },
                )
                .await?
        }
    };

    let in_flight = management
        .list_restores(
            &RestoreFilter {
                org_id: org_id.clone(),
                destination_cloud_id: Some(destination.cloud_id.clone()),
                status: None,
            },
            first,
        )
        .await?
        .items
        .into_iter()
        .next()
        .filter(|r: &RestoreRecord| r.status.in_flight());
    let restore = match in_flight {
        Some(r) => {
            eprintln!("Resuming restore {} ({}).", r.id, r.status);
            r
        }
        None => {
            management
                .create_restore(
                    &org_id,
                    &actor,
                    NewRestore {
                        backup_id: backup.id.clone(),
                        destination_cloud_id: destination.cloud_id.clone(),
                        include_attachments: args.include_attachments,
                        include_users: args.include_users_and_groups,
                        include_personal_spaces: None,
                        project_keys: args.project_keys.clone(),
                        space_keys: args.space_keys.clone(),
                        issue_keys: None,
                        page_ids: None,
                    },
                )
                .await?
        }
    };

    // One worker in this process: a restore left by a killed run is claimed once its lease
    // (short here) has run out.
    let settings = WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(15),
        poll: Duration::from_millis(250),
    };
    let worker = Arc::new(Worker::new(
        management.clone(),
        instance.engine.clone(),
        settings,
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let running = tokio::spawn(worker.run(stop.clone()));
    let followed = follow(args.json, || async {
        let r = PublicApiRestoreV2::from(management.get_restore(&org_id, &restore.id).await?);
        Ok((r.status.0.to_string(), r.progress))
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = running.await;
    followed?;

    let out = PublicApiRestoreV2::from(management.get_restore(&org_id, &restore.id).await?);
    let archive_json = checked.as_ref().map(|v| {
        json!({
            "file": archive.display().to_string(),
            "format": v.format.extension(),
            "files": v.files,
            "directories": v.directories,
            "bytes": v.bytes,
            "verified": true,
        })
    });
    print_one(
        args.json,
        &json!({ "archive": archive_json, "restore": out }),
        || {
            format!(
                "{}\n{}",
                super::restore::describe(&out),
                key_values(&[("from archive", archive.display().to_string())])
            )
        },
    )?;
    Ok(out)
}

/// A bar of bytes read, on a terminal only.
fn bytes_bar(json: bool, len: u64) -> indicatif::ProgressBar {
    if json || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} checking and reading the archive [{bar:30}] {bytes}/{total_bytes}, {elapsed}",
    ) {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
