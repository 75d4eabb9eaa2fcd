//! The writer's memory does not grow with the number of entries in a snapshot (issue: "never holding a whole
//! snapshot in memory"). Measured as the growth of this process's peak resident set (`VmHWM`, reset through
//! `/proc/self/clear_refs`); nextest runs each test in its own process. Linux only.

mod support;

use std::collections::BTreeMap;

use cairn_vault::{Backend, Location, Repository, WriterOptions};

fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Peak resident growth (MiB) while one writer takes `n` tiny entries (all with the same content, so the index
/// of blobs stays tiny and only entry metadata could grow) and commits.
async fn peak_growth_mib(repo: &Repository, n: u64) -> f64 {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let base = status_kib("VmRSS:");
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    for i in 0..n {
        let attrs: BTreeMap<String, String> = [
            (
                "updated".to_owned(),
                format!("2026-11-27T20:{:02}:00Z", i % 60),
            ),
            ("id".to_owned(), i.to_string()),
        ]
        .into();
        // Unsorted: the writer must not rely on the order.
        let k = (i * 7_919) % n;
        w.add_document(
            &format!("jira/project-{}/issues/ISSUE-{k}.json", k % 20),
            b"{}",
            attrs,
        )
        .await
        .unwrap();
    }
    let done = w.commit(BTreeMap::new(), vec![]).await.unwrap();
    assert_eq!(done.stats.entries, n);
    (status_kib("VmHWM:").saturating_sub(base)) as f64 / 1024.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writer_memory_does_not_grow_with_entries() {
    let dir = tempfile::tempdir().unwrap();
    let b = Backend::open(&Location::Local(dir.path().join("repo"))).unwrap();
    let repo = Repository::init(b, &support::key(), support::small_opts())
        .await
        .unwrap();
    let small = peak_growth_mib(&repo, 50_000).await;
    let large = peak_growth_mib(&repo, 400_000).await;
    eprintln!("peak RSS growth: 50k entries {small:.1} MiB, 400k entries {large:.1} MiB");
    // Held in memory, 400k entries. metadata is ~100 MiB; the writer keeps 8 MiB of it and spills the rest.
    assert!(
        large < 48.0,
        "400k entries grew the peak RSS by {large:.1} MiB"
    );
    assert!(
        large < small + 32.0,
        "8x the entries grew the peak by {:.1} MiB more",
        large - small
    );
}
