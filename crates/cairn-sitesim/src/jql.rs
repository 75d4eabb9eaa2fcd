//! The JQL subset a backup uses: `project = X`, `project in (A, B)`, `key`/`issuekey`,
//! `created`/`updated` comparisons with `"yyyy/MM/dd HH:mm"` dates, `AND`, and `ORDER BY`.

use chrono::{NaiveDate, NaiveDateTime, TimeZone, Utc};

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

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = vec![];
    let c: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_whitespace() {
            i += 1;
        } else if ch == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if ch == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if ch == ',' {
            out.push(Tok::Comma);
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
                return Err("unterminated string".into());
            }
            out.push(Tok::Str(v));
            i = j + 1;
        } else if "=!<>~".contains(ch) {
            let mut op = ch.to_string();
            if i + 1 < c.len() && c[i + 1] == '=' {
                op.push('=');
                i += 1;
            }
            out.push(Tok::Op(op));
            i += 1;
        } else {
            let mut j = i;
            let mut v = String::new();
            while j < c.len() && !c[j].is_whitespace() && !"()=,!<>~\"'".contains(c[j]) {
                v.push(c[j]);
                j += 1;
            }
            out.push(Tok::Word(v));
            i = j;
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
pub enum Clause {
    Project(Vec<String>),
    Key(Vec<String>),
    Date { field: String, op: String, at: Ts },
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

fn value(t: Option<&Tok>) -> Result<String, String> {
    match t {
        Some(Tok::Word(w)) | Some(Tok::Str(w)) => Ok(w.clone()),
        other => Err(format!("expected a value but got {other:?}")),
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
    while i < toks.len() {
        if is_kw(toks.get(i), "order") && is_kw(toks.get(i + 1), "by") {
            i += 2;
            loop {
                let f = value(toks.get(i))?.to_ascii_lowercase();
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
                    return Err(format!("Not able to sort using field '{f}'."));
                }
                q.order.push((f, asc));
                if toks.get(i) == Some(&Tok::Comma) {
                    i += 1;
                } else {
                    break;
                }
            }
            if i < toks.len() {
                return Err("unexpected text after ORDER BY".into());
            }
            break;
        }
        if !q.clauses.is_empty() {
            if is_kw(toks.get(i), "and") {
                i += 1;
            } else {
                return Err(format!(
                    "Expecting 'AND' or 'ORDER BY' but got {:?}",
                    toks.get(i)
                ));
            }
        }
        let field = value(toks.get(i))?.to_ascii_lowercase();
        i += 1;
        let op = match toks.get(i) {
            Some(Tok::Op(o)) => o.clone(),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("in") => "in".into(),
            other => {
                return Err(format!(
                    "expected an operator after '{field}' but got {other:?}"
                ));
            }
        };
        i += 1;
        let values = if op == "in" {
            if toks.get(i) != Some(&Tok::LParen) {
                return Err("expected '(' after IN".into());
            }
            i += 1;
            let mut vs = vec![];
            loop {
                vs.push(value(toks.get(i))?);
                i += 1;
                match toks.get(i) {
                    Some(Tok::Comma) => i += 1,
                    Some(Tok::RParen) => {
                        i += 1;
                        break;
                    }
                    other => return Err(format!("expected ',' or ')' but got {other:?}")),
                }
            }
            vs
        } else {
            let v = value(toks.get(i))?;
            i += 1;
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
            _ => {
                return Err(format!(
                    "Field '{field}' with operator '{op}' is not supported by this stand-in."
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

    pub fn sort(&self, site: &Site, issues: &mut [&Issue]) {
        let order = if self.order.is_empty() {
            vec![("key".to_string(), false)]
        } else {
            self.order.clone()
        };
        issues.sort_by(|a, b| {
            for (f, asc) in &order {
                let o = match f.as_str() {
                    "created" => a.created.cmp(&b.created),
                    "updated" => a.updated.cmp(&b.updated),
                    "project" => {
                        let ka = site.projects.get(&a.project_id).map(|p| p.key.as_str());
                        let kb = site.projects.get(&b.project_id).map(|p| p.key.as_str());
                        ka.cmp(&kb)
                    }
                    "id" => a.id.cmp(&b.id),
                    _ => (
                        site.projects.get(&a.project_id).map(|p| p.key.as_str()),
                        a.number,
                    )
                        .cmp(&(
                            site.projects.get(&b.project_id).map(|p| p.key.as_str()),
                            b.number,
                        )),
                };
                let o = if *asc { o } else { o.reverse() };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.id.cmp(&b.id)
        });
    }
}

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
}
