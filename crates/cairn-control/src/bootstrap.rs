//! The first start of an empty installation: one organization, one org admin with a generated
//! web password, and a first API token, made exactly once even when several nodes start together.

use cairn_store::{AccountRecord, MetaStore, OrgRecord};

use crate::ControlResult;
use crate::identity::{Actor, CreatedToken, Identity, NewAccount, password};

const BOOTSTRAPPED_KEY: &str = "bootstrapped_at";

/// What the first start made; the caller shows it once. Nothing here is stored in clear.
#[derive(Debug)]
pub struct FirstStart {
    pub org: OrgRecord,
    pub admin: AccountRecord,
    pub password: String,
    pub token: CreatedToken,
}

/// Does the first-start work if no node has done it yet; `None` otherwise.
pub async fn first_start(
    identity: &Identity,
    meta: &dyn MetaStore,
    admin_email: &str,
) -> ControlResult<Option<FirstStart>> {
    let now = identity.clock().now().to_rfc3339();
    if !meta.insert_meta_if_absent(BOOTSTRAPPED_KEY, &now).await? {
        return Ok(None);
    }
    let actor = Actor {
        account_id: None,
        client_addr: Some("first-start".into()),
    };
    let org = identity.create_org("My organization", &actor).await?;
    let password = password::generate()
        .map_err(|e| crate::ControlError::Internal(format!("random source: {e}")))?;
    let admin = identity
        .create_account(
            NewAccount {
                email: admin_email.to_string(),
                display_name: Some("Administrator".into()),
                password: Some(password.clone()),
                org_id: Some(org.id.clone()),
                org_admin: true,
            },
            &actor,
        )
        .await?;
    let token = identity
        .create_token(&admin.id, "first-start", None, &actor)
        .await?;
    Ok(Some(FirstStart {
        org,
        admin,
        password,
        token,
    }))
}
