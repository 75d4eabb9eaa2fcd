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

mod management;
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
        let migrator = match dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator
            .run(&pool)
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

const ORG_COLS: &str = "id, name, created_at";
const ACCOUNT_COLS: &str = "a.id AS a_id, a.email AS a_email, a.display_name AS a_display_name, \
     a.password_hash AS a_password_hash, a.active AS a_active, a.created_at AS a_created_at";
const TOKEN_COLS: &str = "t.id AS t_id, t.account_id AS t_account_id, t.label AS t_label, \
     t.hint AS t_hint, t.secret_hmac AS t_secret_hmac, t.created_at AS t_created_at, \
     t.expires_at AS t_expires_at, t.last_used_at AS t_last_used_at, \
     t.revoked_at AS t_revoked_at, t.revoked_by AS t_revoked_by";
const AUDIT_COLS: &str = "id, org_id, account_id, action, target, client_addr, details, created_at";

fn org_from(row: &AnyRow) -> StoreResult<OrgRecord> {
    Ok(OrgRecord {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        created_at: time_col(row, "created_at")?,
    })
}

fn account_from(row: &AnyRow) -> StoreResult<AccountRecord> {
    Ok(AccountRecord {
        id: row.try_get("a_id")?,
        email: row.try_get("a_email")?,
        display_name: row.try_get("a_display_name")?,
        password_hash: row.try_get("a_password_hash")?,
        active: row.try_get::<i64, _>("a_active")? != 0,
        created_at: time_col(row, "a_created_at")?,
    })
}

fn token_from(row: &AnyRow) -> StoreResult<TokenRecord> {
    Ok(TokenRecord {
        id: row.try_get("t_id")?,
        account_id: row.try_get("t_account_id")?,
        label: row.try_get("t_label")?,
        hint: row.try_get("t_hint")?,
        secret_hmac: row.try_get("t_secret_hmac")?,
        created_at: time_col(row, "t_created_at")?,
        expires_at: time_col(row, "t_expires_at")?,
        last_used_at: opt_time_col(row, "t_last_used_at")?,
        revoked_at: opt_time_col(row, "t_revoked_at")?,
        revoked_by: row.try_get("t_revoked_by")?,
    })
}

fn membership_from(row: &AnyRow) -> StoreResult<MembershipRecord> {
    let role: String = row.try_get("role")?;
    Ok(MembershipRecord {
        org_id: row.try_get("org_id")?,
        account_id: row.try_get("account_id")?,
        role: OrgRole::parse(&role)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown role {role:?}")))?,
        created_at: time_col(row, "created_at")?,
    })
}

fn audit_from(row: &AnyRow) -> StoreResult<AuditEventRecord> {
    Ok(AuditEventRecord {
        id: row.try_get("id")?,
        org_id: row.try_get("org_id")?,
        account_id: row.try_get("account_id")?,
        action: row.try_get("action")?,
        target: row.try_get("target")?,
        client_addr: row.try_get("client_addr")?,
        details: row.try_get("details")?,
        created_at: time_col(row, "created_at")?,
    })
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn insert_org(&self, org: &OrgRecord) -> StoreResult<()> {
        sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(&org.id)
            .bind(&org.name)
            .bind(millis(org.created_at))
            .execute(&self.pool)
            .await
            .map_err(|e| StoreError::from_sqlx(e, "org id"))?;
        Ok(())
    }

    async fn get_org(&self, org_id: &str) -> StoreResult<Option<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLS} FROM orgs WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(org_from).transpose()
    }

    async fn list_orgs(&self) -> StoreResult<Vec<OrgRecord>> {
        let sql = format!("SELECT {ORG_COLS} FROM orgs ORDER BY created_at, id");
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(org_from).collect()
    }

    async fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO accounts (id, email, email_lower, display_name, password_hash, active, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.id)
        .bind(&a.email)
        .bind(a.email.to_lowercase())
        .bind(&a.display_name)
        .bind(a.password_hash.as_deref())
        .bind(i64::from(a.active))
        .bind(millis(a.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "email"))?;
        Ok(())
    }

    async fn get_account(&self, account_id: &str) -> StoreResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    async fn find_account_by_email(&self, email: &str) -> StoreResult<Option<AccountRecord>> {
        let sql = format!("SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.email_lower = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    async fn list_accounts(&self, org_id: Option<&str>) -> StoreResult<Vec<AccountRecord>> {
        let rows = match org_id {
            Some(org_id) => {
                let sql = format!(
                    "SELECT {ACCOUNT_COLS} FROM accounts a JOIN memberships m ON m.account_id = a.id \
                     WHERE m.org_id = $1 ORDER BY a.created_at, a.id"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(org_id)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql =
                    format!("SELECT {ACCOUNT_COLS} FROM accounts a ORDER BY a.created_at, a.id");
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(account_from).collect()
    }

    async fn set_account_active(&self, account_id: &str, active: bool) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE accounts SET active = $1 WHERE id = $2")
            .bind(i64::from(active))
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn set_password_hash(&self, account_id: &str, hash: Option<&str>) -> StoreResult<bool> {
        let done = sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(account_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_membership(&self, m: &MembershipRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO memberships (org_id, account_id, role, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (org_id, account_id) DO UPDATE SET role = excluded.role",
        )
        .bind(&m.org_id)
        .bind(&m.account_id)
        .bind(m.role.as_str())
        .bind(millis(m.created_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn get_membership(
        &self,
        org_id: &str,
        account_id: &str,
    ) -> StoreResult<Option<MembershipRecord>> {
        let row = sqlx::query(
            "SELECT org_id, account_id, role, created_at FROM memberships \
             WHERE org_id = $1 AND account_id = $2",
        )
        .bind(org_id)
        .bind(account_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(membership_from).transpose()
    }

    async fn list_memberships(&self, account_id: &str) -> StoreResult<Vec<MembershipRecord>> {
        let rows = sqlx::query(
            "SELECT org_id, account_id, role, created_at FROM memberships \
             WHERE account_id = $1 ORDER BY created_at, org_id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(membership_from).collect()
    }

    async fn insert_token_within_limit(
        &self,
        t: &TokenRecord,
        limit: u32,
        now: Timestamp,
    ) -> StoreResult<bool> {
        // One statement: insert only while fewer than `limit` live tokens exist. SQLite runs it
        // under its single-writer lock; PostgreSQL first locks the account row so concurrent
        // inserts for one account queue behind each other and each sees the previous one.
        let insert = sqlx::query(
            "INSERT INTO api_tokens (id, account_id, label, hint, secret_hmac, created_at, expires_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM api_tokens \
                    WHERE account_id = $2 AND revoked_at IS NULL AND expires_at > $8) < $9",
        )
        .bind(&t.id)
        .bind(&t.account_id)
        .bind(&t.label)
        .bind(&t.hint)
        .bind(&t.secret_hmac)
        .bind(millis(t.created_at))
        .bind(millis(t.expires_at))
        .bind(millis(now))
        .bind(i64::from(limit));
        let done = match self.dialect.lock_account_sql() {
            None => insert
                .execute(&self.pool)
                .await
                .map_err(|e| StoreError::from_sqlx(e, "token"))?,
            Some(lock) => {
                let mut tx = self.pool.begin().await?;
                sqlx::query(lock)
                    .bind(&t.account_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let done = insert
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| StoreError::from_sqlx(e, "token"))?;
                tx.commit().await?;
                done
            }
        };
        Ok(done.rows_affected() == 1)
    }

    async fn find_token_for_auth(
        &self,
        email: &str,
        secret_hmac: &str,
    ) -> StoreResult<Option<(AccountRecord, TokenRecord)>> {
        let sql = format!(
            "SELECT {ACCOUNT_COLS}, {TOKEN_COLS} FROM api_tokens t \
             JOIN accounts a ON a.id = t.account_id \
             WHERE t.secret_hmac = $1 AND a.email_lower = $2"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(secret_hmac)
            .bind(email.to_lowercase())
            .fetch_optional(&self.pool)
            .await?;
        match row {
            Some(row) => Ok(Some((account_from(&row)?, token_from(&row)?))),
            None => Ok(None),
        }
    }

    async fn get_token(&self, token_id: &str) -> StoreResult<Option<TokenRecord>> {
        let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(token_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(token_from).transpose()
    }

    async fn list_tokens(&self, account_id: &str) -> StoreResult<Vec<TokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.account_id = $1 \
             ORDER BY t.created_at DESC, t.id DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(account_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(token_from).collect()
    }

    async fn list_org_tokens(&self, org_id: &str) -> StoreResult<Vec<OwnedTokenRecord>> {
        let sql = format!(
            "SELECT {TOKEN_COLS}, a.email AS owner_email, a.display_name AS owner_name \
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id \
             JOIN memberships m ON m.account_id = a.id \
             WHERE m.org_id = $1 ORDER BY t.created_at DESC, t.id DESC"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(org_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                Ok(OwnedTokenRecord {
                    token: token_from(row)?,
                    owner_email: row.try_get("owner_email")?,
                    owner_display_name: row.try_get("owner_name")?,
                })
            })
            .collect()
    }

    async fn revoke_token(&self, token_id: &str, by: &str, now: Timestamp) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1, revoked_by = $2 \
             WHERE id = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(by)
        .bind(token_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn record_token_use(&self, token_id: &str, minute: Timestamp) -> StoreResult<()> {
        sqlx::query(
            "UPDATE api_tokens SET last_used_at = $1 \
             WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $1)",
        )
        .bind(millis(minute))
        .bind(token_id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// A value to bind to a statement built at run time.
enum Bind {
    Text(String),
    Int(i64),
}

/// Builds `WHERE` clauses with numbered placeholders, keeping values apart from the SQL text.
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

#[async_trait]
impl AuditStore for SqlStore {
    async fn insert_audit_event(&self, e: &AuditEventRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO audit_events (id, org_id, account_id, action, target, client_addr, details, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&e.id)
        .bind(e.org_id.as_deref())
        .bind(e.account_id.as_deref())
        .bind(&e.action)
        .bind(e.target.as_deref())
        .bind(e.client_addr.as_deref())
        .bind(e.details.as_deref())
        .bind(millis(e.created_at))
        .execute(&self.pool)
        .await
        .map_err(|e| StoreError::from_sqlx(e, "audit event id"))?;
        Ok(())
    }

    async fn list_audit_events(
        &self,
        filter: &AuditFilter,
        page: PageQuery,
    ) -> StoreResult<Page<AuditEventRecord>> {
        let mut cond = Conditions::default();
        if let Some(org) = &filter.org_id {
            cond.push("org_id = $?", Bind::Text(org.clone()));
        }
        if let Some(account) = &filter.account_id {
            cond.push("account_id = $?", Bind::Text(account.clone()));
        }
        if let Some(action) = &filter.action {
            cond.push("action = $?", Bind::Text(action.clone()));
        }
        if let Some(from) = filter.from {
            cond.push("created_at >= $?", Bind::Int(millis(from)));
        }
        if let Some(to) = filter.to {
            cond.push("created_at <= $?", Bind::Int(millis(to)));
        }
        self.fetch_page("audit_events", AUDIT_COLS, "id", &cond, page, audit_from)
            .await
    }
}

#[async_trait]
impl MetaStore for SqlStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("value")).transpose()?)
    }

    async fn insert_meta_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
