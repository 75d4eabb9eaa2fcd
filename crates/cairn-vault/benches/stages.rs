//! Per-stage micro-benchmarks (MB/s per core) and whole-pipeline ingest/restore on the in-memory backend.
//! Run: `cargo bench -p cairn-vault --bench stages`.

use std::collections::BTreeMap;
use std::time::Duration;

use cairn_vault::{
    Backend, Chunker, ChunkerParams, InitOptions, KdfParams, KeySource, Location, MasterKey,
    Repository, WriterOptions,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// JSON-like text, compressible roughly like Jira issue documents.
fn jsonish(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 256);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(
            format!(
                r#"{{"id":"{}","key":"PROJ-{i}","fields":{{"summary":"Fix the thing number {}","status":{{"name":"In Progress"}},"updated":"2026-11-{:02}T10:{:02}:00Z","description":"{}"}}}}"#,
                10000 + i,
                i * 7 % 1000,
                i % 28 + 1,
                i % 60,
                "lorem ipsum dolor sit amet ".repeat((i % 5 + 1) as usize)
            )
            .as_bytes(),
        );
        i += 1;
    }
    out.truncate(len);
    out
}

const MB: usize = 1024 * 1024;

fn stages(c: &mut Criterion) {
    let data = noise(1, 16 * MB);
    let json = jsonish(16 * MB);
    let key = MasterKey::random();
    let mut g = c.benchmark_group("stage");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Bytes(data.len() as u64));
    let chunker = Chunker::new(&ChunkerParams::default(), 42);
    g.bench_function("fastcdc_v2020_1MiB_avg", |b| {
        b.iter(|| {
            let mut pos = 0;
            let mut n = 0;
            while pos < data.len() {
                pos += chunker.next_cut(&data[pos..]);
                n += 1;
            }
            n
        })
    });
    g.bench_function("blake3_keyed", |b| b.iter(|| key.blob_id(&data)));
    g.throughput(Throughput::Bytes(MB as u64));
    for level in [1, 3] {
        g.bench_function(format!("zstd{level}_compress_json_1MiB"), |b| {
            b.iter(|| zstd::bulk::compress(&json[..MB], level).map(|v| v.len()))
        });
    }
    g.bench_function("zstd1_compress_random_1MiB", |b| {
        b.iter(|| zstd::bulk::compress(&data[..MB], 1).map(|v| v.len()))
    });
    let comp = zstd::bulk::compress(&json[..MB], 3).unwrap_or_default();
    g.bench_function("zstd_decompress_json_1MiB", |b| {
        b.iter(|| zstd::bulk::decompress(&comp, 2 * MB).map(|v| v.len()))
    });
    let id = key.blob_id(&data[..MB]);
    // seal_blob on random data: zstd attempt (level 1) + XChaCha20-Poly1305.
    g.bench_function("seal_blob_random_1MiB_zstd1", |b| {
        b.iter(|| key.seal_blob(&id, &data[..MB], 1).len())
    });
    let jid = key.blob_id(&json[..MB]);
    g.bench_function("seal_blob_json_1MiB_zstd1", |b| {
        b.iter(|| key.seal_blob(&jid, &json[..MB], 1).len())
    });
    g.bench_function("seal_blob_json_1MiB_zstd3", |b| {
        b.iter(|| key.seal_blob(&jid, &json[..MB], 3).len())
    });
    let sealed = key.seal_blob(&id, &data[..MB], 1);
    g.bench_function("open_blob_random_1MiB", |b| {
        b.iter(|| key.open_blob(&id, &sealed).map(|v| v.len()))
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let data = noise(7, 64 * MB);
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(5))
        .warm_up_time(Duration::from_millis(500));
    g.throughput(Throughput::Bytes(data.len() as u64));
    let opts = || InitOptions {
        kdf: KdfParams::insecure_fast(),
        zstd_level: 1,
        ..Default::default()
    };
    let key = KeySource::Raw([1; 32]);
    g.bench_function("ingest_new_64MiB_zstd1", |b| {
        b.iter(|| {
            rt.block_on(async {
                let repo =
                    Repository::init(Backend::open(&Location::Memory).unwrap(), &key, opts())
                        .await
                        .unwrap();
                let mut w = repo.writer(WriterOptions::default()).await.unwrap();
                w.add_stream("s", &mut &data[..], BTreeMap::new())
                    .await
                    .unwrap();
                w.commit(BTreeMap::new(), vec![]).await.unwrap()
            })
        })
    });
    let repo = rt.block_on(async {
        let repo = Repository::init(Backend::open(&Location::Memory).unwrap(), &key, opts())
            .await
            .unwrap();
        let mut w = repo.writer(WriterOptions::default()).await.unwrap();
        w.add_stream("s", &mut &data[..], BTreeMap::new())
            .await
            .unwrap();
        w.commit(BTreeMap::new(), vec![]).await.unwrap();
        repo
    });
    g.bench_function("ingest_already_stored_64MiB", |b| {
        b.iter(|| {
            rt.block_on(async {
                let mut w = repo.writer(WriterOptions::default()).await.unwrap();
                w.add_stream("s", &mut &data[..], BTreeMap::new())
                    .await
                    .unwrap();
                w.commit(BTreeMap::new(), vec![]).await.unwrap()
            })
        })
    });
    g.bench_function("restore_64MiB", |b| {
        b.iter(|| {
            rt.block_on(async {
                let r = repo.reader("latest").await.unwrap();
                r.get("s").await.unwrap().len()
            })
        })
    });
    g.finish();
}

criterion_group!(benches, stages, pipeline);
criterion_main!(benches);
