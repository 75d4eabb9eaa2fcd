//! The Backup Management domain over a real store (SQLite and PostgreSQL) and a manual clock
//! (nothing sleeps): the job worker's outcomes (rule 6 retries, failures, cancel, lost and
//! lapsed leases), the scheduler's tick (catch-up once, `ONCE` policies, racing nodes, expiry),
//! activation, and every 409 of spec section 4 with the rule it names.
//!
//! Two things are stand-ins here, and only these: the [`Engine`] is a scripted one that exists to
//! inject faults (the real engine is tested in `crates/cairn-engine/tests` and end to end in
//! `crates/cairn/tests`), and the site and storage probes answer from a fixed table
//! (`cairn_control::testing::FixedSites`; the real HTTP site probe and S3 storage probe are tested
//! end to end, against the site stand-in and SeaweedFS, in `crates/cairn/tests`).

use std::collections::VecDeque;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use cairn_control::ControlError;
use cairn_control::clock::{Clock, ManualClock};
use cairn_control::identity::Actor;
use cairn_control::jobs::{
    BackupResult, BackupTask, CollectTask, Engine, EngineError, JobContext, Outcome, RestoreResult,
    RestoreTask, Worker, WorkerSettings,
};
use cairn_control::management::{
    BackupStatsView, LegacyRefusal, LegacyStatus, LockAuthority, Management, ManagementSettings,
    NewPolicy, NewRestore, NewSite, PolicyPatch, RestoreSummary, ScheduleInput, legacy_policy_name,
};
use cairn_control::testing::{AnyStorage, FixedSites, TestInstallation, site_facts};
use cairn_store::testing::TestDb;
use cairn_store::*;
use chrono::{NaiveDate, TimeDelta, TimeZone, Utc};

const ORG: &str = "org-a";
const OTHER: &str = "org-b";

fn start() -> Timestamp {
    Utc.with_ymd_and_hms(2027, 1, 10, 0, 0, 0).unwrap()
}

fn actor() -> Actor {
    Actor {
        account_id: Some("acc-1".into()),
        client_addr: Some("127.0.0.1".into()),
    }
}

/// What the scripted engine does on its next backup.
enum Step {
    Complete,
    /// Ends INCOMPLETE with this message.
    Incomplete(&'static str),
    Fail(EngineError),
    /// Saves a checkpoint, then stops as a dead node would: no more writes.
    CheckpointThenDie(&'static str),
    /// Runs so long that its lease lapses and another worker (`thief`) claims the job, then
    /// returns success anyway.
    OutlivesItsLease,
    /// The caller cancels the backup while it runs; the engine stops at a consistent point.
    CancelledMidway,
}

/// The fault-injection engine: follows its script, and records what each run saw.
struct ScriptedEngine {
    steps: Mutex<VecDeque<Step>>,
    /// (checkpoint seen, attempt) of each backup run.
    seen: Mutex<Vec<(Option<String>, u32)>>,
    collected: Mutex<Vec<String>>,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    management: OnceLock<Arc<Management>>,
}

impl ScriptedEngine {
    fn script(&self, steps: impl IntoIterator<Item = Step>) {
        self.steps.lock().unwrap().extend(steps);
    }
}

fn completed(backup: &BackupRecord) -> BackupResult {
    BackupResult {
        outcome: Outcome::Completed,
        snapshot_id: format!("snap-{}", backup.id),
        users_size: 1,
        data_size: 2,
        attachments_size: 3,
        stats: BackupStatsView::default(),
    }
}

#[async_trait]
impl Engine for ScriptedEngine {
    async fn backup(
        &self,
        task: BackupTask,
        ctx: &JobContext,
    ) -> Result<BackupResult, EngineError> {
        self.seen
            .lock()
            .unwrap()
            .push((ctx.checkpoint().map(String::from), ctx.attempt()));
        let step = self
            .steps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Step::Complete);
        match step {
            Step::Complete => Ok(completed(&task.backup)),
            Step::Incomplete(what) => Ok(BackupResult {
                outcome: Outcome::Incomplete(what.into()),
                ..completed(&task.backup)
            }),
            Step::Fail(e) => Err(e),
            Step::CheckpointThenDie(at) => {
                ctx.save_checkpoint(at).await?;
                Err(EngineError::LeaseLost)
            }
            Step::OutlivesItsLease => {
                self.clock.advance(TimeDelta::seconds(61));
                let now = self.clock.now();
                let stolen = self
                    .store
                    .claim_job(now, now + TimeDelta::seconds(60), "thief")
                    .await
                    .unwrap()
                    .expect("the lapsed job is claimable");
                assert_eq!(stolen.subject_id, task.backup.id);
                Ok(completed(&task.backup))
            }
            Step::CancelledMidway => {
                let m = self.management.get().unwrap();
                m.cancel_backup(&task.backup.org_id, &actor(), &task.backup.id)
                    .await
                    .unwrap();
                Err(EngineError::Cancelled)
            }
        }
    }

    async fn restore(
        &self,
        _task: RestoreTask,
        _ctx: &JobContext,
    ) -> Result<RestoreResult, EngineError> {
        Ok(RestoreResult {
            outcome: Outcome::Completed,
            summary: RestoreSummary::default(),
        })
    }

    async fn collect(&self, task: CollectTask, _ctx: &JobContext) -> Result<(), EngineError> {
        self.collected.lock().unwrap().push(task.backup.id);
        Ok(())
    }
}

struct Env {
    install: TestInstallation,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    sites: Arc<FixedSites>,
    m: Arc<Management>,
    engine: Arc<ScriptedEngine>,
    worker: Worker,
    shutdown: Arc<AtomicBool>,
}

/// Two organizations, a clock that moves only when told, sites the test adds, storages that all
/// answer, and a scripted engine behind a worker.
async fn env_with(db: TestDb, settings: ManagementSettings) -> Env {
    let clock = Arc::new(ManualClock::new(start()));
    let sites = Arc::new(FixedSites::default());
    let install = TestInstallation::builder(db)
        .org_ids(&[ORG, OTHER])
        .clock(clock.clone())
        .sites(sites.clone())
        .storages(Arc::new(AnyStorage))
        .management_settings(settings)
        .build()
        .await;
    let (store, m) = (install.store.clone(), install.management.clone());
    let engine = Arc::new(ScriptedEngine {
        steps: Mutex::default(),
        seen: Mutex::default(),
        collected: Mutex::default(),
        store: store.clone(),
        clock: clock.clone(),
        management: OnceLock::new(),
    });
    engine.management.set(m.clone()).ok();
    let worker = Worker::new(m.clone(), engine.clone(), worker_settings());
    Env {
        install,
        store,
        clock,
        sites,
        m,
        engine,
        worker,
        shutdown: Arc::new(AtomicBool::new(false)),
    }
}

fn worker_settings() -> WorkerSettings {
    WorkerSettings {
        concurrency: 1,
        lease: Duration::from_secs(60),
        poll: Duration::from_millis(10),
    }
}

async fn env(db: TestDb) -> Env {
    env_with(db, ManagementSettings::default()).await
}

impl Env {
    async fn site(&self, org: &str, name: &str, jira_empty: bool) -> SiteRecord {
        let url = format!("https://{name}.example.net");
        let facts = site_facts(&format!("cloud-{name}"), None, jira_empty, true);
        self.sites.add(&url, "site-token", facts);
        self.m
            .register_site(
                org,
                &actor(),
                NewSite {
                    cloud_url: url,
                    email: "admin@example.net".into(),
                    api_token: "site-token".into(),
                    cloud_name: None,
                },
            )
            .await
            .unwrap()
    }

    async fn policy(
        &self,
        cloud_id: &str,
        schedule: Option<(Interval, NaiveDate)>,
        retention_days: Option<u32>,
    ) -> PolicyRecord {
        self.m
            .create_policy(
                ORG,
                &actor(),
                NewPolicy {
                    name: "nightly".into(),
                    cloud_id: cloud_id.into(),
                    product: Product::Jira,
                    include_attachments: None,
                    include_users: None,
                    include_personal_spaces: None,
                    storage_id: None,
                    schedule: schedule.map(|(interval, start_date)| ScheduleInput {
                        interval,
                        start_date,
                    }),
                    retention_days,
                    activate: false,
                },
            )
            .await
            .unwrap()
            .policy
    }

    async fn run_one(&self) -> bool {
        self.worker.run_one(&self.shutdown).await.unwrap()
    }

    async fn backup(&self, id: &str) -> BackupRecord {
        self.m.get_backup(ORG, id).await.unwrap()
    }

    async fn job(&self, backup_id: &str) -> JobRecord {
        self.store
            .get_job(JobKind::Backup, backup_id)
            .await
            .unwrap()
            .unwrap()
    }

    /// A backup that has run to COMPLETED.
    async fn completed_backup(&self, policy_id: &str) -> BackupRecord {
        let b = self
            .m
            .run_backup_now(ORG, &actor(), policy_id)
            .await
            .unwrap();
        assert!(self.run_one().await);
        let b = self.backup(&b.id).await;
        assert_eq!(b.status, BackupStatus::Completed);
        b
    }
}

fn today() -> NaiveDate {
    start().date_naive()
}

/// Asserts a 409 whose message names `rule`.
fn assert_rule(err: ControlError, rule: &str) {
    match err {
        ControlError::Conflict(message) => {
            assert!(message.contains(rule), "{message:?} does not name {rule}")
        }
        other => panic!("expected a 409 naming {rule}, got {other:?}"),
    }
}

dual_test!(
    rule_6_retries_every_30_minutes_then_fails_and_frees_the_site,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, None).await;
        let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
        env.engine
            .script((0..3).map(|_| Step::Fail(EngineError::Retryable("site timed out".into()))));

        for attempt in 1..=2u32 {
            assert!(env.run_one().await);
            let now = env.clock.now();
            let retry_at = now + TimeDelta::minutes(30);
            let got = env.backup(&b.id).await;
            assert_eq!(got.status, BackupStatus::Created, "attempt {attempt}");
            assert_eq!(got.attempts, attempt);
            let stamp = retry_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            assert!(
                got.status_message.contains(&format!("Retrying at {stamp}")),
                "{}",
                got.status_message
            );
            let job = env.job(&b.id).await;
            assert_eq!((job.state, job.available_at), (JobState::Queued, retry_at));
            // Rule 3 still holds the site while the retry waits.
            assert_rule(
                env.m
                    .run_backup_now(ORG, &actor(), &p.id)
                    .await
                    .unwrap_err(),
                "rule 3",
            );
            env.clock.advance(TimeDelta::minutes(29));
            assert!(!env.run_one().await, "not before its 30 minutes");
            env.clock.advance(TimeDelta::minutes(1));
        }
        assert!(env.run_one().await);
        let got = env.backup(&b.id).await;
        assert_eq!((got.status, got.attempts), (BackupStatus::Failed, 3));
        assert!(
            got.status_message.starts_with("Failed after 3 attempts"),
            "{}",
            got.status_message
        );
        assert_eq!(env.job(&b.id).await.state, JobState::Done);
        let seen: Vec<u32> = env
            .engine
            .seen
            .lock()
            .unwrap()
            .iter()
            .map(|s| s.1)
            .collect();
        assert_eq!(seen, [1, 2, 3]);
        env.clock.advance(TimeDelta::hours(1));
        assert!(!env.run_one().await, "a failed backup is not retried again");
        // The site is free again.
        env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
    }
);

dual_test!(permanent_failure_fails_at_once, |db: TestDb| async move {
    let env = env(db).await;
    let site = env.site(ORG, "acme", false).await;
    let p = env.policy(&site.cloud_id, None, None).await;
    let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
    env.engine.script([Step::Fail(EngineError::Permanent(
        "the site refused the token".into(),
    ))]);
    assert!(env.run_one().await);
    let got = env.backup(&b.id).await;
    assert_eq!((got.status, got.attempts), (BackupStatus::Failed, 1));
    assert!(
        got.status_message.contains("the site refused the token"),
        "{}",
        got.status_message
    );
    assert_eq!(env.job(&b.id).await.state, JobState::Done);
    env.m
        .run_backup_now(ORG, &actor(), &p.id)
        .await
        .expect("the site lock was released");
});

dual_test!(cancel_queued_and_running_backups, |db: TestDb| async move {
    let env = env(db).await;
    let site = env.site(ORG, "acme", false).await;
    let p = env.policy(&site.cloud_id, None, None).await;

    // Not started yet: cancelled at once, and no worker ever runs it.
    let queued = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
    let got = env
        .m
        .cancel_backup(ORG, &actor(), &queued.id)
        .await
        .unwrap();
    assert_eq!(got.status, BackupStatus::Cancelled);
    assert_eq!(env.backup(&queued.id).await.status, BackupStatus::Cancelled);
    assert!(!env.run_one().await);
    assert!(env.engine.seen.lock().unwrap().is_empty());
    assert!(matches!(
        env.m
            .cancel_backup(ORG, &actor(), &queued.id)
            .await
            .unwrap_err(),
        ControlError::Conflict(_)
    ));

    // Running: asked to stop; ends CANCELLED when the engine stops.
    let running = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
    env.engine.script([Step::CancelledMidway]);
    assert!(env.run_one().await);
    let got = env.backup(&running.id).await;
    assert_eq!(got.status, BackupStatus::Cancelled);
    assert_eq!(env.job(&running.id).await.state, JobState::Done);
    env.m
        .run_backup_now(ORG, &actor(), &p.id)
        .await
        .expect("the site lock was released");
});

dual_test!(lease_lost_writes_nothing, |db: TestDb| async move {
    let env = env(db).await;
    let site = env.site(ORG, "acme", false).await;
    let p = env.policy(&site.cloud_id, None, None).await;
    let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
    env.engine.script([Step::Fail(EngineError::LeaseLost)]);
    assert!(env.run_one().await);
    let got = env.backup(&b.id).await;
    assert_eq!(
        got.status,
        BackupStatus::InProgress,
        "as the worker left it before the engine ran"
    );
    assert_eq!(got.attempts, 0);
    let job = env.job(&b.id).await;
    assert_eq!(
        job.state,
        JobState::Running,
        "left to lapse, not finished or requeued"
    );
    assert_rule(
        env.m
            .run_backup_now(ORG, &actor(), &p.id)
            .await
            .unwrap_err(),
        "rule 3",
    );
});

dual_test!(
    a_dead_workers_job_is_resumed_from_its_checkpoint,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, None).await;
        let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();

        // The first worker saves a checkpoint and dies: it never renews its lease.
        env.engine.script([
            Step::CheckpointThenDie("issues up to PROJ-41"),
            Step::Complete,
        ]);
        assert!(env.run_one().await);
        let second = Worker::new(env.m.clone(), env.engine.clone(), worker_settings());
        env.clock.advance(TimeDelta::seconds(59));
        assert!(
            !second.run_one(&env.shutdown).await.unwrap(),
            "the lease is still live"
        );
        env.clock.advance(TimeDelta::seconds(2));
        assert!(
            second.run_one(&env.shutdown).await.unwrap(),
            "the lapsed lease is claimed"
        );

        let seen = env.engine.seen.lock().unwrap().clone();
        assert_eq!(
            seen,
            [(None, 1), (Some("issues up to PROJ-41".to_string()), 2)]
        );
        let got = env.backup(&b.id).await;
        assert_eq!(got.status, BackupStatus::Completed);
        assert_eq!(
            got.snapshot_id.as_deref(),
            Some(format!("snap-{}", b.id).as_str())
        );
        assert_eq!(env.job(&b.id).await.state, JobState::Done);
    }
);

dual_test!(
    a_worker_that_outlived_its_lease_writes_nothing,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, None).await;
        let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
        env.engine.script([Step::OutlivesItsLease]);
        assert!(env.run_one().await);
        // The job is the thief's now: the old worker's success must not close the backup or free
        // the site under it.
        let job = env.job(&b.id).await;
        assert_eq!(
            (job.state, job.lease_token.as_deref()),
            (JobState::Running, Some("thief"))
        );
        let got = env.backup(&b.id).await;
        assert_eq!(
            got.status,
            BackupStatus::InProgress,
            "{}",
            got.status_message
        );
        assert_rule(
            env.m
                .run_backup_now(ORG, &actor(), &p.id)
                .await
                .unwrap_err(),
            "rule 3",
        );
    }
);

dual_test!(
    a_worker_that_stopped_after_recording_the_outcome_does_not_block_the_site,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, None).await;
        let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
        // A worker claims the job, records COMPLETED, and its node dies before it frees the
        // site and ends the job.
        let now = env.clock.now();
        env.store
            .claim_job(now, now + TimeDelta::seconds(60), "dies")
            .await
            .unwrap()
            .unwrap();
        let mut done = env.backup(&b.id).await;
        done.status = BackupStatus::Completed;
        env.store.update_backup(&done).await.unwrap();
        assert_rule(
            env.m
                .run_backup_now(ORG, &actor(), &p.id)
                .await
                .unwrap_err(),
            "rule 3",
        );
        env.clock.advance(TimeDelta::seconds(61));
        assert!(env.run_one().await, "the lapsed job is claimed again");
        assert!(
            env.engine.seen.lock().unwrap().is_empty(),
            "and not run twice"
        );
        assert_eq!(env.job(&b.id).await.state, JobState::Done);
        assert_eq!(env.backup(&b.id).await.status, BackupStatus::Completed);
        env.m
            .run_backup_now(ORG, &actor(), &p.id)
            .await
            .expect("the site is free again");
    }
);

dual_test!(
    catch_up_after_three_days_down_starts_one_backup,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env
            .policy(&site.cloud_id, Some((Interval::Daily, today())), None)
            .await;
        let slot = p.schedule.unwrap().slot_minute;
        assert!(
            env.m
                .activate_policy(ORG, &actor(), &p.id)
                .await
                .unwrap()
                .is_empty()
        );
        let first = env
            .m
            .get_policy_record(ORG, &p.id)
            .await
            .unwrap()
            .next_run_at
            .unwrap();
        assert_eq!(first, start() + TimeDelta::minutes(i64::from(slot)));

        // Down for three days and a bit: three runs missed.
        env.clock
            .advance(TimeDelta::days(3) + TimeDelta::minutes(i64::from(slot) + 5));
        let report = env.m.tick().await.unwrap();
        assert_eq!(report.started.len(), 1, "{report:?}");
        let next = env
            .m
            .get_policy_record(ORG, &p.id)
            .await
            .unwrap()
            .next_run_at
            .unwrap();
        assert!(next > env.clock.now(), "{next} is in the future");
        assert_eq!(next, first + TimeDelta::days(4));
        assert!(
            env.m.tick().await.unwrap().started.is_empty(),
            "caught up once"
        );
        let listed = env
            .m
            .list_backups(
                &BackupFilter {
                    org_id: ORG.into(),
                    ..Default::default()
                },
                PageQuery {
                    offset: 0,
                    limit: 10,
                    descending: true,
                },
            )
            .await
            .unwrap();
        assert_eq!(listed.total, 1);
    }
);

dual_test!(
    once_policy_becomes_inactive_after_its_backup,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env
            .policy(&site.cloud_id, Some((Interval::Once, today())), None)
            .await;
        assert!(
            env.m
                .activate_policy(ORG, &actor(), &p.id)
                .await
                .unwrap()
                .is_empty()
        );
        env.clock.advance(TimeDelta::hours(3));
        let report = env.m.tick().await.unwrap();
        assert_eq!(report.started.len(), 1);
        let policy = env.m.get_policy_record(ORG, &p.id).await.unwrap();
        assert_eq!(
            (policy.status, policy.next_run_at),
            (PolicyStatus::Active, None)
        );
        assert!(env.run_one().await);
        assert_eq!(
            env.backup(&report.started[0]).await.status,
            BackupStatus::Completed
        );
        let policy = env.m.get_policy_record(ORG, &p.id).await.unwrap();
        assert_eq!(policy.status, PolicyStatus::Inactive, "rule 9");
        env.clock.advance(TimeDelta::days(2));
        assert!(env.m.tick().await.unwrap().started.is_empty());
    }
);

dual_test!(racing_ticks_start_each_run_once, |db: TestDb| async move {
    let env = env(db).await;
    for name in ["a", "b", "c", "d", "e"] {
        let site = env.site(ORG, name, false).await;
        let p = env
            .policy(&site.cloud_id, Some((Interval::Hourly, today())), None)
            .await;
        env.m.activate_policy(ORG, &actor(), &p.id).await.unwrap();
    }
    // Hourly runs are at the slot's minute past each hour, so activation may already have
    // started some: let those end first.
    while env.run_one().await {}
    let all = BackupFilter {
        org_id: ORG.into(),
        ..Default::default()
    };
    let one = PageQuery {
        offset: 0,
        limit: 1,
        descending: true,
    };
    let before = env.store.list_backups(&all, one).await.unwrap().total;
    let other_node = env.install.node().await.management;
    for round in 0..3 {
        env.clock.advance(TimeDelta::hours(1));
        let (a, b) = tokio::join!(env.m.tick(), other_node.tick());
        let (a, b) = (a.unwrap(), b.unwrap());
        let started = a.started.len() + b.started.len();
        assert_eq!(started, 5, "round {round}: {a:?} {b:?}");
        // Let the runs end so the sites are free for the next round.
        while env.run_one().await {}
    }
    let listed = env
        .store
        .list_backups(
            &BackupFilter {
                org_id: ORG.into(),
                ..Default::default()
            },
            PageQuery {
                offset: 0,
                limit: 100,
                descending: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(listed.total, before + 15);
});

dual_test!(expiry_expires_and_collects, |db: TestDb| async move {
    let env = env(db).await;
    let site = env.site(ORG, "acme", false).await;
    let p = env.policy(&site.cloud_id, None, Some(1)).await;
    let b = env.completed_backup(&p.id).await;
    assert_eq!(b.expiry_at, start() + TimeDelta::days(1));
    env.clock
        .advance(TimeDelta::days(1) - TimeDelta::seconds(1));
    assert!(env.m.tick().await.unwrap().expired.is_empty());
    env.clock.advance(TimeDelta::seconds(1));
    let report = env.m.tick().await.unwrap();
    assert_eq!(report.expired, std::slice::from_ref(&b.id));
    assert_eq!(env.backup(&b.id).await.status, BackupStatus::Expired);
    let collect = env
        .store
        .get_job(JobKind::Collect, &b.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(collect.state, JobState::Queued);
    assert!(env.run_one().await);
    assert_eq!(
        *env.engine.collected.lock().unwrap(),
        std::slice::from_ref(&b.id)
    );
    assert_eq!(
        env.store
            .get_job(JobKind::Collect, &b.id)
            .await
            .unwrap()
            .unwrap()
            .state,
        JobState::Done
    );
    assert!(env.m.tick().await.unwrap().expired.is_empty(), "once");
});

dual_test!(
    activation_returns_the_backup_it_starts,
    |db: TestDb| async move {
        let env = env(db).await;
        // No schedule: a backup now.
        let s1 = env.site(ORG, "one", false).await;
        let p = env.policy(&s1.cloud_id, None, None).await;
        let started = env.m.activate_policy(ORG, &actor(), &p.id).await.unwrap();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].status, BackupStatus::Created);
        assert_eq!(env.backup(&started[0].id).await.policy_id, p.id);
        assert!(
            env.m
                .activate_policy(ORG, &actor(), &p.id)
                .await
                .unwrap()
                .is_empty(),
            "activating an active policy starts nothing"
        );

        // A ONCE schedule whose time has passed: its one run is due now.
        let s2 = env.site(ORG, "two", false).await;
        let yesterday = today().pred_opt().unwrap();
        let p = env
            .policy(&s2.cloud_id, Some((Interval::Once, yesterday)), None)
            .await;
        assert_eq!(
            env.m
                .activate_policy(ORG, &actor(), &p.id)
                .await
                .unwrap()
                .len(),
            1
        );

        // A DAILY schedule whose first run is later: nothing yet; the scheduler starts it.
        let s3 = env.site(ORG, "three", false).await;
        let p = env
            .policy(&s3.cloud_id, Some((Interval::Daily, today())), None)
            .await;
        assert!(
            env.m
                .activate_policy(ORG, &actor(), &p.id)
                .await
                .unwrap()
                .is_empty()
        );
        let policy = env.m.get_policy_record(ORG, &p.id).await.unwrap();
        assert!(policy.next_run_at.unwrap() > env.clock.now());
    }
);

dual_test!(rule_4_minimum_interval, |db: TestDb| async move {
    let settings = ManagementSettings {
        min_backup_interval: Some(Duration::from_secs(7 * 86_400)),
        ..ManagementSettings::default()
    };
    let env = env_with(db, settings).await;
    let site = env.site(ORG, "acme", false).await;
    let p = env.policy(&site.cloud_id, None, None).await;
    env.completed_backup(&p.id).await;
    env.clock
        .advance(TimeDelta::days(7) - TimeDelta::seconds(1));
    assert_rule(
        env.m
            .run_backup_now(ORG, &actor(), &p.id)
            .await
            .unwrap_err(),
        "rule 4",
    );
    env.clock.advance(TimeDelta::seconds(1));
    env.m
        .run_backup_now(ORG, &actor(), &p.id)
        .await
        .expect("the interval has passed");
});

dual_test!(
    every_section_4_conflict_names_its_rule,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let empty = env.site(ORG, "empty", true).await;
        let foreign = env.site(OTHER, "foreign", true).await;

        // Rule 2: one active policy per site, product and storage.
        let p1 = env
            .policy(&site.cloud_id, Some((Interval::Daily, today())), None)
            .await;
        let p2 = env
            .policy(&site.cloud_id, Some((Interval::Weekly, today())), None)
            .await;
        env.m.activate_policy(ORG, &actor(), &p1.id).await.unwrap();
        assert_rule(
            env.m
                .activate_policy(ORG, &actor(), &p2.id)
                .await
                .unwrap_err(),
            "rule 2",
        );

        // Rule 3: one backup or restore in flight per site and product.
        let b1 = env.m.run_backup_now(ORG, &actor(), &p1.id).await.unwrap();
        assert_rule(
            env.m
                .run_backup_now(ORG, &actor(), &p2.id)
                .await
                .unwrap_err(),
            "rule 3",
        );

        // Rule 9: an active policy, or one with a backup in flight, cannot be deleted.
        assert_rule(
            env.m
                .delete_policy(ORG, &actor(), &p1.id)
                .await
                .unwrap_err(),
            "rule 9",
        );
        env.m
            .deactivate_policy(ORG, &actor(), &p1.id)
            .await
            .unwrap();
        assert_rule(
            env.m
                .delete_policy(ORG, &actor(), &p1.id)
                .await
                .unwrap_err(),
            "rule 9",
        );

        // Once the backup has run, rules 2, 3 and 9 let go.
        assert!(env.run_one().await);
        assert_eq!(env.backup(&b1.id).await.status, BackupStatus::Completed);
        env.m
            .activate_policy(ORG, &actor(), &p2.id)
            .await
            .expect("rule 2 no longer applies");
        env.m
            .delete_policy(ORG, &actor(), &p1.id)
            .await
            .expect("rule 9 no longer applies");
        while env.run_one().await {}

        // Rule 7: same-org destinations only; a Jira destination must be empty.
        let restore = |destination: &str, keys: Option<Vec<String>>| NewRestore {
            backup_id: b1.id.clone(),
            destination_cloud_id: destination.into(),
            project_keys: keys,
            ..NewRestore::default()
        };
        assert_rule(
            env.m
                .create_restore(ORG, &actor(), restore(&foreign.cloud_id, None))
                .await
                .unwrap_err(),
            "rule 7",
        );
        assert_rule(
            env.m
                .create_restore(ORG, &actor(), restore(&site.cloud_id, None))
                .await
                .unwrap_err(),
            "rule 7",
        );
        // Naming the projects lifts the emptiness rule; an empty site needs nothing.
        let r1 = env
            .m
            .create_restore(
                ORG,
                &actor(),
                restore(&site.cloud_id, Some(vec!["NEW".into()])),
            )
            .await
            .expect("projectKeys restore into a non-empty site");
        // Single items: their shape is checked, they belong to one product, and they do not
        // mix with whole projects (checked before rule 3).
        let wrong = [
            (vec!["ABC"], None, "issueKeys", "is not an issue key"),
            (
                vec!["ABC-1"],
                Some(vec!["ABC".to_string()]),
                "issueKeys",
                "not both",
            ),
            (vec!["ABC-1x"], None, "issueKeys", "is not an issue key"),
        ];
        for (keys, projects, field, says) in wrong {
            let e = env
                .m
                .create_restore(
                    ORG,
                    &actor(),
                    NewRestore {
                        issue_keys: Some(keys.iter().map(|k| k.to_string()).collect()),
                        ..restore(&site.cloud_id, projects)
                    },
                )
                .await
                .unwrap_err();
            let text = format!("{e:?}");
            assert!(text.contains(field) && text.contains(says), "{text}");
        }
        let e = env
            .m
            .create_restore(
                ORG,
                &actor(),
                NewRestore {
                    page_ids: Some(vec!["12".into()]),
                    ..restore(&site.cloud_id, None)
                },
            )
            .await
            .unwrap_err();
        let text = format!("{e:?}");
        assert!(
            text.contains("pageIds") && text.contains("only applies to a CONFLUENCE backup"),
            "{text}"
        );
        // Rule 3 again: that restore holds its destination.
        assert_rule(
            env.m
                .run_backup_now(ORG, &actor(), &p2.id)
                .await
                .unwrap_err(),
            "rule 3",
        );
        assert_rule(
            env.m
                .create_restore(
                    ORG,
                    &actor(),
                    restore(&site.cloud_id, Some(vec!["X".into()])),
                )
                .await
                .unwrap_err(),
            "rule 3",
        );
        while env.run_one().await {}
        assert_eq!(
            env.m.get_restore(ORG, &r1.id).await.unwrap().status,
            RestoreStatus::Completed
        );
        env.m
            .create_restore(ORG, &actor(), restore(&empty.cloud_id, None))
            .await
            .expect("an empty Jira destination");
        while env.run_one().await {}

        // Rule 5: an expired backup cannot be restored.
        env.clock.advance(TimeDelta::days(31));
        assert!(env.m.tick().await.unwrap().expired.contains(&b1.id));
        assert_rule(
            env.m
                .create_restore(ORG, &actor(), restore(&empty.cloud_id, None))
                .await
                .unwrap_err(),
            "rule 5",
        );
    }
);

/// What the lifecycle said about one run: its final moves and how many released its lock.
fn ends_of(
    events: &mut tokio::sync::broadcast::Receiver<cairn_control::lifecycle::RunEvent>,
    run: &str,
) -> (Vec<cairn_control::lifecycle::Move>, usize) {
    use cairn_control::lifecycle::Move;
    let (mut ends, mut releases) = (Vec::new(), 0);
    while let Ok(e) = events.try_recv() {
        if e.id != run {
            continue;
        }
        if matches!(
            e.moved,
            Move::Completed | Move::Incomplete | Move::Failed | Move::Cancelled
        ) {
            ends.push(e.moved);
        }
        releases += usize::from(e.lock_released);
    }
    (ends, releases)
}

dual_test!(
    a_cancel_racing_progress_and_completion_ends_the_run_once,
    |db: TestDb| async move {
        use cairn_control::lifecycle::{BackupEnd, Move};
        use cairn_control::management::{Progress, ProgressPhase};
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, None).await;
        let lifecycle = env.m.lifecycle().clone();
        let mut events = lifecycle.subscribe();
        let progress = Progress {
            phase: ProgressPhase::Storing,
            items_done: 3,
            items_total: None,
            bytes_done: 10,
            site_traffic: None,
        };
        for round in 0..8 {
            // A running backup: its job claimed by a worker, which reports progress and ends it
            // (stored, or stopped by the cancel) while a user cancels it.
            let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
            let now = env.clock.now();
            env.store
                .claim_job(now, now + TimeDelta::seconds(60), "worker")
                .await
                .unwrap()
                .expect("the queued job");
            assert!(lifecycle.backup_started(&b, false).await.unwrap());
            let b = env.backup(&b.id).await;
            let stored = BackupEnd::Stored {
                output: BackupOutput {
                    snapshot_id: format!("snap-{round}"),
                    users_size: 1,
                    data_size: 2,
                    attachments_size: 3,
                    stats: None,
                },
                stats: BackupStatsView::default(),
                incomplete: None,
            };
            let stopped = BackupEnd::Cancelled("Cancelled.".into());
            // Which end the worker reaches first varies with the round.
            let (first, second) = if round % 2 == 0 {
                (stored, stopped)
            } else {
                (stopped, stored)
            };
            let user = actor();
            let (cancel, p1, end1, p2, end2) = tokio::join!(
                env.m.cancel_backup(ORG, &user, &b.id),
                lifecycle.backup_progress(&b.id, ORG, &progress),
                lifecycle.backup_ended(&b, first),
                lifecycle.backup_progress(&b.id, ORG, &progress),
                lifecycle.backup_ended(&b, second),
            );
            let (_, _) = (p1.unwrap(), p2.unwrap());
            assert_eq!(
                u8::from(end1.unwrap()) + u8::from(end2.unwrap()),
                1,
                "round {round}: exactly one end is recorded"
            );
            let got = env.backup(&b.id).await;
            assert!(
                matches!(
                    got.status,
                    BackupStatus::Completed | BackupStatus::Cancelled
                ),
                "round {round}: {got:?}"
            );
            // A completed run is never reported cancelled, nor a cancelled one completed.
            match got.status {
                BackupStatus::Completed => {
                    assert_eq!(got.snapshot_id.as_deref(), Some(&*format!("snap-{round}")));
                    assert_eq!(got.status_message, "Completed.");
                }
                _ => {
                    assert_eq!(got.snapshot_id, None, "round {round}");
                    assert_eq!(got.status_message, "Cancelled.");
                }
            }
            match cancel {
                // It asked a run in flight to stop, or ended it itself.
                Ok(answer) => assert!(
                    answer.status == got.status || answer.status.in_flight(),
                    "round {round}: the cancel answered {:?}",
                    answer.status
                ),
                // It came after the end: 409, as for any ended run.
                Err(ControlError::Conflict(_)) => {}
                Err(other) => panic!("round {round}: {other:?}"),
            }
            let (ends, releases) = ends_of(&mut events, &b.id);
            let expected = if got.status == BackupStatus::Completed {
                Move::Completed
            } else {
                Move::Cancelled
            };
            assert_eq!(ends, vec![expected], "round {round}");
            assert_eq!(releases, 1, "round {round}: the site lock is released once");
            // A report after the end changes nothing.
            assert!(
                !lifecycle
                    .backup_progress(&b.id, ORG, &progress)
                    .await
                    .unwrap()
            );
            assert_eq!(env.backup(&b.id).await, got);
        }

        // A queued backup cancelled while a worker claims and runs it: cancelled before it
        // started, or run to its end; either way one end and one release.
        for round in 0..8 {
            let b = env.m.run_backup_now(ORG, &actor(), &p.id).await.unwrap();
            let user = actor();
            let (cancel, ran) = tokio::join!(
                env.m.cancel_backup(ORG, &user, &b.id),
                env.worker.run_one(&env.shutdown)
            );
            // The cancel ended the queued job before the claim, or came after the end (409).
            assert!(
                matches!(cancel, Ok(_) | Err(ControlError::Conflict(_))),
                "round {round}: {cancel:?}"
            );
            ran.unwrap();
            while env.run_one().await {}
            let got = env.backup(&b.id).await;
            assert!(
                matches!(
                    got.status,
                    BackupStatus::Completed | BackupStatus::Cancelled
                ),
                "round {round}: {got:?}"
            );
            assert_eq!(
                got.snapshot_id.is_some(),
                got.status == BackupStatus::Completed,
                "round {round}: {got:?}"
            );
            let (ends, releases) = ends_of(&mut events, &b.id);
            assert_eq!(ends.len(), 1, "round {round}: {ends:?}");
            assert_eq!(releases, 1, "round {round}: the site lock is released once");
            let next = env
                .m
                .run_backup_now(ORG, &actor(), &p.id)
                .await
                .expect("the site is free again");
            env.m.cancel_backup(ORG, &actor(), &next.id).await.unwrap();
        }
    }
);

dual_test!(
    a_policy_update_racing_the_tick_runs_each_slot_once,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env
            .policy(&site.cloud_id, Some((Interval::Daily, today())), None)
            .await;
        env.m.activate_policy(ORG, &actor(), &p.id).await.unwrap();
        while env.run_one().await {}
        let count = || async {
            env.store
                .list_backups(
                    &BackupFilter {
                        org_id: ORG.into(),
                        policy_id: Some(p.id.clone()),
                        ..Default::default()
                    },
                    PageQuery {
                        offset: 0,
                        limit: 1,
                        descending: true,
                    },
                )
                .await
                .unwrap()
                .total
        };
        let before = count().await;
        let rounds = 6;
        for round in 0..rounds {
            // To the slot: the tick starts its run while a PUT (a rename, or the same schedule
            // sent again) is computed from a read taken before.
            let next = env
                .store
                .get_policy(ORG, &p.id)
                .await
                .unwrap()
                .unwrap()
                .next_run_at
                .expect("an active daily policy has a next run");
            env.clock.advance(next - env.clock.now());
            let patch = PolicyPatch {
                name: Some(format!("nightly {round}")),
                schedule: (round % 2 == 1).then_some(Some(ScheduleInput {
                    interval: Interval::Daily,
                    start_date: today(),
                })),
                ..Default::default()
            };
            let user = actor();
            let (put, tick) =
                tokio::join!(env.m.update_policy(ORG, &user, &p.id, patch), env.m.tick());
            put.unwrap();
            tick.unwrap();
            while env.run_one().await {}
            // Later the same day, the slot must not run again.
            env.clock.advance(TimeDelta::minutes(5));
            env.m.tick().await.unwrap();
            while env.run_one().await {}
            assert_eq!(
                count().await,
                before + round + 1,
                "round {round}: one run per slot"
            );
        }
    }
);

dual_test!(
    selection_flags_only_concern_the_product_whose_backup_holds_them,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", true).await;
        let every_flag = |product| NewPolicy {
            name: format!("{product} with every flag"),
            cloud_id: site.cloud_id.clone(),
            product,
            include_attachments: Some(true),
            include_users: Some(true),
            include_personal_spaces: Some(true),
            storage_id: None,
            schedule: None,
            retention_days: None,
            activate: false,
        };
        let mut backups = Vec::new();
        for product in [Product::Jira, Product::Confluence] {
            let p = env
                .m
                .create_policy(ORG, &actor(), every_flag(product))
                .await
                .expect("a policy accepts every flag for either product")
                .policy;
            backups.push(env.completed_backup(&p.id).await);
        }
        // Spec 2.1: what the backup holds. Jira has no personal spaces; the engine backs up
        // no users for Confluence (usersSize stays 0).
        assert_eq!(
            backups[0].selections,
            [Selection::Users, Selection::Attachments]
        );
        assert_eq!(
            backups[1].selections,
            [Selection::Attachments, Selection::PersonalSpaces]
        );
        // A restore ignores the same flags the policy did (spec 2.2), instead of a 400.
        for (backup, selections) in backups.iter().zip([
            vec![Selection::Users, Selection::Attachments],
            vec![Selection::Attachments, Selection::PersonalSpaces],
        ]) {
            let r = env
                .m
                .create_restore(
                    ORG,
                    &actor(),
                    NewRestore {
                        backup_id: backup.id.clone(),
                        destination_cloud_id: site.cloud_id.clone(),
                        include_attachments: Some(true),
                        include_users: Some(true),
                        include_personal_spaces: Some(true),
                        ..NewRestore::default()
                    },
                )
                .await
                .unwrap_or_else(|e| panic!("{} restore: {e:?}", backup.product));
            assert_eq!(r.selections, selections);
            while env.run_one().await {}
        }
    }
);

dual_test!(
    legacy_export_keeps_one_policy_and_refuses_while_running_or_cooling_down,
    |db: TestDb| async move {
        let settings = ManagementSettings {
            legacy_min_interval: Some(Duration::from_secs(2 * 3600)),
            ..ManagementSettings::default()
        };
        let env = env_with(db, settings).await;
        let site = env.site(ORG, "acme", false).await;
        env.site(OTHER, "elsewhere", false).await;
        // Found by cloudName (any case) or cloudId, only in the caller's orgs.
        let orgs = [ORG.to_string()];
        for name in [site.cloud_name.to_uppercase(), site.cloud_id.clone()] {
            assert_eq!(env.m.find_site(&orgs, &name).await.unwrap(), site);
        }
        for name in ["elsewhere", "cloud-elsewhere", "nowhere"] {
            assert!(matches!(
                env.m.find_site(&orgs, name).await,
                Err(ControlError::NotFound(_))
            ));
        }

        let first = env
            .m
            .start_legacy_export(&actor(), &site, Product::Jira, true)
            .await
            .unwrap()
            .expect("started");
        assert!(first.selections.contains(&Selection::Attachments));
        assert_eq!(
            env.m
                .start_legacy_export(&actor(), &site, Product::Jira, true)
                .await
                .unwrap(),
            Err(LegacyRefusal::Running)
        );
        // Confluence is another product: not blocked by Jira's run.
        let confluence = env
            .m
            .start_legacy_export(&actor(), &site, Product::Confluence, true)
            .await
            .unwrap()
            .expect("Confluence started");
        assert_eq!(
            env.m
                .latest_backup_of(&site, Product::Jira)
                .await
                .unwrap()
                .unwrap()
                .id,
            first.id
        );
        while env.run_one().await {}
        let done_at = env.backup(&first.id).await.updated_at;

        // The cooldown counts from the last complete backup.
        match env
            .m
            .start_legacy_export(&actor(), &site, Product::Jira, false)
            .await
            .unwrap()
        {
            Err(LegacyRefusal::TooRecent { next_allowed }) => {
                assert_eq!(next_allowed, done_at + TimeDelta::hours(2))
            }
            other => panic!("expected the cooldown, got {other:?}"),
        }
        env.clock
            .advance(TimeDelta::hours(2) + TimeDelta::seconds(1));
        let bare = env
            .m
            .start_legacy_export(&actor(), &site, Product::Jira, false)
            .await
            .unwrap()
            .expect("started after the cooldown");
        assert!(!bare.selections.contains(&Selection::Attachments));

        // One policy per product, reused, saying what its latest backup holds.
        assert_eq!(bare.policy_id, first.policy_id);
        assert_ne!(confluence.policy_id, first.policy_id);
        let policy = env.m.get_policy_record(ORG, &bare.policy_id).await.unwrap();
        assert_eq!(policy.name, legacy_policy_name(Product::Jira));
        assert!(!policy.include_attachments);
        assert_eq!(policy.status, PolicyStatus::Inactive);
        assert!(policy.schedule.is_none());
        let builtin = env.m.builtin_storage(ORG).await.unwrap();
        assert_eq!(policy.storage_id, builtin.id);
        let events = env
            .store
            .list_audit_events(
                &AuditFilter {
                    org_id: Some(ORG.into()),
                    ..AuditFilter::default()
                },
                PageQuery {
                    offset: 0,
                    limit: 100,
                    descending: false,
                },
            )
            .await
            .unwrap();
        let runs = events
            .items
            .iter()
            .filter(|e| e.action == "backup.run")
            .count();
        assert_eq!(runs, 3, "every start is audited");
    }
);

dual_test!(legacy_progress_maps_every_status, |db: TestDb| async move {
    let env = env(db).await;
    let site = env.site(ORG, "acme", false).await;
    let start = || async {
        env.m
            .start_legacy_export(&actor(), &site, Product::Jira, true)
            .await
            .unwrap()
            .unwrap()
    };
    let progress = |id: String| {
        let m = env.m.clone();
        let site = site.clone();
        async move {
            m.legacy_export_progress(&site, Product::Jira, &id)
                .await
                .unwrap()
        }
    };

    let queued = start().await;
    let p = progress(queued.id.clone()).await;
    assert_eq!(
        (p.status, p.percent, p.ready()),
        (LegacyStatus::Enqueued, 0, false)
    );
    env.run_one().await;
    let p = progress(queued.id.clone()).await;
    assert_eq!(
        (p.status, p.percent, p.ready()),
        (LegacyStatus::Success, 100, true)
    );
    assert!(
        !p.description.to_lowercase().contains("error"),
        "{}",
        p.description
    );

    // INCOMPLETE is a success whose description names what is missing, without the word.
    env.engine.script([Step::Incomplete(
        "attachment 7 could not be read (server Error 500)",
    )]);
    let incomplete = start().await;
    env.run_one().await;
    let p = progress(incomplete.id.clone()).await;
    assert_eq!(p.status, LegacyStatus::Success);
    assert!(p.description.contains("attachment 7"), "{}", p.description);
    assert!(
        !p.description.to_lowercase().contains("error"),
        "{}",
        p.description
    );

    // FAILED: "Backup error:" and the status message; not ready.
    env.engine.script([Step::Fail(EngineError::Permanent(
        "site: the site refused the credentials".into(),
    ))]);
    let failed = start().await;
    env.run_one().await;
    let p = progress(failed.id.clone()).await;
    assert_eq!((p.status, p.ready()), (LegacyStatus::Failed, false));
    let message = env.backup(&failed.id).await.status_message;
    assert_eq!(p.description, format!("Backup error: {message}"));

    // CANCELLED likewise.
    let cancelled = start().await;
    env.m
        .cancel_backup(ORG, &actor(), &cancelled.id)
        .await
        .unwrap();
    let p = progress(cancelled.id.clone()).await;
    assert_eq!(p.status, LegacyStatus::Failed);
    assert!(
        p.description.starts_with("Backup error: "),
        "{}",
        p.description
    );

    // A task id of another product of the site is not found.
    assert!(matches!(
        env.m
            .legacy_export_progress(&site, Product::Confluence, &queued.id)
            .await,
        Err(ControlError::NotFound(_))
    ));
});

dual_test!(
    legacy_export_honours_rule_4_when_it_is_longer,
    |db: TestDb| async move {
        let settings = ManagementSettings {
            min_backup_interval: Some(Duration::from_secs(7 * 86_400)),
            ..ManagementSettings::default()
        };
        let env = env_with(db, settings).await;
        let site = env.site(ORG, "acme", false).await;
        let first = env
            .m
            .start_legacy_export(&actor(), &site, Product::Jira, true)
            .await
            .unwrap()
            .unwrap();
        env.run_one().await;
        let done_at = env.backup(&first.id).await.updated_at;
        assert_eq!(
            env.m
                .start_legacy_export(&actor(), &site, Product::Jira, true)
                .await
                .unwrap(),
            Err(LegacyRefusal::TooRecent {
                next_allowed: done_at + TimeDelta::days(7)
            })
        );
    }
);

/// The org's audit events with this action, oldest first.
async fn audited(env: &Env, action: &str) -> Vec<AuditEventRecord> {
    env.store
        .list_audit_events(
            &AuditFilter {
                org_id: Some(ORG.into()),
                action: Some(action.into()),
                ..AuditFilter::default()
            },
            PageQuery {
                offset: 0,
                limit: 100,
                descending: false,
            },
        )
        .await
        .unwrap()
        .items
}

dual_test!(
    a_retention_lock_keeps_a_backup_whatever_becomes_of_its_policy,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let empty = env.site(ORG, "fresh", true).await;
        let p = env.policy(&site.cloud_id, None, Some(7)).await;
        let b = env.completed_backup(&p.id).await;
        assert_eq!(b.expiry_at, start() + TimeDelta::days(7));

        // Raising the lock through the API moves the live backup's expiry with it.
        let changed = env
            .m
            .change_retention_lock(ORG, &actor(), 30, LockAuthority::Api)
            .await
            .unwrap();
        assert_eq!(
            (changed.previous, changed.settings.retention_lock_days),
            (0, 30)
        );
        assert_eq!(
            env.backup(&b.id).await.expiry_at,
            start() + TimeDelta::days(30)
        );
        assert_eq!(audited(&env, "retention_lock.change").await.len(), 1);

        // Neither the API nor a policy can shorten it now; each refusal is audited.
        assert_rule(
            env.m
                .change_retention_lock(ORG, &actor(), 1, LockAuthority::Api)
                .await
                .unwrap_err(),
            "retention lock",
        );
        assert_rule(
            env.m
                .update_policy(
                    ORG,
                    &actor(),
                    &p.id,
                    PolicyPatch {
                        retention_days: Some(1),
                        ..PolicyPatch::default()
                    },
                )
                .await
                .unwrap_err(),
            "retention lock",
        );
        assert_eq!(
            env.m
                .get_policy_record(ORG, &p.id)
                .await
                .unwrap()
                .retention_days,
            7
        );
        let refused = audited(&env, "retention_lock.refused").await;
        let attempts: Vec<String> = refused
            .iter()
            .map(|e| {
                let details: serde_json::Value =
                    serde_json::from_str(e.details.as_deref().unwrap()).unwrap();
                details["attempt"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(attempts, ["org.settings", "policy.update"]);
        assert_eq!(
            refused[1].target.as_deref(),
            Some(format!("policy:{}", p.id).as_str())
        );
        assert_eq!(
            env.m.org_settings(ORG).await.unwrap().retention_lock_days,
            30
        );

        // The policy goes; its backup stays, past the policy's retention, and restores.
        env.m.delete_policy(ORG, &actor(), &p.id).await.unwrap();
        env.clock
            .advance(TimeDelta::days(30) - TimeDelta::seconds(1));
        assert!(env.m.tick().await.unwrap().expired.is_empty());
        while env.run_one().await {}
        assert!(env.engine.collected.lock().unwrap().is_empty());
        assert_eq!(env.backup(&b.id).await.status, BackupStatus::Completed);
        env.m
            .create_restore(
                ORG,
                &actor(),
                NewRestore {
                    backup_id: b.id.clone(),
                    destination_cloud_id: empty.cloud_id.clone(),
                    ..NewRestore::default()
                },
            )
            .await
            .expect("a locked backup restores");
        while env.run_one().await {}

        // At the end of the lock it expires as any other.
        env.clock.advance(TimeDelta::seconds(1));
        assert_eq!(
            env.m.tick().await.unwrap().expired,
            std::slice::from_ref(&b.id)
        );
    }
);

dual_test!(
    the_expiry_job_honours_the_lock_even_over_a_short_expiry_record,
    |db: TestDb| async move {
        // A backup created while the lock was being raised may carry its policy's shorter
        // expiry; the expiry job checks the lock itself.
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        let p = env.policy(&site.cloud_id, None, Some(1)).await;
        let b = env.completed_backup(&p.id).await;
        env.m
            .change_retention_lock(ORG, &actor(), 5, LockAuthority::Api)
            .await
            .unwrap();
        let mut short = env.backup(&b.id).await;
        short.expiry_at = start() + TimeDelta::days(1);
        assert!(env.store.update_backup(&short).await.unwrap());
        env.clock.advance(TimeDelta::days(2));
        assert!(env.m.tick().await.unwrap().expired.is_empty());
        assert_eq!(env.backup(&b.id).await.status, BackupStatus::Completed);
        env.clock.advance(TimeDelta::days(3));
        assert_eq!(
            env.m.tick().await.unwrap().expired,
            std::slice::from_ref(&b.id)
        );
    }
);

dual_test!(
    only_local_access_lowers_the_lock_and_new_policies_start_at_it,
    |db: TestDb| async move {
        let env = env(db).await;
        let site = env.site(ORG, "acme", false).await;
        env.m
            .change_retention_lock(ORG, &actor(), 90, LockAuthority::Api)
            .await
            .unwrap();
        // No retention given: the lock's, not the default 30. A shorter one: refused.
        let p = env.policy(&site.cloud_id, None, None).await;
        assert_eq!(p.retention_days, 90);
        let refused = env
            .m
            .create_policy(
                ORG,
                &actor(),
                NewPolicy {
                    name: "weekly".into(),
                    cloud_id: site.cloud_id.clone(),
                    product: Product::Jira,
                    include_attachments: None,
                    include_users: None,
                    include_personal_spaces: None,
                    storage_id: None,
                    schedule: None,
                    retention_days: Some(7),
                    activate: false,
                },
            )
            .await
            .unwrap_err();
        assert_rule(refused, "retention lock");
        let b = env.completed_backup(&p.id).await;
        assert_eq!(b.expiry_at, start() + TimeDelta::days(90));
        // Out of range is a field error, whoever asks.
        let e = env
            .m
            .change_retention_lock(ORG, &Actor::cli(), 3651, LockAuthority::Local)
            .await
            .unwrap_err();
        assert!(matches!(e, ControlError::Invalid { .. }), "{e:?}");

        // On the server the lock comes off; a backup already taken keeps the expiry it was
        // given, later ones follow their policy.
        let changed = env
            .m
            .change_retention_lock(ORG, &Actor::cli(), 0, LockAuthority::Local)
            .await
            .unwrap();
        assert_eq!(
            (changed.previous, changed.settings.retention_lock_days),
            (90, 0)
        );
        let via: Vec<String> = audited(&env, "retention_lock.change")
            .await
            .iter()
            .map(|e| {
                let details: serde_json::Value =
                    serde_json::from_str(e.details.as_deref().unwrap()).unwrap();
                format!("{}->{} {}", details["from"], details["to"], details["via"])
            })
            .collect();
        assert_eq!(via, [r#"0->90 "api""#, r#"90->0 "local""#]);
        assert_eq!(
            env.backup(&b.id).await.expiry_at,
            start() + TimeDelta::days(90)
        );
        env.m
            .update_policy(
                ORG,
                &actor(),
                &p.id,
                PolicyPatch {
                    retention_days: Some(2),
                    ..PolicyPatch::default()
                },
            )
            .await
            .expect("no lock: any retention");
        env.clock.advance(TimeDelta::days(1));
        let later = env.completed_backup(&p.id).await;
        assert_eq!(later.expiry_at, env.clock.now() + TimeDelta::days(2));
    }
);
