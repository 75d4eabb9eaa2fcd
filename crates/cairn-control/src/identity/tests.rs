//! Identity against a real SQLite store, with a manual clock.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use cairn_store::testing::TestDb;
use cairn_store::*;
use chrono::{TimeDelta, TimeZone, Utc};

use super::*;
use crate::clock::ManualClock;

mod sessions;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

/// Wraps the real store and records the name of every call, to compare code paths.
struct RecordingStore {
    inner: SqlStore,
    calls: Mutex<Vec<&'static str>>,
}

impl RecordingStore {
    fn note(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }
    fn take(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }
}

#[async_trait]
impl IdentityStore for RecordingStore {
    async fn insert_org(&self, o: &OrgRecord) -> StoreResult<()> {
        self.note("insert_org");
        self.inner.insert_org(o).await
    }
    async fn get_org(&self, id: &str) -> StoreResult<Option<OrgRecord>> {
        self.note("get_org");
        self.inner.get_org(id).await
    }
    async fn list_orgs(&self) -> StoreResult<Vec<OrgRecord>> {
        self.note("list_orgs");
        self.inner.list_orgs().await
    }
    async fn insert_account(&self, a: &AccountRecord) -> StoreResult<()> {
        self.note("insert_account");
        self.inner.insert_account(a).await
    }
    async fn get_account(&self, id: &str) -> StoreResult<Option<AccountRecord>> {
        self.note("get_account");
        self.inner.get_account(id).await
    }
    async fn find_account_by_email(&self, e: &str) -> StoreResult<Option<AccountRecord>> {
        self.note("find_account_by_email");
        self.inner.find_account_by_email(e).await
    }
    async fn list_accounts(&self, o: Option<&str>) -> StoreResult<Vec<AccountRecord>> {
        self.note("list_accounts");
        self.inner.list_accounts(o).await
    }
    async fn set_account_active(&self, id: &str, a: bool) -> StoreResult<bool> {
        self.note("set_account_active");
        self.inner.set_account_active(id, a).await
    }
    async fn set_password_hash(&self, id: &str, h: Option<&str>) -> StoreResult<bool> {
        self.note("set_password_hash");
        self.inner.set_password_hash(id, h).await
    }
    async fn upsert_membership(&self, m: &MembershipRecord) -> StoreResult<()> {
        self.note("upsert_membership");
        self.inner.upsert_membership(m).await
    }
    async fn get_membership(&self, o: &str, a: &str) -> StoreResult<Option<MembershipRecord>> {
        self.note("get_membership");
        self.inner.get_membership(o, a).await
    }
    async fn list_memberships(&self, a: &str) -> StoreResult<Vec<MembershipRecord>> {
        self.note("list_memberships");
        self.inner.list_memberships(a).await
    }
    async fn insert_token_within_limit(
        &self,
        t: &TokenRecord,
        l: u32,
        n: Timestamp,
    ) -> StoreResult<bool> {
        self.note("insert_token_within_limit");
        self.inner.insert_token_within_limit(t, l, n).await
    }
    async fn find_token_for_auth(
        &self,
        e: &str,
        h: &str,
    ) -> StoreResult<Option<(AccountRecord, TokenRecord)>> {
        self.note("find_token_for_auth");
        self.inner.find_token_for_auth(e, h).await
    }
    async fn get_token(&self, id: &str) -> StoreResult<Option<TokenRecord>> {
        self.note("get_token");
        self.inner.get_token(id).await
    }
    async fn list_tokens(&self, a: &str) -> StoreResult<Vec<TokenRecord>> {
        self.note("list_tokens");
        self.inner.list_tokens(a).await
    }
    async fn list_org_tokens(&self, o: &str) -> StoreResult<Vec<OwnedTokenRecord>> {
        self.note("list_org_tokens");
        self.inner.list_org_tokens(o).await
    }
    async fn revoke_token(&self, id: &str, by: &str, n: Timestamp) -> StoreResult<bool> {
        self.note("revoke_token");
        self.inner.revoke_token(id, by, n).await
    }
    async fn record_token_use(&self, id: &str, m: Timestamp) -> StoreResult<()> {
        self.note("record_token_use");
        self.inner.record_token_use(id, m).await
    }
}

#[async_trait]
impl AuditStore for RecordingStore {
    async fn insert_audit_event(&self, e: &AuditEventRecord) -> StoreResult<()> {
        self.note("insert_audit_event");
        self.inner.insert_audit_event(e).await
    }
    async fn list_audit_events(
        &self,
        f: &AuditFilter,
        p: PageQuery,
    ) -> StoreResult<Page<AuditEventRecord>> {
        self.note("list_audit_events");
        self.inner.list_audit_events(f, p).await
    }
}

#[async_trait]
impl SessionStore for RecordingStore {
    async fn insert_session(&self, s: &SessionRecord) -> StoreResult<()> {
        self.note("insert_session");
        self.inner.insert_session(s).await
    }
    async fn get_session(&self, h: &str) -> StoreResult<Option<SessionRecord>> {
        self.note("get_session");
        self.inner.get_session(h).await
    }
    async fn delete_session(&self, h: &str) -> StoreResult<bool> {
        self.note("delete_session");
        self.inner.delete_session(h).await
    }
    async fn delete_account_sessions(&self, a: &str) -> StoreResult<u64> {
        self.note("delete_account_sessions");
        self.inner.delete_account_sessions(a).await
    }
    async fn delete_expired_sessions(&self, n: Timestamp) -> StoreResult<u64> {
        self.note("delete_expired_sessions");
        self.inner.delete_expired_sessions(n).await
    }
    async fn spend_nonce(&self, nonce: &str, e: Timestamp, n: Timestamp) -> StoreResult<bool> {
        self.note("spend_nonce");
        self.inner.spend_nonce(nonce, e, n).await
    }
}

struct Fixture {
    identity: Identity,
    store: Arc<RecordingStore>,
    clock: Arc<ManualClock>,
    admin: AccountRecord,
    org: OrgRecord,
    _db: TestDb,
}

async fn fixture_with(settings: IdentitySettings) -> Fixture {
    let db = TestDb::sqlite().await;
    let store = Arc::new(RecordingStore {
        inner: db.connect().await,
        calls: Mutex::new(Vec::new()),
    });
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap(),
    ));
    let identity = Identity::new(
        store.clone(),
        ServerSecret::generate().unwrap(),
        clock.clone(),
        settings,
    )
    .unwrap();
    let org = identity.create_org("Acme", &Actor::cli()).await.unwrap();
    let admin = identity
        .create_account(
            NewAccount {
                email: "Ada@Example.com".into(),
                display_name: None,
                password: None,
                org_id: Some(org.id.clone()),
                org_admin: true,
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    store.take();
    Fixture {
        identity,
        store,
        clock,
        admin,
        org,
        _db: db,
    }
}

async fn fixture() -> Fixture {
    fixture_with(IdentitySettings::default()).await
}

fn basic(user: &str, password: &str) -> Vec<u8> {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
    .into_bytes()
}

fn unauthenticated_reason(err: ControlError) -> &'static str {
    match err {
        ControlError::Unauthenticated(f) => f.reason,
        other => panic!("expected 401, got {other:?}"),
    }
}

#[tokio::test]
async fn a_token_authenticates_its_owner_with_any_email_case() {
    let f = fixture().await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let p = f
        .identity
        .authenticate(Some(&basic("ADA@example.com", t.secret.expose())), CLIENT)
        .await
        .unwrap();
    assert_eq!(p.account_id, f.admin.id);
    assert_eq!(p.token_id.as_deref(), Some(t.record.id.as_str()));
    assert!(f.identity.require_org_admin(&p, &f.org.id).is_ok());
    assert!(matches!(
        f.identity.require_org_admin(&p, "other-org"),
        Err(ControlError::NotFound(_))
    ));
    assert_eq!(
        t.record.expires_at - t.record.created_at,
        TimeDelta::days(365)
    );
}

#[tokio::test]
async fn unknown_email_and_wrong_token_take_the_same_path_and_answer() {
    let f = fixture().await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let other = NewTokenSecret::generate().unwrap();
    f.store.take();

    let wrong_token = f
        .identity
        .authenticate(Some(&basic("ada@example.com", other.expose())), CLIENT)
        .await
        .unwrap_err();
    let wrong_token_calls = f.store.take();
    let unknown_email = f
        .identity
        .authenticate(
            Some(&basic("nobody@example.com", t.secret.expose())),
            CLIENT,
        )
        .await
        .unwrap_err();
    let unknown_email_calls = f.store.take();

    assert_eq!(wrong_token_calls, vec!["find_token_for_auth"]);
    assert_eq!(
        unknown_email_calls, wrong_token_calls,
        "the same look-up whether or not the email exists"
    );
    assert_eq!(
        wrong_token.to_string(),
        unknown_email.to_string(),
        "the same message"
    );
}

#[tokio::test]
async fn revoked_expired_and_deactivated_are_refused() {
    let f = fixture().await;
    let a = f
        .identity
        .create_token(&f.admin.id, "a", Some(1), &Actor::cli())
        .await
        .unwrap();
    let b = f
        .identity
        .create_token(&f.admin.id, "b", None, &Actor::cli())
        .await
        .unwrap();
    let header_a = basic("ada@example.com", a.secret.expose());
    let header_b = basic("ada@example.com", b.secret.expose());
    f.identity
        .authenticate(Some(&header_b), CLIENT)
        .await
        .unwrap();

    f.identity
        .revoke_own_token(&f.admin.id, &b.record.id, &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        unauthenticated_reason(
            f.identity
                .authenticate(Some(&header_b), CLIENT)
                .await
                .unwrap_err()
        ),
        "wrong_credentials",
        "revocation beats the cache"
    );

    f.identity
        .authenticate(Some(&header_a), CLIENT)
        .await
        .unwrap();
    f.clock.advance(TimeDelta::days(1) + TimeDelta::seconds(1));
    assert_eq!(
        unauthenticated_reason(
            f.identity
                .authenticate(Some(&header_a), CLIENT)
                .await
                .unwrap_err()
        ),
        "wrong_credentials",
        "expired"
    );

    let c = f
        .identity
        .create_token(&f.admin.id, "c", None, &Actor::cli())
        .await
        .unwrap();
    let header_c = basic("ada@example.com", c.secret.expose());
    f.identity
        .authenticate(Some(&header_c), CLIENT)
        .await
        .unwrap();
    f.identity
        .deactivate_account("ada@example.com", &Actor::cli())
        .await
        .unwrap();
    assert_eq!(
        unauthenticated_reason(
            f.identity
                .authenticate(Some(&header_c), CLIENT)
                .await
                .unwrap_err()
        ),
        "wrong_credentials",
        "deactivated"
    );
}

#[tokio::test]
async fn helpful_messages_for_common_mistakes() {
    let f = fixture().await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let truncated = &t.secret.expose()[..30];
    let cases = [
        (basic("ada@example.com", truncated), "damaged_token"),
        (basic("ada@example.com", "my web password"), "not_a_token"),
        (
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD
                    .encode(format!("ada@example.com:{}\n", t.secret.expose()))
            )
            .into_bytes(),
            "trailing_newline",
        ),
        (b"Bearer eyJhbGciOi".to_vec(), "bearer"),
    ];
    for (header, reason) in cases {
        assert_eq!(
            unauthenticated_reason(
                f.identity
                    .authenticate(Some(&header), CLIENT)
                    .await
                    .unwrap_err()
            ),
            reason
        );
    }
    assert!(
        f.store.take().iter().all(|c| *c != "find_token_for_auth"),
        "malformed tokens are refused without a look-up"
    );
}

#[tokio::test]
async fn the_eleventh_failure_in_a_minute_is_throttled_and_it_lifts() {
    let f = fixture().await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let wrong = basic(
        "ada@example.com",
        NewTokenSecret::generate().unwrap().expose(),
    );
    for i in 0..10 {
        let err = f
            .identity
            .authenticate(Some(&wrong), CLIENT)
            .await
            .unwrap_err();
        assert!(
            matches!(err, ControlError::Unauthenticated(_)),
            "attempt {i}: {err:?}"
        );
        f.clock.advance(TimeDelta::seconds(1));
    }
    match f
        .identity
        .authenticate(Some(&wrong), CLIENT)
        .await
        .unwrap_err()
    {
        ControlError::Throttled { retry_after, limit } => {
            assert_eq!((retry_after.as_secs(), limit), (50, 10));
        }
        other => panic!("expected 429, got {other:?}"),
    }
    let good = basic("ada@example.com", t.secret.expose());
    assert!(
        f.identity.authenticate(Some(&good), CLIENT).await.is_ok(),
        "a valid token is never refused by the lock: it is checked first"
    );
    let other_client = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1));
    assert!(
        matches!(
            f.identity.authenticate(Some(&wrong), other_client).await,
            Err(ControlError::Throttled { .. })
        ),
        "the email is locked too, for failing attempts from anywhere"
    );
    f.clock.advance(TimeDelta::seconds(51));
    assert!(
        matches!(
            f.identity.authenticate(Some(&wrong), CLIENT).await,
            Err(ControlError::Unauthenticated(_))
        ),
        "the lock lifts by itself"
    );
    let page = f
        .identity
        .audit()
        .list(
            &AuditFilter {
                action: Some("auth.failure_burst".into()),
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
    assert_eq!(page.total, 1, "one audit event per burst");
}

#[tokio::test]
async fn successful_calls_are_rate_limited_per_account() {
    let f = fixture_with(IdentitySettings {
        rate_per_second: 5,
        rate_burst: 5,
        ..Default::default()
    })
    .await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let good = basic("ada@example.com", t.secret.expose());
    for _ in 0..5 {
        f.identity.authenticate(Some(&good), CLIENT).await.unwrap();
    }
    assert!(matches!(
        f.identity.authenticate(Some(&good), CLIENT).await,
        Err(ControlError::RateLimited {
            limit: 5,
            remaining: 0,
            ..
        })
    ));
    f.clock.advance(TimeDelta::milliseconds(200));
    f.identity.authenticate(Some(&good), CLIENT).await.unwrap();
}

#[tokio::test]
async fn last_use_is_written_at_most_once_a_minute() {
    let f = fixture().await;
    let t = f
        .identity
        .create_token(&f.admin.id, "ci", None, &Actor::cli())
        .await
        .unwrap();
    let good = basic("ada@example.com", t.secret.expose());
    f.store.take();
    for _ in 0..20 {
        f.identity.authenticate(Some(&good), CLIENT).await.unwrap();
        f.clock.advance(TimeDelta::milliseconds(2500));
    }
    // 50 seconds from 12:00:00: all within one minute.
    let writes = f
        .store
        .take()
        .into_iter()
        .filter(|c| *c == "record_token_use")
        .count();
    assert_eq!(writes, 1);
    let stored = f.identity.list_tokens(&f.admin.id).await.unwrap()[0]
        .last_used_at
        .unwrap();
    assert_eq!(
        stored,
        Utc.with_ymd_and_hms(2026, 11, 27, 12, 0, 0).unwrap()
    );
}

#[tokio::test]
async fn token_rules() {
    let f = fixture_with(IdentitySettings {
        token_limit: 3,
        ..Default::default()
    })
    .await;
    let err = f
        .identity
        .create_token(&f.admin.id, "   ", None, &Actor::cli())
        .await
        .unwrap_err();
    assert!(matches!(&err, ControlError::Invalid { errors, .. } if errors[0].field == "label"));
    let long = "x".repeat(101);
    assert!(matches!(
        f.identity
            .create_token(&f.admin.id, &long, None, &Actor::cli())
            .await,
        Err(ControlError::Invalid { .. })
    ));
    assert!(
        f.identity
            .create_token(&f.admin.id, &"x".repeat(100), None, &Actor::cli())
            .await
            .is_ok()
    );
    for days in [0, 366] {
        let err = f
            .identity
            .create_token(&f.admin.id, "ok", Some(days), &Actor::cli())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, ControlError::Invalid { errors, .. } if errors[0].field == "expiresInDays"),
            "{days}"
        );
    }
    f.identity
        .create_token(&f.admin.id, "b", Some(1), &Actor::cli())
        .await
        .unwrap();
    f.identity
        .create_token(&f.admin.id, "c", Some(365), &Actor::cli())
        .await
        .unwrap();
    let err = f
        .identity
        .create_token(&f.admin.id, "d", None, &Actor::cli())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ControlError::Conflict(m) if m.contains("3 active API tokens")),
        "{err:?}"
    );
    let stored = f.identity.list_tokens(&f.admin.id).await.unwrap();
    assert!(
        stored
            .iter()
            .all(|t| t.hint.starts_with("cairn_…") && t.hint.chars().count() == 11)
    );
    assert_eq!(
        TokenStatus::of(
            &stored.iter().find(|t| t.label == "b").unwrap().clone(),
            f.clock.now()
        ),
        TokenStatus::ExpiringSoon
    );
}

#[tokio::test]
async fn members_are_forbidden_and_admins_revoke_members_tokens() {
    let f = fixture().await;
    let member = f
        .identity
        .create_account(
            NewAccount {
                email: "bob@example.com".into(),
                display_name: Some("Bob".into()),
                password: None,
                org_id: Some(f.org.id.clone()),
                org_admin: false,
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    let t = f
        .identity
        .create_token(&member.id, "bob's", None, &Actor::cli())
        .await
        .unwrap();
    let p = f
        .identity
        .authenticate(Some(&basic("bob@example.com", t.secret.expose())), CLIENT)
        .await
        .unwrap();
    assert!(matches!(
        f.identity.require_org_admin(&p, &f.org.id),
        Err(ControlError::Forbidden(_))
    ));
    assert!(
        matches!(
            f.identity
                .revoke_own_token(&f.admin.id, &t.record.id, &Actor::cli())
                .await,
            Err(ControlError::NotFound(_))
        ),
        "not the admin's own token"
    );
    assert!(matches!(
        f.identity
            .revoke_member_token("other-org", &t.record.id, &Actor::cli())
            .await,
        Err(ControlError::NotFound(_))
    ));
    f.identity
        .revoke_member_token(
            &f.org.id,
            &t.record.id,
            &Actor {
                account_id: Some(f.admin.id.clone()),
                client_addr: None,
            },
        )
        .await
        .unwrap();
    assert!(
        f.identity
            .authenticate(Some(&basic("bob@example.com", t.secret.expose())), CLIENT)
            .await
            .is_err()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creation_and_revocation_stay_consistent() {
    let f = Arc::new(
        fixture_with(IdentitySettings {
            token_limit: 20,
            ..Default::default()
        })
        .await,
    );
    let tasks: Vec<_> = (0..60)
        .map(|i| {
            let f = f.clone();
            tokio::spawn(async move {
                match f
                    .identity
                    .create_token(&f.admin.id, &format!("t{i}"), None, &Actor::cli())
                    .await
                {
                    Ok(t) if i % 3 == 0 => {
                        f.identity
                            .revoke_own_token(&f.admin.id, &t.record.id, &Actor::cli())
                            .await
                            .unwrap();
                        "created-revoked"
                    }
                    Ok(_) => "created",
                    Err(ControlError::Conflict(_)) => "limit",
                    Err(e) => panic!("unexpected: {e:?}"),
                }
            })
        })
        .collect();
    let outcomes: Vec<&str> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let tokens = f.identity.list_tokens(&f.admin.id).await.unwrap();
    let live = tokens.iter().filter(|t| t.revoked_at.is_none()).count();
    let revoked = tokens.iter().filter(|t| t.revoked_at.is_some()).count();
    assert!(live <= 20, "never more live tokens than the limit: {live}");
    assert_eq!(
        revoked,
        outcomes.iter().filter(|o| **o == "created-revoked").count()
    );
    assert_eq!(live, outcomes.iter().filter(|o| **o == "created").count());
    assert_eq!(
        tokens.len(),
        outcomes.iter().filter(|o| **o != "limit").count()
    );
}

#[tokio::test]
async fn password_basic_is_off_by_default_and_works_when_allowed() {
    let f = fixture_with(IdentitySettings {
        allow_password_basic: true,
        ..Default::default()
    })
    .await;
    f.identity
        .create_account(
            NewAccount {
                email: "pw@example.com".into(),
                display_name: None,
                password: Some("a long enough password".into()),
                org_id: None,
                org_admin: false,
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    assert!(
        f.identity
            .authenticate(
                Some(&basic("pw@example.com", "a long enough password")),
                CLIENT
            )
            .await
            .is_ok()
    );
    assert!(
        f.identity
            .authenticate(Some(&basic("pw@example.com", "wrong password")), CLIENT)
            .await
            .is_err()
    );
    assert!(
        f.identity
            .authenticate(
                Some(&basic("nobody@example.com", "a long enough password")),
                CLIENT
            )
            .await
            .is_err()
    );
}
