//! The web pages in a real browser (headless Chromium through chromedriver), against the real
//! binary: the user's path of spec section 1, step by step, plus keyboard use, a narrow screen,
//! the org admins' pages (tokens, the backup dashboard and its live progress), and an axe-core
//! check of every page.

mod browser;
mod support;

use std::time::{Duration, Instant};

use browser::Browser;
use fantoccini::key::Key;
use support::{Install, Server, Sites, member_with_password, source_site_with_a_policy};

const TOKENS: &str = "/manage-profile/security/api-tokens";

/// Fails with the violations when axe-core finds a serious or critical one on this page.
async fn assert_accessible(browser: &Browser, page: &str) {
    if !browser::axe_path().exists() {
        browser::skip_or_fail("axe-core is not installed in crates/cairn/tests/browser");
        return;
    }
    let violations = browser.accessibility_violations().await;
    assert!(violations.is_empty(), "axe-core on {page}: {violations:#?}");
}

async fn api_status(server: &Server, org_id: &str, email: &str, token: &str) -> u16 {
    reqwest::Client::new()
        .get(server.audit_url(org_id))
        .basic_auth(email, Some(token))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// The id of the listed token with this label.
async fn token_id_of(browser: &Browser, label: &str) -> String {
    let found = browser
        .client
        .execute(
            "for (const row of document.querySelectorAll('tr[data-token-id]')) {
                 if (row.querySelector('.label').textContent === arguments[0]) return row.dataset.tokenId;
             }
             return null;",
            vec![serde_json::json!(label)],
        )
        .await
        .unwrap();
    found
        .as_str()
        .unwrap_or_else(|| panic!("no token labelled {label:?} is listed"))
        .to_string()
}

async fn wait_for_text(browser: &Browser, css: &str, expected: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = browser.text(css).await;
        if text == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} says {text:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_logs_in_creates_copies_uses_and_revokes_a_token_then_logs_out() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let first = server.first_start.clone().unwrap();
    let base = &server.base_url;

    // Not logged in: the token page sends us to the login page, which brings us back.
    browser.goto(&server.url(TOKENS)).await;
    browser.wait_for_path("/login").await;
    if browser::axe_path().exists() {
        // The check can fail: an input without a label is reported.
        browser
            .js("const i = document.createElement('input'); i.id = 'canary'; document.body.append(i);")
            .await;
        let found = browser.accessibility_violations().await;
        assert!(found.iter().any(|v| v.starts_with("label:")), "{found:?}");
        browser
            .js("document.getElementById('canary').remove();")
            .await;
    }
    assert_accessible(&browser, "the login page").await;
    browser.screenshot("login").await;
    browser.log_in(base, &first.email, &first.password).await;
    assert_accessible(&browser, "the token page").await;
    browser.screenshot("api-tokens").await;

    // Create API token: the dialog, a label, Create.
    browser.click("#create-token").await;
    let dialog = browser.find("#create-dialog").await;
    assert!(
        dialog.attr("open").await.unwrap().is_some(),
        "the dialog opens"
    );
    browser.fill("#label", "nightly backup").await;
    browser.screenshot("create-dialog").await;
    assert_accessible(&browser, "the create dialog").await;
    browser.click("#create-dialog button[type=submit]").await;
    browser.wait_for_path(TOKENS).await;

    // Shown once, with a plain warning and Copy to clipboard.
    let token = browser
        .find("#new-token")
        .await
        .prop("value")
        .await
        .unwrap()
        .expect("the new token is shown");
    assert!(token.starts_with("cairn_") && token.len() == 55, "{token}");
    assert!(
        browser
            .text(".new-token .warning")
            .await
            .contains("will not be shown again")
    );
    browser.screenshot("new-token").await;
    assert_accessible(&browser, "the page showing a new token").await;
    let can_read_clipboard = browser.allow_clipboard_read().await;
    browser.click("#copy-token").await;
    wait_for_text(&browser, "#copy-status", "Copied to the clipboard.").await;
    if can_read_clipboard {
        let pasted = browser
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 navigator.clipboard.readText().then(done, e => done('unreadable: ' + e));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(
            pasted.as_str(),
            Some(token.as_str()),
            "the clipboard holds the token"
        );
    } else {
        eprintln!(
            "this browser does not let the test read the clipboard; checked the page's own report"
        );
    }

    // A reload shows the list only: the label, never the token again.
    browser.client.refresh().await.unwrap();
    browser.find("#tokens").await;
    assert!(!browser.exists("#new-token").await, "shown exactly once");
    assert!(!browser.client.source().await.unwrap().contains(&token));
    let token_id = token_id_of(&browser, "nightly backup").await;

    // The token works as a curl --user password.
    assert_eq!(
        api_status(&server, &first.org_id, &first.email, &token).await,
        200
    );

    // Revoke, with confirmation; then the API refuses the token.
    browser
        .click(&format!("tr[data-token-id='{token_id}'] a.danger"))
        .await;
    let confirm = browser.find("#revoke-dialog").await;
    assert!(confirm.text().await.unwrap().contains("nightly backup"));
    assert_accessible(&browser, "the revoke confirmation").await;
    browser.click("#revoke-dialog button[type=submit]").await;
    wait_for_text(&browser, ".notice", "The token was revoked.").await;
    assert!(
        !browser
            .exists(&format!("tr[data-token-id='{token_id}']"))
            .await
    );
    assert_eq!(
        api_status(&server, &first.org_id, &first.email, &token).await,
        401
    );

    // A label with markup is shown as text and runs nothing.
    let hostile = r#"<script>window.pwned=1</script><img src=x onerror="window.pwned=2">"#;
    browser.click("#create-token").await;
    browser.fill("#label", hostile).await;
    browser.click("#create-dialog button[type=submit]").await;
    browser.find("#new-token").await;
    token_id_of(&browser, hostile).await;
    assert_eq!(browser.js("return typeof window.pwned;").await, "undefined");

    // Log out: the token page then sends us to log in.
    browser.click("header form button[type=submit]").await;
    browser.wait_for_path("/login").await;
    browser.goto(&server.url(TOKENS)).await;
    browser.wait_for_path("/login").await;
    browser.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_keyboard_alone_creates_a_token_and_a_phone_needs_no_sideways_scrolling() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let server = Install::new(dir.path()).serve(&[]);
    let first = server.first_start.clone().unwrap();
    browser
        .log_in(&server.base_url, &first.email, &first.password)
        .await;

    // Tab from the top of the page to "Create API token", Enter opens the dialog with the focus
    // in Label, Enter again submits.
    let body = browser.find("body").await;
    let mut reached = false;
    for _ in 0..15 {
        body.send_keys(&Key::Tab.to_string()).await.unwrap();
        if browser.js("return document.activeElement.id;").await == "create-token" {
            reached = true;
            break;
        }
    }
    assert!(reached, "Tab reaches Create API token");
    let active = browser.client.active_element().await.unwrap();
    active.send_keys(&Key::Enter.to_string()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while browser.js("return document.activeElement.id;").await != "label" {
        assert!(Instant::now() < deadline, "the focus moves into the dialog");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let label = browser.client.active_element().await.unwrap();
    label.send_keys("typed on a keyboard").await.unwrap();
    label.send_keys(&Key::Enter.to_string()).await.unwrap();
    browser.find("#new-token").await;

    // A phone-sized window: the list becomes cards, nothing sticks out sideways.
    browser.client.set_window_size(390, 844).await.unwrap();
    browser.client.refresh().await.unwrap();
    browser.find("#tokens").await;
    let fits = browser
        .js("return document.documentElement.scrollWidth <= window.innerWidth;")
        .await;
    assert_eq!(fits, true, "the token page fits a 390 px wide screen");
    browser.screenshot("api-tokens-narrow").await;
    browser.close().await;
}

/// `cairn account create` with a web password read from standard input.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_org_admin_revokes_several_members_tokens_at_once() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let install = Install::new(dir.path());
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    member_with_password(&install, "member@example.com", "member password 1");
    let mut tokens = Vec::new();
    for label in ["laptop", "build server", "spare"] {
        let created = install.cli_json(&[
            "token",
            "create",
            "--email",
            "member@example.com",
            "--label",
            label,
        ]);
        tokens.push(created["token"].as_str().unwrap().to_string());
    }

    // A member sees no admin pages.
    browser
        .log_in(&server.base_url, "member@example.com", "member password 1")
        .await;
    assert!(!browser.exists("a[href='/admin']").await);
    browser.goto(&server.url("/admin/api-tokens")).await;
    assert_eq!(browser.text("h1").await, "Forbidden");
    browser.goto(&server.url(TOKENS)).await;
    browser.click("header form button[type=submit]").await;
    browser.wait_for_path("/login").await;

    browser
        .log_in(&server.base_url, &first.email, &first.password)
        .await;
    browser.click("a[href='/admin']").await;
    assert_accessible(&browser, "the admin page").await;
    browser.click("a[href^='/admin/api-tokens']").await;
    browser.find("#member-tokens").await;
    assert_accessible(&browser, "the members' tokens page").await;
    browser.screenshot("admin-api-tokens").await;
    for label in ["laptop", "build server"] {
        let id = token_id_of(&browser, label).await;
        browser.click(&format!("#pick-{id}")).await;
    }
    browser.click("#revoke-selected").await;
    let confirm = browser.text("#revoke-dialog").await;
    assert!(confirm.contains("Revoke 2 tokens?"), "{confirm}");
    assert_accessible(&browser, "the admin's revoke confirmation").await;
    browser.click("#revoke-dialog button[type=submit]").await;
    wait_for_text(&browser, ".notice", "Revoked 2 token(s).").await;

    let statuses: Vec<u16> = futures::future::join_all(
        tokens
            .iter()
            .map(|t| api_status(&server, &first.org_id, "member@example.com", t)),
    )
    .await;
    // The member is no org admin: a live token gets 403 from the audit log, a revoked one 401.
    assert_eq!(statuses, [401, 401, 403]);
    browser.close().await;
}

/// "Phase: N of M items" as (phase, N, M).
fn counted(text: &str) -> Option<(&str, u64, u64)> {
    let (phase, counts) = text.split_once(": ")?;
    let (done, total) = counts.strip_suffix(" items")?.split_once(" of ")?;
    Some((phase, done.parse().ok()?, total.parse().ok()?))
}

/// Waits until the dashboard, not reloaded, shows the run in flight part of the way through a
/// count of items (N of M, N < M), and returns what the page shows then:
/// `[phase text, bar value, bar max, not reloaded, badge]`.
async fn wait_for_counted_progress(browser: &Browser, run_id: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let shown = browser
            .client
            .execute(
                "const cell = document.querySelector(`[data-run-id='${arguments[0]}']`);
                 const bar = cell.querySelector('progress');
                 return [cell.querySelector('.phase').textContent, bar && bar.value,
                         bar && bar.max, document.body.dataset.notReloaded,
                         cell.querySelector('.status').textContent.trim()];",
                vec![serde_json::json!(run_id)],
            )
            .await
            .unwrap();
        let text = shown[0].as_str().unwrap_or_default();
        if counted(text).is_some_and(|(_, done, total)| done < total) && shown[4] == "IN_PROGRESS" {
            return shown;
        }
        assert!(
            Instant::now() < deadline,
            "the page shows no progress with a count: {shown}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backup_dashboard_runs_a_backup_and_its_progress_bar_follows_without_a_reload() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // No workers on this node: the backup waits, queued, until a worker node runs it.
    let install = Install::new(dir.path()).with_config("[management]\nworker_concurrency = 0\n");
    let sites = Sites::start();
    let server = install.serve(&[]);
    let first = server.first_start.clone().unwrap();
    let policy_id = source_site_with_a_policy(&server, &sites, "Nightly Jira");

    browser
        .log_in(&server.base_url, &first.email, &first.password)
        .await;
    browser.click("a[href='/admin']").await;
    browser.find("#policies").await;
    assert_accessible(&browser, "the backup dashboard").await;
    browser
        .click(&format!(
            "tr[data-policy-id='{policy_id}'] button[type=submit]"
        ))
        .await;
    wait_for_text(&browser, ".notice", "The backup was queued.").await;
    let backup_id = browser
        .find("tr[data-backup-id]")
        .await
        .attr("data-backup-id")
        .await
        .unwrap()
        .unwrap();
    let phase = format!("[data-run-id='{backup_id}'] .phase");
    assert_eq!(browser.text(&phase).await, "Waiting to start");
    assert_accessible(&browser, "the dashboard with a backup in flight").await;

    // The engine runs the backup on a worker node (slowly: every request to the site waits) and
    // reports progress; the page, not reloaded, follows within a poll or two.
    browser
        .js("document.body.dataset.notReloaded = 'yes';")
        .await;
    sites.set_latency(100);
    let _worker = install.worker_node();
    let shown = wait_for_counted_progress(&browser, &backup_id).await;
    // "Phase: N of M items" (one of the engine's phases), and the bar at N of M.
    let text = shown[0].as_str().unwrap();
    let (phase_name, done, total) = counted(text).unwrap();
    assert!(
        ["Listing", "Downloading", "Storing", "Committing"].contains(&phase_name),
        "{text:?}"
    );
    assert_eq!(
        shown.as_array().unwrap()[1..4],
        [
            serde_json::json!(done),
            serde_json::json!(total),
            serde_json::json!("yes")
        ],
        "{shown}"
    );
    assert_eq!(shown[4], "IN_PROGRESS");
    browser.screenshot("dashboard").await;
    browser.close().await;
}
