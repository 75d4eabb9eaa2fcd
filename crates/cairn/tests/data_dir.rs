//! The data directory and the store as real processes find them: a fresh store opened by several
//! processes at once (migrations run once, one process at a time, on SQLite and PostgreSQL), and
//! modes that keep the database's password hashes, emails and audit log to the service's user.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use support::Install;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Runs `cairn org list --json` in `n` processes started together; each must succeed and see
/// the same (empty) list.
fn open_together(install: &Install, n: usize) {
    let outputs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|_| s.spawn(|| install.cli(&["org", "list", "--json"])))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for out in outputs {
        assert!(
            out.status.success(),
            "a process opening the fresh store failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "[]");
    }
}

#[test]
fn four_processes_opening_a_fresh_sqlite_store_at_once_all_succeed() {
    // The race was lost in about half the runs: a few fresh stores make a loss near certain.
    for round in 0..4 {
        let dir = tempfile::tempdir().unwrap();
        let install = Install::new(&dir.path().join(format!("round-{round}")));
        open_together(&install, 4);
    }
}

#[test]
fn four_processes_opening_a_fresh_postgres_store_at_once_all_succeed() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for _ in 0..2 {
        let Some(db) = rt.block_on(cairn_store::testing::TestDb::postgres()) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let mut install = Install::new(dir.path());
        install.database_url = Some(db.url.clone());
        open_together(&install, 4);
    }
}

#[test]
fn the_data_directory_is_0700_and_the_database_files_0600_whatever_the_umask() {
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let data = &install.data_dir;
    // The first process to open the installation runs under a umask that takes nothing away.
    let out = std::process::Command::new("sh")
        .args(["-c", "umask 000 && exec \"$0\" \"$@\""])
        .arg(support::BIN)
        .args(["org", "list", "--json", "--data-dir"])
        .arg(data)
        .env_remove("CAIRN_SECRET")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode(data), 0o700, "the data directory");
    for name in ["cairn.db", "secret"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    // While a server runs, SQLite's -wal and -shm files exist: they take the database's mode.
    let server = install.serve(&[]);
    assert!(server.first_start.is_some());
    for name in ["cairn.db", "cairn.db-wal", "cairn.db-shm", "secret"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name}");
    }
    assert!(server.terminate());

    // An installation made by an earlier version: everything readable by all.
    std::fs::set_permissions(data, std::fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["cairn.db", "cairn.db-wal", "cairn.db-shm"] {
        let path = data.join(name);
        if path.exists() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
    let server = install.serve(&[]);
    assert_eq!(mode(data), 0o700, "narrowed at start");
    for name in ["cairn.db", "cairn.db-wal", "cairn.db-shm"] {
        assert_eq!(mode(&data.join(name)), 0o600, "{name} narrowed at start");
    }
    let log = server.log();
    assert!(
        log.contains("narrowed the data directory's mode to 700")
            && log.contains("narrowed a database file's mode to 600"),
        "the start says what it changed:\n{log}"
    );
    assert!(server.terminate());
}
