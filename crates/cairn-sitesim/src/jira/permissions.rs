//! Who may see and do what: permission schemes with their grants, issue security schemes with
//! their levels and members, and the checks every issue route goes through.

use serde_json::json;

use crate::http::*;
use crate::model::Site;

use super::R;

pub fn permission_schemes(_site: &Site, r: &Req) -> R {
    Ok(ok(json!({"permissionSchemes": [{
        "id": 0, "name": "Default Permission Scheme", "description": "The default permission scheme.",
        "self": format!("{}/rest/api/3/permissionscheme/0", r.base), "expand": "permissions,user,group,projectRole,field,all",
    }]})))
}
