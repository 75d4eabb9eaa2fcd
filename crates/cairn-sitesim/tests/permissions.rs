//! Who may see and do what: permission schemes and issue security levels, per caller.

use cairn_sitesim::{Access, Scale, Sim, SimConfig, SiteSpec};
use reqwest::Method;
use serde_json::{Value, json};

/// Permission schemes and issue security levels decide what each account sees and does: a
/// hidden issue is 404 and absent from search and counts, a project the scheme does not let an
/// account browse is 404 and unlisted, and a write the scheme does not grant is 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permission_schemes_and_security_levels_decide_what_an_account_sees_and_does() {
    let account = |email: &str, access| cairn_sitesim::Account {
        email: email.into(),
        api_token: format!("token-{email}"),
        access,
    };
    let accounts = vec![
        account("admin@example.com", Access::ReadWrite),
        account("reader@example.com", Access::ReadOnly),
        account("member@example.com", Access::ReadWrite),
    ];
    let sim = Sim::start(SimConfig {
        seed: 5,
        scale: Scale::Small,
        sites: vec![SiteSpec::new("s")],
        accounts: accounts.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let member_id = accounts[2].account_id();
    // The member is an ordinary user, not a site administrator.
    sim.with_site_mut("s", |s| {
        for g in &mut s.groups {
            g.members.retain(|m| m != &member_id);
        }
    });
    let (staff, plain, restricted, support_project, support_issue) = sim.with_site("s", |s| {
        let level = s.permissions.security_schemes[0].levels[0].id.to_string();
        let scheme_of = |p: u64| s.permissions.settings(p).permission_scheme;
        let staff = s
            .issues
            .values()
            .find(|i| i.security.as_deref() == Some(&level) && scheme_of(i.project_id) == 0)
            .unwrap();
        let plain = s
            .issues
            .values()
            .find(|i| i.security.is_none() && i.project_id == staff.project_id)
            .unwrap();
        let by_scheme = |n: usize| {
            let id = s.permissions.schemes[n].id;
            s.projects.values().find(|p| scheme_of(p.id) == id).unwrap()
        };
        let support = by_scheme(2);
        let support_issue = s
            .issues
            .values()
            .find(|i| i.project_id == support.id && i.security.is_none())
            .unwrap();
        (
            staff.key.clone(),
            plain.key.clone(),
            by_scheme(1).key.clone(),
            support.key.clone(),
            support_issue.key.clone(),
        )
    });
    let http = reqwest::Client::new();
    let call = |who: usize, method: Method, path: String, body: Option<Value>| {
        let a = accounts[who].clone();
        let url = format!("{}{path}", sim.base_url("s"));
        let http = http.clone();
        async move {
            let mut rb = http
                .request(method, url)
                .basic_auth(&a.email, Some(&a.api_token));
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = rb.send().await.unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (admin, reader, member) = (0, 1, 2);
    let project_of = |key: &str| key.rsplit_once('-').unwrap().0.to_string();
    let search = |who: usize, project: String| {
        let call = &call;
        async move {
            let (st, v) = call(who, Method::POST, "/rest/api/3/search/jql".into(), Some(json!({"jql": format!("project = {project}"), "fields": ["summary"], "maxResults": 100}))).await;
            assert_eq!(st, 200, "{v}");
            let keys: Vec<String> = v["issues"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["key"].as_str().unwrap().to_string())
                .collect();
            let (_, c) = call(
                who,
                Method::POST,
                "/rest/api/3/search/approximate-count".into(),
                Some(json!({"jql": format!("project = {project}")})),
            )
            .await;
            (keys, c["count"].as_u64().unwrap())
        }
    };

    // A security level hides an issue from those outside it.
    let (st, v) = call(
        admin,
        Method::GET,
        format!("/rest/api/3/issue/{staff}"),
        None,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        v["fields"]["security"]["name"], "Staff only",
        "{}",
        v["fields"]["security"]
    );
    let (st, v) = call(
        reader,
        Method::GET,
        format!("/rest/api/3/issue/{staff}"),
        None,
    )
    .await;
    assert_eq!(
        (st, v["errorMessages"][0].as_str()),
        (
            404,
            Some("Issue does not exist or you do not have permission to see it.")
        )
    );
    assert_eq!(
        call(
            reader,
            Method::GET,
            format!("/rest/api/3/issue/{plain}/comment"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            reader,
            Method::GET,
            format!("/rest/api/3/issue/{staff}/comment"),
            None
        )
        .await
        .0,
        404
    );
    let (admin_keys, admin_count) = search(admin, project_of(&staff)).await;
    let (reader_keys, reader_count) = search(reader, project_of(&staff)).await;
    assert!(admin_keys.contains(&staff) && !reader_keys.contains(&staff));
    assert!(reader_keys.contains(&plain));
    assert_eq!(
        (admin_count, reader_count),
        (admin_keys.len() as u64, reader_keys.len() as u64)
    );
    assert!(reader_count < admin_count);

    // A project the scheme does not let the account browse is neither listed nor readable.
    let listed = |v: &Value| {
        v["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["key"] == json!(restricted))
    };
    let (_, v) = call(
        admin,
        Method::GET,
        "/rest/api/3/project/search".into(),
        None,
    )
    .await;
    assert!(listed(&v));
    let (_, v) = call(
        reader,
        Method::GET,
        "/rest/api/3/project/search".into(),
        None,
    )
    .await;
    assert!(!listed(&v));
    assert_eq!(
        call(
            reader,
            Method::GET,
            format!("/rest/api/3/project/{restricted}"),
            None
        )
        .await
        .0,
        404
    );
    assert!(search(reader, restricted.clone()).await.0.is_empty());
    // Made one of its developers, the member browses it.
    assert_eq!(
        call(
            member,
            Method::GET,
            format!("/rest/api/3/project/{restricted}"),
            None
        )
        .await
        .0,
        404
    );
    let (st, v) = call(
        admin,
        Method::PUT,
        format!("/rest/api/3/project/{restricted}/role/10003"),
        Some(json!({"categorisedActors": {"atlassian-user-role-actor": [member_id]}})),
    )
    .await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        call(
            member,
            Method::GET,
            format!("/rest/api/3/project/{restricted}"),
            None
        )
        .await
        .0,
        200
    );

    // Writes the scheme does not grant are 403: the support scheme lets anyone comment, one team
    // create and edit.
    let create = |project: &str, extra: Value| {
        let mut fields = json!({"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "By the member"});
        if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
            f.extend(e.clone());
        }
        json!({"fields": fields})
    };
    let (st, v) = call(
        member,
        Method::POST,
        "/rest/api/3/issue".into(),
        Some(create(&support_project, json!({}))),
    )
    .await;
    assert_eq!(st, 403, "{v}");
    let (st, _) = call(
        member,
        Method::PUT,
        format!("/rest/api/3/issue/{support_issue}"),
        Some(json!({"fields": {"summary": "edited"}})),
    )
    .await;
    assert_eq!(st, 403);
    let comment = json!({"body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}});
    assert_eq!(
        call(
            member,
            Method::POST,
            format!("/rest/api/3/issue/{support_issue}/comment"),
            Some(comment)
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            admin,
            Method::POST,
            "/rest/api/3/issue".into(),
            Some(create(&support_project, json!({})))
        )
        .await
        .0,
        201
    );

    // Set on create, a level keeps the issue from those outside it; its reporter is inside.
    let (_, v) = call(
        admin,
        Method::GET,
        format!(
            "/rest/api/3/project/{}/issuesecuritylevelscheme",
            project_of(&staff)
        ),
        None,
    )
    .await;
    let level = v["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "Staff only")
        .unwrap()["id"]
        .clone();
    let (st, v) = call(
        member,
        Method::POST,
        "/rest/api/3/issue".into(),
        Some(create(
            &project_of(&staff),
            json!({"security": {"id": level}}),
        )),
    )
    .await;
    assert_eq!(st, 201, "{v}");
    let key = v["key"].as_str().unwrap().to_string();
    assert_eq!(
        call(
            member,
            Method::GET,
            format!("/rest/api/3/issue/{key}"),
            None
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            reader,
            Method::GET,
            format!("/rest/api/3/issue/{key}"),
            None
        )
        .await
        .0,
        404
    );
    let (st, v) = call(
        admin,
        Method::POST,
        "/rest/api/3/issue".into(),
        Some(create(
            &project_of(&staff),
            json!({"security": {"id": "1"}}),
        )),
    )
    .await;
    assert_eq!(st, 400, "a level outside the project's scheme: {v}");
    assert!(v["errors"]["security"].is_string(), "{v}");
    sim.shutdown().await;
}
