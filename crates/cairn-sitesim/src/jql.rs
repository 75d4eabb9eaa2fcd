//! The JQL subset a backup uses: `project = X`, `project in (A, B)`, `key`/`issuekey`,
//! `created`/`updated` comparisons with `"yyyy/MM/dd HH:mm"` dates, `watcher = "accountId"` /
//! `watcher in (...)` (account ids or `currentUser()`), `AND`, and `ORDER BY`.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Issue, Site, Ts};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

impl std::fmt::Display for Tok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tok::Word(w) | Tok::Op(w) => write!(f, "'{w}'"),
            Tok::Str(s) => write!(f, "'\"{s}\"'"),
            Tok::LParen => f.write_str("'('"),
            Tok::RParen => f.write_str("')'"),
            Tok::Comma => f.write_str("','"),
        }
    }
}

/// Tokens with the (1-based) character at which each starts.
struct Toks {
    toks: Vec<(Tok, usize)>,
    /// Character just past the end of the query.
    end: usize,
}

impl Toks {
    fn get(&self, i: usize) -> Option<&Tok> {
        self.toks.get(i).map(|(t, _)| t)
    }
    /// A syntax error at token `i`, worded as Jira words them.
    fn expected(&self, i: usize, what: &str) -> String {
        match self.toks.get(i) {
            Some((t, at)) => format!(
                "Error in the JQL Query: Expecting {what} but got {t}. (line 1, character {at})"
            ),
            None => format!(
                "Error in the JQL Query: Expecting {what} but reached the end of the query. (line 1, character {})",
                self.end
            ),
        }
    }
}

fn lex(s: &str) -> Result<Toks, String> {
    let mut out = vec![];
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let at = i + 1;
        let mut push = |t: Tok| out.push((t, at));
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            push(Tok::Comma);
            i += 1;
        } else if ch == '"' || ch == '\'' {
            let q = ch;
            let mut j = i + 1;
            let mut v = String::new();
            while j < c.len() && c[j] != q {
                if c[j] == '\\' && j + 1 < c.len() {
                    j += 1;
                }
                v.push(c[j]);
                j += 1;
            }
            if j >= c.len() {
                return Err(format!(
                    "Error in the JQL Query: The quoted string starting at character {at} is not terminated. (line 1, character {at})"
                ));
            }
            push(Tok::Str(v));
            i = j + 1;
        } else if "=!<>~".contains(ch) {
            let mut op = ch.to_string();
            if i + 1 < c.len() && c[i + 1] == '=' {
                op.push('=');
                i += 1;
            }
            push(Tok::Op(op));
            i += 1;
        } else {
            let mut j = i;
            let mut v = String::new();
            while j < c.len() && !c[j].is_whitespace() && !"()=,!<>~\"'".contains(c[j]) {
                v.push(c[j]);
                j += 1;
            }
            push(Tok::Word(v));
            i = j;
        }
    }
    Ok(Toks {
        toks: out,
        end: c.len() + 1,
    })
}

#[derive(Debug, Clone)]
pub enum Clause {
    Project(Vec<String>),
    Key(Vec<String>),
    Date {
        field: String,
        op: String,
        at: Ts,
    },
    /// Issues any of these accounts watches.
    Watcher(Vec<Account>),
}

/// A user value of a clause: an account id, or the caller (`currentUser()`).
#[derive(Debug, Clone, PartialEq)]
pub enum Account {
    Id(String),
    CurrentUser,
}

#[derive(Debug, Clone)]
pub struct Query {
    pub clauses: Vec<Clause>,
    pub order: Vec<(String, bool)>,
}

fn parse_date(s: &str) -> Option<Ts> {
    let s = s.trim();
    for f in ["%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&d));
        }
    }
    for f in ["%Y/%m/%d", "%Y-%m-%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
        }
    }
    // milliseconds since the epoch are also accepted by Jira
    s.parse::<i64>()
        .ok()
        .and_then(|ms| Utc.timestamp_millis_opt(ms).single())
}

fn value(toks: &Toks, i: usize, what: &str) -> Result<String, String> {
    match toks.get(i) {
        Some(Tok::Word(w)) | Some(Tok::Str(w)) => Ok(w.clone()),
        _ => Err(toks.expected(i, what)),
    }
}

/// The value at token `i` and the number of tokens it takes: a function call without arguments
/// (`currentUser()`) is written `name()`, anything else is the plain value.
fn value_or_function(toks: &Toks, i: usize, what: &str) -> Result<(String, usize), String> {
    match (toks.get(i), toks.get(i + 1)) {
        (Some(Tok::Word(name)), Some(Tok::LParen)) => {
            if toks.get(i + 2) != Some(&Tok::RParen) {
                return Err(toks.expected(i + 2, "')'"));
            }
            Ok((format!("{name}()"), 3))
        }
        _ => Ok((value(toks, i, what)?, 1)),
    }
}

/// A `watcher` value: `currentUser()` or an account id (Jira takes any string; one that names no
/// account matches no issue).
fn account(v: String) -> Result<Account, String> {
    match v.strip_suffix("()") {
        None => Ok(Account::Id(v)),
        Some(f) if f.eq_ignore_ascii_case("currentUser") => Ok(Account::CurrentUser),
        Some(f) => Err(format!(
            "Unable to find JQL function '{f}()'. (this stand-in knows currentUser() for watcher)"
        )),
    }
}

pub fn parse(jql: &str) -> Result<Query, String> {
    let toks = lex(jql)?;
    let mut i = 0;
    let mut q = Query {
        clauses: vec![],
        order: vec![],
    };
    let is_kw =
        |t: Option<&Tok>, kw: &str| matches!(t, Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw));
    while i < toks.toks.len() {
        if is_kw(toks.get(i), "order") && is_kw(toks.get(i + 1), "by") {
            i += 2;
            loop {
                let f = value(&toks, i, "a field name")?.to_ascii_lowercase();
                i += 1;
                let mut asc = true;
                if is_kw(toks.get(i), "asc") {
                    i += 1;
                } else if is_kw(toks.get(i), "desc") {
                    asc = false;
                    i += 1;
                }
                if !["key", "issuekey", "id", "created", "updated", "project"].contains(&f.as_str())
                {
                    return Err(format!(
                        "Not able to sort using field '{f}' (this stand-in sorts by key, id, created, updated and project)."
                    ));
                }
                q.order.push((f, asc));
                if toks.get(i) == Some(&Tok::Comma) {
                    i += 1;
                } else {
                    break;
                }
            }
            if i < toks.toks.len() {
                return Err(toks.expected(i, "',' or the end of the query"));
            }
            break;
        }
        if !q.clauses.is_empty() {
            if is_kw(toks.get(i), "and") {
                i += 1;
            } else {
                return Err(toks.expected(i, "either 'AND' or 'ORDER BY'"));
            }
        }
        let field = value(&toks, i, "a field name")?.to_ascii_lowercase();
        i += 1;
        // Functions are read only where this stand-in evaluates them.
        let functions = field == "watcher";
        let read_value = |i: usize, what: &str| match functions {
            true => value_or_function(&toks, i, what),
            false => value(&toks, i, what).map(|v| (v, 1)),
        };
        let op = match toks.get(i) {
            Some(Tok::Op(o)) => o.clone(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "in".into(),
            _ => {
                return Err(toks.expected(i, "operator")
                    + " The valid operators here are '=', '>', '>=', '<', '<=' and 'IN'.");
            }
        };
        i += 1;
        let values = if op == "in" {
            if toks.get(i) != Some(&Tok::LParen) {
                return Err(toks.expected(i, "'('"));
            }
            i += 1;
            let mut vs = vec![];
            loop {
                let (v, taken) = read_value(i, "a value")?;
                vs.push(v);
                i += taken;
                match toks.get(i) {
                    Some(Tok::Comma) => i += 1,
                    Some(Tok::RParen) => {
                        i += 1;
                        break;
                    }
                    _ => return Err(toks.expected(i, "either ',' or ')'")),
                }
            }
            vs
        } else {
            let (v, taken) = read_value(i, "either a value, list or function")?;
            i += taken;
            vec![v]
        };
        match field.as_str() {
            "project" if op == "=" || op == "in" => q.clauses.push(Clause::Project(values)),
            "key" | "issuekey" | "id" if op == "=" || op == "in" => {
                q.clauses.push(Clause::Key(values))
            }
            "created" | "updated" | "createddate" | "updateddate"
                if ["=", ">", ">=", "<", "<="].contains(&op.as_str()) =>
            {
                let at = parse_date(&values[0]).ok_or_else(|| {
                    format!("Date value '{}' for field '{field}' is invalid. Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd'.", values[0])
                })?;
                let field = if field.starts_with("created") {
                    "created"
                } else {
                    "updated"
                };
                q.clauses.push(Clause::Date {
                    field: field.into(),
                    op,
                    at,
                });
            }
            "watcher" if op == "=" || op == "in" => q.clauses.push(Clause::Watcher(
                values.into_iter().map(account).collect::<Result<_, _>>()?,
            )),
            _ => {
                return Err(format!(
                    "The operator '{op}' on field '{field}' is not supported by this stand-in (it supports project, key, id, created, updated and watcher)."
                ));
            }
        }
    }
    Ok(q)
}

impl Query {
    /// Atlassian's rule for `/search/jql`: the query must restrict the search.
    pub fn bounded(&self) -> bool {
        !self.clauses.is_empty()
    }

    /// Whether the query names the caller (`currentUser()`): its result depends on who asks.
    pub fn names_caller(&self) -> bool {
        self.clauses.iter().any(
            |c| matches!(c, Clause::Watcher(accounts) if accounts.contains(&Account::CurrentUser)),
        )
    }

    /// The query as `caller` asks it: `currentUser()` becomes the caller's account id.
    pub fn asked_by(mut self, caller: &str) -> Query {
        for c in &mut self.clauses {
            if let Clause::Watcher(accounts) = c {
                for a in accounts.iter_mut() {
                    if *a == Account::CurrentUser {
                        *a = Account::Id(caller.to_string());
                    }
                }
            }
        }
        self
    }

    pub fn matches(&self, site: &Site, issue: &Issue) -> bool {
        self.clauses.iter().all(|c| match c {
            Clause::Project(ps) => site.projects.get(&issue.project_id).is_some_and(|p| {
                ps.iter().any(|v| {
                    v.eq_ignore_ascii_case(&p.key)
                        || *v == p.id.to_string()
                        || v.eq_ignore_ascii_case(&p.name)
                })
            }),
            Clause::Key(ks) => ks
                .iter()
                .any(|k| k.eq_ignore_ascii_case(&issue.key) || *k == issue.id.to_string()),
            Clause::Watcher(accounts) => accounts.iter().any(|a| match a {
                Account::Id(id) => issue.watchers.contains(id),
                // Not asked by anyone (see `asked_by`): nobody's issues.
                Account::CurrentUser => false,
            }),
            Clause::Date { field, op, at } => {
                let t = if field == "created" {
                    issue.created
                } else {
                    issue.updated
                };
                // JQL compares at minute precision.
                let t = t.timestamp() / 60 * 60;
                let a = at.timestamp();
                match op.as_str() {
                    "=" => t == a,
                    ">" => t > a,
                    ">=" => t >= a,
                    "<" => t < a,
                    _ => t <= a,
                }
            }
        })
    }

    /// Jira answers 400 for a project or issue key that does not exist, rather than no issues.
    pub fn unknown_value(&self, site: &Site) -> Option<String> {
        for c in &self.clauses {
            match c {
                Clause::Project(ps) => {
                    for v in ps {
                        let known = site.projects.values().any(|p| {
                            v.eq_ignore_ascii_case(&p.key)
                                || *v == p.id.to_string()
                                || v.eq_ignore_ascii_case(&p.name)
                        });
                        if !known {
                            return Some(format!(
                                "The value '{v}' does not exist for the field 'project'."
                            ));
                        }
                    }
                }
                Clause::Key(ks) => {
                    for k in ks {
                        if site.issue_by_ref(k).is_none() && k.parse::<u64>().is_err() {
                            return Some(format!(
                                "An issue with key '{k}' does not exist for field 'key'."
                            ));
                        }
                    }
                }
                // Jira takes any account id: one that names no user matches nothing.
                Clause::Date { .. } | Clause::Watcher(_) => {}
            }
        }
        None
    }

    /// The order: `ORDER BY` as given, or Jira's default (key, descending).
    fn order(&self) -> Vec<(String, bool)> {
        if self.order.is_empty() {
            vec![("key".to_string(), false)]
        } else {
            self.order.clone()
        }
    }

    /// The issue's position in this query's order: one part per `ORDER BY` field (a key is
    /// project key then number), then the id, which makes every key unique.
    pub fn sort_key(&self, site: &Site, issue: &Issue) -> SortKey {
        let project = || {
            KeyPart::Str(
                site.projects
                    .get(&issue.project_id)
                    .map(|p| p.key.clone())
                    .unwrap_or_default(),
            )
        };
        let mut key = vec![];
        for (f, _) in self.order() {
            match f.as_str() {
                "created" => key.push(KeyPart::Int(issue.created.timestamp_millis())),
                "updated" => key.push(KeyPart::Int(issue.updated.timestamp_millis())),
                "project" => key.push(project()),
                "id" => key.push(KeyPart::Int(issue.id as i64)),
                _ => {
                    key.push(project());
                    key.push(KeyPart::Int(issue.number as i64));
                }
            }
        }
        key.push(KeyPart::Int(issue.id as i64));
        key
    }

    /// Compare two sort keys of this query (ascending or descending per field).
    pub fn cmp_keys(&self, a: &[KeyPart], b: &[KeyPart]) -> std::cmp::Ordering {
        let mut asc = vec![];
        for (f, up) in self.order() {
            asc.push(up);
            if f == "key" || f == "issuekey" {
                asc.push(up);
            }
        }
        asc.push(true);
        for ((x, y), up) in a.iter().zip(b).zip(asc) {
            let o = x.cmp(y);
            if o != std::cmp::Ordering::Equal {
                return if up { o } else { o.reverse() };
            }
        }
        a.len().cmp(&b.len())
    }

    /// The matching issues of `site`, in order, with their sort keys.
    pub fn run(&self, site: &Site) -> Vec<(SortKey, u64)> {
        let mut hits: Vec<(SortKey, u64)> = site
            .issues
            .values()
            .filter(|i| self.matches(site, i))
            .map(|i| (self.sort_key(site, i), i.id))
            .collect();
        hits.sort_by(|a, b| self.cmp_keys(&a.0, &b.0));
        hits
    }
}

/// One part of a sort key.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum KeyPart {
    Int(i64),
    Str(String),
}

pub type SortKey = Vec<KeyPart>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_backup_subset() {
        let q = parse(r#"project in (PLAT, "PAY") AND updated >= "2025/01/02 03:04" ORDER BY updated ASC, key DESC"#).unwrap();
        assert_eq!(q.clauses.len(), 2);
        assert_eq!(
            q.order,
            vec![("updated".into(), true), ("key".into(), false)]
        );
        assert!(parse("ORDER BY key").unwrap().clauses.is_empty());
        assert!(!parse("").unwrap().bounded());
        assert!(parse("summary ~ foo").is_err());
        assert!(parse("updated >= \"nonsense\"").is_err());
    }

    #[test]
    fn parses_watcher_clauses() {
        let q = parse(r#"project = PLAT AND watcher = "5b10ac8d82e05b22cc7d4ef5""#).unwrap();
        assert!(matches!(
            &q.clauses[1],
            Clause::Watcher(a) if *a == [Account::Id("5b10ac8d82e05b22cc7d4ef5".into())]
        ));
        let q = parse(r#"watcher in ("a", currentUser(), b)"#).unwrap();
        assert!(q.names_caller());
        let q = q.asked_by("me");
        assert!(matches!(
            &q.clauses[0],
            Clause::Watcher(a) if *a == [Account::Id("a".into()), Account::Id("me".into()), Account::Id("b".into())]
        ));
        assert!(!q.names_caller());
        assert!(parse("watcher = currentUser(").is_err());
        assert!(parse("watcher = membersOf()").is_err());
        assert!(parse("watcher ~ a").is_err());
        // Functions are read only for watcher.
        assert!(parse("project = currentUser()").is_err());
    }
}
