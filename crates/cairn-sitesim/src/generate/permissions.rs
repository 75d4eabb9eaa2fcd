//! Who may see and do what on a generated site, drawn from no RNG (so the rest of the site is
//! unchanged by it): beside the Default Permission Scheme, a restricted scheme and a support
//! scheme, a security scheme with two levels, each project's schemes and settings, and the
//! levels of some issues. Project `i` (in creation order) uses the default scheme when `i % 3 ==
//! 0`, the restricted one when 1, the support one when 2; projects 0 and 2 (mod 3) use the
//! security scheme, and their issues numbered 2 and 4 (mod 5) are set to its two levels
//! (sub-tasks take their parent's, as in Jira).

use crate::model::*;
use crate::permission::*;

/// What every site has, empty or not: the Default Permission Scheme.
pub(super) fn defaults(site: &mut Site) {
    site.permissions.schemes.push(default_scheme());
}

pub(super) fn generate(site: &mut Site) {
    let group = |i: usize| {
        site.groups
            .get(i)
            .or(site.groups.last())
            .map(|g| g.name.clone())
    };
    let admins = Holder::Group(ADMINS_GROUP.into());
    let team = group(3).unwrap_or_else(|| ADMINS_GROUP.into());
    let users: Vec<String> = site.users.iter().map(|u| u.account_id.clone()).collect();
    let user = |i: usize| users[i % users.len()].clone();
    let (developers, viewers, administrators) = (
        Holder::ProjectRole("10003".into()),
        Holder::ProjectRole("10004".into()),
        Holder::ProjectRole("10002".into()),
    );
    let restricted = |key: &str| -> Vec<Holder> {
        let mut h = vec![admins.clone()];
        match key {
            "BROWSE_PROJECTS" => h.extend([
                developers.clone(),
                viewers.clone(),
                Holder::User(user(1)),
                Holder::Reporter,
            ]),
            "ADMINISTER_PROJECTS" => h.extend([administrators.clone(), Holder::ProjectLead]),
            "EDIT_ISSUES" => h.extend([developers.clone(), Holder::Reporter]),
            "TRANSITION_ISSUES" => h.extend([developers.clone(), Holder::Assignee]),
            "CREATE_ISSUES" | "ADD_COMMENTS" | "WORK_ON_ISSUES" | "CREATE_ATTACHMENTS"
            | "LINK_ISSUES" | "ASSIGNABLE_USER" | "RESOLVE_ISSUES" => h.push(developers.clone()),
            _ => {}
        }
        h
    };
    let support = |key: &str| -> Vec<Holder> {
        let mut h = vec![admins.clone()];
        match key {
            "BROWSE_PROJECTS" | "ADD_COMMENTS" => h.push(Holder::ApplicationRole),
            "CREATE_ISSUES" | "EDIT_ISSUES" | "TRANSITION_ISSUES" => {
                h.push(Holder::Group(team.clone()))
            }
            "ADMINISTER_PROJECTS" => h.push(Holder::ProjectLead),
            _ => {}
        }
        h
    };
    let mut schemes = vec![];
    for (name, description, holders) in [
        (
            "Restricted Permission Scheme",
            "Only the project's developers and viewers see it.",
            &restricted as &dyn Fn(&str) -> Vec<Holder>,
        ),
        (
            "Support Permission Scheme",
            "Everyone sees and comments; one team works on issues.",
            &support,
        ),
    ] {
        let mut scheme = PermissionScheme {
            id: 0,
            name: name.into(),
            description: description.into(),
            grants: vec![],
        };
        for key in PERMISSION_KEYS {
            for holder in holders(key) {
                scheme.grants.push(Grant {
                    id: 0,
                    permission: key.to_string(),
                    holder,
                });
            }
        }
        schemes.push(scheme);
    }
    for mut scheme in schemes {
        scheme.id = site.alloc_id();
        for g in &mut scheme.grants {
            g.id = site.alloc_id();
        }
        site.permissions.schemes.push(scheme);
    }
    let staff = vec![admins.clone(), Holder::Reporter];
    let devs = vec![admins.clone(), developers.clone(), Holder::User(user(2))];
    let mut security = SecurityScheme {
        id: site.alloc_id(),
        name: "Confidentiality Scheme".into(),
        description: "Issues only some may see.".into(),
        default_level: None,
        levels: vec![],
    };
    for (name, description, members) in [
        ("Staff only", "Site administrators and the reporter.", staff),
        ("Developers only", "The project's developers.", devs),
    ] {
        let id = site.alloc_id();
        let members = members.into_iter().map(|h| (site.alloc_id(), h)).collect();
        security.levels.push(SecurityLevel {
            id,
            name: name.into(),
            description: description.into(),
            members,
        });
    }
    let levels: Vec<String> = security.levels.iter().map(|l| l.id.to_string()).collect();
    let security_id = security.id;
    site.permissions.security_schemes.push(security);
    let scheme_ids: Vec<u64> = site.permissions.schemes.iter().map(|s| s.id).collect();
    let projects: Vec<(u64, String)> = site
        .projects
        .values()
        .map(|p| (p.id, p.key.clone()))
        .collect();
    for (i, (pid, key)) in projects.into_iter().enumerate() {
        let with_security = i % 3 != 1;
        site.permissions.projects.insert(
            pid,
            ProjectSettings {
                permission_scheme: scheme_ids[i % 3],
                security_scheme: with_security.then_some(security_id),
                assignee_type: if i % 2 == 0 {
                    "UNASSIGNED"
                } else {
                    "PROJECT_LEAD"
                }
                .into(),
                url: if i % 2 == 1 {
                    format!("https://{}.example.com/", key.to_lowercase())
                } else {
                    String::new()
                },
            },
        );
        if !with_security {
            continue;
        }
        let ids: Vec<u64> = site
            .issues
            .values()
            .filter(|x| x.project_id == pid)
            .map(|x| x.id)
            .collect();
        for id in ids {
            let issue = &site.issues[&id];
            let level = match (issue.issuetype == SUBTASK_TYPE, issue.parent) {
                (true, Some(parent)) => site.issues.get(&parent).and_then(|p| p.security.clone()),
                _ => match issue.number % 5 {
                    2 => Some(levels[0].clone()),
                    4 => Some(levels[1].clone()),
                    _ => None,
                },
            };
            site.issues.get_mut(&id).unwrap().security = level;
        }
    }
}
