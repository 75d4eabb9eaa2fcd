//! The HTML of every page (maud: every value is escaped unless wrapped in `PreEscaped`, which this
//! module never does with data).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use cairn_control::identity::session::WebSession;
use cairn_control::identity::{TOKEN_EXPIRY_DEFAULT_DAYS, TOKEN_EXPIRY_MAX_DAYS, TokenStatus};
use cairn_control::management::{PolicyView, Progress, ProgressPhase};
use cairn_store::{
    BackupRecord, OrgRecord, OwnedTokenRecord, PolicyRecord, RestoreRecord, SiteRecord, Timestamp,
    TokenRecord,
};
use maud::{DOCTYPE, Markup, html};

use super::TOKENS_PATH;

/// Which item of the navigation is the current page.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Section {
    Tokens,
    Admin,
    None,
}

/// The logged-in user's part of the layout.
pub struct Nav<'a> {
    pub session: &'a WebSession,
    pub admin: bool,
    pub section: Section,
}

/// The page frame shared by every page.
pub fn layout(title: &str, nav: Option<&Nav<'_>>, main: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Cairn" }
                link rel="stylesheet" href="/static/cairn.css";
                script src="/static/cairn.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    a.brand href="/" { "Cairn" }
                    @if let Some(nav) = nav {
                        nav aria-label="Main" {
                            a href=(TOKENS_PATH)
                                aria-current=[(nav.section == Section::Tokens).then_some("page")] { "API tokens" }
                            @if nav.admin {
                                a href="/admin"
                                    aria-current=[(nav.section == Section::Admin).then_some("page")] { "Admin" }
                            }
                            span.who { (nav.session.principal.email) }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(nav.session.csrf_token);
                                button.link type="submit" { "Log out" }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (main) }
            }
        }
    };
    Html(markup.into_string())
}

pub fn error_page(status: StatusCode, message: &str) -> Html<String> {
    let title = status.canonical_reason().unwrap_or("Error");
    layout(
        title,
        None,
        html! {
            h1 { (title) }
            p.error role="alert" { (message) }
            p { a href=(TOKENS_PATH) { "Back to your API tokens" } }
        },
    )
}

/// A time as people read it, with the exact value for machines.
fn when(t: Timestamp) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (t.format("%Y-%m-%d %H:%M UTC"))
        }
    }
}

fn maybe_when(t: Option<Timestamp>) -> Markup {
    match t {
        Some(t) => when(t),
        None => html! { "Never" },
    }
}

fn expires_cell(token: &TokenRecord, now: Timestamp) -> Markup {
    html! {
        (when(token.expires_at))
        @match TokenStatus::of(token, now) {
            TokenStatus::ExpiringSoon => { " " span.badge.warn { "Expires soon" } }
            TokenStatus::Expired => { " " span.badge.bad { "Expired" } }
            _ => {}
        }
    }
}

fn csrf(session: &WebSession) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf_token); }
}

/// A field's error, tied to it with `aria-describedby`.
fn field_error(id: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p.field-error id=(id) { (error) }
        }
    }
}

// ----- login --------------------------------------------------------------------------------

pub struct LoginForm<'a> {
    pub form_token: &'a str,
    pub next: &'a str,
    pub email: &'a str,
    pub error: Option<&'a str>,
}

pub fn login_page(form: &LoginForm<'_>) -> Html<String> {
    layout(
        "Log in",
        None,
        html! {
            div.narrow {
                h1 { "Log in to Cairn" }
                @if let Some(error) = form.error {
                    p.error role="alert" id="login-error" { (error) }
                }
                form method="post" action=(super::LOGIN_PATH) {
                    input type="hidden" name="csrf" value=(form.form_token);
                    input type="hidden" name="next" value=(form.next);
                    div.field {
                        label for="email" { "Email" }
                        input #email type="email" name="email" value=(form.email) required
                            autocomplete="username" autofocus
                            aria-describedby=[form.error.map(|_| "login-error")];
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" required
                            autocomplete="current-password";
                    }
                    button.primary type="submit" { "Log in" }
                }
            }
        },
    )
}

pub fn logout_page(nav: &Nav<'_>) -> Html<String> {
    layout(
        "Log out",
        Some(nav),
        html! {
            h1 { "Log out" }
            form method="post" action="/logout" {
                (csrf(nav.session))
                button.primary type="submit" { "Log out" }
            }
        },
    )
}

// ----- the token page -----------------------------------------------------------------------

/// The Create API token dialog's state: closed, open, or open with what was sent and its errors.
#[derive(Default)]
pub struct CreateForm {
    pub open: bool,
    pub label: String,
    pub days: String,
    pub label_error: Option<String>,
    pub days_error: Option<String>,
    pub form_error: Option<String>,
}

pub struct TokensPage<'a> {
    pub nav: Nav<'a>,
    pub tokens: &'a [TokenRecord],
    pub now: Timestamp,
    pub new_token: Option<&'a str>,
    pub create: CreateForm,
    pub revoke: Option<&'a TokenRecord>,
    pub notice: Option<&'a str>,
}

pub fn tokens_page(p: &TokensPage<'_>) -> Html<String> {
    let session = p.nav.session;
    layout(
        "API tokens",
        Some(&p.nav),
        html! {
            h1 { "API tokens" }
            p {
                "Use an API token as the password of HTTP Basic authentication with your email: "
                code { "curl --user '" (session.principal.email) ":TOKEN' …" }
            }
            @if let Some(notice) = p.notice {
                p.notice role="status" { (notice) }
            }
            @if let Some(token) = p.new_token {
                section.new-token aria-labelledby="new-token-title" {
                    h2 #new-token-title { "Your new API token" }
                    p.warning {
                        strong { "Copy it now and keep it safe: it will not be shown again." }
                    }
                    div.copy-row {
                        label.visually-hidden for="new-token" { "New API token" }
                        input #new-token type="text" readonly value=(token) spellcheck="false"
                            autocomplete="off";
                        button.primary #copy-token type="button" data-copy="new-token" hidden {
                            "Copy to clipboard"
                        }
                    }
                    p #copy-status role="status" {}
                }
            }
            p {
                a.button.primary #create-token href={(TOKENS_PATH) "?create=1"} data-opens="create-dialog" {
                    "Create API token"
                }
            }
            (token_table(p))
            (create_dialog(session, &p.create))
            @if let Some(token) = p.revoke {
                (revoke_dialog(session, token))
            }
        },
    )
}

fn token_table(p: &TokensPage<'_>) -> Markup {
    let live: Vec<&TokenRecord> = p.tokens.iter().filter(|t| t.revoked_at.is_none()).collect();
    html! {
        @if live.is_empty() {
            p #no-tokens { "You have no API tokens." }
        } @else {
            div.table-wrap {
                table #tokens {
                    caption.visually-hidden { "Your API tokens" }
                    thead {
                        tr {
                            th scope="col" { "Label" }
                            th scope="col" { "Created" }
                            th scope="col" { "Expires" }
                            th scope="col" { "Last used" }
                            th scope="col" { "Token" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        }
                    }
                    tbody {
                        @for token in live {
                            tr data-token-id=(token.id) {
                                td.label data-title="Label" { (token.label) }
                                td data-title="Created" { (when(token.created_at)) }
                                td data-title="Expires" { (expires_cell(token, p.now)) }
                                td data-title="Last used" { (maybe_when(token.last_used_at)) }
                                td data-title="Token" { code { (token.hint) } }
                                td {
                                    a.danger href={(TOKENS_PATH) "?revoke=" (token.id)} {
                                        "Revoke" span.visually-hidden { " the token " (token.label) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn create_dialog(session: &WebSession, form: &CreateForm) -> Markup {
    let days = if form.days.is_empty() {
        TOKEN_EXPIRY_DEFAULT_DAYS.to_string()
    } else {
        form.days.clone()
    };
    html! {
        dialog #create-dialog data-modal aria-labelledby="create-title" open[form.open] {
            form method="post" action=(TOKENS_PATH) {
                h2 #create-title { "Create an API token" }
                @if let Some(error) = &form.form_error {
                    p.error role="alert" { (error) }
                }
                (csrf(session))
                div.field {
                    label for="label" { "Label" }
                    p.help #label-help { "A short name to remember what the token is for (1 to 100 characters)." }
                    input #label type="text" name="label" value=(form.label) required maxlength="100"
                        autocomplete="off" autofocus
                        aria-invalid=[form.label_error.as_ref().map(|_| "true")]
                        aria-describedby=(if form.label_error.is_some() { "label-help label-error" } else { "label-help" });
                    (field_error("label-error", form.label_error.as_deref()))
                }
                div.field {
                    label for="expires" { "Expires in (days)" }
                    input #expires type="number" name="expiresInDays" value=(days) required min="1"
                        max=(TOKEN_EXPIRY_MAX_DAYS) inputmode="numeric"
                        aria-invalid=[form.days_error.as_ref().map(|_| "true")]
                        aria-describedby=[form.days_error.as_ref().map(|_| "expires-error")];
                    (field_error("expires-error", form.days_error.as_deref()))
                }
                div.actions {
                    button.primary type="submit" { "Create" }
                    a.button href=(TOKENS_PATH) data-closes="create-dialog" { "Cancel" }
                }
            }
        }
    }
}

fn revoke_dialog(session: &WebSession, token: &TokenRecord) -> Markup {
    html! {
        dialog #revoke-dialog data-modal open aria-labelledby="revoke-title" {
            form method="post" action={(TOKENS_PATH) "/" (token.id) "/revoke"} {
                h2 #revoke-title { "Revoke the token “" (token.label) "”?" }
                p { "Anything that uses it stops working at once. This cannot be undone." }
                (csrf(session))
                div.actions {
                    button.danger type="submit" { "Revoke" }
                    a.button href=(TOKENS_PATH) { "Cancel" }
                }
            }
        }
    }
}

// ----- the org admins' pages ----------------------------------------------------------------

/// The backup dashboard of one org (`/admin`).
pub struct Dashboard<'a> {
    pub nav: Nav<'a>,
    pub org: &'a OrgRecord,
    /// Every org the user administers, to switch between them.
    pub orgs: &'a [OrgRecord],
    pub sites: &'a [SiteRecord],
    /// Each policy with its latest backup, if any.
    pub policies: &'a [(PolicyView, Option<BackupRecord>)],
    pub backups: &'a [BackupRecord],
    pub restores: &'a [RestoreRecord],
    pub notice: Option<&'a str>,
    pub error: Option<&'a str>,
}

/// The words beside a progress bar: "Downloading: 40 of 100 items" (also sent to the script).
pub fn progress_text(progress: Option<&Progress>) -> String {
    let Some(p) = progress else {
        return "Waiting to start".into();
    };
    let phase = match p.phase {
        ProgressPhase::Listing => "Listing",
        ProgressPhase::Downloading => "Downloading",
        ProgressPhase::Storing => "Storing",
        ProgressPhase::Committing => "Committing",
        ProgressPhase::Done => "Done",
    };
    match p.items_total {
        Some(total) => format!("{phase}: {} of {total} items", p.items_done),
        None => format!("{phase}: {} items", p.items_done),
    }
}

/// Bytes as people read them (powers of 1024).
fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn status_badge(status: &str) -> Markup {
    let class = match status {
        "FAILED" | "INCOMPLETE" => "badge bad",
        "COMPLETED" | "ACTIVE" => "badge good",
        _ => "badge",
    };
    html! { span class=(class) { (status) } }
}

/// The progress cell of a run: a bar while in flight, else the status message when it matters.
fn run_state(
    id: &str,
    in_flight: bool,
    status: &str,
    message: &str,
    progress: Option<&Progress>,
) -> Markup {
    html! {
        div.run-state data-run-id=(id) {
            span.status { (status_badge(status)) }
            @if in_flight {
                @let text = progress_text(progress);
                div.progress-row {
                    @match progress.and_then(|p| p.items_total.map(|t| (p.items_done, t))) {
                        Some((done, total)) => {
                            progress value=(done) max=(total.max(1)) aria-label={"Progress of " (id)} { (text) }
                        }
                        None => { progress aria-label={"Progress of " (id)} { (text) } }
                    }
                    span.phase { (text) }
                }
            } @else if matches!(status, "FAILED" | "INCOMPLETE") {
                p.message { (message) }
            }
        }
    }
}

fn schedule_text(policy: &PolicyRecord) -> String {
    match &policy.schedule {
        Some(s) => format!(
            "{} at {:02}:{:02} UTC",
            s.interval,
            s.slot_minute / 60,
            s.slot_minute % 60
        ),
        None => "No schedule".into(),
    }
}

pub fn dashboard(d: &Dashboard<'_>) -> Html<String> {
    let org_q = format!("org={}", d.org.id);
    layout(
        "Backups",
        Some(&d.nav),
        html! {
            h1 { "Backups of " (d.org.name) }
            @if d.orgs.len() > 1 {
                nav.orgs aria-label="Organizations" {
                    "Other organizations: "
                    @for org in d.orgs.iter().filter(|o| o.id != d.org.id) {
                        a href={"/admin?org=" (org.id)} { (org.name) } " "
                    }
                }
            }
            p {
                "Organization id: " code { (d.org.id) } " · "
                a href={"/admin/api-tokens?" (org_q)} { "Members' API tokens" }
            }
            @if let Some(notice) = d.notice {
                p.notice role="status" { (notice) }
            }
            @if let Some(error) = d.error {
                p.error #run-error role="alert" { (error) }
            }
            section aria-labelledby="sites-title" {
                h2 #sites-title { "Sites" }
                @if d.sites.is_empty() {
                    p { "No site is registered yet (register one through the API)." }
                } @else {
                    div.table-wrap {
                        table #sites {
                            caption.visually-hidden { "Registered sites" }
                            thead { tr {
                                th scope="col" { "Name" }
                                th scope="col" { "URL" }
                                th scope="col" { "Products" }
                                th scope="col" { "Registered" }
                            } }
                            tbody {
                                @for site in d.sites {
                                    tr {
                                        td data-title="Name" { (site.cloud_name) }
                                        td data-title="URL" { code { (site.cloud_url) } }
                                        td data-title="Products" {
                                            @for (i, p) in site.products.iter().enumerate() {
                                                @if i > 0 { ", " }
                                                (p.product)
                                            }
                                        }
                                        td data-title="Registered" { (when(site.created_at)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="policies-title" {
                h2 #policies-title { "Policies" }
                @if d.policies.is_empty() {
                    p { "No backup policy yet." }
                } @else {
                    div.table-wrap {
                        table #policies {
                            caption.visually-hidden { "Backup policies" }
                            thead { tr {
                                th scope="col" { "Policy" }
                                th scope="col" { "Status" }
                                th scope="col" { "Schedule" }
                                th scope="col" { "Last backup" }
                                th scope="col" { span.visually-hidden { "Actions" } }
                            } }
                            tbody {
                                @for (view, last) in d.policies {
                                    @let p = &view.policy;
                                    tr data-policy-id=(p.id) {
                                        td data-title="Policy" {
                                            (p.name) br;
                                            small { (p.product) " · " (view.site.as_ref().map_or(p.cloud_id.as_str(), |s| s.cloud_name.as_str())) }
                                        }
                                        td data-title="Status" { (status_badge(p.status.as_str())) }
                                        td data-title="Schedule" { (schedule_text(p)) }
                                        td data-title="Last backup" {
                                            @match last {
                                                Some(b) => { (when(b.created_at)) " " (status_badge(b.status.as_str())) }
                                                None => { "Never" }
                                            }
                                        }
                                        td {
                                            form method="post" action="/admin/run-backup" {
                                                (csrf(d.nav.session))
                                                input type="hidden" name="org" value=(d.org.id);
                                                input type="hidden" name="policyId" value=(p.id);
                                                button.primary type="submit" {
                                                    "Run backup now" span.visually-hidden { ": " (p.name) }
                                                }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section #activity aria-labelledby="backups-title" data-activity={"/admin/activity.json?" (org_q)} {
                h2 #backups-title { "Recent backups" }
                @if d.backups.is_empty() {
                    p #no-backups { "No backup yet." }
                } @else {
                    div.table-wrap {
                        table #backups {
                            caption.visually-hidden { "Recent backups, newest first" }
                            thead { tr {
                                th scope="col" { "Backup" }
                                th scope="col" { "Created" }
                                th scope="col" { "State" }
                                th scope="col" { "Size" }
                            } }
                            tbody {
                                @for b in d.backups {
                                    tr data-backup-id=(b.id) {
                                        td data-title="Backup" { (b.name) br; small { (b.product) } }
                                        td data-title="Created" { (when(b.created_at)) }
                                        td data-title="State" {
                                            (run_state(&b.id, b.status.in_flight(), b.status.as_str(), &b.status_message, b.progress.as_ref()))
                                        }
                                        td data-title="Size" {
                                            (size(b.data_size + b.attachments_size + b.users_size))
                                            @if b.attachments_size > 0 {
                                                br; small { "attachments " (size(b.attachments_size)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                h2 #restores-title { "Recent restores" }
                @if d.restores.is_empty() {
                    p { "No restore yet." }
                } @else {
                    div.table-wrap {
                        table #restores {
                            caption.visually-hidden { "Recent restores, newest first" }
                            thead { tr {
                                th scope="col" { "Restore" }
                                th scope="col" { "Created" }
                                th scope="col" { "State" }
                            } }
                            tbody {
                                @for r in d.restores {
                                    tr data-restore-id=(r.id) {
                                        td data-title="Restore" { (r.product) " into " code { (r.destination_cloud_id) } }
                                        td data-title="Created" { (when(r.created_at)) }
                                        td data-title="State" {
                                            (run_state(&r.id, r.status.in_flight(), r.status.as_str(), &r.status_message, r.progress.as_ref()))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}

pub struct AdminTokensPage<'a> {
    pub nav: Nav<'a>,
    pub org: &'a OrgRecord,
    pub tokens: &'a [OwnedTokenRecord],
    pub now: Timestamp,
    /// Tokens picked for revocation, to confirm.
    pub confirm: Vec<&'a OwnedTokenRecord>,
    pub notice: Option<String>,
}

pub fn admin_tokens_page(p: &AdminTokensPage<'_>) -> Html<String> {
    let live: Vec<&OwnedTokenRecord> = p
        .tokens
        .iter()
        .filter(|t| t.token.revoked_at.is_none())
        .collect();
    let org_q = format!("org={}", p.org.id);
    layout(
        "Members' API tokens",
        Some(&p.nav),
        html! {
            h1 { "Members' API tokens" }
            p { "The API tokens of the members of " strong { (p.org.name) } "." }
            @if let Some(notice) = &p.notice {
                p.notice role="status" { (notice) }
            }
            @if live.is_empty() {
                p { "No member has an API token." }
            } @else {
                form method="get" action="/admin/api-tokens" {
                    input type="hidden" name="org" value=(p.org.id);
                    div.table-wrap {
                        table #member-tokens {
                            caption.visually-hidden { "Members' API tokens" }
                            thead {
                                tr {
                                    th scope="col" { span.visually-hidden { "Select" } }
                                    th scope="col" { "Who" }
                                    th scope="col" { "Label" }
                                    th scope="col" { "Created" }
                                    th scope="col" { "Last used" }
                                    th scope="col" { "Expires" }
                                    th scope="col" { span.visually-hidden { "Actions" } }
                                }
                            }
                            tbody {
                                @for owned in &live {
                                    @let t = &owned.token;
                                    tr data-token-id=(t.id) {
                                        td {
                                            input type="checkbox" name="revoke" value=(t.id) id={"pick-" (t.id)};
                                            label.visually-hidden for={"pick-" (t.id)} {
                                                "Select " (t.label) " of " (owned.owner_email)
                                            }
                                        }
                                        td data-title="Who" { (owned.owner_display_name) br; small { (owned.owner_email) } }
                                        td.label data-title="Label" { (t.label) }
                                        td data-title="Created" { (when(t.created_at)) }
                                        td data-title="Last used" { (maybe_when(t.last_used_at)) }
                                        td data-title="Expires" { (expires_cell(t, p.now)) }
                                        td {
                                            a.danger href={"/admin/api-tokens?" (org_q) "&revoke=" (t.id)} {
                                                "Revoke" span.visually-hidden { " " (t.label) " of " (owned.owner_email) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    p { button.danger #revoke-selected type="submit" { "Revoke selected…" } }
                }
            }
            @if !p.confirm.is_empty() {
                dialog #revoke-dialog data-modal open aria-labelledby="revoke-title" {
                    form method="post" action="/admin/api-tokens/revoke" {
                        h2 #revoke-title {
                            "Revoke " (p.confirm.len()) @if p.confirm.len() == 1 { " token?" } @else { " tokens?" }
                        }
                        ul {
                            @for owned in &p.confirm {
                                li { "“" (owned.token.label) "” of " (owned.owner_email) }
                            }
                        }
                        p { "Anything that uses them stops working at once. This cannot be undone." }
                        (csrf(p.nav.session))
                        input type="hidden" name="org" value=(p.org.id);
                        @for owned in &p.confirm {
                            input type="hidden" name="tokenId" value=(owned.token.id);
                        }
                        div.actions {
                            button.danger type="submit" { "Revoke" }
                            a.button href={"/admin/api-tokens?" (org_q)} { "Cancel" }
                        }
                    }
                }
            }
        },
    )
}

/// A page with a status other than 200 (a form sent back with its errors).
pub fn with_status(status: StatusCode, page: Html<String>) -> Response {
    (status, page).into_response()
}
