//! [`SqlStore`]: the store on SQLite or PostgreSQL through sqlx's `Any` driver.
//!
//! Every statement uses `$N` placeholders, which both SQLite and PostgreSQL accept, and only
//! types both know (TEXT, 64-bit integers). Timestamps are Unix milliseconds; flags are 0/1.

use std::time::Duration;

use async_trait::async_trait;
use chrono::DateTime;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

use crate::{
    AccountRecord, AuditEventRecord, AuditFilter, AuditStore, Dialect, IdentityStore,
    MembershipRecord, MetaStore, OrgRecord, OrgRole, OwnedTokenRecord, Page, PageQuery, StoreError,
    StoreResult, Timestamp, TokenRecord,
};

mod audit;
mod identity;
mod management;
mod meta;
mod sessions;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The control-plane store over SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlStore {
    /// Connects to `url` (`sqlite:PATH?mode=rwc` or `postgres://...`) and applies the embedded
    /// migrations of its dialect.
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let dialect = Dialect::from_url(url).ok_or_else(|| {
            StoreError::Setup(
                "unsupported database URL: use sqlite:PATH or postgres://USER@HOST/DB".into(),
            )
        })?;
        if dialect == Dialect::Sqlite {
            crate::sqlite_files::secure(url)?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if dialect == Dialect::Sqlite {
                        // WAL lets readers run beside the one writer; the busy timeout makes
                        // writers from several connections (or a CLI beside the server) queue
                        // instead of failing.
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                             PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        migrate(&pool, dialect)
            .await
            .map_err(|e| StoreError::Setup(format!("applying migrations: {e}")))?;
        Ok(SqlStore { pool, dialect })
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes every connection; pending queries finish first.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Applies the embedded migrations, one process at a time: processes opening a fresh store
/// together (a server and a CLI command) would otherwise both create the same tables.
///
/// - PostgreSQL: sqlx's migrator holds `pg_advisory_lock` (keyed by the database name) while it
///   runs (`Migrator::locking`, on by default and never turned off here).
/// - SQLite: the whole run is one `BEGIN EXCLUSIVE` transaction (each migration a savepoint in
///   it); another process waits on the busy timeout, then finds every migration applied.
async fn migrate(pool: &AnyPool, dialect: Dialect) -> Result<(), sqlx::migrate::MigrateError> {
    match dialect {
        Dialect::Postgres => POSTGRES_MIGRATIONS.run(pool).await?,
        Dialect::Sqlite => {
            let mut conn = pool.acquire().await?;
            let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN EXCLUSIVE").await?;
            SQLITE_MIGRATIONS.run(&mut *tx).await?;
            tx.commit().await?;
        }
    }
    Ok(())
}

fn millis(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

fn time_col(row: &AnyRow, col: &str) -> StoreResult<Timestamp> {
    let ms: i64 = row.try_get(col)?;
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| StoreError::Corrupt(format!("{col} holds an impossible time {ms}")))
}

fn opt_time_col(row: &AnyRow, col: &str) -> StoreResult<Option<Timestamp>> {
    let ms: Option<i64> = row.try_get(col)?;
    ms.map(|ms| {
        DateTime::from_timestamp_millis(ms)
            .ok_or_else(|| StoreError::Corrupt(format!("{col} holds an impossible time {ms}")))
    })
    .transpose()
}

/// A value to bind to a statement built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// Builds `WHERE` clauses (or a `SET` list) with numbered placeholders, keeping values apart from
/// the SQL text.
#[derive(Default)]
struct Conditions {
    clauses: Vec<String>,
    binds: Vec<Bind>,
}

impl Conditions {
    fn push(&mut self, clause_with_placeholder: &str, value: Bind) {
        self.binds.push(value);
        let n = self.binds.len();
        self.clauses
            .push(clause_with_placeholder.replace("$?", &format!("${n}")));
    }

    fn where_sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// The clauses as a `SET` list: `a = $1, b = $2`.
    fn set_sql(&self) -> String {
        self.clauses.join(", ")
    }

    fn bind_all<'q>(
        &'q self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for b in &self.binds {
            q = match b {
                Bind::Text(s) => q.bind(s.as_str()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }
}

fn order_sql(descending: bool, id_col: &str) -> String {
    let dir = if descending { "DESC" } else { "ASC" };
    format!(" ORDER BY created_at {dir}, {id_col} {dir}")
}

/// The table of counts kept by triggers (migration 0003) for a listed table whose filters are
/// all columns of it: `totalItems` sums it instead of counting every matching row.
fn counts_table(table: &str) -> Option<&'static str> {
    match table {
        "backups" => Some("backup_counts"),
        _ => None,
    }
}

impl SqlStore {
    /// One page of `table` in creation order (ties broken by `id_col`), with the count of every
    /// row that matches: the one implementation of spec section 1.1 in SQL.
    async fn fetch_page<T>(
        &self,
        table: &str,
        cols: &str,
        id_col: &str,
        cond: &Conditions,
        page: PageQuery,
        map: fn(&AnyRow) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let where_sql = cond.where_sql();
        let order = order_sql(page.descending, id_col);
        // The page's keys come from the index alone; only its own rows are read. Reading every
        // column of the rows an OFFSET skips would cost one table read each (20 ms for a page
        // 10,000 rows deep on PostgreSQL). The outer filter repeats the inner one (same
        // placeholders) because `id_col` alone need not be unique (a site's is per org).
        let and_or_where = if where_sql.is_empty() {
            " WHERE"
        } else {
            " AND"
        };
        let list_sql = format!(
            "SELECT {cols} FROM {table}{where_sql}{and_or_where} {id_col} IN \
             (SELECT {id_col} FROM {table}{where_sql}{order} LIMIT {} OFFSET {}){order}",
            page.limit, page.offset
        );
        let rows = cond
            .bind_all(sqlx::query(AssertSqlSafe(list_sql)))
            .fetch_all(&self.pool)
            .await?;
        // A short first page is its own count; otherwise count separately (an index-only scan,
        // cheaper than a window count that would materialise every matching row), or sum the
        // table's maintained counts where it has them.
        let total = if page.offset == 0 && (rows.len() as u64) < u64::from(page.limit) {
            rows.len() as u64
        } else {
            let count_sql = match counts_table(table) {
                Some(counts) => format!(
                    "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) AS n FROM {counts}{where_sql}"
                ),
                None => format!("SELECT COUNT(*) AS n FROM {table}{where_sql}"),
            };
            let n: i64 = cond
                .bind_all(sqlx::query(AssertSqlSafe(count_sql)))
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?;
            u64::try_from(n).unwrap_or(0)
        };
        Ok(Page {
            items: rows.iter().map(map).collect::<StoreResult<_>>()?,
            total,
        })
    }
}
