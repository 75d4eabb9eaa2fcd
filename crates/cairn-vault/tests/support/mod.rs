//! Shared test helpers: the storages every storage test runs on.
#![allow(dead_code)]

use std::collections::BTreeMap;

use cairn_vault::{
    Backend, ChunkerParams, InitOptions, KdfParams, KeySource, Location, Repository, S3Config,
};

/// A local-directory backend in a fresh temporary directory (kept alive by the returned guard).
pub fn local() -> (Backend, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let b = Backend::open(&Location::Local(dir.path().join("repo"))).expect("local backend");
    (b, dir)
}

/// The S3 test server from `scripts/test-services.sh`, under a unique prefix; `None` (with a notice) when not
/// configured, unless `CAIRN_TEST_REQUIRE_SERVICES=1`, in which case a missing server fails the test.
pub fn s3(test: &str) -> Option<Backend> {
    let Ok(endpoint) = std::env::var("CAIRN_TEST_S3_ENDPOINT") else {
        if std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
            panic!("CAIRN_TEST_REQUIRE_SERVICES=1 but CAIRN_TEST_S3_ENDPOINT is not set");
        }
        eprintln!("skipping S3: CAIRN_TEST_S3_ENDPOINT not set");
        return None;
    };
    let var = |k: &str| {
        std::env::var(k).unwrap_or_else(|_| panic!("{k} must be set with CAIRN_TEST_S3_ENDPOINT"))
    };
    let cfg = S3Config {
        endpoint: Some(endpoint),
        region: var("CAIRN_TEST_S3_REGION"),
        bucket: var("CAIRN_TEST_S3_BUCKET"),
        prefix: format!(
            "vault-tests/{test}-{}-{}",
            std::process::id(),
            rand_suffix()
        ),
        access_key_id: Some(var("CAIRN_TEST_S3_ACCESS_KEY_ID")),
        secret_access_key: Some(var("CAIRN_TEST_S3_SECRET_ACCESS_KEY")),
        allow_http: true,
        ..Default::default()
    };
    Some(Backend::open(&Location::S3(cfg)).expect("s3 backend"))
}

fn rand_suffix() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    format!("{:x}", t.as_nanos())
}

/// Small chunks and packs so tests exercise many chunks and packs with little data.
pub fn small_opts() -> InitOptions {
    InitOptions {
        kdf: KdfParams::insecure_fast(),
        chunker: ChunkerParams {
            min_size: 4 * 1024,
            avg_size: 16 * 1024,
            max_size: 64 * 1024,
            ..Default::default()
        },
        pack_target_size: 256 * 1024,
        zstd_level: 1,
        key_label: "test".into(),
    }
}

pub fn key() -> KeySource {
    KeySource::Passphrase("test passphrase".into())
}

pub async fn init(b: Backend) -> Repository {
    Repository::init(b, &key(), small_opts())
        .await
        .expect("init")
}

pub fn attrs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Deterministic pseudo-random bytes (incompressible).
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
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

/// Runs a scenario on the local directory and, when configured, on S3.
#[macro_export]
macro_rules! on_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn local() {
                let (b, _guard) = $crate::support::local();
                super::$name(b).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn s3() {
                if let Some(b) = $crate::support::s3(stringify!($name)) {
                    super::$name(b).await;
                }
            }
        }
    )*};
}
