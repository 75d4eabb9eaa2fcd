//! `/admin`: for org admins. Today the members' API tokens; the backup dashboard joins it with the
//! Backup Management API.

use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use cairn_control::ControlError;
use cairn_store::OrgRecord;

use super::WebResult;
use super::cookies::{FormFields, WebUser};
use super::views::{self, AdminTokensPage, Nav, Section};
use crate::extract::QueryParams;
use crate::state::AppState;

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
    chosen.ok_or_else(|| not_admin().into())
}

fn not_admin() -> ControlError {
    ControlError::Forbidden("Only organization admins may open the admin pages.".into())
}

pub async fn overview(State(state): State<AppState>, user: WebUser) -> WebResult<Response> {
    let orgs = state.identity.admin_orgs(&user.session.principal).await?;
    if orgs.is_empty() {
        return Err(not_admin().into());
    }
    Ok(views::admin_overview(&nav(&user), &orgs).into_response())
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
