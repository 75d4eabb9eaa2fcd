//! Workflows and the schemes that pick them, as data: which statuses a workflow holds, its
//! transitions (initial, global, directed from one or more statuses) with their rules, the
//! workflow schemes (issue type → workflow, with a default) and issue type schemes, and which
//! scheme each project uses. `schemes.rs` serves them; issue writes ask [`Flows`] which
//! transitions an issue may take.
//!
//! Every site starts with Jira's defaults ([`Flows::defaults`]): one workflow with a global
//! transition into each status, and the default workflow and issue type schemes, used by every
//! project not assigned another. A generated site adds [`generated`]'s workflows and schemes.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::model::{Site, Status};

/// The default workflow of a new site (every status, a global transition into each).
pub const DEFAULT_WORKFLOW: &str = "Software Simplified Workflow for Project";
pub const DEFAULT_WORKFLOW_ID: &str = "a1b2c3d4-0000-4000-8000-000000000001";
pub const DEFAULT_WORKFLOW_SCHEME: u64 = 10000;
pub const DEFAULT_ISSUE_TYPE_SCHEME: &str = "10000";

/// A workflow rule (condition, validator or post function) as the v3 API shapes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    pub id: String,
    pub rule_key: String,
    pub parameters: Value,
}

impl Rule {
    pub fn json(&self) -> Value {
        json!({"id": self.id, "ruleKey": self.rule_key, "parameters": self.parameters})
    }
    /// Rules of Jira itself; others belong to an app (`connect:`, `forge:`), which a site
    /// accepts only with that app installed (the stand-in has none).
    pub fn is_system(&self) -> bool {
        self.rule_key.starts_with("system:")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionKind {
    Initial,
    Global,
    Directed,
}

impl TransitionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Initial => "INITIAL",
            TransitionKind::Global => "GLOBAL",
            TransitionKind::Directed => "DIRECTED",
        }
    }
    pub fn parse(s: &str) -> Option<TransitionKind> {
        match s {
            "INITIAL" => Some(TransitionKind::Initial),
            "GLOBAL" => Some(TransitionKind::Global),
            "DIRECTED" => Some(TransitionKind::Directed),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Transition {
    /// Unique within its workflow (the id `/transitions` offers).
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: TransitionKind,
    /// Status ids a directed transition leaves from (empty for initial and global ones).
    pub from: Vec<String>,
    pub to: String,
    /// Screen shown on the transition (its id), if any.
    pub screen: Option<String>,
    pub conditions: Vec<Rule>,
    pub validators: Vec<Rule>,
    pub actions: Vec<Rule>,
}

#[derive(Clone, Debug)]
pub struct Workflow {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Status ids, in layout order.
    pub statuses: Vec<String>,
    pub transitions: Vec<Transition>,
    pub version: u64,
}

impl Workflow {
    /// The status a new issue starts in: the initial transition's target.
    pub fn initial_status(&self) -> &str {
        self.transitions
            .iter()
            .find(|t| t.kind == TransitionKind::Initial)
            .map(|t| t.to.as_str())
            .or(self.statuses.first().map(String::as_str))
            .unwrap_or_default()
    }
    /// Transitions an issue in `status` may take: the directed ones leaving it and the global
    /// ones into another status.
    pub fn available(&self, status: &str) -> Vec<&Transition> {
        self.transitions
            .iter()
            .filter(|t| match t.kind {
                TransitionKind::Initial => false,
                TransitionKind::Global => t.to != status,
                TransitionKind::Directed => t.from.iter().any(|f| f == status),
            })
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct WorkflowScheme {
    pub id: u64,
    pub name: String,
    pub description: String,
    /// Workflow names, as the API names them.
    pub default_workflow: String,
    /// Issue type id → workflow name.
    pub mappings: BTreeMap<String, String>,
}

#[derive(Clone, Debug)]
pub struct IssueTypeScheme {
    pub id: String,
    pub name: String,
    pub description: String,
    pub default_issue_type: Option<String>,
    pub issue_types: Vec<String>,
    pub is_default: bool,
}

/// A site's workflows and schemes, and which schemes its projects use.
#[derive(Clone, Debug, Default)]
pub struct Flows {
    pub workflows: Vec<Workflow>,
    pub workflow_schemes: Vec<WorkflowScheme>,
    pub issue_type_schemes: Vec<IssueTypeScheme>,
    /// Project id → workflow scheme id (absent: the default scheme).
    pub project_workflow_scheme: BTreeMap<u64, u64>,
    /// Project id → issue type scheme id (absent: the default scheme).
    pub project_issue_type_scheme: BTreeMap<u64, String>,
}

impl Flows {
    /// What a new site has: the default workflow (a global transition into every status) and
    /// the default schemes.
    pub fn defaults(site: &Site) -> Flows {
        let workflow = Workflow {
            id: DEFAULT_WORKFLOW_ID.into(),
            name: DEFAULT_WORKFLOW.into(),
            description: String::new(),
            statuses: site.statuses.iter().map(|s| s.id.clone()).collect(),
            transitions: std::iter::once(Transition {
                id: "1".into(),
                name: "Create".into(),
                description: String::new(),
                kind: TransitionKind::Initial,
                from: vec![],
                to: site.statuses[0].id.clone(),
                screen: None,
                conditions: vec![],
                validators: vec![],
                actions: vec![],
            })
            .chain(site.statuses.iter().map(|s| Transition {
                id: format!("1{}", s.id),
                name: format!("Move to {}", s.name),
                description: String::new(),
                kind: TransitionKind::Global,
                from: vec![],
                to: s.id.clone(),
                screen: None,
                conditions: vec![],
                validators: vec![],
                actions: vec![],
            }))
            .collect(),
            version: 1,
        };
        Flows {
            workflows: vec![workflow],
            workflow_schemes: vec![WorkflowScheme {
                id: DEFAULT_WORKFLOW_SCHEME,
                name: "Default Workflow Scheme".into(),
                description: "The default workflow scheme.".into(),
                default_workflow: DEFAULT_WORKFLOW.into(),
                mappings: BTreeMap::new(),
            }],
            issue_type_schemes: vec![IssueTypeScheme {
                id: DEFAULT_ISSUE_TYPE_SCHEME.into(),
                name: "Default Issue Type Scheme".into(),
                description: "Default issue type scheme is the list of global issue types.".into(),
                default_issue_type: site.issue_types.first().map(|t| t.id.clone()),
                issue_types: site.issue_types.iter().map(|t| t.id.clone()).collect(),
                is_default: true,
            }],
            ..Default::default()
        }
    }

    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }
    pub fn workflow_scheme_of(&self, project: u64) -> &WorkflowScheme {
        let id = self
            .project_workflow_scheme
            .get(&project)
            .copied()
            .unwrap_or(DEFAULT_WORKFLOW_SCHEME);
        self.workflow_schemes
            .iter()
            .find(|s| s.id == id)
            .unwrap_or(&self.workflow_schemes[0])
    }
    pub fn issue_type_scheme_of(&self, project: u64) -> &IssueTypeScheme {
        let id = self
            .project_issue_type_scheme
            .get(&project)
            .map_or(DEFAULT_ISSUE_TYPE_SCHEME, String::as_str);
        self.issue_type_schemes
            .iter()
            .find(|s| s.id == id)
            .unwrap_or(&self.issue_type_schemes[0])
    }
    /// The workflow an issue of `issuetype` in `project` follows.
    pub fn workflow_of(&self, project: u64, issuetype: &str) -> &Workflow {
        let scheme = self.workflow_scheme_of(project);
        let name = scheme
            .mappings
            .get(issuetype)
            .unwrap_or(&scheme.default_workflow);
        self.workflow(name).unwrap_or(&self.workflows[0])
    }
    /// Whether some project uses the workflow (through its scheme, or the default scheme).
    pub fn workflow_in_use(&self, name: &str, projects: impl Iterator<Item = u64>) -> bool {
        projects.into_iter().any(|p| {
            let s = self.workflow_scheme_of(p);
            s.default_workflow == name || s.mappings.values().any(|w| w == name)
        })
    }
}

/// The id after the largest numeric one of `ids` (statuses and schemes number apart from the
/// site's other objects, as on Jira).
pub fn next_numeric_id<'a>(ids: impl Iterator<Item = &'a str>, floor: u64) -> u64 {
    ids.filter_map(|i| i.parse::<u64>().ok())
        .max()
        .unwrap_or(floor)
        .max(floor)
        + 1
}

fn rule(id: &str, key: &str, parameters: Value) -> Rule {
    Rule {
        id: id.into(),
        rule_key: key.into(),
        parameters,
    }
}

/// A workflow's transition, built by [`generated`].
struct T<'a> {
    id: &'a str,
    name: &'a str,
    kind: TransitionKind,
    from: &'a [&'a str],
    to: &'a str,
}

/// A generated site's configuration beyond the defaults, drawn from no RNG (so every other
/// generated value stays as it was): statuses "Triage", "Blocked" and "Closed" (in no workflow
/// but the generated ones, as a new status on Jira); a triage
/// workflow for bugs (with a transition screen, system rules and one third-party app's post
/// function) and a delivery workflow (directed transitions and a global one back to "To Do");
/// two workflow schemes using them and an issue type scheme. Project `pi` uses workflow scheme
/// `pi % 3` (0: the default) and, when `pi` is odd, the generated issue type scheme
/// ([`assign`]).
pub fn generated(site: &mut Site) {
    for (id, name, category) in [
        ("10003", "Triage", 2),
        ("10004", "Blocked", 4),
        ("10005", "Closed", 3),
    ] {
        site.statuses.push(Status {
            id: id.into(),
            name: name.into(),
            category,
        });
    }
    let (todo, progress, review, done) = ("10000", "3", "10001", "10002");
    let (triage, blocked, closed) = ("10003", "10004", "10005");
    let build = |name: &str, statuses: &[&str], ts: &[T]| Workflow {
        id: crate::model::uuid_like(name),
        name: name.into(),
        description: format!("{name}, generated."),
        statuses: statuses.iter().map(|s| s.to_string()).collect(),
        transitions: ts
            .iter()
            .map(|t| Transition {
                id: t.id.into(),
                name: t.name.into(),
                description: String::new(),
                kind: t.kind,
                from: t.from.iter().map(|s| s.to_string()).collect(),
                to: t.to.into(),
                screen: None,
                conditions: vec![],
                validators: vec![],
                actions: vec![],
            })
            .collect(),
        version: 1,
    };
    use TransitionKind::*;
    let mut triage_flow = build(
        "Cairn Triage Workflow",
        &[triage, progress, review, done, closed],
        &[
            T {
                id: "1",
                name: "Create",
                kind: Initial,
                from: &[],
                to: triage,
            },
            T {
                id: "11",
                name: "Accept",
                kind: Directed,
                from: &[triage],
                to: progress,
            },
            T {
                id: "21",
                name: "Reject",
                kind: Directed,
                from: &[triage],
                to: closed,
            },
            T {
                id: "31",
                name: "Send to review",
                kind: Directed,
                from: &[progress],
                to: review,
            },
            T {
                id: "41",
                name: "Request changes",
                kind: Directed,
                from: &[review],
                to: progress,
            },
            T {
                id: "51",
                name: "Approve",
                kind: Directed,
                from: &[review],
                to: done,
            },
            T {
                id: "61",
                name: "Reopen",
                kind: Directed,
                from: &[done, closed],
                to: triage,
            },
        ],
    );
    let t = &mut triage_flow.transitions;
    t[1].conditions = vec![rule(
        "c1",
        "system:check-permission",
        json!({"permissionKey": "TRANSITION_ISSUES"}),
    )];
    t[2].screen = Some("1".into());
    t[3].validators = vec![rule(
        "v1",
        "system:validate-field-value",
        json!({"ruleType": "fieldRequired", "fieldsRequired": "assignee"}),
    )];
    t[5].actions = vec![
        rule(
            "a1",
            "system:update-field",
            json!({"field": "resolution", "value": "10000", "mode": "replace"}),
        ),
        // A third-party app's post function: no restore can write it without the app.
        rule(
            "a2",
            "connect:remote-workflow-function",
            json!({"appKey": "com.example.chat-notifier", "config": "{\"channel\":\"#releases\"}"}),
        ),
    ];
    let delivery_flow = build(
        "Cairn Delivery Workflow",
        &[todo, progress, blocked, done],
        &[
            T {
                id: "1",
                name: "Create",
                kind: Initial,
                from: &[],
                to: todo,
            },
            T {
                id: "11",
                name: "Start",
                kind: Directed,
                from: &[todo],
                to: progress,
            },
            T {
                id: "21",
                name: "Block",
                kind: Directed,
                from: &[progress],
                to: blocked,
            },
            T {
                id: "31",
                name: "Unblock",
                kind: Directed,
                from: &[blocked],
                to: progress,
            },
            T {
                id: "41",
                name: "Finish",
                kind: Directed,
                from: &[progress],
                to: done,
            },
            T {
                id: "51",
                name: "Back to To Do",
                kind: Global,
                from: &[],
                to: todo,
            },
        ],
    );
    site.flows.workflows.push(triage_flow);
    site.flows.workflows.push(delivery_flow);
    site.flows.workflow_schemes.push(WorkflowScheme {
        id: 10001,
        name: "Cairn Bug Tracking Scheme".into(),
        description: "Bugs are triaged; the rest is delivered.".into(),
        default_workflow: "Cairn Delivery Workflow".into(),
        mappings: BTreeMap::from([("10003".into(), "Cairn Triage Workflow".into())]),
    });
    site.flows.workflow_schemes.push(WorkflowScheme {
        id: 10002,
        name: "Cairn Delivery Scheme".into(),
        description: "Everything is delivered; epics keep the simplified workflow.".into(),
        default_workflow: "Cairn Delivery Workflow".into(),
        mappings: BTreeMap::from([("10000".into(), DEFAULT_WORKFLOW.into())]),
    });
    site.flows.issue_type_schemes.push(IssueTypeScheme {
        id: "10001".into(),
        name: "Cairn Software Issue Type Scheme".into(),
        description: "Every type, stories by default.".into(),
        default_issue_type: Some("10001".into()),
        issue_types: site.issue_types.iter().map(|t| t.id.clone()).collect(),
        is_default: false,
    });
}

/// The schemes generated project `pi` uses (see [`generated`]).
pub fn assign(site: &mut Site, project: u64, pi: usize) {
    if !pi.is_multiple_of(3) {
        site.flows
            .project_workflow_scheme
            .insert(project, DEFAULT_WORKFLOW_SCHEME + (pi % 3) as u64);
    }
    if pi % 2 == 1 {
        site.flows
            .project_issue_type_scheme
            .insert(project, "10001".into());
    }
}

/// What `mutate` changes in the configuration, drawing from no RNG: the generated triage
/// workflow gains a "Reconsider" transition (Closed → In Progress), or loses it when it has it,
/// and its version goes up. No issue's status leaves its workflow.
pub fn mutate(site: &mut Site) {
    let Some(w) = site
        .flows
        .workflows
        .iter_mut()
        .find(|w| w.name == "Cairn Triage Workflow")
    else {
        return;
    };
    if let Some(at) = w.transitions.iter().position(|t| t.name == "Reconsider") {
        w.transitions.remove(at);
    } else {
        w.transitions.push(Transition {
            id: "71".into(),
            name: "Reconsider".into(),
            description: String::new(),
            kind: TransitionKind::Directed,
            from: vec!["10005".into()],
            to: "3".into(),
            screen: None,
            conditions: vec![],
            validators: vec![],
            actions: vec![],
        });
    }
    w.version += 1;
}
