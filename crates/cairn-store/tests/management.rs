//! The `ManagementStore` contract, run on SQLite and on PostgreSQL by the same code: every method,
//! org isolation, the rules the store enforces (2, 3, 5, 9), the leased job queue with fencing,
//! concurrent claimers, and pagination as a property.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use cairn_store::testing::TestDb;
use cairn_store::*;
use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

const ORG: &str = "org-a";
const OTHER: &str = "org-b";

async fn seed_orgs(store: &SqlStore) {
    for id in [ORG, OTHER] {
        store
            .insert_org(&OrgRecord {
                id: id.into(),
                name: format!("Org {id}"),
                created_at: at(0),
            })
            .await
            .unwrap();
    }
}

fn site(org: &str, cloud: &str, created: i64) -> SiteRecord {
    SiteRecord {
        org_id: org.into(),
        cloud_id: cloud.into(),
        cloud_url: format!("https://{cloud}.example.net"),
        cloud_name: cloud.into(),
        encryption_type: "ATLASSIAN_MANAGED".into(),
        products: vec![
            SiteProduct {
                product: Product::Jira,
                is_empty: false,
            },
            SiteProduct {
                product: Product::Confluence,
                is_empty: true,
            },
        ],
        account_email: "admin@example.net".into(),
        sealed_token: "sealed".into(),
        created_at: at(created),
        created_by: Some("acc-1".into()),
    }
}

fn storage(org: &str, id: &str, kind: StorageType, created: i64) -> StorageRecord {
    StorageRecord {
        id: id.into(),
        org_id: org.into(),
        storage_type: kind,
        bucket: if kind == StorageType::Builtin {
            "builtin".into()
        } else {
            format!("bucket-{id}")
        },
        region: Some("eu-west-1".into()),
        prefix: None,
        role_identifier: None,
        principal_tag: None,
        cloud_id: None,
        product: None,
        endpoint: Some("http://127.0.0.1:1".into()),
        access_key_id: Some("AK".into()),
        sealed_secret: Some("sealed-secret".into()),
        encryption_type: "SERVICE_MANAGED".into(),
        status: StorageStatus::Connected,
        created_at: at(created),
    }
}

fn policy(
    org: &str,
    id: &str,
    cloud: &str,
    storage_id: &str,
    status: PolicyStatus,
) -> PolicyRecord {
    PolicyRecord {
        id: id.into(),
        org_id: org.into(),
        name: format!("policy {id}"),
        cloud_id: cloud.into(),
        product: Product::Jira,
        status,
        include_attachments: true,
        include_personal_spaces: false,
        include_users: true,
        storage_id: storage_id.into(),
        schedule: Some(ScheduleRecord {
            interval: Interval::Daily,
            start_date: NaiveDate::from_ymd_opt(2027, 1, 15).unwrap(),
            slot_minute: 137,
        }),
        next_run_at: None,
        retention_days: 30,
        activated_by: None,
        created_at: at(1),
        created_by: "acc-1".into(),
        updated_at: at(1),
    }
}

fn backup(org: &str, id: &str, policy_id: &str, cloud: &str, status: BackupStatus) -> BackupRecord {
    BackupRecord {
        id: id.into(),
        org_id: org.into(),
        policy_id: policy_id.into(),
        name: format!("backup {id}"),
        cloud_id: cloud.into(),
        product: Product::Jira,
        status,
        status_message: "Queued.".into(),
        account_id: "acc-1".into(),
        storage_id: "st-1".into(),
        encryption_type: "SERVICE_MANAGED".into(),
        selections: vec![Selection::Users, Selection::Attachments],
        expiry_at: at(1000),
        users_size: 0,
        data_size: 0,
        attachments_size: 0,
        progress: None,
        stats: None,
        snapshot_id: None,
        attempts: 0,
        started_at: None,
        created_at: at(10),
        updated_at: at(10),
    }
}

fn restore(org: &str, id: &str, backup_id: &str, destination: &str) -> RestoreRecord {
    RestoreRecord {
        id: id.into(),
        org_id: org.into(),
        backup_id: backup_id.into(),
        source_cloud_id: "site-1".into(),
        destination_cloud_id: destination.into(),
        product: Product::Jira,
        status: RestoreStatus::Created,
        status_message: "Queued.".into(),
        account_id: "acc-1".into(),
        selections: vec![Selection::Users],
        project_keys: Some(vec!["ABC".into(), "D_1".into()]),
        space_keys: None,
        item_keys: Some(vec!["ABC-1".into(), "ABC-22".into()]),
        progress: None,
        result: None,
        created_at: at(20),
        updated_at: at(20),
    }
}

fn job(kind: JobKind, subject: &str, org: &str, available: Timestamp) -> JobRecord {
    JobRecord {
        id: format!("job-{}-{subject}", kind.as_str().to_lowercase()),
        kind,
        subject_id: subject.into(),
        org_id: org.into(),
        state: JobState::Queued,
        available_at: available,
        lease_token: None,
        attempts: 0,
        checkpoint: None,
        cancel_requested: false,
        created_at: available,
        updated_at: available,
    }
}

fn lock_of(b: &BackupRecord) -> SiteLock {
    SiteLock {
        org_id: b.org_id.clone(),
        cloud_id: b.cloud_id.clone(),
        product: b.product,
        holder_kind: JobKind::Backup,
        holder_id: b.id.clone(),
    }
}

fn restore_lock_of(r: &RestoreRecord) -> SiteLock {
    SiteLock {
        org_id: r.org_id.clone(),
        cloud_id: r.destination_cloud_id.clone(),
        product: r.product,
        holder_kind: JobKind::Restore,
        holder_id: r.id.clone(),
    }
}

/// Creates a backup with its job and lock, as the domain does.
async fn create(store: &SqlStore, b: &BackupRecord) -> StoreResult<()> {
    store
        .create_backup(
            b,
            &job(JobKind::Backup, &b.id, &b.org_id, b.created_at),
            &lock_of(b),
        )
        .await
}

fn page(offset: u64, limit: u32, descending: bool) -> PageQuery {
    PageQuery {
        offset,
        limit,
        descending,
    }
}

const ALL: PageQuery = PageQuery {
    offset: 0,
    limit: 100,
    descending: false,
};

/// A site, the built-in storage `st-1` and an S3 storage `st-2` in `ORG`.
async fn seed_org_a(store: &SqlStore) {
    seed_orgs(store).await;
    store.insert_site(&site(ORG, "site-1", 1)).await.unwrap();
    store.insert_site(&site(ORG, "site-2", 2)).await.unwrap();
    store
        .insert_storage(&storage(ORG, "st-1", StorageType::Builtin, 1))
        .await
        .unwrap();
    store
        .insert_storage(&storage(ORG, "st-2", StorageType::S3, 2))
        .await
        .unwrap();
}

dual_test!(
    sites_round_trip_and_stay_in_their_org,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let found = store.get_site(ORG, "site-1").await.unwrap().unwrap();
        assert_eq!(found, site(ORG, "site-1", 1));
        assert!(store.get_site(OTHER, "site-1").await.unwrap().is_none());
        assert!(store.list_sites(OTHER, ALL).await.unwrap().items.is_empty());

        let err = store
            .insert_site(&site(ORG, "site-1", 5))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict("site")), "{err:?}");
        // The same site may be registered by another org.
        store.insert_site(&site(OTHER, "site-1", 5)).await.unwrap();

        let listed = store.list_sites(ORG, page(0, 1, true)).await.unwrap();
        assert_eq!(listed.total, 2);
        assert_eq!(listed.items[0].cloud_id, "site-2", "newest first");

        // A policy pins the site; another org cannot delete it.
        store
            .insert_policy(&policy(
                ORG,
                "p-1",
                "site-1",
                "st-1",
                PolicyStatus::Inactive,
            ))
            .await
            .unwrap();
        let err = store.delete_site(ORG, "site-1").await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("policy")), "{err:?}");
        assert!(store.delete_site(ORG, "site-2").await.unwrap());
        assert!(
            !store.delete_site(ORG, "site-2").await.unwrap(),
            "already gone"
        );
        assert!(store.delete_policy(ORG, "p-1").await.unwrap());
        assert!(store.delete_site(ORG, "site-1").await.unwrap());
        assert!(
            store.get_site(OTHER, "site-1").await.unwrap().is_some(),
            "the other org's registration stays"
        );
    }
);

dual_test!(
    storages_builtin_once_filters_and_deletion,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_orgs(&store).await;
        let first = store
            .ensure_builtin_storage(&storage(ORG, "b-1", StorageType::Builtin, 1))
            .await
            .unwrap();
        let second = store
            .ensure_builtin_storage(&storage(ORG, "b-2", StorageType::Builtin, 2))
            .await
            .unwrap();
        assert_eq!((first.id.as_str(), second.id.as_str()), ("b-1", "b-1"));
        let err = store
            .insert_storage(&storage(ORG, "b-3", StorageType::Builtin, 3))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");

        let mut bound = storage(ORG, "s3-bound", StorageType::S3, 3);
        bound.cloud_id = Some("site-1".into());
        bound.product = Some(Product::Confluence);
        store.insert_storage(&bound).await.unwrap();
        store
            .insert_storage(&storage(ORG, "s3-free", StorageType::S3, 4))
            .await
            .unwrap();
        assert_eq!(
            store.get_storage(ORG, "s3-bound").await.unwrap().unwrap(),
            bound
        );
        assert!(
            store
                .get_storage(OTHER, "s3-bound")
                .await
                .unwrap()
                .is_none()
        );

        let ids = |p: Page<StorageRecord>| p.items.into_iter().map(|s| s.id).collect::<Vec<_>>();
        let filter = |cloud: Option<&str>, product: Option<Product>| StorageFilter {
            org_id: ORG.into(),
            cloud_id: cloud.map(String::from),
            product,
        };
        assert_eq!(
            ids(store.list_storages(&filter(None, None), ALL).await.unwrap()),
            ["b-1", "s3-bound", "s3-free"]
        );
        // A storage bound to no site or product serves them all.
        assert_eq!(
            ids(store
                .list_storages(&filter(Some("site-2"), None), ALL)
                .await
                .unwrap()),
            ["b-1", "s3-free"]
        );
        assert_eq!(
            ids(store
                .list_storages(&filter(Some("site-1"), Some(Product::Confluence)), ALL)
                .await
                .unwrap()),
            ["b-1", "s3-bound", "s3-free"]
        );
        assert_eq!(
            ids(store
                .list_storages(&filter(Some("site-1"), Some(Product::Jira)), ALL)
                .await
                .unwrap()),
            ["b-1", "s3-free"]
        );
        let other = StorageFilter {
            org_id: OTHER.into(),
            ..Default::default()
        };
        assert_eq!(store.list_storages(&other, ALL).await.unwrap().total, 0);

        // Deletion: never the built-in one, never another org's, not while used.
        store.insert_site(&site(ORG, "site-1", 1)).await.unwrap();
        assert!(!store.delete_storage(ORG, "b-1").await.unwrap());
        store
            .insert_policy(&policy(
                ORG,
                "p-1",
                "site-1",
                "s3-free",
                PolicyStatus::Inactive,
            ))
            .await
            .unwrap();
        assert!(
            !store.delete_storage(OTHER, "s3-free").await.unwrap(),
            "another org finds nothing (and learns nothing about its use)"
        );
        let err = store.delete_storage(ORG, "s3-free").await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("policy")), "{err:?}");
        store.delete_policy(ORG, "p-1").await.unwrap();
        let mut kept = backup(ORG, "b-kept", "p-1", "site-1", BackupStatus::Completed);
        kept.storage_id = "s3-free".into();
        create(&store, &kept).await.unwrap();
        let err = store.delete_storage(ORG, "s3-free").await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("backup")), "{err:?}");
        kept.status = BackupStatus::Expired;
        store.update_backup(&kept).await.unwrap();
        assert!(store.delete_storage(ORG, "s3-free").await.unwrap());
        assert!(store.get_storage(ORG, "s3-free").await.unwrap().is_none());
    }
);

dual_test!(
    policies_round_trip_filter_and_update,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let mut p1 = policy(ORG, "p-1", "site-1", "st-1", PolicyStatus::Active);
        p1.next_run_at = Some(at(500));
        p1.activated_by = Some("acc-2".into());
        store.insert_policy(&p1).await.unwrap();
        let mut p2 = policy(ORG, "p-2", "site-2", "st-1", PolicyStatus::Inactive);
        p2.product = Product::Confluence;
        p2.schedule = None;
        p2.created_at = at(2);
        store.insert_policy(&p2).await.unwrap();
        assert_eq!(store.get_policy(ORG, "p-1").await.unwrap().unwrap(), p1);
        assert_eq!(store.get_policy(ORG, "p-2").await.unwrap().unwrap(), p2);
        assert!(store.get_policy(OTHER, "p-1").await.unwrap().is_none());

        let list = |f: PolicyFilter| {
            let store = store.clone();
            async move {
                let p = store.list_policies(&f, ALL).await.unwrap();
                (
                    p.total,
                    p.items.into_iter().map(|p| p.id).collect::<Vec<_>>(),
                )
            }
        };
        let base = PolicyFilter {
            org_id: ORG.into(),
            ..Default::default()
        };
        assert_eq!(
            list(base.clone()).await,
            (2, vec!["p-1".into(), "p-2".into()])
        );
        assert_eq!(
            list(PolicyFilter {
                cloud_id: Some("site-2".into()),
                ..base.clone()
            })
            .await,
            (1, vec!["p-2".into()])
        );
        assert_eq!(
            list(PolicyFilter {
                product: Some(Product::Jira),
                ..base.clone()
            })
            .await,
            (1, vec!["p-1".into()])
        );
        assert_eq!(
            list(PolicyFilter {
                status: Some(PolicyStatus::Inactive),
                ..base.clone()
            })
            .await,
            (1, vec!["p-2".into()])
        );
        assert_eq!(
            list(PolicyFilter {
                org_id: OTHER.into(),
                ..Default::default()
            })
            .await,
            (0, vec![])
        );

        p2.name = "renamed".into();
        p2.retention_days = 7;
        p2.include_users = true;
        p2.storage_id = "st-2".into();
        p2.schedule = Some(ScheduleRecord {
            interval: Interval::Weekly,
            start_date: NaiveDate::from_ymd_opt(2028, 2, 29).unwrap(),
            slot_minute: 1439,
        });
        p2.updated_at = at(9);
        assert!(store.update_policy(&p2).await.unwrap());
        assert_eq!(store.get_policy(ORG, "p-2").await.unwrap().unwrap(), p2);
        let mut foreign = p2.clone();
        foreign.org_id = OTHER.into();
        assert!(
            !store.update_policy(&foreign).await.unwrap(),
            "an update names its org"
        );
        let mut gone = p2.clone();
        gone.id = "p-missing".into();
        assert!(!store.update_policy(&gone).await.unwrap());
    }
);

dual_test!(
    rule_2_one_active_policy_per_site_product_storage,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        store
            .insert_policy(&policy(ORG, "p-1", "site-1", "st-1", PolicyStatus::Active))
            .await
            .unwrap();
        let err = store
            .insert_policy(&policy(ORG, "p-2", "site-1", "st-1", PolicyStatus::Active))
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("active policy")),
            "{err:?}"
        );
        // Inactive twins, another storage, another product: all allowed.
        store
            .insert_policy(&policy(
                ORG,
                "p-2",
                "site-1",
                "st-1",
                PolicyStatus::Inactive,
            ))
            .await
            .unwrap();
        store
            .insert_policy(&policy(ORG, "p-3", "site-1", "st-2", PolicyStatus::Active))
            .await
            .unwrap();
        let mut confluence = policy(ORG, "p-4", "site-1", "st-1", PolicyStatus::Active);
        confluence.product = Product::Confluence;
        store.insert_policy(&confluence).await.unwrap();

        // Activating the inactive twin by update meets the same rule...
        let mut p2 = store.get_policy(ORG, "p-2").await.unwrap().unwrap();
        p2.status = PolicyStatus::Active;
        let err = store.update_policy(&p2).await.unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("active policy")),
            "{err:?}"
        );
        // ...and succeeds once the other is deactivated.
        let mut p1 = store.get_policy(ORG, "p-1").await.unwrap().unwrap();
        p1.status = PolicyStatus::Inactive;
        assert!(store.update_policy(&p1).await.unwrap());
        assert!(store.update_policy(&p2).await.unwrap());
    }
);

dual_test!(rule_9_policy_deletion, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_a(&store).await;
    store
        .insert_policy(&policy(ORG, "p-1", "site-1", "st-1", PolicyStatus::Active))
        .await
        .unwrap();
    let err = store.delete_policy(ORG, "p-1").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("active policy")),
        "{err:?}"
    );

    let mut p1 = store.get_policy(ORG, "p-1").await.unwrap().unwrap();
    p1.status = PolicyStatus::Inactive;
    store.update_policy(&p1).await.unwrap();
    let b = backup(ORG, "b-1", "p-1", "site-1", BackupStatus::InProgress);
    create(&store, &b).await.unwrap();
    assert!(
        !store.delete_policy(OTHER, "p-1").await.unwrap(),
        "another org finds nothing (and learns nothing about its backups)"
    );
    let err = store.delete_policy(ORG, "p-1").await.unwrap_err();
    assert!(
        matches!(err, StoreError::Conflict("backup in flight")),
        "{err:?}"
    );

    let mut done = b.clone();
    done.status = BackupStatus::Completed;
    store.update_backup(&done).await.unwrap();
    assert!(store.delete_policy(ORG, "p-1").await.unwrap());
    assert!(!store.delete_policy(ORG, "p-1").await.unwrap());
    assert!(
        store.get_backup(ORG, "b-1").await.unwrap().is_some(),
        "its backups stay until they expire"
    );
});

dual_test!(
    schedule_compare_and_set_due_and_slots,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let mut p1 = policy(ORG, "p-1", "site-1", "st-1", PolicyStatus::Active);
        p1.next_run_at = Some(at(100));
        let mut p2 = policy(ORG, "p-2", "site-2", "st-1", PolicyStatus::Active);
        p2.next_run_at = Some(at(50));
        p2.schedule.as_mut().unwrap().slot_minute = 200;
        let mut p3 = policy(ORG, "p-3", "site-1", "st-2", PolicyStatus::Active);
        p3.next_run_at = Some(at(500));
        let mut p4 = policy(ORG, "p-4", "site-1", "st-1", PolicyStatus::Inactive);
        p4.next_run_at = Some(at(10)); // inconsistent on purpose: inactive is never due
        for p in [&p1, &p2, &p3, &p4] {
            store.insert_policy(p).await.unwrap();
        }
        let due: Vec<String> = store
            .due_policies(at(100), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(due, ["p-2", "p-1"], "active, due, earliest first");
        assert_eq!(store.due_policies(at(100), 1).await.unwrap().len(), 1);
        assert!(store.due_policies(at(49), 10).await.unwrap().is_empty());

        assert!(
            store
                .advance_policy_schedule("p-1", at(100), Some(at(86_500)), PolicyStatus::Active)
                .await
                .unwrap()
        );
        assert!(
            !store
                .advance_policy_schedule("p-1", at(100), Some(at(86_500)), PolicyStatus::Active)
                .await
                .unwrap(),
            "the second node to try loses"
        );
        assert_eq!(
            store
                .get_policy(ORG, "p-1")
                .await
                .unwrap()
                .unwrap()
                .next_run_at,
            Some(at(86_500))
        );
        assert!(
            !store
                .advance_policy_schedule("p-4", at(10), None, PolicyStatus::Active)
                .await
                .unwrap(),
            "an inactive policy is never advanced"
        );
        assert!(
            store
                .advance_policy_schedule("p-2", at(50), None, PolicyStatus::Inactive)
                .await
                .unwrap()
        );
        let p2 = store.get_policy(ORG, "p-2").await.unwrap().unwrap();
        assert_eq!((p2.status, p2.next_run_at), (PolicyStatus::Inactive, None));

        let usage = store.schedule_slot_usage().await.unwrap();
        assert_eq!(usage, vec![(137, 3), (200, 1)]);
    }
);

dual_test!(
    policy_backup_summary_counts_kept_backups,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let mut rows = Vec::new();
        for (id, status, created, expiry) in [
            ("b-1", BackupStatus::Completed, 10, 1000),
            ("b-2", BackupStatus::Incomplete, 20, 1000),
            ("b-3", BackupStatus::Completed, 30, 50),
            ("b-4", BackupStatus::Expired, 40, 45),
            ("b-5", BackupStatus::Failed, 60, 1000),
        ] {
            let mut b = backup(ORG, id, "p-1", &format!("site-{id}"), status);
            b.created_at = at(created);
            b.expiry_at = at(expiry);
            rows.push(b);
        }
        for b in &rows {
            create(&store, b).await.unwrap();
        }
        let summary = store.policy_backup_summary("p-1", at(100)).await.unwrap();
        assert_eq!(
            summary.total_available, 2,
            "b-1 and b-2 are kept and unexpired"
        );
        assert_eq!(
            summary.last_backup_time,
            Some(at(40)),
            "the last one that ran, even expired"
        );
        assert_eq!(
            store
                .policy_backup_summary("p-none", at(100))
                .await
                .unwrap(),
            PolicyBackupSummary::default()
        );
    }
);

dual_test!(
    rule_3_site_lock_is_all_or_nothing,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let b1 = backup(ORG, "b-1", "p-1", "site-1", BackupStatus::Created);
        create(&store, &b1).await.unwrap();
        assert_eq!(store.get_backup(ORG, "b-1").await.unwrap().unwrap(), b1);
        assert_eq!(store.get_backup_by_id("b-1").await.unwrap().unwrap(), b1);
        assert!(store.get_backup(OTHER, "b-1").await.unwrap().is_none());
        let j = store
            .get_job(JobKind::Backup, "b-1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((j.state, j.org_id.as_str()), (JobState::Queued, ORG));

        let b2 = backup(ORG, "b-2", "p-1", "site-1", BackupStatus::Created);
        let err = create(&store, &b2).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("in-flight")), "{err:?}");
        assert!(
            store.get_backup_by_id("b-2").await.unwrap().is_none(),
            "nothing half-made"
        );
        assert!(
            store
                .get_job(JobKind::Backup, "b-2")
                .await
                .unwrap()
                .is_none()
        );

        // A restore into the same site and product is held back too.
        let mut source = backup(ORG, "b-src", "p-9", "site-9", BackupStatus::Created);
        create(&store, &source).await.unwrap();
        source.status = BackupStatus::Completed;
        store.update_backup(&source).await.unwrap();
        store.release_site_lock(&lock_of(&source)).await.unwrap();
        let r = restore(ORG, "r-1", "b-src", "site-1");
        let err = store
            .create_restore(
                &r,
                &job(JobKind::Restore, "r-1", ORG, at(20)),
                &restore_lock_of(&r),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict("in-flight")), "{err:?}");
        assert!(store.get_restore_by_id("r-1").await.unwrap().is_none());

        // Other products, sites and orgs are independent.
        let mut confluence = backup(ORG, "b-3", "p-1", "site-1", BackupStatus::Created);
        confluence.product = Product::Confluence;
        create(&store, &confluence).await.unwrap();
        create(
            &store,
            &backup(ORG, "b-4", "p-1", "site-2", BackupStatus::Created),
        )
        .await
        .unwrap();
        create(
            &store,
            &backup(OTHER, "b-5", "p-1", "site-1", BackupStatus::Created),
        )
        .await
        .unwrap();

        // Only the holder releases the lock; then the next one gets in.
        let mut not_holder = lock_of(&b1);
        not_holder.holder_id = "b-2".into();
        store.release_site_lock(&not_holder).await.unwrap();
        assert!(matches!(
            create(&store, &b2).await.unwrap_err(),
            StoreError::Conflict("in-flight")
        ));
        store.release_site_lock(&lock_of(&b1)).await.unwrap();
        create(&store, &b2).await.unwrap();
    }
);

dual_test!(backups_update_and_lookups, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_a(&store).await;
    let mut b = backup(ORG, "b-1", "p-1", "site-1", BackupStatus::Created);
    create(&store, &b).await.unwrap();
    assert_eq!(
        store
            .last_complete_backup_at(ORG, "site-1", Product::Jira)
            .await
            .unwrap(),
        None
    );
    assert!(store.latest_complete_backup("p-1").await.unwrap().is_none());

    b.status = BackupStatus::Completed;
    b.status_message = "Completed.".into();
    b.users_size = 3;
    b.data_size = 5_000_000_000;
    b.attachments_size = 7;
    b.progress = Some(Progress {
        phase: ProgressPhase::Done,
        items_done: 4,
        items_total: Some(4),
        bytes_done: 9,
        site_traffic: Some(SiteTraffic {
            requests: 12,
            requests_waiting: 1,
            rate_limited: RateLimited {
                burst: 2,
                tenant_quota: 1,
                ..Default::default()
            },
            concurrency: 6,
            budget_wait_ms: 1500,
        }),
    });
    b.stats = Some(BackupStatsView {
        new_bytes_stored: 1,
        ..Default::default()
    });
    b.snapshot_id = Some("snap-1".into());
    b.attempts = 2;
    b.started_at = Some(at(11));
    b.updated_at = at(12);
    b.expiry_at = at(2000);
    assert!(store.update_backup(&b).await.unwrap());
    assert_eq!(store.get_backup(ORG, "b-1").await.unwrap().unwrap(), b);
    let mut gone = b.clone();
    gone.id = "b-missing".into();
    assert!(!store.update_backup(&gone).await.unwrap());

    assert_eq!(
        store
            .last_complete_backup_at(ORG, "site-1", Product::Jira)
            .await
            .unwrap(),
        Some(at(10))
    );
    assert_eq!(
        store
            .last_complete_backup_at(OTHER, "site-1", Product::Jira)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .last_complete_backup_at(ORG, "site-1", Product::Confluence)
            .await
            .unwrap(),
        None
    );
    // The parent of an incremental backup: the newest kept one with a snapshot.
    store.release_site_lock(&lock_of(&b)).await.unwrap();
    let mut newer = backup(ORG, "b-2", "p-1", "site-1", BackupStatus::Created);
    newer.created_at = at(30);
    create(&store, &newer).await.unwrap();
    newer.status = BackupStatus::Failed;
    store.update_backup(&newer).await.unwrap();
    assert_eq!(
        store
            .latest_complete_backup("p-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        "b-1"
    );
});

dual_test!(
    restores_round_trip_filter_and_rule_5,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let mut src = backup(ORG, "b-1", "p-1", "site-1", BackupStatus::Created);
        create(&store, &src).await.unwrap();
        src.status = BackupStatus::Completed;
        store.update_backup(&src).await.unwrap();
        store.release_site_lock(&lock_of(&src)).await.unwrap();

        let mut r1 = restore(ORG, "r-1", "b-1", "site-2");
        store
            .create_restore(
                &r1,
                &job(JobKind::Restore, "r-1", ORG, at(20)),
                &restore_lock_of(&r1),
            )
            .await
            .unwrap();
        assert_eq!(store.get_restore(ORG, "r-1").await.unwrap().unwrap(), r1);
        assert_eq!(store.get_restore_by_id("r-1").await.unwrap().unwrap(), r1);
        assert!(store.get_restore(OTHER, "r-1").await.unwrap().is_none());

        r1.status = RestoreStatus::Completed;
        r1.status_message = "Completed.".into();
        r1.progress = Some(Progress {
            phase: ProgressPhase::Storing,
            items_done: 1,
            items_total: None,
            bytes_done: 0,
            site_traffic: None,
        });
        r1.result = Some(RestoreSummary {
            created: [("issue".to_string(), 2)].into(),
            ..Default::default()
        });
        r1.updated_at = at(25);
        assert!(store.update_restore(&r1).await.unwrap());
        assert_eq!(store.get_restore(ORG, "r-1").await.unwrap().unwrap(), r1);
        store
            .release_site_lock(&restore_lock_of(&r1))
            .await
            .unwrap();

        let mut r2 = restore(ORG, "r-2", "b-1", "site-1");
        r2.project_keys = None;
        r2.space_keys = Some(vec!["SP".into()]);
        r2.created_at = at(30);
        store
            .create_restore(
                &r2,
                &job(JobKind::Restore, "r-2", ORG, at(30)),
                &restore_lock_of(&r2),
            )
            .await
            .unwrap();
        assert_eq!(store.get_restore(ORG, "r-2").await.unwrap().unwrap(), r2);

        let list = |f: RestoreFilter| {
            let store = store.clone();
            async move {
                let p = store.list_restores(&f, page(0, 10, true)).await.unwrap();
                (
                    p.total,
                    p.items.into_iter().map(|r| r.id).collect::<Vec<_>>(),
                )
            }
        };
        let base = RestoreFilter {
            org_id: ORG.into(),
            ..Default::default()
        };
        assert_eq!(
            list(base.clone()).await,
            (2, vec!["r-2".into(), "r-1".into()])
        );
        assert_eq!(
            list(RestoreFilter {
                destination_cloud_id: Some("site-2".into()),
                ..base.clone()
            })
            .await,
            (1, vec!["r-1".into()])
        );
        assert_eq!(
            list(RestoreFilter {
                status: Some(RestoreStatus::Created),
                ..base.clone()
            })
            .await,
            (1, vec!["r-2".into()])
        );
        assert_eq!(
            list(RestoreFilter {
                org_id: OTHER.into(),
                ..Default::default()
            })
            .await,
            (0, vec![])
        );

        // Rule 5: an expired backup cannot be restored, checked in the same transaction, and the
        // refused restore leaves no lock behind.
        src.status = BackupStatus::Expired;
        store.update_backup(&src).await.unwrap();
        let r3 = restore(ORG, "r-3", "b-1", "site-2");
        let err = store
            .create_restore(
                &r3,
                &job(JobKind::Restore, "r-3", ORG, at(40)),
                &restore_lock_of(&r3),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::Conflict("expired backup")),
            "{err:?}"
        );
        assert!(store.get_restore_by_id("r-3").await.unwrap().is_none());
        create(
            &store,
            &backup(ORG, "b-9", "p-1", "site-2", BackupStatus::Created),
        )
        .await
        .expect("site-2 is free: the refused restore took no lock");
    }
);

dual_test!(
    expiry_skips_restore_sources_and_queues_collection,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_a(&store).await;
        let mut made = Vec::new();
        for (id, cloud, status, expiry) in [
            ("b-old", "s-a", BackupStatus::Completed, 100),
            ("b-inc", "s-b", BackupStatus::Incomplete, 150),
            ("b-read", "s-c", BackupStatus::Completed, 100),
            ("b-young", "s-d", BackupStatus::Completed, 900),
            ("b-running", "s-e", BackupStatus::InProgress, 100),
            ("b-failed", "s-f", BackupStatus::Failed, 100),
        ] {
            let mut b = backup(ORG, id, "p-1", cloud, BackupStatus::Created);
            create(&store, &b).await.unwrap();
            b.status = status;
            b.expiry_at = at(expiry);
            store.update_backup(&b).await.unwrap();
            if !status.in_flight() {
                store.release_site_lock(&lock_of(&b)).await.unwrap();
            }
            made.push(b);
        }
        let r = restore(ORG, "r-1", "b-read", "site-2");
        store
            .create_restore(
                &r,
                &job(JobKind::Restore, "r-1", ORG, at(20)),
                &restore_lock_of(&r),
            )
            .await
            .unwrap();

        let expired = store.expire_backups(at(200), 100).await.unwrap();
        let mut ids: Vec<&str> = expired.iter().map(|b| b.id.as_str()).collect();
        ids.sort();
        assert_eq!(ids, ["b-inc", "b-old"]);
        assert!(expired.iter().all(|b| b.status == BackupStatus::Expired));
        for (id, status) in [
            ("b-old", BackupStatus::Expired),
            ("b-inc", BackupStatus::Expired),
            ("b-read", BackupStatus::Completed),
            ("b-young", BackupStatus::Completed),
            ("b-running", BackupStatus::InProgress),
            ("b-failed", BackupStatus::Failed),
        ] {
            assert_eq!(
                store.get_backup(ORG, id).await.unwrap().unwrap().status,
                status,
                "{id}"
            );
            let collect = store.get_job(JobKind::Collect, id).await.unwrap();
            assert_eq!(collect.is_some(), status == BackupStatus::Expired, "{id}");
        }
        let c = store
            .get_job(JobKind::Collect, "b-old")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.state, c.available_at, c.org_id.as_str()),
            (JobState::Queued, at(200), ORG)
        );
        assert!(
            store.expire_backups(at(300), 100).await.unwrap().is_empty(),
            "once only"
        );

        // Once the restore ends, its source expires on the next sweep.
        let mut r = r;
        r.status = RestoreStatus::Completed;
        store.update_restore(&r).await.unwrap();
        let expired = store.expire_backups(at(300), 100).await.unwrap();
        assert_eq!(expired.len(), 1);
        assert_eq!(expired[0].id, "b-read");
        assert!(
            store
                .get_job(JobKind::Collect, "b-read")
                .await
                .unwrap()
                .is_some()
        );
    }
);

dual_test!(claim_is_fifo_leased_and_fenced, |db: TestDb| async move {
    let store = db.connect().await;
    seed_orgs(&store).await;
    // Jobs only need their own table: insert them through a backup each.
    for (id, available) in [("b-2", 20), ("b-1", 10), ("b-3", 30), ("b-late", 1000)] {
        let mut b = backup(ORG, id, "p-1", &format!("site-{id}"), BackupStatus::Created);
        b.created_at = at(available);
        create(&store, &b).await.unwrap();
    }
    assert!(
        store
            .claim_job(at(5), at(65), "t-early")
            .await
            .unwrap()
            .is_none(),
        "none due"
    );

    let first = store
        .claim_job(at(100), at(160), "t-a")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.subject_id, "b-1", "the longest-available job first");
    assert_eq!(first.state, JobState::Running);
    assert_eq!(first.lease_token.as_deref(), Some("t-a"));
    assert_eq!(first.available_at, at(160));
    assert_eq!(first.attempts, 1);
    let second = store
        .claim_job(at(100), at(160), "t-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(second.subject_id, "b-2");
    let third = store
        .claim_job(at(100), at(160), "t-c")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(third.subject_id, "b-3");
    assert!(
        store
            .claim_job(at(150), at(210), "t-d")
            .await
            .unwrap()
            .is_none(),
        "live leases are not claimable and b-late is not due"
    );
    // b-2 and b-3 stay held throughout, so they never compete below.
    assert!(
        store
            .renew_job_lease(&second.id, "t-b", at(5000))
            .await
            .unwrap()
    );
    assert!(
        store
            .renew_job_lease(&third.id, "t-c", at(5000))
            .await
            .unwrap()
    );

    // The holder renews and checkpoints; then it dies and its lease lapses.
    assert!(
        store
            .renew_job_lease(&first.id, "t-a", at(200))
            .await
            .unwrap()
    );
    assert!(
        store
            .save_job_checkpoint(&first.id, "t-a", "item 41")
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_job(at(170), at(230), "t-e")
            .await
            .unwrap()
            .is_none(),
        "renewed"
    );
    let retaken = store
        .claim_job(at(201), at(261), "t-f")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retaken.id, first.id, "a lapsed lease is claimable again");
    assert_eq!(retaken.attempts, 2);
    assert_eq!(retaken.checkpoint.as_deref(), Some("item 41"));
    assert_eq!(retaken.lease_token.as_deref(), Some("t-f"));

    // Fencing: the old holder can change nothing any more.
    assert!(
        !store
            .renew_job_lease(&first.id, "t-a", at(400))
            .await
            .unwrap()
    );
    assert!(
        !store
            .save_job_checkpoint(&first.id, "t-a", "stale")
            .await
            .unwrap()
    );
    assert!(!store.finish_job(&first.id, "t-a", at(202)).await.unwrap());
    assert!(!store.requeue_job(&first.id, "t-a", at(202)).await.unwrap());
    let now_held = store
        .get_job(JobKind::Backup, "b-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now_held.checkpoint.as_deref(), Some("item 41"));
    assert_eq!(now_held.lease_token.as_deref(), Some("t-f"));
    assert_eq!(now_held.available_at, at(261));
    assert_eq!(now_held.state, JobState::Running);

    // The new holder requeues it for later: it waits until then.
    assert!(store.requeue_job(&first.id, "t-f", at(2000)).await.unwrap());
    let queued = store
        .get_job(JobKind::Backup, "b-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((queued.state, queued.lease_token), (JobState::Queued, None));
    assert!(
        !store
            .renew_job_lease(&first.id, "t-f", at(3000))
            .await
            .unwrap(),
        "not held"
    );
    let late = store
        .claim_job(at(1500), at(9000), "t-g")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(late.subject_id, "b-late");
    let again = store
        .claim_job(at(2000), at(2060), "t-h")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((again.id.as_str(), again.attempts), (first.id.as_str(), 3));

    // Finished jobs are never claimed again, lapsed or not.
    assert!(store.finish_job(&again.id, "t-h", at(2001)).await.unwrap());
    assert!(
        !store.finish_job(&again.id, "t-h", at(2002)).await.unwrap(),
        "once"
    );
    let done = store
        .get_job(JobKind::Backup, "b-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!((done.state, done.lease_token), (JobState::Done, None));
    for token in ["t-b", "t-c", "t-g"] {
        let held = [&second, &third, &late]
            .into_iter()
            .find(|j| j.lease_token.as_deref() == Some(token))
            .unwrap();
        assert!(store.finish_job(&held.id, token, at(2003)).await.unwrap());
    }
    assert!(
        store
            .claim_job(at(99_999), at(99_999), "t-z")
            .await
            .unwrap()
            .is_none()
    );
});

dual_test!(cancel_queued_versus_running_jobs, |db: TestDb| async move {
    let store = db.connect().await;
    seed_orgs(&store).await;
    for (id, available) in [("b-run", 10), ("b-queued", 20), ("b-later", 5000)] {
        let mut b = backup(ORG, id, "p-1", &format!("site-{id}"), BackupStatus::Created);
        b.created_at = at(available);
        create(&store, &b).await.unwrap();
    }
    let running = store
        .claim_job(at(100), at(160), "t-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(running.subject_id, "b-run");

    // Running: only a request the worker sees; the job stays with its holder.
    assert!(
        !store
            .cancel_queued_job(JobKind::Backup, "b-run", at(101))
            .await
            .unwrap()
    );
    assert!(
        store
            .request_job_cancel(JobKind::Backup, "b-run", at(101))
            .await
            .unwrap()
    );
    let j = store
        .get_job(JobKind::Backup, "b-run")
        .await
        .unwrap()
        .unwrap();
    assert!(j.cancel_requested);
    assert_eq!(
        (j.state, j.available_at),
        (JobState::Running, at(160)),
        "lease untouched"
    );
    assert!(store.finish_job(&running.id, "t-1", at(102)).await.unwrap());

    // Queued: ended at once; nobody claims it.
    assert!(
        store
            .cancel_queued_job(JobKind::Backup, "b-queued", at(103))
            .await
            .unwrap()
    );
    assert!(
        !store
            .cancel_queued_job(JobKind::Backup, "b-queued", at(104))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_job(JobKind::Backup, "b-queued")
            .await
            .unwrap()
            .unwrap()
            .state,
        JobState::Done
    );
    assert!(
        !store
            .request_job_cancel(JobKind::Backup, "b-queued", at(104))
            .await
            .unwrap()
    );

    // A cancel request on a job due later makes it available now, so a worker ends it.
    assert!(
        store
            .request_job_cancel(JobKind::Backup, "b-later", at(200))
            .await
            .unwrap()
    );
    let taken = store
        .claim_job(at(200), at(260), "t-2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(taken.subject_id, "b-later");
    assert!(taken.cancel_requested);
    assert!(
        !store
            .request_job_cancel(JobKind::Backup, "b-missing", at(200))
            .await
            .unwrap()
    );
    assert!(
        store
            .get_job(JobKind::Restore, "b-later")
            .await
            .unwrap()
            .is_none(),
        "kind matters"
    );
});

/// Claims until the queue is empty from `claimers` tasks at once; returns (job id, token) pairs.
async fn claim_all(
    store: &Arc<SqlStore>,
    claimers: usize,
    now: Timestamp,
) -> Vec<(String, String)> {
    let tasks: Vec<_> = (0..claimers)
        .map(|c| {
            let store = store.clone();
            tokio::spawn(async move {
                let mut mine = Vec::new();
                for n in 0.. {
                    let token = format!("claimer-{c}-{n}-{}", uuid::Uuid::new_v4().simple());
                    match store
                        .claim_job(now, now + Duration::seconds(60), &token)
                        .await
                        .unwrap()
                    {
                        Some(j) => {
                            assert_eq!(j.lease_token.as_deref(), Some(token.as_str()));
                            mine.push((j.id, token));
                        }
                        None => break,
                    }
                }
                mine
            })
        })
        .collect();
    futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.unwrap())
        .collect()
}

dual_test!(
    concurrent_claimers_take_each_job_once,
    |db: TestDb| async move {
        const JOBS: usize = 120;
        const CLAIMERS: usize = 8;
        let store = Arc::new(db.connect().await);
        seed_orgs(&store).await;
        for i in 0..JOBS {
            let mut b = backup(
                ORG,
                &format!("b-{i:03}"),
                "p-1",
                &format!("site-{i}"),
                BackupStatus::Created,
            );
            b.created_at = at((i % 7) as i64); // many share an available_at
            create(&store, &b).await.unwrap();
        }
        let all: HashSet<String> = (0..JOBS).map(|i| format!("job-backup-b-{i:03}")).collect();

        for round in 0..2 {
            // Round 0 claims fresh jobs; round 1 claims the same jobs again after every lease lapsed.
            let now = at(100 + round * 1000);
            let claims = claim_all(&store, CLAIMERS, now).await;
            let mut holders: HashMap<&str, &str> = HashMap::new();
            for (job, token) in &claims {
                assert!(
                    holders.insert(job, token).is_none(),
                    "round {round}: {job} claimed twice"
                );
            }
            assert_eq!(
                holders
                    .keys()
                    .map(|k| k.to_string())
                    .collect::<HashSet<_>>(),
                all,
                "round {round}: every job claimed"
            );
            // The store agrees: each job's holder is the one claimer that got it, and only that
            // holder's token works.
            for (job, token) in &claims {
                let subject = job.trim_start_matches("job-backup-");
                let stored = store
                    .get_job(JobKind::Backup, subject)
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(stored.lease_token.as_deref(), Some(token.as_str()));
                assert_eq!(stored.attempts, round as u32 + 1);
                assert!(
                    !store
                        .save_job_checkpoint(job, "someone-else", "x")
                        .await
                        .unwrap()
                );
            }
        }
        // Finishing concurrently: each job finishes exactly once, by its holder.
        let claims = {
            let mut v = Vec::new();
            for i in 0..JOBS {
                let j = store
                    .get_job(JobKind::Backup, &format!("b-{i:03}"))
                    .await
                    .unwrap()
                    .unwrap();
                v.push((j.id, j.lease_token.unwrap()));
            }
            v
        };
        let finishes: Vec<_> = claims
            .into_iter()
            .flat_map(|(job, token)| {
                let store = store.clone();
                [0, 1].map(|_| {
                    let (store, job, token) = (store.clone(), job.clone(), token.clone());
                    tokio::spawn(
                        async move { store.finish_job(&job, &token, at(5000)).await.unwrap() },
                    )
                })
            })
            .collect();
        let wins = futures::future::join_all(finishes)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(wins, JOBS);
        assert!(
            store
                .claim_job(at(99_999), at(99_999), "late")
                .await
                .unwrap()
                .is_none()
        );
    }
);

// Pagination (spec 1.1) as a property: for random backups (many sharing a `created_at`), random
// filters and page sizes, walking start = 0, 1, 2, ... visits every matching item once, in
// (created_at, id) order, and every page reports the full count. One database per dialect; each
// case writes into a fresh org, so cases do not see each other's rows.

/// (created_at second, status, cloud, policy, status it later moves to) of each backup.
type Row = (u8, u8, u8, u8, Option<u8>);

const STATUSES: [BackupStatus; 3] = [
    BackupStatus::Completed,
    BackupStatus::Failed,
    BackupStatus::Expired,
];

async fn walk_case(
    store: &SqlStore,
    case: u32,
    rows: &[Row],
    limit: u32,
    descending: bool,
    filter_kind: u8,
) -> Result<(), String> {
    let org = format!("org-p{case}");
    store
        .insert_org(&OrgRecord {
            id: org.clone(),
            name: org.clone(),
            created_at: at(0),
        })
        .await
        .map_err(|e| e.to_string())?;
    let mut made = Vec::new();
    for (i, &(created, status, cloud, policy, moved)) in rows.iter().enumerate() {
        // Ids in an order unrelated to insertion or time (an odd multiplier is a bijection).
        let id = format!("{case:05}-{:08x}", (i as u32).wrapping_mul(2_654_435_761));
        let mut b = backup(
            &org,
            &id,
            &format!("p-{policy}"),
            &format!("c-{cloud}"),
            STATUSES[usize::from(status)],
        );
        // A policy's backups share its product, as in the domain.
        if policy == 1 {
            b.product = Product::Confluence;
        }
        b.created_at = at(i64::from(created));
        create(store, &b).await.map_err(|e| e.to_string())?;
        store
            .release_site_lock(&lock_of(&b))
            .await
            .map_err(|e| e.to_string())?;
        // Status changes after the insert must move the counts behind `total` too.
        if let Some(moved) = moved {
            b.status = STATUSES[usize::from(moved)];
            store.update_backup(&b).await.map_err(|e| e.to_string())?;
        }
        made.push(b);
    }
    let (status, cloud, policy) = (STATUSES[0], "c-1", "p-0");
    let filter = BackupFilter {
        org_id: org.clone(),
        status: matches!(filter_kind, 1 | 3 | 4).then_some(status),
        cloud_id: matches!(filter_kind, 2 | 4).then(|| cloud.to_string()),
        policy_id: (filter_kind == 3).then(|| policy.to_string()),
        product: (filter_kind == 5).then_some(Product::Confluence),
    };
    let mut expected: Vec<&BackupRecord> = made
        .iter()
        .filter(|b| filter.status.is_none_or(|s| b.status == s))
        .filter(|b| filter.cloud_id.as_ref().is_none_or(|c| &b.cloud_id == c))
        .filter(|b| filter.policy_id.as_ref().is_none_or(|p| &b.policy_id == p))
        .filter(|b| filter.product.is_none_or(|p| b.product == p))
        .collect();
    expected.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    if descending {
        expected.reverse();
    }
    let mut seen = Vec::new();
    for start in 0u64.. {
        let page = store
            .list_backups(&filter, page(start * u64::from(limit), limit, descending))
            .await
            .map_err(|e| e.to_string())?;
        if page.total != expected.len() as u64 {
            return Err(format!(
                "page {start}: total {} but {} match",
                page.total,
                expected.len()
            ));
        }
        if page.items.len() > limit as usize {
            return Err(format!("page {start} holds {} > {limit}", page.items.len()));
        }
        if page.items.is_empty() {
            break;
        }
        seen.extend(page.items.into_iter().map(|b| b.id));
    }
    let want: Vec<String> = expected.iter().map(|b| b.id.clone()).collect();
    if seen != want {
        return Err(format!("walked {seen:?}\nwanted {want:?}"));
    }
    Ok(())
}

fn pagination_property(db: impl std::future::Future<Output = Option<TestDb>>) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some(db) = rt.block_on(db) else { return };
    let store = rt.block_on(db.connect());
    let mut runner = TestRunner::new(Config {
        cases: 40,
        failure_persistence: None,
        ..Config::default()
    });
    let case = std::sync::atomic::AtomicU32::new(0);
    let strategy = (
        prop::collection::vec(
            (0u8..6, 0u8..3, 0u8..2, 0u8..2, prop::option::of(0u8..3)),
            0..36,
        ),
        1u32..8,
        any::<bool>(),
        0u8..6,
    );
    runner
        .run(&strategy, |(rows, limit, descending, filter_kind)| {
            let n = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            rt.block_on(walk_case(&store, n, &rows, limit, descending, filter_kind))
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}

#[test]
fn pagination_walks_every_item_once_in_order_sqlite() {
    pagination_property(async { Some(TestDb::sqlite().await) });
}

#[test]
fn pagination_walks_every_item_once_in_order_postgres() {
    pagination_property(TestDb::postgres());
}
