//! Property: any tree of documents and streams round-trips byte for byte (in-memory backend).

mod support;

use std::collections::BTreeMap;

use cairn_vault::{Backend, EntryKind, Location, Repository, WriterOptions};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Content {
    Doc(Vec<u8>),
    /// Length and seed of pseudo-random (or repetitive) stream bytes.
    Stream(usize, u64, bool),
}

impl Content {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Content::Doc(b) => b.clone(),
            Content::Stream(len, seed, noisy) => {
                if *noisy {
                    support::noise(*seed, *len)
                } else {
                    (0..*len).map(|i| ((i as u64 % 251) ^ seed) as u8).collect()
                }
            }
        }
    }
}

fn path() -> impl Strategy<Value = String> {
    // Directories are d*, files f*: a path is never both.
    (
        prop::collection::vec("d[0-2]", 0..3),
        "f[0-9]{1,2}(\\.json)?",
    )
        .prop_map(|(dirs, f)| {
            let mut p = dirs.join("/");
            if !p.is_empty() {
                p.push('/');
            }
            p + &f
        })
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300).prop_map(Content::Doc),
        (0usize..200_000, any::<u64>(), any::<bool>())
            .prop_map(|(l, s, n)| Content::Stream(l, s, n)),
    ]
}

fn tree() -> impl Strategy<Value = BTreeMap<String, Content>> {
    prop::collection::btree_map(path(), content(), 1..20)
}

async fn add(w: &mut cairn_vault::SnapshotWriter, p: &str, c: &Content) {
    let attrs = support::attrs(&[("p", p)]);
    match c {
        Content::Doc(b) => w.add_document(p, b, attrs).await.unwrap(),
        Content::Stream(..) => w.add_stream(p, &mut &c.bytes()[..], attrs).await.unwrap(),
    }
}

async fn roundtrip(entries: BTreeMap<String, Content>) {
    let repo = Repository::init(
        Backend::open(&Location::Memory).unwrap(),
        &support::key(),
        support::small_opts(),
    )
    .await
    .unwrap();
    // Added in reverse order, with so little entry memory that every few entries go to a temporary run: the
    // writer must not depend on sorted input, nor on how its entries were spilled.
    let mut w = repo
        .writer(WriterOptions {
            entry_memory: Some(512),
            ..Default::default()
        })
        .await
        .unwrap();
    for (p, c) in entries.iter().rev() {
        add(&mut w, p, c).await;
    }
    let snap = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let r = repo.reader(&snap.to_hex()).await.unwrap();
    // The same entries in order, all in memory, make the very same trees.
    let mut w = repo.writer(WriterOptions::default()).await.unwrap();
    for (p, c) in &entries {
        add(&mut w, p, c).await;
    }
    let again = w.commit(BTreeMap::new(), vec![]).await.unwrap().snapshot;
    let again = repo.reader(&again.to_hex()).await.unwrap();
    assert_eq!(again.snapshot().tree, r.snapshot().tree);
    let files: Vec<_> = r
        .walk("")
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind != EntryKind::Dir)
        .collect();
    assert_eq!(
        files.iter().map(|e| e.path.clone()).collect::<Vec<_>>(),
        entries.keys().cloned().collect::<Vec<_>>()
    );
    for (p, c) in &entries {
        let got = r.get(p).await.unwrap();
        assert_eq!(got.len(), c.bytes().len(), "{p}");
        assert!(got[..] == c.bytes()[..], "{p} differs");
        assert_eq!(
            r.entry(p).await.unwrap().unwrap().attrs,
            support::attrs(&[("p", p)])
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn any_tree_roundtrips(entries in tree()) {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(roundtrip(entries));
    }
}

/// A directory large enough to be split into content-defined pages: lookups, listing and a one-entry
/// change that leaves most pages shared.
#[tokio::test]
async fn large_directory_is_paged_and_random_access() {
    let repo = Repository::init(
        Backend::open(&Location::Memory).unwrap(),
        &support::key(),
        support::small_opts(),
    )
    .await
    .unwrap();
    let write = |changed: bool| {
        let repo = repo.clone();
        async move {
            let mut w = repo.writer(WriterOptions::default()).await.unwrap();
            for i in 0..6000 {
                let body = if changed && i == 3000 {
                    "changed".to_owned()
                } else {
                    format!("issue {i}")
                };
                w.add_document(
                    &format!("jira/issues/PROJ-{i}.json"),
                    body.as_bytes(),
                    BTreeMap::new(),
                )
                .await
                .unwrap();
            }
            w.commit(BTreeMap::new(), vec![]).await.unwrap()
        }
    };
    let first = write(false).await;
    let second = write(true).await;
    // One changed document: one data blob, one page, the page list and the parents are new.
    assert!(second.stats.blobs_new <= 6, "{:?}", second.stats);
    let r = repo.reader(&first.snapshot.to_hex()).await.unwrap();
    assert_eq!(
        &r.get("jira/issues/PROJ-4321.json").await.unwrap()[..],
        b"issue 4321"
    );
    assert!(
        r.entry("jira/issues/PROJ-6000.json")
            .await
            .unwrap()
            .is_none()
    );
    assert!(r.entry("jira/issues/A.json").await.unwrap().is_none());
    assert_eq!(r.list("jira/issues").await.unwrap().len(), 6000);
    let r2 = repo.reader(&second.snapshot.to_hex()).await.unwrap();
    assert_eq!(
        &r2.get("jira/issues/PROJ-3000.json").await.unwrap()[..],
        b"changed"
    );
}

/// A path added twice, or both a file and a directory, is refused at commit, also when the two additions were
/// spilled to different temporary runs; nothing is committed.
#[tokio::test]
async fn duplicate_and_conflicting_paths_fail_at_commit() {
    let repo = Repository::init(
        Backend::open(&Location::Memory).unwrap(),
        &support::key(),
        support::small_opts(),
    )
    .await
    .unwrap();
    for (paths, reason) in [
        (["a/b.json", "c", "a/b.json"], "added twice"),
        (["a", "x", "a/b.json"], "a parent is also a file"),
        (["a/b/c", "x", "a/b"], "a parent is also a file"),
    ] {
        let mut w = repo
            .writer(WriterOptions {
                entry_memory: Some(1),
                ..Default::default()
            })
            .await
            .unwrap();
        for p in paths {
            w.add_document(p, p.as_bytes(), BTreeMap::new())
                .await
                .unwrap();
        }
        let err = w.commit(BTreeMap::new(), vec![]).await.unwrap_err();
        assert!(
            matches!(&err, cairn_vault::Error::InvalidPath { reason: r, .. } if *r == reason),
            "{paths:?}: {err}"
        );
    }
    assert!(repo.snapshots().await.unwrap().snapshots.is_empty());
}
