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

/// Space permissions and page restrictions decide what each account sees and does in
/// Confluence: a space it may not read is 404 and unlisted; a page whose own or an ancestor's
/// read restriction leaves it out is 404 on every route and absent from every listing; an edit
/// restriction makes writes 403; a space's `create` permission decides page creation; a page
/// created `private` is its creator's alone; a move reorders the children listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn space_permissions_and_restrictions_decide_what_an_account_sees_in_confluence() {
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
        seed: 6,
        counts: Some(cairn_sitesim::Counts {
            pages: 40,
            blogposts: 8,
            ..Scale::Small.counts()
        }),
        sites: vec![SiteSpec::new("s")],
        accounts: accounts.clone(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (admin, reader, member) = (0, 1, 2);
    let member_id = accounts[member].account_id();
    // The member is an ordinary user of the directory, in no group.
    sim.with_site_mut("s", |s| {
        for g in &mut s.groups {
            g.members.retain(|m| m != &member_id);
        }
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
    let get = |who: usize, path: String| call(who, Method::GET, path, None);
    let ids = |v: &Value| -> Vec<String> {
        v["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    // A read-restricted page under a read-restricted page, in a space open to anyone; a space
    // open only to its members; an edit-restricted page.
    let (nested, parent, open_space, closed_space, edit_only) = sim.with_site("s", |s| {
        let anonymous = |sid: u64| {
            s.spaces[&sid]
                .permissions
                .iter()
                .any(|p| p.principal == cairn_sitesim::model::Principal::Anonymous)
        };
        let nested = s
            .pages
            .values()
            .find(|p| {
                anonymous(p.space_id)
                    && !p.restrictions.read.is_empty()
                    && p.parent_id
                        .is_some_and(|x| !s.pages[&x].restrictions.read.is_empty())
            })
            .unwrap();
        let closed = s
            .spaces
            .values()
            .find(|x| !x.personal && !anonymous(x.id))
            .unwrap();
        let edit_only = s
            .pages
            .values()
            .find(|p| {
                anonymous(p.space_id)
                    && p.restrictions.read.is_empty()
                    && !p.restrictions.update.is_empty()
                    && s.may_read_page(&member_id, p.id)
            })
            .unwrap();
        (
            nested.id.to_string(),
            nested.parent_id.unwrap().to_string(),
            nested.space_id.to_string(),
            closed.id.to_string(),
            (
                edit_only.id,
                edit_only.version.number,
                edit_only.title.clone(),
            ),
        )
    });

    // Spaces: the closed one is 404 and unlisted for the reader, listed for the admin.
    let (_, spaces) = get(reader, "/wiki/api/v2/spaces?limit=250".into()).await;
    assert!(!ids(&spaces).contains(&closed_space));
    assert!(ids(&spaces).contains(&open_space));
    assert_eq!(
        get(reader, format!("/wiki/api/v2/spaces/{closed_space}"))
            .await
            .0,
        404
    );
    assert_eq!(
        get(admin, format!("/wiki/api/v2/spaces/{closed_space}"))
            .await
            .0,
        200
    );
    let (_, all) = get(admin, "/wiki/api/v2/spaces?limit=250".into()).await;
    assert!(ids(&all).contains(&closed_space));

    // The restricted pages: 404 on every route for the reader, fine for the admin.
    for page in [&nested, &parent] {
        for path in [
            format!("/wiki/api/v2/pages/{page}"),
            format!("/wiki/api/v2/pages/{page}/children"),
            format!("/wiki/api/v2/pages/{page}/labels"),
            format!("/wiki/api/v2/pages/{page}/footer-comments"),
            format!("/wiki/api/v2/pages/{page}/attachments"),
            format!("/wiki/rest/api/content/{page}/restriction"),
            format!("/wiki/rest/api/content/{page}/child/attachment"),
        ] {
            assert_eq!(get(reader, path.clone()).await.0, 404, "{path}");
            assert_eq!(get(admin, path.clone()).await.0, 200, "{path}");
        }
    }
    let open_key = sim.with_site("s", |s| {
        s.spaces[&open_space.parse::<u64>().unwrap()].key.clone()
    });
    for list in [
        "/wiki/api/v2/pages?limit=250".to_string(),
        format!("/wiki/api/v2/spaces/{open_space}/pages?limit=250"),
        format!("/wiki/rest/api/content?spaceKey={open_key}&type=page&limit=200"),
    ] {
        let (_, seen) = get(reader, list.clone()).await;
        assert!(!ids(&seen).contains(&nested), "{list}");
        assert!(!ids(&seen).contains(&parent), "{list}");
        let (_, seen) = get(admin, list.clone()).await;
        assert!(ids(&seen).contains(&nested), "{list}");
    }
    // v1's listing gives each page's restrictions in bulk, as the single read does.
    let expand = "restrictions.read.restrictions.user,restrictions.read.restrictions.group";
    let (_, listed) = get(
        admin,
        format!("/wiki/rest/api/content?spaceKey={open_key}&type=page&limit=200&expand={expand}"),
    )
    .await;
    let (_, single) = get(
        admin,
        format!("/wiki/rest/api/content/{nested}/restriction?expand=restrictions.user,restrictions.group"),
    )
    .await;
    let listed_read = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["id"] == json!(nested))
        .map(|x| x["restrictions"]["read"]["restrictions"].clone())
        .unwrap();
    let single_read = single["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["operation"] == "read")
        .map(|x| x["restrictions"].clone())
        .unwrap();
    assert_eq!(listed_read["user"], single_read["user"]);
    assert_eq!(listed_read["group"], single_read["group"]);
    assert!(
        listed_read["user"]["size"].as_u64().unwrap()
            + listed_read["group"]["size"].as_u64().unwrap()
            > 0
    );
    // Lifting the parent's restriction alone leaves the child hidden (its own restriction).
    let (status, _) = call(
        admin,
        Method::PUT,
        format!("/wiki/rest/api/content/{parent}/restriction"),
        Some(json!([])),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get(reader, format!("/wiki/api/v2/pages/{parent}")).await.0,
        200
    );
    assert_eq!(
        get(reader, format!("/wiki/api/v2/pages/{nested}")).await.0,
        404
    );
    // An unknown account in a restriction is a 400, and nothing changes.
    let (status, _) = call(
        admin,
        Method::PUT,
        format!("/wiki/rest/api/content/{nested}/restriction"),
        Some(json!([{"operation": "read", "restrictions": {"user": [{"type": "known", "accountId": "nobody"}]}}])),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        get(reader, format!("/wiki/api/v2/pages/{nested}")).await.0,
        404
    );

    // The edit restriction: the member reads the page but may not change it; the admin may.
    let (page, version, title) = edit_only;
    let update = |v: u64| {
        Some(
            json!({"id": page.to_string(), "status": "current", "title": title,
                    "body": {"representation": "storage", "value": "<p>x</p>"}, "version": {"number": v}}),
        )
    };
    assert_eq!(
        get(member, format!("/wiki/api/v2/pages/{page}")).await.0,
        200
    );
    let (status, _) = call(
        member,
        Method::PUT,
        format!("/wiki/api/v2/pages/{page}"),
        update(version + 1),
    )
    .await;
    assert_eq!(status, 403);
    let (status, v) = call(
        admin,
        Method::PUT,
        format!("/wiki/api/v2/pages/{page}"),
        update(version + 1),
    )
    .await;
    assert_eq!(status, 200, "{v}");

    // Creating: the member may create a page only where the space lets it; `private` keeps it
    // the creator's.
    let create = |space: &str, title: &str| {
        Some(
            json!({"spaceId": space, "status": "current", "title": title,
                    "body": {"representation": "storage", "value": "<p>new</p>"}}),
        )
    };
    let (status, _) = call(
        member,
        Method::POST,
        "/wiki/api/v2/pages".into(),
        create(&open_space, "By the member"),
    )
    .await;
    assert_eq!(status, 403, "the member has no create permission here");
    let (status, v) = call(
        admin,
        Method::POST,
        "/wiki/api/v2/pages?private=true".into(),
        create(&open_space, "Private one"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let private = v["id"].as_str().unwrap().to_string();
    assert_eq!(
        get(reader, format!("/wiki/api/v2/pages/{private}")).await.0,
        404
    );
    assert_eq!(
        get(admin, format!("/wiki/api/v2/pages/{private}")).await.0,
        200
    );

    // Space permissions: given to the reader, the closed space opens to it; removed, it closes.
    let key = sim.with_site("s", |s| {
        s.spaces[&closed_space.parse::<u64>().unwrap()].key.clone()
    });
    let reader_id = accounts[reader].account_id();
    let (status, v) = call(
        admin,
        Method::POST,
        format!("/wiki/rest/api/space/{key}/permission"),
        Some(json!({"subject": {"type": "user", "identifier": reader_id}, "operation": {"key": "read", "target": "space"}})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        get(reader, format!("/wiki/api/v2/spaces/{closed_space}"))
            .await
            .0,
        200
    );
    let id = v["id"].as_u64().unwrap();
    let (status, _) = call(
        admin,
        Method::DELETE,
        format!("/wiki/rest/api/space/{key}/permission/{id}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(
        get(reader, format!("/wiki/api/v2/spaces/{closed_space}"))
            .await
            .0,
        404
    );

    // A move puts the last child of the space's homepage first in the children listing.
    let home = sim.with_site("s", |s| {
        s.spaces[&open_space.parse::<u64>().unwrap()]
            .homepage_id
            .unwrap()
    });
    let (_, kids) = get(
        admin,
        format!("/wiki/api/v2/pages/{home}/children?limit=250"),
    )
    .await;
    let before = ids(&kids);
    assert!(before.len() >= 2, "{kids}");
    let last = before.last().unwrap();
    let (status, v) = call(
        admin,
        Method::PUT,
        format!("/wiki/rest/api/content/{last}/move/before/{}", before[0]),
        None,
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (_, kids) = get(
        admin,
        format!("/wiki/api/v2/pages/{home}/children?limit=250"),
    )
    .await;
    let after = ids(&kids);
    assert_eq!(&after[0], last);
    assert_eq!(after[1..], before[..before.len() - 1]);
}
