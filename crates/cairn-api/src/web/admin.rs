//! `/admin`: for org admins. The backup dashboard of the Backup Management API (sites, policies,
//! recent backups and restores, "Run backup now"), a JSON feed of the runs' progress that the
//! script polls, and the members' API tokens.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_control::ControlError;
use cairn_control::management::Progress;
use cairn_store::{
    BackupFilter, BackupRecord, OrgRecord, PageQuery, PolicyFilter, RestoreFilter, RestoreRecord,
};
use serde_json::{Value, json};

use super::WebResult;
use super::cookies::{FormFields, WebUser};
use super::views::{self, AdminTokensPage, Dashboard, Nav, Section};
use crate::error::{ApiError, RequestError};
use crate::extract::QueryParams;
use crate::state::AppState;

/// How many recent backups and restores the dashboard lists.
const RECENT: u32 = 20;
/// Sites and policies of one org fit on one page; more are left to the API.
const ALL: u32 = 100;

fn nav(user: &WebUser) -> Nav<'_> {
    Nav {
        session: &user.session,
        admin: true,
        section: Section::Admin,
    }
}

/// The org named by `org` (or the user's first administered org), if the user administers it.
async fn chosen_org(state: &AppState, user: &WebUser, org: Option<&str>) -> WebResult<OrgRecord> {
    let orgs = state.identity.admin_orgs(&user.session.principal).await?;
    let chosen = match org {
        Some(id) => {
            state
                .identity
                .require_org_admin(&user.session.principal, id)?;
            orgs.into_iter().find(|o| o.id == id)
        }
        None => orgs.into_iter().next(),
    };
    chosen.ok_or_else(|| RequestError::NotAnOrgAdmin.into())
}

fn page(n: u32) -> PageQuery {
    PageQuery {
        offset: 0,
        limit: n,
        descending: true,
    }
}

/// The org's recent backups and restores, newest first.
async fn recent(
    state: &AppState,
    org_id: &str,
) -> WebResult<(Vec<BackupRecord>, Vec<RestoreRecord>)> {
    let m = &state.management;
    let backup_filter = BackupFilter {
        org_id: org_id.to_string(),
        ..BackupFilter::default()
    };
    let restore_filter = RestoreFilter {
        org_id: org_id.to_string(),
        ..RestoreFilter::default()
    };
    Ok((
        m.list_backups(&backup_filter, page(RECENT)).await?.items,
        m.list_restores(&restore_filter, page(RECENT)).await?.items,
    ))
}

/// The dashboard of one org; `error` is a refused "Run backup now", shown with its status.
async fn render(
    state: &AppState,
    user: &WebUser,
    org: &OrgRecord,
    status: StatusCode,
    notice: Option<&str>,
    error: Option<&str>,
) -> WebResult<Response> {
    let m = &state.management;
    let orgs = state.identity.admin_orgs(&user.session.principal).await?;
    let sites = m.list_sites(&org.id, page(ALL)).await?.items;
    let policy_filter = PolicyFilter {
        org_id: org.id.clone(),
        ..PolicyFilter::default()
    };
    let mut policies = Vec::new();
    for view in m.list_policies(&policy_filter, page(ALL)).await?.items {
        let latest = BackupFilter {
            org_id: org.id.clone(),
            policy_id: Some(view.policy.id.clone()),
            ..BackupFilter::default()
        };
        let last = m.list_backups(&latest, page(1)).await?.items.pop();
        policies.push((view, last));
    }
    let (backups, restores) = recent(state, &org.id).await?;
    let html = views::dashboard(&Dashboard {
        nav: nav(user),
        org,
        orgs: &orgs,
        sites: &sites,
        policies: &policies,
        backups: &backups,
        restores: &restores,
        notice,
        error,
    });
    Ok(views::with_status(status, html))
}

pub async fn overview(
    State(state): State<AppState>,
    user: WebUser,
    query: QueryParams,
) -> WebResult<Response> {
    let org = chosen_org(&state, &user, query.get("org")).await?;
    let notice = match query.get("done") {
        Some("started") => Some("The backup was queued."),
        _ => None,
    };
    render(&state, &user, &org, StatusCode::OK, notice, None).await
}

/// `POST /admin/run-backup`: "Run backup now" for one policy.
pub async fn run_backup(
    State(state): State<AppState>,
    user: WebUser,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    user.session.check_csrf(form.get("csrf"))?;
    let org = chosen_org(&state, &user, form.get("org")).await?;
    let policy_id = form.get("policyId").unwrap_or("");
    match state
        .management
        .run_backup_now(&org.id, &user.actor(), policy_id)
        .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/admin?org={}&done=started", org.id)).into_response()),
        // A rule (3 or 4) said no: the page again, with the rule's status and message.
        Err(err @ ControlError::Conflict(_)) => {
            let refused = ApiError::from(err);
            render(
                &state,
                &user,
                &org,
                refused.status,
                None,
                Some(&refused.body.message),
            )
            .await
        }
        Err(other) => Err(other.into()),
    }
}

/// `GET /admin/activity.json`: status and progress of the org's recent backups and restores, for
/// the dashboard's script to update its progress bars without a reload.
pub async fn activity(
    State(state): State<AppState>,
    user: WebUser,
    query: QueryParams,
) -> WebResult<Json<Value>> {
    let org = chosen_org(&state, &user, query.get("org")).await?;
    let (backups, restores) = recent(&state, &org.id).await?;
    let runs: Vec<Value> = backups
        .iter()
        .map(|b| {
            run_json(
                &b.id,
                b.status.as_str(),
                b.status.in_flight(),
                &b.status_message,
                b.progress.as_ref(),
            )
        })
        .chain(restores.iter().map(|r| {
            run_json(
                &r.id,
                r.status.as_str(),
                r.status.in_flight(),
                &r.status_message,
                r.progress.as_ref(),
            )
        }))
        .collect();
    Ok(Json(json!({ "runs": runs })))
}

fn run_json(
    id: &str,
    status: &str,
    in_flight: bool,
    message: &str,
    progress: Option<&Progress>,
) -> Value {
    json!({
        "id": id,
        "status": status,
        "inFlight": in_flight,
        "statusMessage": message,
        "phase": views::progress_text(progress),
        "itemsDone": progress.map(|p| p.items_done),
        "itemsTotal": progress.and_then(|p| p.items_total),
    })
}

pub async fn tokens_page(
    State(state): State<AppState>,
    user: WebUser,
    query: QueryParams,
) -> WebResult<Response> {
    let org = chosen_org(&state, &user, query.get("org")).await?;
    let tokens = state.identity.list_org_tokens(&org.id).await?;
    let picked: Vec<&str> = query.get_all("revoke").collect();
    let confirm = tokens
        .iter()
        .filter(|t| t.token.revoked_at.is_none() && picked.contains(&t.token.id.as_str()))
        .collect();
    let notice = match (query.get("done"), query.get("count")) {
        (Some("revoked"), Some(count)) if count.parse::<u32>().is_ok() => {
            Some(format!("Revoked {count} token(s)."))
        }
        _ => None,
    };
    Ok(views::admin_tokens_page(&AdminTokensPage {
        nav: nav(&user),
        org: &org,
        tokens: &tokens,
        now: state.identity.clock().now(),
        confirm,
        notice,
    })
    .into_response())
}

pub async fn revoke(
    State(state): State<AppState>,
    user: WebUser,
    FormFields(form): FormFields,
) -> WebResult<Response> {
    user.session.check_csrf(form.get("csrf"))?;
    let org = chosen_org(&state, &user, form.get("org")).await?;
    let ids: Vec<String> = form.get_all("tokenId").map(str::to_string).collect();
    let revoked = state
        .identity
        .revoke_member_tokens(&org.id, &ids, &user.actor())
        .await?;
    Ok(Redirect::to(&format!(
        "/admin/api-tokens?org={}&done=revoked&count={}",
        org.id,
        revoked.len()
    ))
    .into_response())
}
