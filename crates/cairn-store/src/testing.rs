//! Throw-away databases for tests, on both dialects (feature `testing`).
//!
//! PostgreSQL comes from `CAIRN_TEST_DATABASE_URL` (scripts/test-services.sh starts one): each
//! [`TestDb`] is a fresh database on that server. When the variable is unset the PostgreSQL half of
//! a suite is skipped with a message on stderr, unless `CAIRN_TEST_REQUIRE_SERVICES=1` (as in CI),
//! where a missing server is a failure.

use sqlx::{AnyConnection, Connection, Executor};

use crate::{Dialect, SqlStore};

/// A database that lives as long as this value (SQLite) or as long as the test server (PostgreSQL).
pub struct TestDb {
    pub url: String,
    pub dialect: Dialect,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/cairn.db?mode=rwc", dir.path().display());
        TestDb {
            url,
            dialect: Dialect::Sqlite,
            _dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so) when no server is configured.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(server) = std::env::var("CAIRN_TEST_DATABASE_URL") else {
            if std::env::var("CAIRN_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
                panic!("CAIRN_TEST_DATABASE_URL is not set but CAIRN_TEST_REQUIRE_SERVICES=1");
            }
            eprintln!(
                "skipping PostgreSQL: CAIRN_TEST_DATABASE_URL not set (scripts/test-services.sh start)"
            );
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("cairn_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AnyConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL server: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .expect("create test database");
        let _ = conn.close().await;
        let base = server.rsplit_once('/').map(|(b, _)| b).unwrap_or(&server);
        Some(TestDb {
            url: format!("{base}/{name}"),
            dialect: Dialect::Postgres,
            _dir: None,
        })
    }

    pub async fn connect(&self) -> SqlStore {
        SqlStore::connect(&self.url, 8)
            .await
            .expect("connect to test database")
    }
}

/// Runs `body` once on SQLite and once on PostgreSQL (when configured).
#[macro_export]
macro_rules! dual_test {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = $crate::testing::TestDb::sqlite().await;
                ($body)(db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = $crate::testing::TestDb::postgres().await {
                    ($body)(db).await;
                }
            }
        }
    };
}
