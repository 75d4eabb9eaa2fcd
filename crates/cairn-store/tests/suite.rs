//! The store's contract, run on SQLite and on PostgreSQL by the same code.

use std::sync::Arc;

use cairn_store::testing::TestDb;
use cairn_store::*;
use chrono::{Duration, TimeZone, Utc};

fn at(secs: i64) -> Timestamp {
    Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
}

fn account(id: &str, email: &str) -> AccountRecord {
    AccountRecord {
        id: id.into(),
        email: email.into(),
        display_name: format!("Person {id}"),
        password_hash: None,
        active: true,
        created_at: at(0),
    }
}

fn token(id: &str, account_id: &str, hmac: &str, created: i64) -> TokenRecord {
    TokenRecord {
        id: id.into(),
        account_id: account_id.into(),
        label: format!("label {id}"),
        hint: "cairn_…abcd".into(),
        secret_hmac: hmac.into(),
        created_at: at(created),
        expires_at: at(created) + Duration::days(365),
        last_used_at: None,
        revoked_at: None,
        revoked_by: None,
    }
}

async fn seed_org_and_account(store: &SqlStore) {
    store
        .insert_org(&OrgRecord {
            id: "org-1".into(),
            name: "Acme".into(),
            created_at: at(0),
        })
        .await
        .unwrap();
    store
        .insert_account(&account("acc-1", "Ada@Example.com"))
        .await
        .unwrap();
    store
        .upsert_membership(&MembershipRecord {
            org_id: "org-1".into(),
            account_id: "acc-1".into(),
            role: OrgRole::OrgAdmin,
            created_at: at(0),
        })
        .await
        .unwrap();
}

dual_test!(
    emails_are_unique_whatever_their_case,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_and_account(&store).await;
        let err = store
            .insert_account(&account("acc-2", "ada@EXAMPLE.com"))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::Conflict("email")), "{err:?}");
        let found = store
            .find_account_by_email("ADA@example.COM")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(found.id, "acc-1");
        assert_eq!(found.email, "Ada@Example.com", "stored as entered");
        assert!(
            store
                .find_account_by_email("nobody@example.com")
                .await
                .unwrap()
                .is_none()
        );
    }
);

dual_test!(memberships_and_roles, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_and_account(&store).await;
    let m = store
        .get_membership("org-1", "acc-1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(m.role, OrgRole::OrgAdmin);
    store
        .upsert_membership(&MembershipRecord {
            role: OrgRole::Member,
            ..m.clone()
        })
        .await
        .unwrap();
    assert_eq!(
        store
            .get_membership("org-1", "acc-1")
            .await
            .unwrap()
            .unwrap()
            .role,
        OrgRole::Member
    );
    assert!(
        store
            .get_membership("org-2", "acc-1")
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(store.list_accounts(Some("org-1")).await.unwrap().len(), 1);
    assert_eq!(store.list_accounts(Some("org-2")).await.unwrap().len(), 0);
});

dual_test!(
    token_lookup_needs_both_email_and_hash,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_and_account(&store).await;
        assert!(
            store
                .insert_token_within_limit(&token("t1", "acc-1", "h1", 1), 100, at(1))
                .await
                .unwrap()
        );
        let (acc, tok) = store
            .find_token_for_auth("ada@example.com", "h1")
            .await
            .unwrap()
            .unwrap();
        assert_eq!((acc.id.as_str(), tok.id.as_str()), ("acc-1", "t1"));
        assert!(
            store
                .find_token_for_auth("other@example.com", "h1")
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            store
                .find_token_for_auth("ada@example.com", "h2")
                .await
                .unwrap()
                .is_none()
        );
    }
);

dual_test!(revoke_is_once_and_recorded, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_and_account(&store).await;
    store
        .insert_token_within_limit(&token("t1", "acc-1", "h1", 1), 100, at(1))
        .await
        .unwrap();
    assert!(store.revoke_token("t1", "acc-1", at(5)).await.unwrap());
    assert!(
        !store.revoke_token("t1", "acc-1", at(6)).await.unwrap(),
        "second revoke is a no-op"
    );
    assert!(!store.revoke_token("missing", "acc-1", at(6)).await.unwrap());
    let t = store.get_token("t1").await.unwrap().unwrap();
    assert_eq!(t.revoked_at, Some(at(5)));
    assert_eq!(t.revoked_by.as_deref(), Some("acc-1"));
});

dual_test!(last_use_only_moves_forward, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_and_account(&store).await;
    store
        .insert_token_within_limit(&token("t1", "acc-1", "h1", 1), 100, at(1))
        .await
        .unwrap();
    store.record_token_use("t1", at(120)).await.unwrap();
    store.record_token_use("t1", at(60)).await.unwrap();
    assert_eq!(
        store.get_token("t1").await.unwrap().unwrap().last_used_at,
        Some(at(120))
    );
});

dual_test!(
    token_limit_counts_live_tokens_only,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_and_account(&store).await;
        for i in 0..3 {
            assert!(
                store
                    .insert_token_within_limit(
                        &token(&format!("t{i}"), "acc-1", &format!("h{i}"), i),
                        3,
                        at(10)
                    )
                    .await
                    .unwrap()
            );
        }
        assert!(
            !store
                .insert_token_within_limit(&token("t3", "acc-1", "h3", 3), 3, at(10))
                .await
                .unwrap()
        );
        store.revoke_token("t0", "acc-1", at(11)).await.unwrap();
        assert!(
            store
                .insert_token_within_limit(&token("t3", "acc-1", "h3", 3), 3, at(12))
                .await
                .unwrap()
        );
        // A year later every token has expired; the limit frees up.
        let later = at(12) + Duration::days(400);
        assert!(
            store
                .insert_token_within_limit(&token("t4", "acc-1", "h4", 4), 3, later)
                .await
                .unwrap()
        );
        assert_eq!(store.list_tokens("acc-1").await.unwrap().len(), 5);
    }
);

dual_test!(
    concurrent_inserts_never_exceed_the_limit,
    |db: TestDb| async move {
        let store = Arc::new(db.connect().await);
        seed_org_and_account(&store).await;
        let tasks: Vec<_> = (0..40)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .insert_token_within_limit(
                            &token(&format!("t{i}"), "acc-1", &format!("h{i}"), i),
                            25,
                            at(100),
                        )
                        .await
                        .unwrap()
                })
            })
            .collect();
        let inserted = futures::future::join_all(tasks)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(inserted, 25);
        assert_eq!(store.list_tokens("acc-1").await.unwrap().len(), 25);
    }
);

dual_test!(org_tokens_list_names_owners, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_and_account(&store).await;
    store
        .insert_token_within_limit(&token("t1", "acc-1", "h1", 1), 100, at(1))
        .await
        .unwrap();
    let all = store.list_org_tokens("org-1").await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].owner_email, "Ada@Example.com");
    assert!(store.list_org_tokens("org-2").await.unwrap().is_empty());
});

fn event(i: i64, account: &str, action: &str) -> AuditEventRecord {
    AuditEventRecord {
        id: format!("ev-{i:04}"),
        org_id: Some("org-1".into()),
        account_id: Some(account.into()),
        action: action.into(),
        target: Some(format!("token:{i}")),
        client_addr: Some("127.0.0.1".into()),
        details: None,
        // Pairs of events share a time, so ordering must fall back to the id.
        created_at: at(i / 2),
    }
}

dual_test!(audit_filters_and_stable_paging, |db: TestDb| async move {
    let store = db.connect().await;
    for i in 0..30 {
        let action = if i % 3 == 0 {
            "token.revoke"
        } else {
            "token.create"
        };
        let account = if i % 2 == 0 { "acc-1" } else { "acc-2" };
        store
            .insert_audit_event(&event(i, account, action))
            .await
            .unwrap();
    }
    let all = AuditFilter {
        org_id: Some("org-1".into()),
        ..Default::default()
    };
    let mut seen = Vec::new();
    for start in 0.. {
        let page = store
            .list_audit_events(
                &all,
                PageQuery {
                    offset: start * 7,
                    limit: 7,
                    descending: false,
                },
            )
            .await
            .unwrap();
        assert_eq!(page.total, 30);
        if page.items.is_empty() {
            break;
        }
        seen.extend(page.items.into_iter().map(|e| e.id));
    }
    let expected: Vec<_> = (0..30).map(|i| format!("ev-{i:04}")).collect();
    assert_eq!(seen, expected);

    let desc = store
        .list_audit_events(
            &all,
            PageQuery {
                offset: 0,
                limit: 2,
                descending: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        desc.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["ev-0029", "ev-0028"]
    );

    let filtered = AuditFilter {
        account_id: Some("acc-1".into()),
        action: Some("token.revoke".into()),
        from: Some(at(3)),
        to: Some(at(12)),
        ..all.clone()
    };
    let page = store
        .list_audit_events(
            &filtered,
            PageQuery {
                offset: 0,
                limit: 100,
                descending: false,
            },
        )
        .await
        .unwrap();
    // Even ids divisible by 3 (so by 6) with created_at (i/2) in 3..=12: i in 6..=25 → 6, 12, 18, 24.
    assert_eq!(
        page.items.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["ev-0006", "ev-0012", "ev-0018", "ev-0024"]
    );
    assert_eq!(page.total, 4);
    let other_org = AuditFilter {
        org_id: Some("org-2".into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_audit_events(
                &other_org,
                PageQuery {
                    offset: 0,
                    limit: 5,
                    descending: true
                }
            )
            .await
            .unwrap()
            .total,
        0
    );
});

dual_test!(meta_is_set_once, |db: TestDb| async move {
    let store = db.connect().await;
    assert!(
        store
            .insert_meta_if_absent("bootstrapped", "a")
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_meta_if_absent("bootstrapped", "b")
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_meta("bootstrapped").await.unwrap().as_deref(),
        Some("a")
    );
    assert_eq!(store.get_meta("absent").await.unwrap(), None);
    store.ping().await.unwrap();
});

dual_test!(everything_survives_a_reconnect, |db: TestDb| async move {
    let store = db.connect().await;
    seed_org_and_account(&store).await;
    store
        .insert_token_within_limit(&token("t1", "acc-1", "h1", 1), 100, at(1))
        .await
        .unwrap();
    store
        .insert_audit_event(&event(1, "acc-1", "token.create"))
        .await
        .unwrap();
    store.close().await;
    drop(store);
    let store = db.connect().await;
    assert_eq!(store.list_orgs().await.unwrap().len(), 1);
    assert!(
        store
            .find_token_for_auth("ada@example.com", "h1")
            .await
            .unwrap()
            .is_some()
    );
    let page = store
        .list_audit_events(
            &AuditFilter::default(),
            PageQuery {
                offset: 0,
                limit: 10,
                descending: true,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.total, 1);
});

fn session(hash: &str, account_id: &str, created: i64, expires: i64) -> SessionRecord {
    SessionRecord {
        id_hmac: hash.into(),
        account_id: account_id.into(),
        created_at: at(created),
        expires_at: at(expires),
        client_addr: Some("127.0.0.1".into()),
    }
}

dual_test!(
    sessions_are_found_by_hash_deleted_and_survive_a_reconnect,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_and_account(&store).await;
        let s = session("hash-1", "acc-1", 0, 3600);
        store.insert_session(&s).await.unwrap();
        let err = store.insert_session(&s).await.unwrap_err();
        assert!(matches!(err, StoreError::Conflict("session")), "{err:?}");
        store.close().await;
        drop(store);

        let store = db.connect().await;
        assert_eq!(store.get_session("hash-1").await.unwrap(), Some(s));
        assert_eq!(store.get_session("hash-2").await.unwrap(), None);
        assert!(store.delete_session("hash-1").await.unwrap());
        assert!(
            !store.delete_session("hash-1").await.unwrap(),
            "gone already"
        );
        assert_eq!(store.get_session("hash-1").await.unwrap(), None);
    }
);

dual_test!(
    expired_and_account_sessions_are_deleted_in_bulk,
    |db: TestDb| async move {
        let store = db.connect().await;
        seed_org_and_account(&store).await;
        store
            .insert_account(&account("acc-2", "bob@example.com"))
            .await
            .unwrap();
        for s in [
            session("old", "acc-1", 0, 10),
            session("live", "acc-1", 0, 100),
            session("other", "acc-2", 0, 100),
        ] {
            store.insert_session(&s).await.unwrap();
        }
        assert_eq!(store.delete_expired_sessions(at(10)).await.unwrap(), 1);
        assert!(store.get_session("old").await.unwrap().is_none());
        assert!(store.get_session("live").await.unwrap().is_some());
        assert_eq!(store.delete_account_sessions("acc-1").await.unwrap(), 1);
        assert!(store.get_session("live").await.unwrap().is_none());
        assert!(
            store.get_session("other").await.unwrap().is_some(),
            "another account's session stays"
        );
    }
);

dual_test!(
    a_nonce_is_spent_once_even_by_racing_spenders,
    |db: TestDb| async move {
        let store = std::sync::Arc::new(db.connect().await);
        let spends = (0..8).map(|_| {
            let store = store.clone();
            tokio::spawn(async move { store.spend_nonce("n-1", at(100), at(0)).await.unwrap() })
        });
        let won = futures::future::join_all(spends)
            .await
            .into_iter()
            .filter(|r| *r.as_ref().unwrap())
            .count();
        assert_eq!(won, 1, "one spender wins");
        assert!(!store.spend_nonce("n-1", at(100), at(50)).await.unwrap());
        assert!(store.spend_nonce("n-2", at(100), at(50)).await.unwrap());
        // Once expired it is forgotten: the value it guarded has expired with it.
        assert!(store.spend_nonce("n-1", at(300), at(200)).await.unwrap());
    }
);
