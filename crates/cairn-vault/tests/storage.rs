//! Storage-level behaviour, on the local directory and on S3.

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;

use cairn_vault::{
    Backend, Error, ForgetPolicy, KdfParams, KeySource, PruneOptions, Repository, VerifyOptions,
    WriterOptions,
};
use support::{attrs, init, key, noise};

on_backends!(
    keys_and_wrong_key,
    roundtrip_docs_and_streams,
    dedup_and_one_percent_change,
    parent_hint_skips_unchanged,
    entries_of_any_snapshot_are_taken_over_unread,
    flipped_byte_is_named_and_never_restored,
    missing_and_truncated_objects,
    forget_and_prune_reclaim,
    writer_reusing_condemned_blobs,
    damaged_snapshot_is_listed_apart,
    racing_first_inits_make_one_repository,
);

/// Four first backups create one repository at once (the engine opens a storage's repository, or
/// creates it when there is none): exactly one creation wins, the others answer AlreadyExists and
/// open the winner's repository, and a fresh open reads every snapshot each of them then writes.
/// (A lost race used to go on with its own master key, and its index files did not decrypt.)
async fn racing_first_inits_make_one_repository(b: Backend) {
    let key = KeySource::Raw([7; 32]);
    let start = Arc::new(tokio::sync::Barrier::new(4));
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let (b, key, start) = (b.clone(), key.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let (won, repo) =
                    match Repository::init(b.clone(), &key, support::small_opts()).await {
                        Ok(repo) => (true, repo),
                        Err(Error::AlreadyExists(_)) => {
                            (false, Repository::open(b, &key).await.unwrap())
                        }
                        Err(e) => panic!("writer {i}: {e}"),
                    };
                let mut w = repo.writer(WriterOptions::default()).await.unwrap();
                let doc = format!("{{\"writer\":{i}}}");
                w.add_document("doc.json", doc.as_bytes(), BTreeMap::new())
                    .await
                    .unwrap();
                let snap = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
                (won, snap.to_hex(), doc)
            })
        })
        .collect();
    let mut written = Vec::new();
    for w in writers {
        written.push(w.await.unwrap());
    }
    let winners = written.iter().filter(|(won, ..)| *won).count();
    assert_eq!(winners, 1, "exactly one creation wins: {written:?}");
    let repo = Repository::open(b, &key).await.unwrap();
    assert_eq!(
        repo.list_keys().await.unwrap().len(),
        1,
        "the losers took their key slots back"
    );
    let list = repo.snapshots().await.unwrap();
    assert!(list.damaged.is_empty(), "damaged: {:?}", list.damaged);
    assert_eq!(list.snapshots.len(), 4);
    for (_, snap, doc) in &written {
        let got = repo
            .reader(snap)
            .await
            .unwrap()
            .get("doc.json")
            .await
            .unwrap();
        assert_eq!(&got[..], doc.as_bytes(), "snapshot {snap}");
    }
}

async fn keys_and_wrong_key(b: Backend) {
    let repo = init(b.clone()).await;
    assert!(matches!(
        Repository::init(b.clone(), &key(), support::small_opts()).await,
        Err(Error::AlreadyExists(_))
    ));
    let err = Repository::open(b.clone(), &KeySource::Passphrase("nope".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::WrongKey { .. }), "{err}");
    assert!(err.to_string().starts_with("wrong key"), "{err}");
    // A raw key added as a second slot opens the same repository; then the passphrase slot can be removed.
    let raw = KeySource::Raw([42; 32]);
    let slot = repo
        .add_key(&raw, KdfParams::insecure_fast(), "raw")
        .await
        .unwrap();
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("a.json", b"{}", BTreeMap::new())
        .await
        .unwrap();
    let snap = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let by_raw = Repository::open(b.clone(), &raw).await.unwrap();
    assert_eq!(
        &by_raw
            .reader(&snap.to_hex())
            .await
            .unwrap()
            .get("a.json")
            .await
            .unwrap()[..],
        b"{}"
    );
    assert!(matches!(
        by_raw.remove_key(&slot).await,
        Err(Error::KeySlotInUse(..))
    ));
    let first = repo
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.current)
        .unwrap()
        .id;
    by_raw.remove_key(&first).await.unwrap();
    assert!(matches!(
        Repository::open(b.clone(), &key()).await,
        Err(Error::WrongKey { .. })
    ));
    assert!(matches!(
        Repository::open(b, &KeySource::Raw([1; 32])).await,
        Err(Error::WrongKey { .. })
    ));
}

async fn roundtrip_docs_and_streams(b: Backend) {
    let repo = init(b.clone()).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    let big = noise(1, 700_000);
    w.add_document(
        "jira/issues/PROJ-1.json",
        br#"{"key":"PROJ-1"}"#,
        attrs(&[("updated", "1")]),
    )
    .await
    .unwrap();
    w.add_document(
        "jira/issues/PROJ-2.json",
        br#"{"key":"PROJ-2"}"#,
        BTreeMap::new(),
    )
    .await
    .unwrap();
    w.add_stream(
        "jira/attachments/10001",
        &mut &big[..],
        attrs(&[("mime", "application/pdf")]),
    )
    .await
    .unwrap();
    w.add_stream("empty", &mut &b""[..], BTreeMap::new())
        .await
        .unwrap();
    assert!(matches!(
        w.add_document("jira/../x", b"", BTreeMap::new()).await,
        Err(Error::InvalidPath { .. })
    ));
    let mut meta = BTreeMap::new();
    meta.insert("site".to_owned(), "acme.atlassian.net".to_owned());
    let done = w.commit(meta.clone(), vec!["jira".into()]).await.unwrap();
    assert_eq!(done.stats.entries, 4);
    // A fresh handle reads it all back.
    let repo = Repository::open(b, &key()).await.unwrap();
    let snaps = repo.snapshots().await.unwrap().snapshots;
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].file.meta, meta);
    let r = repo.reader("latest").await.unwrap();
    assert_eq!(
        &r.get("jira/issues/PROJ-1.json").await.unwrap()[..],
        br#"{"key":"PROJ-1"}"#
    );
    assert_eq!(r.get("jira/attachments/10001").await.unwrap().to_vec(), big);
    assert_eq!(r.get("empty").await.unwrap().len(), 0);
    let e = r.entry("jira/issues/PROJ-1.json").await.unwrap().unwrap();
    assert_eq!(e.attrs, attrs(&[("updated", "1")]));
    let names: Vec<_> = r
        .list("jira/issues")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(
        names,
        ["jira/issues/PROJ-1.json", "jira/issues/PROJ-2.json"]
    );
    assert_eq!(r.walk("").await.unwrap().len(), 7);
    assert!(matches!(
        r.get("jira/issues/PROJ-3.json").await,
        Err(Error::EntryNotFound { .. })
    ));
    assert!(
        repo.verify(
            &VerifyOptions {
                read_data: true,
                ..Default::default()
            },
            &|_, _| {}
        )
        .await
        .unwrap()
        .is_ok()
    );
}

/// A corpus of documents and streams; `change` alters about that share of it.
async fn write_corpus(
    repo: &Repository,
    change: f64,
    parent: Option<cairn_vault::Id>,
) -> cairn_vault::CommitResult {
    let mut w = repo
        .writer(WriterOptions {
            parent,
            ..Default::default()
        })
        .await
        .unwrap();
    for i in 0..400u64 {
        let mut doc = format!(
            r#"{{"key":"P-{i}","summary":"issue number {i}","body":"{}"}}"#,
            "lorem ipsum ".repeat(40)
        )
        .into_bytes();
        if (i as f64) < 400.0 * change {
            doc.extend_from_slice(b" changed");
        }
        w.add_document(&format!("jira/issues/P-{i}.json"), &doc, BTreeMap::new())
            .await
            .unwrap();
    }
    for f in 0..8u64 {
        let mut data = noise(100 + f, 400_000);
        if change > 0.0 && f == 0 {
            // ~1% of the stream bytes of the corpus: 32 KB in the middle of one file.
            for x in &mut data[200_000..232_000] {
                *x = x.wrapping_add(1);
            }
        }
        w.add_stream(
            &format!("attachments/{f}.bin"),
            &mut &data[..],
            BTreeMap::new(),
        )
        .await
        .unwrap();
    }
    w.commit(BTreeMap::new(), vec![]).await.unwrap()
}

async fn dedup_and_one_percent_change(b: Backend) {
    let repo = init(b).await;
    let first = write_corpus(&repo, 0.0, None).await;
    let again = write_corpus(&repo, 0.0, None).await;
    let changed = write_corpus(&repo, 0.01, None).await;
    let total = first.stats.bytes_in;
    assert!(first.stats.bytes_stored > total / 2, "{:?}", first.stats);
    // Same data: only trees, index and snapshot (under 1% of the input).
    assert!(
        again.stats.bytes_stored * 100 < total,
        "{:?} vs {total}",
        again.stats
    );
    assert_eq!(again.stats.blobs_new, 0, "{:?}", again.stats);
    // 1% changed: about 1% (generous bound: 5%).
    assert!(
        changed.stats.bytes_stored * 20 < total,
        "{:?} vs {total}",
        changed.stats
    );
    assert!(changed.stats.blobs_new > 0);
}

async fn parent_hint_skips_unchanged(b: Backend) {
    let repo = init(b).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    for i in 0..50 {
        w.add_document(
            &format!("d/{i}"),
            format!("doc {i}").as_bytes(),
            attrs(&[("updated", "t1")]),
        )
        .await
        .unwrap();
    }
    let parent = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let mut w = repo
        .writer(WriterOptions {
            parent: Some(parent),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut reused = 0;
    for i in 0..50 {
        let path = format!("d/{i}");
        let stamp = if i < 5 { "t2" } else { "t1" };
        let size = format!("doc {i}").len() as u64;
        if w.reuse_from_parent(&path, size, &attrs(&[("updated", stamp)]))
            .await
            .unwrap()
        {
            reused += 1;
        } else {
            w.add_document(
                &path,
                format!("doc {i} v2").as_bytes(),
                attrs(&[("updated", stamp)]),
            )
            .await
            .unwrap();
        }
    }
    assert_eq!(reused, 45);
    let done = w.commit(BTreeMap::new(), vec![]).await.unwrap();
    assert_eq!(done.stats.entries_from_parent, 45);
    let r = repo.reader(&done.snapshot.to_hex()).await.unwrap();
    assert_eq!(&r.get("d/7").await.unwrap()[..], b"doc 7");
    assert_eq!(&r.get("d/3").await.unwrap()[..], b"doc 3 v2");
    assert_eq!(r.snapshot().parent, Some(parent));
}

/// An entry read from another snapshot (not the parent) is taken over without its data; a
/// directory is not.
async fn entries_of_any_snapshot_are_taken_over_unread(b: Backend) {
    let repo = init(b).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("d/doc", b"a document", attrs(&[("updated", "t1")]))
        .await
        .unwrap();
    let big = noise(3, 300_000);
    w.add_stream("d/big", &mut &big[..], BTreeMap::new())
        .await
        .unwrap();
    let first = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let first = repo.reader(&first.to_hex()).await.unwrap();

    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    for path in ["d/doc", "d/big"] {
        let e = first.entry(path).await.unwrap().unwrap();
        assert!(w.reuse_entry(&e).unwrap(), "{path}");
    }
    let dir = first.entry("d").await.unwrap().unwrap();
    assert!(
        !w.reuse_entry(&dir).unwrap(),
        "a directory is not an entry to take over"
    );
    let done = w.commit(BTreeMap::new(), vec![]).await.unwrap();
    assert!(done.stats.bytes_stored < 10_000, "{:?}", done.stats);
    let r = repo.reader(&done.snapshot.to_hex()).await.unwrap();
    assert_eq!(&r.get("d/doc").await.unwrap()[..], b"a document");
    assert_eq!(r.get("d/big").await.unwrap(), big);
    assert_eq!(
        r.entry("d/doc").await.unwrap().unwrap().attrs,
        attrs(&[("updated", "t1")])
    );
}

async fn pack_names(b: &Backend) -> Vec<String> {
    b.list("packs")
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect()
}

async fn flip_byte(b: &Backend, name: &str, at: usize) {
    let mut data = b.get(name).await.unwrap().unwrap().to_vec();
    data[at] ^= 0x40;
    b.put(name, data.into()).await.unwrap();
}

async fn flipped_byte_is_named_and_never_restored(b: Backend) {
    let repo = init(b.clone()).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("docs/a.json", br#"{"a":1}"#, BTreeMap::new())
        .await
        .unwrap();
    w.add_stream(
        "files/big.bin",
        &mut &noise(9, 300_000)[..],
        BTreeMap::new(),
    )
    .await
    .unwrap();
    let snap = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    // Find which pack and offset holds the first chunk of files/big.bin, flip a byte inside it.
    let r = repo.reader("latest").await.unwrap();
    let entry = r.entry("files/big.bin").await.unwrap().unwrap();
    let chunk = entry.content[0];
    let loc = repo.index().await.unwrap().get(&chunk).unwrap();
    let pack = format!("packs/{}/{}", &loc.pack.to_hex()[..2], loc.pack);
    assert!(pack_names(&b).await.contains(&pack));
    flip_byte(&b, &pack, loc.offset as usize + 100).await;

    let repo = Repository::open(b, &key()).await.unwrap();
    let report = repo
        .verify(
            &VerifyOptions {
                read_data: true,
                ..Default::default()
            },
            &|_, _| {},
        )
        .await
        .unwrap();
    assert_eq!(report.damage.len(), 1, "{:#?}", report.damage);
    let d = &report.damage[0];
    assert_eq!(d.kind, "damaged-blob");
    assert_eq!(d.blob, Some(chunk));
    assert_eq!(d.pack, Some(loc.pack));
    assert_eq!(
        d.affected.get(&snap).cloned(),
        Some(vec!["files/big.bin".to_owned()])
    );
    // Structure-only verify does not read data, so it passes.
    assert!(
        repo.verify(&VerifyOptions::default(), &|_, _| {})
            .await
            .unwrap()
            .is_ok()
    );
    // Restoring the damaged entry fails with the blob, the pack and the entry; the other entry still restores.
    let r = repo.reader("latest").await.unwrap();
    let err = r.get("files/big.bin").await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, Error::DamagedBlob { .. }), "{msg}");
    assert!(
        msg.contains(&chunk.to_hex())
            && msg.contains(&loc.pack.to_hex())
            && msg.contains("files/big.bin"),
        "{msg}"
    );
    assert_eq!(&r.get("docs/a.json").await.unwrap()[..], br#"{"a":1}"#);
}

async fn missing_and_truncated_objects(b: Backend) {
    let repo = init(b.clone()).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_stream("s", &mut &noise(3, 200_000)[..], BTreeMap::new())
        .await
        .unwrap();
    w.commit(BTreeMap::new(), vec![]).await.unwrap();
    // Truncated index file: opening the index names it.
    let idx = b.list("index").await.unwrap().remove(0).name;
    let full = b.get(&idx).await.unwrap().unwrap();
    b.put(&idx, full.slice(..full.len() / 2)).await.unwrap();
    let repo = Repository::open(b.clone(), &key()).await.unwrap();
    let err = repo
        .reader("latest")
        .await
        .err()
        .expect("truncated index must fail");
    assert!(
        matches!(
            err,
            Error::DamagedObject {
                kind: "index file",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&idx), "{err}");
    let report = repo
        .verify(&VerifyOptions::default(), &|_, _| {})
        .await
        .unwrap();
    assert!(
        report.damage.iter().any(|d| d.kind == "damaged-index"),
        "{:#?}",
        report.damage
    );
    assert!(
        report
            .damage
            .iter()
            .any(|d| (d.kind == "missing-blob" || d.kind == "damaged-tree")
                && !d.affected.is_empty()),
        "{:#?}",
        report.damage
    );
    b.put(&idx, full).await.unwrap();
    // Missing pack: verify names it and the entries; restore says which pack is missing.
    let pack = pack_names(&b).await.remove(0);
    let saved = b.get(&pack).await.unwrap().unwrap();
    b.delete(&pack).await.unwrap();
    let repo = Repository::open(b.clone(), &key()).await.unwrap();
    let report = repo
        .verify(&VerifyOptions::default(), &|_, _| {})
        .await
        .unwrap();
    assert!(
        report
            .damage
            .iter()
            .any(|d| d.kind == "missing-pack" && !d.affected.is_empty()),
        "{:#?}",
        report.damage
    );
    let r = repo.reader("latest").await;
    match r {
        Err(e) => assert!(e.is_damage(), "{e}"),
        Ok(r) => {
            let e = r.get("s").await.unwrap_err();
            assert!(e.is_damage() && e.to_string().contains("missing"), "{e}");
        }
    }
    // Truncated pack.
    b.put(&pack, saved.slice(..saved.len() / 3)).await.unwrap();
    let repo = Repository::open(b.clone(), &key()).await.unwrap();
    let report = repo
        .verify(
            &VerifyOptions {
                read_data: true,
                ..Default::default()
            },
            &|_, _| {},
        )
        .await
        .unwrap();
    assert!(
        report.damage.iter().any(|d| d.kind == "truncated-pack"),
        "{:#?}",
        report.damage
    );
    if let Ok(r) = repo.reader("latest").await {
        let e = r.get("s").await.unwrap_err();
        assert!(e.is_damage(), "{e}");
    }
}

async fn forget_and_prune_reclaim(b: Backend) {
    let repo = init(b.clone()).await;
    let mut ids = Vec::new();
    for round in 0..3u64 {
        let mut w = repo.writer(WriterOptions::default()).await.unwrap();
        w.add_stream("shared", &mut &noise(1, 300_000)[..], BTreeMap::new())
            .await
            .unwrap();
        w.add_stream("own", &mut &noise(50 + round, 300_000)[..], BTreeMap::new())
            .await
            .unwrap();
        ids.push(
            w.commit(BTreeMap::new(), vec![format!("round{round}")])
                .await
                .unwrap()
                .snapshot,
        );
    }
    let policy = ForgetPolicy {
        keep_last: Some(1),
        keep_tags: vec!["round0".into()],
        ..Default::default()
    };
    let decisions = repo.forget(&policy, false).await.unwrap();
    assert_eq!(
        decisions
            .iter()
            .filter(|d| !d.keep)
            .map(|d| d.id)
            .collect::<Vec<_>>(),
        vec![ids[1]]
    );
    let before: u64 = b.list("packs").await.unwrap().iter().map(|o| o.size).sum();
    // Phase 1 with a long grace period marks but deletes nothing.
    let r1 = repo.prune(&PruneOptions::default()).await.unwrap();
    assert!(r1.new_mark.is_some() && r1.packs_deleted == 0, "{r1:?}");
    // Zero grace: the due mark is completed.
    let r2 = repo
        .prune(&PruneOptions {
            grace: std::time::Duration::ZERO,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r2.packs_deleted > 0, "{r2:?}");
    let after: u64 = b.list("packs").await.unwrap().iter().map(|o| o.size).sum();
    assert!(after + 250_000 < before, "{before} -> {after}");
    let repo = Repository::open(b, &key()).await.unwrap();
    let report = repo
        .verify(
            &VerifyOptions {
                read_data: true,
                ..Default::default()
            },
            &|_, _| {},
        )
        .await
        .unwrap();
    assert!(report.is_ok(), "{:#?}", report.damage);
    for id in [ids[0], ids[2]] {
        let r = repo.reader(&id.to_hex()).await.unwrap();
        assert_eq!(r.get("shared").await.unwrap().to_vec(), noise(1, 300_000));
    }
    assert!(matches!(
        repo.reader(&ids[1].to_hex()).await,
        Err(Error::SnapshotNotFound(_))
    ));
}

/// A writer reuses blobs of a forgotten snapshot while a prune condemns them: a pending mark is harmless (phase 2
/// rescues the packs the new snapshot uses); a completed one (packs gone) aborts the commit with a clear error.
async fn writer_reusing_condemned_blobs(b: Backend) {
    let repo = init(b.clone()).await;
    let data = noise(77, 300_000);
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_stream("x", &mut &data[..], BTreeMap::new())
        .await
        .unwrap();
    w.commit(BTreeMap::new(), vec!["old".into()]).await.unwrap();
    let policy = ForgetPolicy {
        keep_tags: vec!["none".into()],
        only_tags: vec!["old".into()],
        ..Default::default()
    };
    repo.forget(&policy, false).await.unwrap();

    // Pending mark: the writer commits, and the later deletion phase keeps what it uses.
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_stream("x", &mut &data[..], BTreeMap::new())
        .await
        .unwrap();
    let other = Repository::open(b.clone(), &key()).await.unwrap();
    let r = other
        .prune(&PruneOptions {
            grace: std::time::Duration::from_secs(600),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.packs_condemned > 0, "{r:?}");
    let kept = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let r = other
        .prune(&PruneOptions {
            grace: std::time::Duration::ZERO,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.packs_rescued > 0, "{r:?}");
    let fresh = Repository::open(b.clone(), &key()).await.unwrap();
    assert!(
        fresh
            .verify(
                &VerifyOptions {
                    read_data: true,
                    ..Default::default()
                },
                &|_, _| {}
            )
            .await
            .unwrap()
            .is_ok()
    );
    assert_eq!(
        fresh
            .reader(&kept.to_hex())
            .await
            .unwrap()
            .get("x")
            .await
            .unwrap()
            .to_vec(),
        data
    );

    // Completed mark: the blobs the writer counted on are gone, so it must not commit.
    fresh.remove_snapshot(&kept).await.unwrap();
    let mut w = fresh.writer(WriterOptions::default()).await.unwrap();
    w.add_stream("x", &mut &data[..], BTreeMap::new())
        .await
        .unwrap();
    let r = other
        .prune(&PruneOptions {
            grace: std::time::Duration::ZERO,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(r.packs_deleted > 0, "{r:?}");
    let err = w.commit(BTreeMap::new(), vec![]).await.unwrap_err();
    assert!(matches!(err, Error::RacedWithPrune { .. }), "{err}");
    assert!(
        fresh
            .verify(
                &VerifyOptions {
                    read_data: true,
                    ..Default::default()
                },
                &|_, _| {}
            )
            .await
            .unwrap()
            .is_ok()
    );
}

/// Enormous `keep-within` and grace periods are "forever", never an arithmetic panic.
#[tokio::test]
async fn enormous_durations_mean_forever() {
    let repo = init(Backend::open(&cairn_vault::Location::Memory).unwrap()).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("a", b"first", BTreeMap::new())
        .await
        .unwrap();
    let first = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let within_forever = ForgetPolicy {
        keep_within: Some(chrono::TimeDelta::MAX),
        ..Default::default()
    };
    let decisions = repo.forget(&within_forever, true).await.unwrap();
    assert!(decisions.iter().all(|d| d.keep), "{decisions:?}");

    // A writer started before a pending mark whose grace never ends commits past it.
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("b", b"second", BTreeMap::new())
        .await
        .unwrap();
    repo.remove_snapshot(&first).await.unwrap();
    let forever = PruneOptions {
        grace: std::time::Duration::from_secs(u64::MAX / 4),
        ..Default::default()
    };
    let r = repo.prune(&forever).await.unwrap();
    assert!(r.new_mark.is_some(), "{r:?}");
    let r = repo.prune(&forever).await.unwrap();
    assert_eq!(r.packs_deleted, 0, "{r:?}");
    w.commit(BTreeMap::new(), vec![]).await.unwrap();
}

/// Chunk sizes the chunker cannot work with are refused at init, and (the config being plaintext) at writer
/// start, instead of a panic or streams cut to nothing; reading still works.
#[tokio::test]
async fn bad_chunk_sizes_are_refused() {
    let b = Backend::open(&cairn_vault::Location::Memory).unwrap();
    let mut opts = support::small_opts();
    opts.chunker.avg_size = 64 * 1024 * 1024;
    let err = Repository::init(b.clone(), &key(), opts).await.unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");

    let repo = init(b.clone()).await;
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    w.add_document("a", b"kept", BTreeMap::new()).await.unwrap();
    w.commit(BTreeMap::new(), vec![]).await.unwrap();
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&b.get("config").await.unwrap().unwrap()).unwrap();
    cfg["chunker"]["max_size"] = 0.into();
    b.put("config", serde_json::to_vec(&cfg).unwrap().into())
        .await
        .unwrap();
    let repo = Repository::open(b, &key()).await.unwrap();
    let Err(err) = repo.writer(WriterOptions::default()).await else {
        panic!("a writer started on a config with max_size 0");
    };
    assert!(matches!(err, Error::DamagedObject { .. }), "{err}");
    let r = repo.reader("latest").await.unwrap();
    assert_eq!(&r.get("a").await.unwrap()[..], b"kept");
}

/// A full snapshot id is read directly: a damaged other snapshot file does not stand in the way.
#[tokio::test]
async fn full_id_reads_only_that_snapshot() {
    let b = Backend::open(&cairn_vault::Location::Memory).unwrap();
    let repo = init(b.clone()).await;
    let mut ids = Vec::new();
    for doc in [&b"one"[..], b"two"] {
        let mut w = repo.writer(WriterOptions::default()).await.unwrap();
        w.add_document("a", doc, BTreeMap::new()).await.unwrap();
        ids.push(w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot);
    }
    b.put(&format!("snapshots/{}", ids[0]), b"garbage"[..].into())
        .await
        .unwrap();
    let r = repo.reader(&ids[1].to_hex()).await.unwrap();
    assert_eq!(&r.get("a").await.unwrap()[..], b"two");
    let Err(err) = repo.reader(&ids[0].to_hex()).await else {
        panic!("a garbage snapshot file opened");
    };
    assert!(err.is_damage(), "{err}");
}

/// One damaged snapshot file does not hide the others: `snapshots()` lists the readable ones and names the
/// damaged one apart; `latest` and forget work around it; prune refuses (the damaged snapshot's blobs are
/// unknown, so nothing may be deleted).
async fn damaged_snapshot_is_listed_apart(b: Backend) {
    let repo = init(b.clone()).await;
    let mut ids = Vec::new();
    for doc in [&b"one"[..], b"two", b"three"] {
        let mut w = repo.writer(WriterOptions::default()).await.unwrap();
        w.add_document("a", doc, BTreeMap::new()).await.unwrap();
        ids.push(w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot);
    }
    b.put(&format!("snapshots/{}", ids[2]), b"garbage"[..].into())
        .await
        .unwrap();
    let list = repo.snapshots().await.unwrap();
    assert_eq!(
        list.snapshots.iter().map(|s| s.id).collect::<Vec<_>>(),
        ids[..2]
    );
    assert_eq!(list.damaged.len(), 1);
    assert_eq!(list.damaged[0].id, ids[2]);
    assert!(
        list.damaged[0].error.contains("damaged"),
        "{:?}",
        list.damaged
    );
    let r = repo.reader("latest").await.unwrap();
    assert_eq!(&r.get("a").await.unwrap()[..], b"two");
    let err = repo.prune(&PruneOptions::default()).await.unwrap_err();
    assert!(
        err.is_damage() && err.to_string().contains(&ids[2].to_hex()),
        "{err}"
    );
    let policy = ForgetPolicy {
        keep_last: Some(1),
        ..Default::default()
    };
    let decisions = repo.forget(&policy, false).await.unwrap();
    assert_eq!(decisions.len(), 2, "{decisions:?}");
    let list = repo.snapshots().await.unwrap();
    assert_eq!(list.snapshots.len(), 1);
    assert_eq!(list.damaged.len(), 1);
    assert_eq!(repo.stats().await.unwrap().damaged_snapshots, 1);
}
