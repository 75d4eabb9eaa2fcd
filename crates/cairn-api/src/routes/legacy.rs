//! The legacy site-export calls of Jira and Confluence (`shared/spec/legacy-export-api.md`),
//! under `/sites/{site}/...` (`{site}`: the registered site's cloudName or cloudId), so an old
//! export script keeps working when only its host string changes.
//!
//! Deliberately left out of the OpenAPI document: they are not the Backup Management API but a
//! compatibility surface whose shapes (plain-text ids and refusals, Atlassian's old field names)
//! are fixed by the scripts that call them; their contract is the spec page above, and
//! `crates/cairn/tests/legacy_export.rs` plays it as the scripts do.

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use cairn_control::management::{ArchiveFormat, legacy_progress};
use cairn_store::Product;

use crate::download::archive_response;
use crate::error::{ApiResult, RequestError, TEXT_UTF8, legacy_refusal};
use crate::extract::{QueryParams, SiteAdmin};
use crate::state::AppState;
use crate::wire::legacy::{
    ConfluenceProgress, JiraProgress, JiraTaskStarted, backup_id_of_file_name,
};

const JIRA: &str = "/sites/{site}/rest/backup/1/export";
const CONFLUENCE: &str = "/sites/{site}/wiki/rest/obm/1.0";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{JIRA}/runbackup"), post(jira_start))
        .route(&format!("{JIRA}/lastTaskId"), get(jira_last_task))
        .route(&format!("{JIRA}/getProgress"), get(jira_progress))
        // `{base}/plugins/servlet/` + `result` (`export/download/?fileId=...`).
        .route(
            "/sites/{site}/plugins/servlet/export/download/",
            get(jira_download),
        )
        .route(
            "/sites/{site}/plugins/servlet/export/download",
            get(jira_download),
        )
        .route(&format!("{CONFLUENCE}/runbackup"), post(confluence_start))
        .route(
            &format!("{CONFLUENCE}/getprogress"),
            get(confluence_progress),
        )
        .route(
            &format!("{CONFLUENCE}/getprogress.json"),
            get(confluence_progress),
        )
        .route(
            "/sites/{site}/wiki/download/{*file}",
            get(confluence_download),
        )
}

/// `cbAttachments` of a start's body: a JSON boolean or the string `"true"`/`"false"`,
/// depending on the script; true when absent (or the body is not JSON), as a site export is
/// whole unless asked otherwise. `exportToCloud` changes nothing: the archive is Cairn's.
fn include_attachments(body: &[u8]) -> bool {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return true;
    };
    match value.get("cbAttachments") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => !s.trim().eq_ignore_ascii_case("false"),
        _ => true,
    }
}

fn plain_text(text: String) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_UTF8))],
        text,
    )
        .into_response()
}

fn required<'a>(query: &'a QueryParams, name: &str) -> ApiResult<&'a str> {
    query.get(name).filter(|v| !v.is_empty()).ok_or_else(|| {
        RequestError::BadField {
            field: name.to_string(),
            message: "is required".into(),
        }
        .into()
    })
}

async fn start(
    state: &AppState,
    admin: &SiteAdmin,
    product: Product,
    body: &[u8],
) -> ApiResult<Result<String, Response>> {
    let started = state
        .management
        .start_legacy_export(
            &admin.actor(),
            &admin.site,
            product,
            include_attachments(body),
        )
        .await?;
    Ok(started
        .map(|backup| backup.id)
        .map_err(|refusal| legacy_refusal(product, &refusal)))
}

/// Jira's *Start*: `{"taskId": "<backup id>"}`, or 412 when a backup runs or the last is too
/// recent.
/// (The body is read before anything answers: `layers::read_body_first`.)
async fn jira_start(
    State(state): State<AppState>,
    admin: SiteAdmin,
    body: Bytes,
) -> ApiResult<Response> {
    Ok(match start(&state, &admin, Product::Jira, &body).await? {
        Ok(task_id) => Json(JiraTaskStarted { task_id }).into_response(),
        Err(refusal) => refusal,
    })
}

/// Jira's *Last task*: the latest backup's id, as plain text.
async fn jira_last_task(State(state): State<AppState>, admin: SiteAdmin) -> ApiResult<Response> {
    let latest = state
        .management
        .latest_backup_of(&admin.site, Product::Jira)
        .await?
        .ok_or(RequestError::NoLegacyBackup)?;
    Ok(plain_text(latest.id))
}

async fn jira_progress(
    State(state): State<AppState>,
    admin: SiteAdmin,
    query: QueryParams,
) -> ApiResult<Json<JiraProgress>> {
    let task_id = required(&query, "taskId")?;
    let progress = state
        .management
        .legacy_export_progress(&admin.site, Product::Jira, task_id)
        .await?;
    Ok(Json(JiraProgress::from(&progress)))
}

async fn download(
    state: &AppState,
    admin: &SiteAdmin,
    product: Product,
    backup_id: &str,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let backup = state
        .management
        .legacy_backup(&admin.site, product, backup_id)
        .await?;
    let export = state
        .management
        .export_backup(&admin.site.org_id, &backup.id, ArchiveFormat::Zip)
        .await?;
    Ok(archive_response(export, headers))
}

async fn jira_download(
    State(state): State<AppState>,
    admin: SiteAdmin,
    query: QueryParams,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let file_id = required(&query, "fileId")?;
    download(&state, &admin, Product::Jira, file_id, &headers).await
}

/// Confluence's *Start*: 200 when started, 406 when a backup runs (or the last is too recent).
async fn confluence_start(
    State(state): State<AppState>,
    admin: SiteAdmin,
    body: Bytes,
) -> ApiResult<Response> {
    Ok(
        match start(&state, &admin, Product::Confluence, &body).await? {
            Ok(_) => plain_text(String::new()),
            Err(refusal) => refusal,
        },
    )
}

/// Confluence's *Progress*: the latest backup of the site's Confluence.
async fn confluence_progress(
    State(state): State<AppState>,
    admin: SiteAdmin,
) -> ApiResult<Json<ConfluenceProgress>> {
    let latest = state
        .management
        .latest_backup_of(&admin.site, Product::Confluence)
        .await?;
    Ok(Json(match latest {
        Some(backup) => ConfluenceProgress::from(&legacy_progress(backup)),
        None => ConfluenceProgress::none_yet(),
    }))
}

async fn confluence_download(
    State(state): State<AppState>,
    admin: SiteAdmin,
    Path((_, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let backup_id = backup_id_of_file_name(&file).ok_or(RequestError::NoSuchPath)?;
    download(&state, &admin, Product::Confluence, backup_id, &headers).await
}
