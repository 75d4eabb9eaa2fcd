//! The Backup Management store at scale (issue 5, "Performance"): 10,000 policies and 1,000,000
//! backups (and a job per backup), on SQLite and PostgreSQL. Prints p50/p99 of listing a page of
//! backups with the API's filters and of the scheduler finding due work, then the query plans.
//!
//! ```sh
//! source /var/tmp/cairn-services/env   # PostgreSQL for the second half
//! cargo bench -p cairn-store --bench management
//! ```
//! `CAIRN_BENCH_DIALECTS=sqlite` (or `postgres`) runs one; `CAIRN_BENCH_POLICIES_PER_ORG=100`
//! shrinks the data set for a quick look (the figures in BENCHMARKS.md use the default, 1,000).

use std::time::{Duration, Instant};

use cairn_store::testing::TestDb;
use cairn_store::*;
use chrono::{TimeDelta, TimeZone, Utc};
use sqlx::{AnyPool, AssertSqlSafe, Executor, Row};

const ORGS: u64 = 10;
const BACKUPS_PER_POLICY: u64 = 100;
const ROWS_PER_INSERT: usize = 500;
const WARMUP: usize = 20;
const SAMPLES: usize = 300;
const PAGE: u32 = 20;
/// Days of backups that still have their job row.
const JOB_DAYS: u64 = 10;

/// Deterministic, well-mixed 64-bit values (splitmix64), for ids that look like UUIDs.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn uuid(kind: u64, n: u64) -> String {
    let a = mix(kind << 40 | n);
    let b = mix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

fn org_id(o: u64) -> String {
    uuid(1, o)
}
fn storage_id(o: u64) -> String {
    uuid(2, o)
}
fn policy_id(p: u64) -> String {
    uuid(3, p)
}
fn cloud_id(p: u64) -> String {
    uuid(4, p)
}
fn backup_id(p: u64, d: u64) -> String {
    uuid(5, p * BACKUPS_PER_POLICY + d)
}

/// "Now" of the data set: every policy has 100 daily backups up to here.
fn now() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 3, 1, 12, 0, 0).unwrap()
}

fn ms(t: Timestamp) -> i64 {
    t.timestamp_millis()
}

/// The status of day `d` (0 oldest .. 99 newest) of policy `p`: 30 days kept, older expired, a
/// few failures and incomplete ones, and 1% of policies with their newest backup running.
fn status_of(p: u64, d: u64) -> BackupStatus {
    if d == BACKUPS_PER_POLICY - 1 && p.is_multiple_of(100) {
        BackupStatus::InProgress
    } else if d % 37 == 5 {
        BackupStatus::Failed
    } else if d < BACKUPS_PER_POLICY - 30 {
        BackupStatus::Expired
    } else if d % 23 == 3 {
        BackupStatus::Incomplete
    } else {
        BackupStatus::Completed
    }
}

fn product_of(p: u64) -> &'static str {
    if p.is_multiple_of(3) {
        "CONFLUENCE"
    } else {
        "JIRA"
    }
}

async fn insert_rows(pool: &AnyPool, head: &str, rows: impl Iterator<Item = String>) {
    let mut rows = rows.peekable();
    while rows.peek().is_some() {
        let mut tx = pool.begin().await.unwrap();
        for _ in 0..20 {
            let chunk: Vec<String> = rows.by_ref().take(ROWS_PER_INSERT).collect();
            if chunk.is_empty() {
                break;
            }
            let sql = format!("{head} VALUES {}", chunk.join(","));
            tx.execute(AssertSqlSafe(sql)).await.unwrap();
        }
        tx.commit().await.unwrap();
    }
}

async fn load(store: &SqlStore, pool: &AnyPool, policies_per_org: u64) {
    let started = Instant::now();
    let base = now();
    for o in 0..ORGS {
        store
            .insert_org(&OrgRecord {
                id: org_id(o),
                name: format!("org {o}"),
                created_at: base - TimeDelta::days(400),
            })
            .await
            .unwrap();
        store
            .insert_storage(&StorageRecord {
                id: storage_id(o),
                org_id: org_id(o),
                storage_type: StorageType::Builtin,
                bucket: "builtin".into(),
                region: None,
                prefix: Some(format!("vaults/{}", org_id(o))),
                role_identifier: None,
                principal_tag: None,
                cloud_id: None,
                product: None,
                endpoint: None,
                access_key_id: None,
                sealed_secret: None,
                encryption_type: "SERVICE_MANAGED".into(),
                status: StorageStatus::Connected,
                created_at: base - TimeDelta::days(400),
            })
            .await
            .unwrap();
    }
    let policies = ORGS * policies_per_org;
    let org_of = |p: u64| p % ORGS;
    let slot = |p: u64| (p * 7) % 1440;
    // Next runs spread over the coming day; one policy in 500 is due now.
    let next_run = move |p: u64| {
        if p.is_multiple_of(500) {
            ms(base) - 60_000
        } else {
            ms(base) + (slot(p) as i64 + 1) * 60_000
        }
    };
    insert_rows(
        pool,
        "INSERT INTO policies (id, org_id, name, cloud_id, product, status, include_attachments, \
         include_personal_spaces, include_users, storage_id, schedule_interval, \
         schedule_start_date, schedule_slot, next_run_at, retention_days, activated_by, \
         created_at, created_by, updated_at)",
        (0..policies).map(|p| {
            let active = p % 5 != 4;
            format!(
                "('{}','{}','policy {p}','{}','{}','{}',1,0,1,'{}','DAILY','2026-11-01',{},{},30,{},{},'acc-{}',{})",
                policy_id(p),
                org_id(org_of(p)),
                cloud_id(p),
                product_of(p),
                if active { "ACTIVE" } else { "INACTIVE" },
                storage_id(org_of(p)),
                slot(p),
                if active { next_run(p).to_string() } else { "NULL".into() },
                if active { format!("'acc-{}'", org_of(p)) } else { "NULL".into() },
                ms(base - TimeDelta::days(120)),
                org_of(p),
                ms(base - TimeDelta::days(120)),
            )
        }),
    )
    .await;
    eprintln!("  {policies} policies in {:.1?}", started.elapsed());

    let backups = policies * BACKUPS_PER_POLICY;
    let created = move |p: u64, d: u64| {
        ms(base) - ((BACKUPS_PER_POLICY - d) as i64) * 86_400_000 + slot(p) as i64 * 60_000
    };
    insert_rows(
        pool,
        "INSERT INTO backups (id, org_id, policy_id, name, cloud_id, product, status, \
         status_message, account_id, storage_id, encryption_type, selections, expiry_at, \
         users_size, data_size, attachments_size, progress, stats, snapshot_id, attempts, \
         started_at, created_at, updated_at)",
        (0..backups).map(|i| {
            let (p, d) = (i / BACKUPS_PER_POLICY, i % BACKUPS_PER_POLICY);
            let status = status_of(p, d);
            let t = created(p, d);
            format!(
                "('{}','{}','{}','policy {p} day {d}','{}','{}','{}','{}','acc-{}','{}','SERVICE_MANAGED','USERS,ATTACHMENTS',{},{},{},{},NULL,NULL,{},{},{},{},{})",
                backup_id(p, d),
                org_id(org_of(p)),
                policy_id(p),
                cloud_id(p),
                product_of(p),
                status.as_str(),
                if status == BackupStatus::Failed { "Failed after 3 attempts: the site timed out." } else { "Completed." },
                org_of(p),
                storage_id(org_of(p)),
                t + 30 * 86_400_000,
                mix(i) % 1000,
                mix(i) % 1_000_000_000,
                mix(i) % 10_000_000,
                if status.in_flight() { "NULL".into() } else { format!("'snap-{i}'") },
                if status == BackupStatus::Failed { 3 } else { 1 },
                t + 1000,
                t,
                t + 600_000,
            )
        }),
    )
    .await;
    eprintln!("  {backups} backups in {:.1?}", started.elapsed());

    // A job per backup of the last ten days (older DONE jobs only add rows the partial index
    // leaves out, and disk the shared machine lacks): all DONE but the running ones, plus
    // retries queued for later and a few due now (what `claim_job` looks through).
    insert_rows(
        pool,
        "INSERT INTO jobs (id, kind, subject_id, org_id, state, available_at, lease_token, \
         attempts, checkpoint, cancel_requested, created_at, updated_at)",
        (0..backups)
            .filter(|i| i % BACKUPS_PER_POLICY >= BACKUPS_PER_POLICY - JOB_DAYS)
            .map(|i| {
                let (p, d) = (i / BACKUPS_PER_POLICY, i % BACKUPS_PER_POLICY);
                let t = created(p, d);
                let (state, available) = match status_of(p, d) {
                    BackupStatus::InProgress => ("RUNNING", ms(base) + 60_000),
                    _ if d == BACKUPS_PER_POLICY - 1 && p % 50 == 1 => {
                        ("QUEUED", ms(base) + 30 * 60_000)
                    }
                    _ if d == BACKUPS_PER_POLICY - 1 && p % 1000 == 7 => {
                        ("QUEUED", ms(base) - 1000)
                    }
                    _ => ("DONE", t + 600_000),
                };
                format!(
                    "('{}','BACKUP','{}','{}','{state}',{available},NULL,1,NULL,0,{t},{t})",
                    uuid(6, i),
                    backup_id(p, d),
                    org_id(org_of(p)),
                )
            }),
    )
    .await;
    eprintln!(
        "  {} jobs in {:.1?}",
        policies * JOB_DAYS,
        started.elapsed()
    );
}

struct Case {
    name: String,
    filter: BackupFilter,
    page: PageQuery,
}

fn cases() -> Vec<Case> {
    let org = org_id(3);
    let by = |status: Option<BackupStatus>| BackupFilter {
        org_id: org.clone(),
        status,
        ..Default::default()
    };
    let page = |start: u64, descending: bool| PageQuery {
        offset: start * u64::from(PAGE),
        limit: PAGE,
        descending,
    };
    let case = |name: &str, filter: BackupFilter, page: PageQuery| Case {
        name: name.into(),
        filter,
        page,
    };
    vec![
        case("org, DESC, first page", by(None), page(0, true)),
        case("org, DESC, page 500", by(None), page(500, true)),
        case(
            "org + status COMPLETED, DESC, first page",
            by(Some(BackupStatus::Completed)),
            page(0, true),
        ),
        case(
            "org + status COMPLETED, ASC, first page",
            by(Some(BackupStatus::Completed)),
            page(0, false),
        ),
        case(
            "org + status COMPLETED, DESC, page 500",
            by(Some(BackupStatus::Completed)),
            page(500, true),
        ),
        case(
            "org + status FAILED, DESC, first page",
            by(Some(BackupStatus::Failed)),
            page(0, true),
        ),
        case(
            "org + cloudId, DESC, first page",
            BackupFilter {
                cloud_id: Some(cloud_id(13)),
                ..by(None)
            },
            page(0, true),
        ),
        case(
            "org + cloudId, ASC, page 2",
            BackupFilter {
                cloud_id: Some(cloud_id(13)),
                ..by(None)
            },
            page(2, false),
        ),
        case(
            "org + product JIRA, DESC, first page",
            BackupFilter {
                product: Some(Product::Jira),
                ..by(None)
            },
            page(0, true),
        ),
        case(
            "policy + status COMPLETED, DESC, first page",
            BackupFilter {
                policy_id: Some(policy_id(13)),
                ..by(Some(BackupStatus::Completed))
            },
            page(0, true),
        ),
        case(
            "policy, ASC, page 4",
            BackupFilter {
                policy_id: Some(policy_id(13)),
                ..by(None)
            },
            page(4, false),
        ),
    ]
}

struct Figure {
    name: String,
    p50: Duration,
    p99: Duration,
    note: String,
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let p = |q: usize| v[(v.len() * q / 100).min(v.len() - 1)];
    (p(50), p(99))
}

async fn time<F, Fut>(mut f: F) -> (Duration, Duration)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    for _ in 0..WARMUP {
        f().await;
    }
    let mut samples = Vec::with_capacity(SAMPLES);
    for _ in 0..SAMPLES {
        let t = Instant::now();
        f().await;
        samples.push(t.elapsed());
    }
    percentiles(samples)
}

async fn measure(store: &SqlStore, policies: u64) -> Vec<Figure> {
    let mut out = Vec::new();
    for case in cases() {
        let page = store.list_backups(&case.filter, case.page).await.unwrap();
        let note = format!("{} items of {}", page.items.len(), page.total);
        let (p50, p99) = time(|| async {
            store.list_backups(&case.filter, case.page).await.unwrap();
        })
        .await;
        out.push(Figure {
            name: format!("list_backups: {}", case.name),
            p50,
            p99,
            note,
        });
    }
    let due = store.due_policies(now(), 200).await.unwrap().len();
    let (p50, p99) = time(|| async {
        store.due_policies(now(), 200).await.unwrap();
    })
    .await;
    out.push(Figure {
        name: "due_policies(now, 200)".into(),
        p50,
        p99,
        note: format!("{due} due of {} active", policies * 4 / 5),
    });
    // Claim a due job, then give it back untimed, so every sample sees the same queue.
    let mut samples = Vec::new();
    for i in 0..WARMUP + SAMPLES {
        let token = format!("bench-{i}");
        let t = Instant::now();
        let job = store
            .claim_job(now(), now() + TimeDelta::seconds(60), &token)
            .await
            .unwrap()
            .expect("a due job");
        if i >= WARMUP {
            samples.push(t.elapsed());
        }
        store
            .requeue_job(&job.id, &token, now() - TimeDelta::seconds(1))
            .await
            .unwrap();
    }
    let (p50, p99) = percentiles(samples);
    out.push(Figure {
        name: format!(
            "claim_job ({} jobs, {} due)",
            policies * JOB_DAYS,
            policies / 1000
        ),
        p50,
        p99,
        note: "claims one".into(),
    });
    out
}

/// The statements `list_backups`, `due_policies` and `claim_job` send (see `fetch_page` and
/// `sql/management.rs`), with literal values, for the plans.
fn plan_statements() -> Vec<(String, String)> {
    let org = org_id(3);
    let policy = policy_id(13);
    let cloud = cloud_id(13);
    let now = ms(now());
    let list = |filter: &str, dir: &str, offset: u64| {
        let order = format!("ORDER BY created_at {dir}, id {dir}");
        format!(
            "SELECT * FROM backups WHERE {filter} AND id IN (SELECT id FROM backups \
             WHERE {filter} {order} LIMIT 20 OFFSET {offset}) {order}"
        )
    };
    // `totalItems` of backups sums the counts the triggers keep (see `fetch_page`).
    let sum = |filter: &str| {
        format!("SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM backup_counts WHERE {filter}")
    };
    vec![
        (
            "page: org + status, DESC".into(),
            list(
                &format!("org_id = '{org}' AND status = 'COMPLETED'"),
                "DESC",
                0,
            ),
        ),
        (
            "total: org + status".into(),
            sum(&format!("org_id = '{org}' AND status = 'COMPLETED'")),
        ),
        (
            "page: org, DESC, page 500".into(),
            list(&format!("org_id = '{org}'"), "DESC", 10_000),
        ),
        (
            "page: org + status, DESC, page 500".into(),
            list(
                &format!("org_id = '{org}' AND status = 'COMPLETED'"),
                "DESC",
                10_000,
            ),
        ),
        ("total: org".into(), sum(&format!("org_id = '{org}'"))),
        (
            "total: org + cloudId".into(),
            sum(&format!("org_id = '{org}' AND cloud_id = '{cloud}'")),
        ),
        (
            "total: policy + status".into(),
            sum(&format!(
                "policy_id = '{policy}' AND org_id = '{org}' AND status = 'COMPLETED'"
            )),
        ),
        (
            "page: org + cloudId, ASC".into(),
            list(
                &format!("org_id = '{org}' AND cloud_id = '{cloud}'"),
                "ASC",
                0,
            ),
        ),
        (
            "page: policy + status, DESC".into(),
            list(
                &format!("policy_id = '{policy}' AND org_id = '{org}' AND status = 'COMPLETED'"),
                "DESC",
                0,
            ),
        ),
        (
            "due_policies".into(),
            format!(
                "SELECT id FROM policies WHERE next_run_at IS NOT NULL AND next_run_at <= {now} \
                 AND status = 'ACTIVE' ORDER BY next_run_at LIMIT 200"
            ),
        ),
        (
            "claim_job (inner select)".into(),
            format!(
                "SELECT id FROM jobs WHERE state <> 'DONE' AND available_at <= {now} \
                 ORDER BY available_at LIMIT 1"
            ),
        ),
    ]
}

async fn plans(pool: &AnyPool, dialect: Dialect) -> String {
    let mut text = String::new();
    for (name, sql) in plan_statements() {
        let explain = match dialect {
            Dialect::Sqlite => format!("EXPLAIN QUERY PLAN {sql}"),
            Dialect::Postgres => format!("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) {sql}"),
        };
        let rows = sqlx::query(AssertSqlSafe(explain))
            .fetch_all(pool)
            .await
            .unwrap();
        text.push_str(&format!("-- {name}\n"));
        for row in rows {
            let line: String = match dialect {
                Dialect::Sqlite => row.try_get("detail").unwrap(),
                Dialect::Postgres => row.try_get(0).unwrap(),
            };
            text.push_str(&format!("   {line}\n"));
        }
    }
    text
}

async fn run(db: TestDb, policies_per_org: u64) {
    let store = db.connect().await;
    let pool = AnyPool::connect(&db.url).await.unwrap();
    let dialect = store.dialect();
    eprintln!("{}: loading", dialect.name());
    load(&store, &pool, policies_per_org).await;
    match dialect {
        Dialect::Sqlite => pool.execute("ANALYZE").await.unwrap(),
        Dialect::Postgres => pool
            .execute("VACUUM ANALYZE policies, backups, backup_counts, jobs")
            .await
            .unwrap(),
    };
    let figures = measure(&store, ORGS * policies_per_org).await;
    println!(
        "\n### {} ({} policies, {} backups)\n",
        dialect.name(),
        ORGS * policies_per_org,
        ORGS * policies_per_org * BACKUPS_PER_POLICY
    );
    println!("| operation | p50 | p99 | result |\n|---|---|---|---|");
    for f in figures {
        println!(
            "| {} | {:.2} ms | {:.2} ms | {} |",
            f.name,
            f.p50.as_secs_f64() * 1000.0,
            f.p99.as_secs_f64() * 1000.0,
            f.note
        );
    }
    println!(
        "\nQuery plans ({}):\n```\n{}```",
        dialect.name(),
        plans(&pool, dialect).await
    );
    pool.close().await;
    store.close().await;
    if dialect == Dialect::Postgres {
        // The bench database is large; drop it rather than leave it on the shared server.
        let server = std::env::var("CAIRN_TEST_DATABASE_URL").unwrap();
        let admin = AnyPool::connect(&server).await.unwrap();
        let name = db.url.rsplit('/').next().unwrap().to_string();
        admin
            .execute(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
            .await
            .unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    sqlx::any::install_default_drivers();
    let policies_per_org: u64 = std::env::var("CAIRN_BENCH_POLICIES_PER_ORG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dialects = std::env::var("CAIRN_BENCH_DIALECTS").unwrap_or("sqlite,postgres".into());
    if dialects.contains("sqlite") {
        run(TestDb::sqlite().await, policies_per_org).await;
    }
    if dialects.contains("postgres") {
        match TestDb::postgres().await {
            Some(db) => run(db, policies_per_org).await,
            None => eprintln!("postgres: skipped (no CAIRN_TEST_DATABASE_URL)"),
        }
    }
}
