//! Peak resident memory of one writer taking N tiny entries (same content, so only entry metadata could grow).
//! `cargo bench -p cairn-vault --bench writer_memory -- 1000000 [entry-memory-bytes]`; prints one line.

use std::collections::BTreeMap;

use cairn_vault::{
    Backend, ChunkerParams, InitOptions, KdfParams, KeySource, Location, Repository, WriterOptions,
};

fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: u64 = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let entry_memory: Option<usize> = args.get(1).and_then(|a| a.parse().ok());
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let b = Backend::open(&Location::Local(dir.path().join("repo"))).expect("backend");
        let opts = InitOptions {
            kdf: KdfParams::insecure_fast(),
            chunker: ChunkerParams::default(),
            ..Default::default()
        };
        let repo = Repository::init(b, &KeySource::Passphrase("bench".into()), opts)
            .await
            .expect("init");
        let base = status_kib("VmRSS:");
        let started = std::time::Instant::now();
        let mut w = repo
            .writer(WriterOptions {
                entry_memory,
                ..Default::default()
            })
            .await
            .expect("writer");
        for i in 0..n {
            let k = (i * 7_919) % n;
            let attrs: BTreeMap<String, String> = [
                ("updated".to_owned(), format!("2026-11-27T20:{:02}:00Z", i % 60)),
                ("id".to_owned(), k.to_string()),
            ]
            .into();
            w.add_document(
                &format!("jira/project-{}/issues/ISSUE-{k}.json", k % 20),
                b"{}",
                attrs,
            )
            .await
            .expect("add");
        }
        let done = w.commit(BTreeMap::new(), vec![]).await.expect("commit");
        println!(
            "{n} entries: peak RSS {:.1} MiB (before the writer {:.1} MiB), {:.1} s, {} tree blobs stored",
            status_kib("VmHWM:") as f64 / 1024.0,
            base as f64 / 1024.0,
            started.elapsed().as_secs_f64(),
            done.stats.blobs_new
        );
    });
}
