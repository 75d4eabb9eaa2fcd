//! Who may see and do what, backed up and restored into an empty site: permission schemes with
//! their grants, issue security schemes with their levels and members, each project's schemes,
//! category, lead, default assignee, URL, description and role actors, and each issue's
//! security level, compared through the REST API by name; an issue a security level hid from an
//! account in the source stays hidden from it in the destination.

mod support;

use std::collections::BTreeMap;

use cairn_sitesim::{Access, FaultSpec};
use cairn_store::Product;
use serde_json::{Value, json};
use support::{World, world};

/// A REST client of one site, as one of the simulation's accounts.
struct Api {
    http: reqwest::Client,
    base: String,
    email: String,
    token: String,
}

impl Api {
    fn of(w: &World, site: &str, access: Access) -> Api {
        let a = w.sim.account(access);
        Api {
            http: reqwest::Client::new(),
            base: w.sim.base_url(site),
            email: a.email.clone(),
            token: a.api_token.clone(),
        }
    }
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.email, Some(&self.token));
        if let Some(b) = body {
            r = r.json(&b);
        }
        let r = r.send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }
    async fn get(&self, path: &str) -> Value {
        let (status, v) = self.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path}: {v}");
        v
    }
    /// Every issue of a project this account sees: key, summary and security level name.
    async fn issues(&self, project: &str) -> Vec<(String, String, Option<String>)> {
        let (status, v) = self
            .call(
                reqwest::Method::POST,
                "/rest/api/3/search/jql",
                Some(json!({"jql": format!("project = {project} ORDER BY key"), "fields": ["summary", "security"], "maxResults": 100})),
            )
            .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(v["isLast"], true, "one page is enough here");
        v["issues"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["key"].as_str().unwrap().to_string(),
                    i["fields"]["summary"].as_str().unwrap().to_string(),
                    i["fields"]["security"]["name"].as_str().map(String::from),
                )
            })
            .collect()
    }
}

/// A holder by name: groups and users as named, roles by their name.
fn holder_key(h: &Value, roles: &BTreeMap<String, String>) -> String {
    let param = h["parameter"].as_str().unwrap_or_default();
    match h["type"].as_str().unwrap_or_default() {
        "projectRole" => format!("projectRole:{}", roles[param]),
        t @ ("group" | "user") => format!("{t}:{param}"),
        t => t.to_string(),
    }
}

/// A site's access configuration through the REST API, by name.
async fn access_of(api: &Api) -> Value {
    let roles: BTreeMap<String, String> = api
        .get("/rest/api/3/role")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].to_string(), r["name"].as_str().unwrap().to_string()))
        .collect();
    let mut permission = BTreeMap::new();
    for s in api
        .get("/rest/api/3/permissionscheme?expand=permissions")
        .await["permissionSchemes"]
        .as_array()
        .unwrap()
    {
        let mut grants: Vec<String> = s["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| {
                format!(
                    "{} {}",
                    g["permission"].as_str().unwrap(),
                    holder_key(&g["holder"], &roles)
                )
            })
            .collect();
        grants.sort();
        permission.insert(s["name"].as_str().unwrap().to_string(), grants);
    }
    let mut security = BTreeMap::new();
    for s in api.get("/rest/api/3/issuesecurityschemes").await["issueSecuritySchemes"]
        .as_array()
        .unwrap()
    {
        let members = api
            .get(&format!(
                "/rest/api/3/issuesecurityschemes/{}/members",
                s["id"]
            ))
            .await;
        let mut levels = BTreeMap::new();
        for l in s["levels"].as_array().unwrap() {
            let mut keys: Vec<String> = members["values"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| {
                    m["issueSecurityLevelId"].to_string().trim_matches('"')
                        == l["id"].as_str().unwrap()
                })
                .map(|m| holder_key(&m["holder"], &roles))
                .collect();
            keys.sort();
            levels.insert(l["name"].as_str().unwrap().to_string(), keys);
        }
        security.insert(s["name"].as_str().unwrap().to_string(), levels);
    }
    let mut projects = BTreeMap::new();
    for p in api.get("/rest/api/3/project").await.as_array().unwrap() {
        let key = p["key"].as_str().unwrap();
        let full = api.get(&format!("/rest/api/3/project/{key}")).await;
        let scheme = api
            .get(&format!("/rest/api/3/project/{key}/permissionscheme"))
            .await;
        let (status, sec) = api
            .call(
                reqwest::Method::GET,
                &format!("/rest/api/3/project/{key}/issuesecuritylevelscheme"),
                None,
            )
            .await;
        let mut actors = BTreeMap::new();
        for (name, url) in api
            .get(&format!("/rest/api/3/project/{key}/role"))
            .await
            .as_object()
            .unwrap()
        {
            let id = url.as_str().unwrap().rsplit('/').next().unwrap();
            let role = api
                .get(&format!("/rest/api/3/project/{key}/role/{id}"))
                .await;
            let mut who: Vec<String> = role["actors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["actorUser"]["accountId"].as_str().unwrap().to_string())
                .collect();
            who.sort();
            actors.insert(name.clone(), who);
        }
        let levels: Vec<(String, Option<String>)> = api
            .issues(key)
            .await
            .into_iter()
            .map(|(_, summary, level)| (summary, level))
            .collect();
        projects.insert(
            key.to_string(),
            json!({
                "permissionScheme": scheme["name"],
                "issueSecurityScheme": if status == 200 { sec["name"].clone() } else { Value::Null },
                "category": full["projectCategory"]["name"],
                "lead": full["lead"]["accountId"],
                "assigneeType": full["assigneeType"],
                "url": full["url"],
                "description": full["description"],
                "roleActors": actors,
                "issueLevels": levels,
            }),
        );
    }
    json!({"permissionSchemes": permission, "issueSecuritySchemes": security, "projects": projects})
}

/// The approximate count of a project's issues this account sees.
async fn count(api: &Api, project: &str) -> u64 {
    let jql = format!("project = {project}");
    let (status, v) = api
        .call(
            reqwest::Method::POST,
            "/rest/api/3/search/approximate-count",
            Some(json!({"jql": jql})),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    v["count"].as_u64().unwrap()
}

/// In the source: a group only it has, and a permission scheme `name` whose grants `grants`
/// makes from the default scheme's and that group, given to the first project (its key).
async fn first_project_under(
    w: &World,
    group: &str,
    name: &str,
    grants: impl FnOnce(&[Value]) -> Vec<Value>,
) -> String {
    let src = Api::of(w, "src", Access::ReadWrite);
    let (status, made) = src
        .call(
            reqwest::Method::POST,
            "/rest/api/3/group",
            Some(json!({"name": group})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let default = src
        .get("/rest/api/3/permissionscheme/0?expand=permissions")
        .await;
    let grants = grants(default["permissions"].as_array().unwrap());
    let (status, scheme) = src
        .call(
            reqwest::Method::POST,
            "/rest/api/3/permissionscheme",
            Some(json!({"name": name, "permissions": grants})),
        )
        .await;
    assert_eq!(status, 201, "{scheme}");
    let project = w
        .sim
        .with_site("src", |s| s.projects.values().next().unwrap().key.clone());
    let (status, assigned) = src
        .call(
            reqwest::Method::PUT,
            &format!("/rest/api/3/project/{project}/permissionscheme"),
            Some(json!({"id": scheme["id"]})),
        )
        .await;
    assert_eq!(status, 200, "{assigned}");
    project
}

async fn restore_jira(w: &World, destination: &str) -> Value {
    let jira = w.backup(Product::Jira).await;
    let r = w.start_restore(&jira, destination, None, None).await;
    w.drain().await;
    let rec = w.restore_record(&r.id).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
    let result = w.result(&r.id).await;
    assert_eq!(result["failed"], json!([]), "{result}");
    result
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemes_levels_role_actors_and_project_settings_come_back_into_an_empty_site() {
    let w = world(21, &["dst"]).await;
    let admin_src = Api::of(&w, "src", Access::ReadWrite);
    let admin_dst = Api::of(&w, "dst", Access::ReadWrite);
    let source = access_of(&admin_src).await;
    // The source has something to restore on every axis.
    assert!(
        source["permissionSchemes"].as_object().unwrap().len() >= 3,
        "{source}"
    );
    assert_eq!(source["issueSecuritySchemes"].as_object().unwrap().len(), 1);
    let levels_in_use = source["projects"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|p| p["issueLevels"].as_array().unwrap().clone())
        .filter(|l| !l[1].is_null())
        .count();
    assert!(levels_in_use > 0, "{source}");
    assert_ne!(source, access_of(&admin_dst).await);

    let result = restore_jira(&w, "dst").await;
    assert_eq!(result["created"]["permissionScheme"], 2, "{result}");
    assert_eq!(result["created"]["issueSecurityScheme"], 1, "{result}");
    assert!(
        result["created"]["roleActor"].as_u64().unwrap() > 0,
        "{result}"
    );
    assert_eq!(access_of(&admin_dst).await, source);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issue_a_level_hid_from_an_account_stays_hidden_from_it_after_a_restore() {
    let w = world(22, &["dst"]).await;
    // An issue under "Staff only" in a project every account may browse.
    let (project, summary) = w.sim.with_site("src", |s| {
        let staff = s.permissions.security_schemes[0].levels[0].id.to_string();
        let i = s
            .issues
            .values()
            .find(|i| {
                i.security.as_deref() == Some(&staff)
                    && s.permissions.settings(i.project_id).permission_scheme
                        == cairn_sitesim::permission::DEFAULT_PERMISSION_SCHEME
            })
            .expect("an issue under a level in a browsable project");
        (s.projects[&i.project_id].key.clone(), i.summary.clone())
    });
    let find = |issues: &[(String, String, Option<String>)]| {
        issues.iter().find(|(_, s, _)| s == &summary).cloned()
    };
    for site in ["src", "dst"] {
        if site == "dst" {
            restore_jira(&w, "dst").await;
        }
        let (admin, reader) = (
            Api::of(&w, site, Access::ReadWrite),
            Api::of(&w, site, Access::ReadOnly),
        );
        let (key, _, level) =
            find(&admin.issues(&project).await).expect("the administrator sees it");
        assert_eq!(level.as_deref(), Some("Staff only"), "{site}");
        let (status, _) = admin
            .call(
                reqwest::Method::GET,
                &format!("/rest/api/3/issue/{key}"),
                None,
            )
            .await;
        assert_eq!(status, 200, "{site}: a member of the level reads it");
        let (status, body) = reader
            .call(
                reqwest::Method::GET,
                &format!("/rest/api/3/issue/{key}"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{site}: {body}");
        let seen = reader.issues(&project).await;
        assert!(!seen.is_empty(), "{site}: the reader browses the project");
        assert_eq!(find(&seen), None, "{site}: not in the reader's search");
        assert!(
            count(&reader, &project).await < count(&admin, &project).await,
            "{site}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_named_different_permission_scheme_gets_a_suffixed_copy_and_is_left_alone() {
    let w = world(23, &["dst"]).await;
    let dst = Api::of(&w, "dst", Access::ReadWrite);
    let (status, theirs) = dst
        .call(
            reqwest::Method::POST,
            "/rest/api/3/permissionscheme",
            Some(json!({"name": "Restricted Permission Scheme", "description": "The destination's own.", "permissions": [{"permission": "BROWSE_PROJECTS", "holder": {"type": "anyone"}}]})),
        )
        .await;
    assert_eq!(status, 201, "{theirs}");
    let source = access_of(&Api::of(&w, "src", Access::ReadWrite)).await;

    let result = restore_jira(&w, "dst").await;
    let restored = access_of(&dst).await;
    let schemes = &restored["permissionSchemes"];
    assert_eq!(
        schemes["Restricted Permission Scheme"],
        json!(["BROWSE_PROJECTS anyone"]),
        "untouched"
    );
    let after = dst
        .get(&format!("/rest/api/3/permissionscheme/{}", theirs["id"]))
        .await;
    assert_eq!(after["description"], "The destination's own.");
    assert_eq!(
        schemes["Restricted Permission Scheme (restored)"],
        source["permissionSchemes"]["Restricted Permission Scheme"]
    );
    // The same-named scheme with the same grants is used as it is.
    assert!(
        schemes
            .get("Default Permission Scheme (restored)")
            .is_none(),
        "{schemes}"
    );
    assert_eq!(result["created"]["permissionScheme"], 2, "{result}");
    let uses: Vec<&str> = restored["projects"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, _)| {
            source["projects"][k.as_str()]["permissionScheme"] == "Restricted Permission Scheme"
        })
        .map(|(_, p)| p["permissionScheme"].as_str().unwrap())
        .collect();
    assert!(!uses.is_empty());
    assert!(
        uses.iter()
            .all(|n| *n == "Restricted Permission Scheme (restored)"),
        "{uses:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_killed_while_writing_schemes_resumes_and_creates_none_twice() {
    let w = world(24, &["dst"]).await;
    let jira = w.backup(Product::Jira).await;
    let source = access_of(&Api::of(&w, "src", Access::ReadWrite)).await;
    // Slow enough that the kill comes between the schemes.
    w.sim.set_faults(
        "dst",
        FaultSpec {
            latency_ms: 40,
            ..Default::default()
        },
    );
    let schemes = |w: &World| w.sim.with_site("dst", |s| s.permissions.schemes.len() - 1);
    let r = w.start_restore(&jira, "dst", None, None).await;
    w.kill_job_after(1, schemes).await;
    // Killed in the access phase: a scheme written, not every scheme, no project yet.
    let before_resume = w.sim.with_site("dst", |s| {
        (
            s.permissions.schemes.len() + s.permissions.security_schemes.len(),
            s.projects.len(),
        )
    });
    eprintln!("killed with (schemes, projects) = {before_resume:?}");
    assert!(
        before_resume.0 < 4 && before_resume.1 == 0,
        "{before_resume:?}"
    );
    w.sim.set_faults("dst", FaultSpec::default());
    w.drain().await;
    let rec = w.restore_record(&r.id).await;
    assert_eq!(
        rec.status.to_string(),
        "COMPLETED",
        "{}",
        rec.status_message
    );
    let result = w.result(&r.id).await;
    assert_eq!(result["failed"], json!([]), "{result}");
    assert_eq!(result["created"]["permissionScheme"], 2, "{result}");
    assert_eq!(result["created"]["issueSecurityScheme"], 1, "{result}");
    let (permission, security) = w.sim.with_site("dst", |s| {
        (
            s.permissions.schemes.len(),
            s.permissions.security_schemes.len(),
        )
    });
    assert_eq!((permission, security), (3, 1), "none twice");
    assert_eq!(
        access_of(&Api::of(&w, "dst", Access::ReadWrite)).await,
        source
    );
}

/// A grant to a holder the destination cannot resolve (a group it does not have) is left out
/// of the restored scheme and reported in `skippedItems` with the scheme and the reason; the
/// scheme's other grants are restored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grant_to_a_group_the_destination_lacks_is_left_out_and_reported() {
    let w = world(25, &["dst"]).await;
    let src = Api::of(&w, "src", Access::ReadWrite);
    // The default scheme's grants (the restoring account needs them to write the project's
    // issues) and one to a group only the source has.
    let project = first_project_under(&w, "contractors-of-the-source", "Contractors Scheme", |default| {
        let mut grants: Vec<Value> = default
            .iter()
            .map(|g| json!({"permission": g["permission"], "holder": {"type": g["holder"]["type"], "parameter": g["holder"]["parameter"]}}))
            .collect();
        grants.push(json!({"permission": "BROWSE_PROJECTS", "holder": {"type": "group", "parameter": "contractors-of-the-source"}}));
        grants
    })
    .await;
    assert!(
        !w.sim.with_site("dst", |s| s
            .groups
            .iter()
            .any(|g| g.name == "contractors-of-the-source")),
        "the destination lacks the group"
    );

    let result = restore_jira(&w, "dst").await;
    let skipped: Vec<&Value> = result["skippedItems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["kind"] == "permissionGrant")
        .collect();
    assert_eq!(skipped.len(), 1, "{result}");
    let reason = skipped[0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("Contractors Scheme") && reason.contains("contractors-of-the-source"),
        "{reason}"
    );
    let restored = access_of(&Api::of(&w, "dst", Access::ReadWrite)).await;
    let source = access_of(&src).await;
    let mut without: Vec<Value> = source["permissionSchemes"]["Contractors Scheme"]
        .as_array()
        .unwrap()
        .clone();
    let before = without.len();
    without.retain(|g| g != "BROWSE_PROJECTS group:contractors-of-the-source");
    assert_eq!(without.len(), before - 1, "{source}");
    assert_eq!(
        restored["permissionSchemes"]["Contractors Scheme"],
        Value::Array(without),
        "every other grant is restored"
    );
    assert_eq!(
        restored["projects"][project.as_str()]["permissionScheme"],
        "Contractors Scheme"
    );
}

/// A project whose scheme grants the restoring account nothing but browsing (as real schemes,
/// granting by role or group, often do) is still restored whole: its content is written under a
/// scheme that grants the restoring account what the backup's schemes grant, and the project gets
/// its restored scheme at the end; that writing scheme is then gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_whose_scheme_does_not_let_the_restorer_write_is_restored_and_gets_it_at_the_end()
{
    let w = world(26, &["dst"]).await;
    let src = Api::of(&w, "src", Access::ReadWrite);
    // The backup's account browses and sees watchers; every other permission is the group's.
    let project = first_project_under(&w, "writers-of-the-source", "Writers Scheme", |default| {
        let keys: std::collections::BTreeSet<&str> = default
            .iter()
            .map(|g| g["permission"].as_str().unwrap())
            .collect();
        let mut grants: Vec<Value> = ["BROWSE_PROJECTS", "VIEW_VOTERS_AND_WATCHERS"]
            .iter()
            .map(|k| json!({"permission": k, "holder": {"type": "group", "parameter": "site-admins"}}))
            .collect();
        grants.extend(keys.iter().map(|k| {
            json!({"permission": k, "holder": {"type": "group", "parameter": "writers-of-the-source"}})
        }));
        grants
    })
    .await;

    let result = restore_jira(&w, "dst").await;
    let dst = Api::of(&w, "dst", Access::ReadWrite);
    assert_eq!(
        count(&dst, &project).await,
        count(&src, &project).await,
        "every issue of the project is restored: {result}"
    );
    let restored = access_of(&dst).await;
    assert_eq!(
        restored["projects"][project.as_str()]["permissionScheme"],
        "Writers Scheme",
        "the project has its restored scheme"
    );
    assert_eq!(
        restored["permissionSchemes"]["Writers Scheme"],
        json!([
            "BROWSE_PROJECTS group:site-admins",
            "VIEW_VOTERS_AND_WATCHERS group:site-admins"
        ]),
        "the group's grants are left out (the destination lacks it)"
    );
    let names: Vec<&String> = restored["permissionSchemes"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with("Cairn")),
        "the writing scheme is deleted: {names:?}"
    );
    // Now the scheme holds: the restoring account may no longer create issues there.
    let (status, refused) = dst
        .call(
            reqwest::Method::POST,
            "/rest/api/3/issue",
            Some(json!({"fields": {"project": {"key": project}, "summary": "after", "issuetype": {"name": "Task"}}})),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
}

/// A security level whose only member is a group the destination lacks hides its issues from
/// the restoring account once restored, and Jira lets an account put an issue only at a level it
/// is a member of. The restore makes the restoring account a member of every restored level
/// while it writes, so each such issue is created at its level (hidden from everyone else from
/// its first moment) and gets its comments and status; the account then leaves the levels, and
/// the issue is hidden from it too, as it was from everyone outside the group in the source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issues_of_a_level_that_excludes_the_restorer_are_restored_whole_and_stay_hidden() {
    let w = world(25, &["dst"]).await;
    let admin = w.sim.account(Access::ReadWrite).account_id();
    // In the source, "Staff only" names one group, the backing-up account's only.
    let (project, summary, status, comments) = w.sim.with_site_mut("src", |s| {
        s.groups.push(cairn_sitesim::model::Group {
            id: "staff-group-id".into(),
            name: "staff-in-source-only".into(),
            members: vec![admin.clone()],
        });
        let staff = &mut s.permissions.security_schemes[0].levels[0];
        staff.members = vec![(
            990_001,
            cairn_sitesim::permission::Holder::Group("staff-in-source-only".into()),
        )];
        let staff = staff.id.to_string();
        let i = s
            .issues
            .values()
            .filter(|i| i.security.as_deref() == Some(&staff))
            .max_by_key(|i| i.comments.len())
            .expect("an issue under the level");
        assert!(!i.comments.is_empty(), "the issue has comments to restore");
        (
            s.projects[&i.project_id].key.clone(),
            i.summary.clone(),
            i.status.clone(),
            i.comments.len(),
        )
    });

    let result = restore_jira(&w, "dst").await;
    let skipped = result["skippedItems"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        skipped.iter().any(|s| s["kind"] == "securityLevelMember"
            && s["reason"]
                .as_str()
                .unwrap()
                .contains("staff-in-source-only")),
        "{result}"
    );

    let (level_members, restored) = w.sim.with_site("dst", |s| {
        let i = s
            .issues
            .values()
            .find(|i| i.summary == summary && s.projects[&i.project_id].key == project)
            .expect("the issue is restored");
        let (_, level) = s
            .permissions
            .level(i.security.as_deref().unwrap().parse().unwrap())
            .expect("at a level of the destination");
        assert_eq!(level.name, "Staff only");
        (
            level.members.clone(),
            (i.key.clone(), i.status.clone(), i.comments.len()),
        )
    });
    let (key, restored_status, restored_comments) = restored;
    assert_eq!((restored_status, restored_comments), (status, comments));
    // The restoring account has left the level (and the group is not in the destination).
    assert!(level_members.is_empty(), "{level_members:?}");
    let (code, body) = Api::of(&w, "dst", Access::ReadWrite)
        .call(
            reqwest::Method::GET,
            &format!("/rest/api/3/issue/{key}"),
            None,
        )
        .await;
    assert_eq!(code, 404, "hidden from the restoring account now: {body}");
}
