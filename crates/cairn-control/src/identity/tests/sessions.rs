//! Web login, sessions, CSRF tokens and the sealed one-time token display.

use super::*;
use crate::identity::session::{FLASH_TTL, WebSession};

const PASSWORD: &str = "a long enough password";

async fn with_password(f: &Fixture, email: &str, org_admin: bool) -> AccountRecord {
    f.identity
        .create_account(
            NewAccount {
                email: email.into(),
                display_name: None,
                password: Some(PASSWORD.into()),
                org_id: Some(f.org.id.clone()),
                org_admin,
            },
            &Actor::cli(),
        )
        .await
        .unwrap()
}

async fn actions_recorded(f: &Fixture) -> Vec<String> {
    f.identity
        .audit()
        .list(
            &AuditFilter::default(),
            PageQuery {
                offset: 0,
                limit: 100,
                descending: false,
            },
        )
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn login_opens_a_session_kept_only_as_a_keyed_hash_and_logout_ends_it() {
    let f = fixture().await;
    let account = with_password(&f, "web@example.com", false).await;
    let new = f
        .identity
        .login("WEB@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    let id = new.cookie.expose().to_string();
    assert_eq!(id.len(), 43);
    assert!(!format!("{new:?}").contains(&id), "Debug hides the id");

    let session = f.identity.session(&id).await.unwrap().expect("live");
    assert_eq!(session.principal.account_id, account.id);
    assert_eq!(session.principal.token_id, None);
    assert_eq!(
        session.expires_at - f.clock.now(),
        TimeDelta::hours(12),
        "the default lifetime"
    );
    assert!(
        f.store.inner.get_session(&id).await.unwrap().is_none(),
        "the raw id is not a key of the store"
    );

    f.identity
        .logout(&session, &session.principal.actor(Some("192.0.2.7".into())))
        .await
        .unwrap();
    assert!(f.identity.session(&id).await.unwrap().is_none());
    let actions = actions_recorded(&f).await;
    assert!(
        actions.ends_with(&["login".to_string(), "logout".to_string()]),
        "{actions:?}"
    );
}

#[tokio::test]
async fn a_session_ends_when_it_expires_or_its_account_is_deactivated() {
    let f = fixture_with(IdentitySettings {
        session_ttl: std::time::Duration::from_secs(3600),
        ..IdentitySettings::default()
    })
    .await;
    with_password(&f, "web@example.com", false).await;
    let a = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    f.clock.advance(TimeDelta::minutes(59));
    assert!(
        f.identity
            .session(a.cookie.expose())
            .await
            .unwrap()
            .is_some()
    );
    f.clock.advance(TimeDelta::minutes(1));
    assert!(
        f.identity
            .session(a.cookie.expose())
            .await
            .unwrap()
            .is_none(),
        "expired after the configured hour"
    );

    let b = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    f.identity
        .deactivate_account("web@example.com", &Actor::cli())
        .await
        .unwrap();
    assert!(
        f.identity
            .session(b.cookie.expose())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_fail_alike_and_bursts_are_throttled() {
    let f = fixture().await;
    with_password(&f, "web@example.com", false).await;
    let wrong = f
        .identity
        .login("web@example.com", "not the password", CLIENT)
        .await
        .unwrap_err();
    let unknown = f
        .identity
        .login("nobody@example.com", PASSWORD, CLIENT)
        .await
        .unwrap_err();
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert!(matches!(wrong, ControlError::Unauthenticated(_)));

    // Ten wrong passwords from one address lock that address, even for the right password.
    let other: IpAddr = "198.51.100.9".parse().unwrap();
    for _ in 0..10 {
        let refused = f
            .identity
            .login("web@example.com", "guess", other)
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ControlError::Unauthenticated(_)),
            "{refused:?}"
        );
    }
    let locked = f
        .identity
        .login("web@example.com", PASSWORD, other)
        .await
        .unwrap_err();
    assert!(
        matches!(locked, ControlError::Throttled { .. }),
        "a locked address is refused even with the right password: {locked:?}"
    );
    assert!(
        actions_recorded(&f)
            .await
            .contains(&actions::LOGIN_FAILED_BURST.to_string())
    );
    // The owner elsewhere logs in (eleven failures against the email only slow it down).
    let owner: IpAddr = "203.0.113.5".parse().unwrap();
    f.identity
        .login("web@example.com", PASSWORD, owner)
        .await
        .expect("an email is not locked by another address's failures");
    f.clock.advance(TimeDelta::seconds(61));
    f.identity
        .login("web@example.com", PASSWORD, other)
        .await
        .expect("the lock lifts by itself");
}

#[tokio::test]
async fn failed_api_tokens_never_lock_the_web_login() {
    let f = fixture().await;
    with_password(&f, "web@example.com", false).await;
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!(
            "web@example.com:{}",
            token::NewTokenSecret::generate().unwrap().expose()
        ))
    );
    for i in 0..11u8 {
        let client = IpAddr::V4(Ipv4Addr::new(198, 51, 100, i));
        let _ = f
            .identity
            .authenticate(Some(wrong.as_bytes()), client)
            .await;
    }
    f.identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .expect("the web password still logs in");
}

#[tokio::test]
async fn malformed_session_ids_are_refused_without_a_look_up() {
    let f = fixture().await;
    f.store.take();
    for id in [
        "",
        "short",
        &"a".repeat(44),
        &format!("{}!", "a".repeat(42)),
    ] {
        assert!(f.identity.session(id).await.unwrap().is_none());
    }
    assert!(f.store.take().is_empty());
    assert!(
        f.identity.session(&"a".repeat(43)).await.unwrap().is_none(),
        "well formed but unknown"
    );
}

#[tokio::test]
async fn csrf_tokens_are_bound_to_their_session() {
    let f = fixture().await;
    with_password(&f, "web@example.com", false).await;
    let a = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    let b = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    let a_again = f
        .identity
        .session(a.cookie.expose())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        a_again.csrf_token, a.session.csrf_token,
        "stable for a session"
    );
    assert_ne!(a.session.csrf_token, b.session.csrf_token);
    a.session.check_csrf(Some(&a.session.csrf_token)).unwrap();
    for bad in [None, Some(""), Some(b.session.csrf_token.as_str())] {
        assert!(matches!(
            a.session.check_csrf(bad),
            Err(ControlError::Forbidden(_))
        ));
    }

    let nonce = f.identity.login_nonce().unwrap();
    let other = f.identity.login_nonce().unwrap();
    f.identity
        .check_login_csrf(Some(nonce.cookie.expose()), Some(&nonce.form_token))
        .unwrap();
    for (cookie, form) in [
        (None, Some(nonce.form_token.as_str())),
        (Some(nonce.cookie.expose()), None),
        (Some(nonce.cookie.expose()), Some(other.form_token.as_str())),
        (Some(""), Some("")),
    ] {
        assert!(f.identity.check_login_csrf(cookie, form).is_err());
    }
}

#[tokio::test]
async fn a_sealed_token_opens_once_in_time_and_only_for_its_session() {
    let f = fixture().await;
    with_password(&f, "web@example.com", false).await;
    let a = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    let b = f
        .identity
        .login("web@example.com", PASSWORD, CLIENT)
        .await
        .unwrap();
    let open = |session: &WebSession, sealed: String| {
        let identity = &f.identity;
        let session = session.clone();
        async move { identity.open_once(&session, &sealed).await.unwrap() }
    };
    let now = f.clock.now();
    let sealed = a.session.seal_once("cairn_secret", now).unwrap();
    assert!(!sealed.contains("cairn_secret"));
    assert_eq!(
        open(&b.session, sealed.clone()).await,
        None,
        "another session"
    );
    let mut tampered = sealed.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    assert_eq!(
        open(&a.session, String::from_utf8(tampered).unwrap()).await,
        None
    );
    assert_eq!(open(&a.session, "zz".into()).await, None);
    assert_eq!(
        open(&a.session, sealed.clone()).await.as_deref(),
        Some("cairn_secret")
    );
    assert_eq!(
        open(&a.session, sealed.clone()).await,
        None,
        "a replay of the same seal, in time and in the same session, opens nothing"
    );

    let later = a.session.seal_once("cairn_later", f.clock.now()).unwrap();
    f.clock.advance(FLASH_TTL);
    assert_eq!(open(&a.session, later).await, None, "too late");
}

#[tokio::test]
async fn org_admins_see_their_orgs_and_revoke_several_member_tokens() {
    let f = fixture().await;
    let member = with_password(&f, "member@example.com", false).await;
    let one = f
        .identity
        .create_token(&member.id, "one", None, &Actor::cli())
        .await
        .unwrap();
    let two = f
        .identity
        .create_token(&member.id, "two", None, &Actor::cli())
        .await
        .unwrap();
    let admin = f.identity.principal(f.admin.clone(), None).await.unwrap();
    let outsider = f
        .identity
        .create_account(
            NewAccount {
                email: "outsider@example.com".into(),
                display_name: None,
                password: None,
                org_id: None,
                org_admin: false,
            },
            &Actor::cli(),
        )
        .await
        .unwrap();
    let foreign = f
        .identity
        .create_token(&outsider.id, "not a member's", None, &Actor::cli())
        .await
        .unwrap();
    assert!(matches!(
        f.identity
            .revoke_member_tokens(
                &f.org.id,
                &[one.record.id.clone(), foreign.record.id.clone()],
                &admin.actor(None),
            )
            .await,
        Err(ControlError::NotFound(_))
    ));
    assert!(
        f.identity
            .list_tokens(&member.id)
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_none()),
        "one foreign id revokes nothing"
    );
    let orgs = f.identity.admin_orgs(&admin).await.unwrap();
    assert_eq!(orgs.iter().map(|o| &o.id).collect::<Vec<_>>(), [&f.org.id]);
    let member_principal = f.identity.principal(member.clone(), None).await.unwrap();
    assert!(
        f.identity
            .admin_orgs(&member_principal)
            .await
            .unwrap()
            .is_empty()
    );

    let revoked = f
        .identity
        .revoke_member_tokens(
            &f.org.id,
            &[one.record.id.clone(), two.record.id.clone()],
            &admin.actor(None),
        )
        .await
        .unwrap();
    assert_eq!(revoked.len(), 2);
    assert!(
        f.identity
            .list_tokens(&member.id)
            .await
            .unwrap()
            .iter()
            .all(|t| t.revoked_at.is_some())
    );
    assert!(matches!(
        f.identity
            .revoke_member_tokens(
                "other-org",
                std::slice::from_ref(&one.record.id),
                &admin.actor(None)
            )
            .await,
        Err(ControlError::NotFound(_))
    ));
}
