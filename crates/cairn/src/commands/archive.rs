//! `cairn archive ...`: a downloaded export (`docs/export-format.md`) on its own, with no
//! server, store or vault.

use std::path::PathBuf;

use cairn_engine::export::{ArchiveError, verify};
use serde_json::json;

use super::output::{key_values, print_one};

#[derive(Debug, clap::Subcommand)]
pub enum ArchiveCommand {
    /// Check an export archive (tar or zip) completely: every file's size and SHA-256 against
    /// its manifest, the zip's CRC-32s, and that every name stays inside the archive's folder.
    /// Exits with 1, naming the entry, when the archive is truncated, altered or hostile.
    Verify {
        /// The archive, as `cairn backup export` or the API's `.../export` wrote it.
        file: PathBuf,
        /// Print JSON (`{"verified": true, ...}` or `{"verified": false, "entry": ..., "problem": ...}`).
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(command: ArchiveCommand) -> anyhow::Result<()> {
    match command {
        ArchiveCommand::Verify { file, json } => {
            // Reading and hashing every byte is blocking work.
            let path = file.clone();
            let verified = tokio::task::spawn_blocking(move || verify(&path)).await?;
            match verified {
                Ok(v) => {
                    let m = &v.manifest;
                    let out = json!({
                        "verified": true,
                        "format": v.format.extension(),
                        "backupId": m["backupId"], "product": m["product"], "cloudId": m["cloudId"],
                        "status": m["status"], "startedAt": m["startedAt"],
                        "files": v.files, "directories": v.directories, "bytes": v.bytes,
                    });
                    print_one(json, &out, || {
                        let s = |k: &str| m[k].as_str().unwrap_or_default().to_string();
                        format!(
                            "{} is intact: every file matches its manifest.\n{}",
                            file.display(),
                            key_values(&[
                                ("Backup", s("backupId")),
                                ("Product", s("product")),
                                ("Status", s("status")),
                                ("Started", s("startedAt")),
                                ("Files", v.files.to_string()),
                                ("Directories", v.directories.to_string()),
                                ("Bytes", v.bytes.to_string()),
                            ])
                        )
                    })
                }
                Err(err) => {
                    if json {
                        let (entry, problem) = match &err {
                            ArchiveError::Entry { entry, problem } => {
                                (Some(entry.clone()), problem.clone())
                            }
                            other => (None, other.to_string()),
                        };
                        println!(
                            "{}",
                            serde_json::to_string_pretty(
                                &json!({"verified": false, "entry": entry, "problem": problem})
                            )?
                        );
                    }
                    anyhow::bail!("{} is refused: {err}", file.display())
                }
            }
        }
    }
}
