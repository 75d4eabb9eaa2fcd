//! An issue and what hangs on it, read: the issue, its change log, comments, worklogs, remote
//! links, watchers, properties and attachments, one by one or all at once ([`Jira::details_of`]);
//! and who watches which issue, read by user ([`Watching`]). Split from `jira.rs` along the
//! seam between an issue's data and the site's configuration.

use super::*;

/// Reading an issue and its child resources.
impl Jira {
    pub async fn issue(&self, key: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/issue/{}", seg(key))).q("fields", "*all"))
            .await
    }
    pub fn changelog(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/changelog", seg(key))),
            Style::PageBean { max: 100 },
        )
    }
    /// Change logs of many issues at once (`nextPageToken`): `{issueId, changeHistories}` each.
    pub fn changelogs(&self, issue_ids_or_keys: &[String]) -> Docs {
        self.list(
            post_req(
                &format!("{API}/changelog/bulkfetch"),
                json!({"issueIdsOrKeys": issue_ids_or_keys}),
            ),
            Style::TokenPost {
                key: "issueChangeLogs",
                max: 1000,
            },
        )
    }
    pub fn comments(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/comment", seg(key))),
            Style::Envelope {
                key: "comments",
                max: 5000,
            },
        )
    }
    pub fn worklogs(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/worklog", seg(key))),
            Style::Envelope {
                key: "worklogs",
                max: 5000,
            },
        )
    }
    pub fn remote_links(&self, key: &str) -> Docs {
        self.list(
            Req::get(format!("{API}/issue/{}/remotelink", seg(key))),
            Style::Unpaged { key: None },
        )
    }
    pub async fn watchers(&self, key: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/issue/{}/watchers", seg(key))))
            .await
    }
    pub async fn properties(&self, key: &str) -> Result<Vec<(String, Value)>> {
        let keys = self
            .t
            .json(Req::get(format!("{API}/issue/{}/properties", seg(key))))
            .await?;
        let mut out = vec![];
        for k in keys["keys"].as_array().into_iter().flatten() {
            let Some(k) = k["key"].as_str() else { continue };
            let v = self
                .t
                .json(Req::get(format!(
                    "{API}/issue/{}/properties/{}",
                    seg(key),
                    seg(k)
                )))
                .await?;
            out.push((k.to_string(), v["value"].clone()));
        }
        Ok(out)
    }
    /// Change log, comments, worklogs, remote links, watchers and properties of one issue,
    /// fetched side by side.
    pub async fn issue_details(&self, key: &str) -> Result<IssueDetails> {
        let (changelog, comments, worklogs, remote_links, watchers, properties) = futures::try_join!(
            self.changelog(key).try_collect(),
            self.comments(key).try_collect(),
            self.worklogs(key).try_collect(),
            self.remote_links(key).try_collect(),
            self.watchers(key),
            self.properties(key),
        )?;
        Ok(IssueDetails {
            changelog,
            comments,
            worklogs,
            remote_links,
            watchers,
            properties,
        })
    }

    /// The details of an issue read by [`Jira::issues_with_changelog`], with as few requests
    /// as its answer allows; `issue` is left as [`Jira::issues`] gives it (its `changelog`
    /// taken out). The answer's parts are used where they are whole, and read separately where
    /// they are cut off or absent:
    /// - change log: the `changelog` expand when its `total` says it holds every history
    ///   (put in the list endpoint's order, oldest first), otherwise the issue's change log;
    /// - comments, worklogs: the `comment` and `worklog` fields when their `total` says they
    ///   hold every entry, otherwise the lists' endpoints;
    /// - remote links: no bulk read exists, but Jira records each one added as a change-log
    ///   item of field `RemoteIssueLink`: read only for issues whose (whole) change log has one;
    /// - watchers: read only when `watches.watchCount` is above 0 (the empty list is the
    ///   document `/watchers` answers for an unwatched issue);
    /// - properties: no read gives their keys in bulk (the search's `properties` takes up to 5
    ///   keys the caller must already know), so each issue's key list is read (one request),
    ///   then each value.
    ///
    /// With `watching` (watchers read by user), a watched issue whose watchers it accounts for
    /// takes its `/watchers` document from there, without a request.
    pub async fn details_of(
        &self,
        issue: &mut Value,
        watching: Option<&Watching>,
    ) -> Result<IssueDetails> {
        let key = issue["key"]
            .as_str()
            .or_else(|| issue["id"].as_str())
            .unwrap_or_default()
            .to_string();
        let expanded = match issue.as_object_mut() {
            Some(m) => m.remove("changelog"),
            None => None,
        };
        let issue = &*issue;
        let fields = &issue["fields"];
        let changelog = async {
            match expanded.as_ref().and_then(|c| whole(c, "histories")) {
                Some(mut histories) => {
                    oldest_first(&mut histories);
                    Ok(histories)
                }
                None => self.changelog(&key).try_collect().await,
            }
        };
        let comments = async {
            match whole(&fields["comment"], "comments") {
                Some(c) => Ok(c),
                None => self.comments(&key).try_collect().await,
            }
        };
        let worklogs = async {
            match whole(&fields["worklog"], "worklogs") {
                Some(w) => Ok(w),
                None => self.worklogs(&key).try_collect().await,
            }
        };
        let watchers = async {
            match &fields["watches"] {
                w if w["watchCount"].as_u64() == Some(0) => Ok(json!({
                    "self": w["self"],
                    "isWatching": w["isWatching"].as_bool().unwrap_or(false),
                    "watchCount": 0,
                    "watchers": [],
                })),
                w => {
                    match watching.and_then(|known| known.document(&id_string(&issue["id"])?, w)) {
                        Some(document) => Ok(document),
                        None => self.watchers(&key).await,
                    }
                }
            }
        };
        let (changelog, comments, worklogs, watchers, properties) = futures::try_join!(
            changelog,
            comments,
            worklogs,
            watchers,
            self.properties(&key),
        )?;
        let remote_links = if changelog.iter().any(adds_remote_link) {
            self.remote_links(&key).try_collect().await?
        } else {
            vec![]
        };
        Ok(IssueDetails {
            changelog,
            comments,
            worklogs,
            remote_links,
            watchers,
            properties,
        })
    }

    // ------------------------------------------------------------ attachments
    pub async fn attachment_meta(&self, id: &str) -> Result<Value> {
        self.t
            .json(Req::get(format!("{API}/attachment/{}", seg(id))))
            .await
    }
    /// The attachment's bytes, streamed (following Jira's 303 to the media host), from `from`.
    pub async fn attachment_content(&self, id: &str, from: u64) -> Result<Download> {
        self.t
            .download(format!("{API}/attachment/content/{}", seg(id)), from)
            .await
    }
}

/// Who watches which issue, read by user (one id-only search `watcher = "<accountId>"` for each
/// listed user): the `/watchers` documents of the issues whose `watches.watchCount` it accounts
/// for, built from the users listing, without a request each.
#[derive(Debug, Default)]
pub struct Watching {
    /// `UserDetails` of each listed user, by account id.
    users: HashMap<String, Value>,
    /// Account ids watching each issue (by issue id), in account id order.
    watchers: HashMap<String, Vec<String>>,
    /// The caller's account id (for `isWatching`).
    me: String,
}

/// The keys of a `UserDetails` (a watcher), in the order `/watchers` gives them.
const USER_DETAILS_KEYS: &[&str] = &[
    "self",
    "accountId",
    "emailAddress",
    "avatarUrls",
    "displayName",
    "active",
    "timeZone",
    "accountType",
];

impl Watching {
    /// Reads, for each of `users` (documents of `/users/search`), the ids of the issues they
    /// watch (updated at or after `since` when given). `me` is the caller's account id.
    pub async fn read(
        jira: &Jira,
        users: &[Value],
        me: &str,
        since: Option<DateTime<Utc>>,
    ) -> Result<Watching> {
        let ids: Vec<String> = users
            .iter()
            .filter_map(|u| u["accountId"].as_str().map(String::from))
            .collect();
        let watched: Vec<(String, Vec<Value>)> = futures::stream::iter(ids)
            .map(|id| async move {
                let issues = jira.watched_issue_ids(&id, since).try_collect().await?;
                Ok::<_, Error>((id, issues))
            })
            .buffered(4)
            .try_collect()
            .await?;
        let mut watching = Watching {
            users: users
                .iter()
                .filter_map(|u| Some((u["accountId"].as_str()?.to_string(), user_details(u))))
                .collect(),
            watchers: HashMap::new(),
            me: me.to_string(),
        };
        for (account, issues) in watched {
            for issue in issues {
                if let Some(id) = id_string(&issue["id"]) {
                    watching
                        .watchers
                        .entry(id)
                        .or_default()
                        .push(account.clone());
                }
            }
        }
        for accounts in watching.watchers.values_mut() {
            accounts.sort();
            accounts.dedup();
        }
        Ok(watching)
    }

    /// Checks the documents built here against the site's own: reads `/watchers` of the most
    /// watched issues (most watchers first, so that their order is shown too) until one can be
    /// built (at most [`Watching::CHECKS`] reads). Unless the first built equals the site's
    /// answer, nothing is built from here on (every watched issue is read on its own): the
    /// users listing and `/watchers` differ on this site, or the order of watchers does.
    pub async fn check(&mut self, jira: &Jira) -> Result<bool> {
        let mut candidates: Vec<(&String, usize)> =
            self.watchers.iter().map(|(id, a)| (id, a.len())).collect();
        candidates.sort_by(|(a, x), (b, y)| y.cmp(x).then(a.cmp(b)));
        let candidates: Vec<String> = candidates
            .into_iter()
            .take(Self::CHECKS)
            .map(|(id, _)| id.clone())
            .collect();
        for id in candidates {
            let answer = jira.watchers(&id).await?;
            if let Some(built) = self.document(&id, &answer) {
                // As stored: key order counts (`Value`'s own equality ignores it).
                if serde_json::to_vec(&built).ok() == serde_json::to_vec(&answer).ok() {
                    return Ok(true);
                }
                break;
            }
        }
        self.watchers.clear();
        Ok(false)
    }

    /// The most `/watchers` reads [`Watching::check`] makes.
    pub const CHECKS: usize = 3;

    /// Issues whose watchers were found.
    pub fn issues(&self) -> usize {
        self.watchers.len()
    }

    /// The `/watchers` document of issue `issue_id` whose search document has `watches`, when
    /// the watchers found are all of them (as many as its `watchCount`): `None` otherwise (a
    /// watcher not among the listed users, an app, one hidden from the caller), and the issue's
    /// own read is needed.
    pub fn document(&self, issue_id: &str, watches: &Value) -> Option<Value> {
        let accounts = self.watchers.get(issue_id)?;
        if watches["watchCount"].as_u64() != Some(accounts.len() as u64) {
            return None;
        }
        let watchers: Vec<Value> = accounts
            .iter()
            .map(|a| self.users.get(a).cloned())
            .collect::<Option<_>>()?;
        Some(json!({
            "self": watches["self"],
            "isWatching": accounts.contains(&self.me),
            "watchCount": accounts.len(),
            "watchers": watchers,
        }))
    }
}

/// A watcher's `UserDetails` from a user's `/users/search` document: its keys, in the order
/// `/watchers` gives them (those the listing leaves out, such as a hidden email, stay out).
fn user_details(user: &Value) -> Value {
    let mut details = Map::new();
    for key in USER_DETAILS_KEYS {
        if let Some(v) = user.get(*key) {
            details.insert(key.to_string(), v.clone());
        }
    }
    Value::Object(details)
}

/// The entries of an envelope (`{startAt, maxResults, total, <key>: [...]}`) when it holds all
/// of them: `None` when it is absent, or cut off (`total` above what it carries).
fn whole(envelope: &Value, key: &str) -> Option<Vec<Value>> {
    let entries = envelope[key].as_array()?;
    let total = envelope["total"].as_u64()?;
    let start = envelope["startAt"].as_u64().unwrap_or(0);
    (start == 0 && total == entries.len() as u64).then(|| entries.clone())
}

/// Histories in the order `/issue/{key}/changelog` gives them: oldest first (by `created`, then
/// id). The `changelog` expand lists the most recent first.
fn oldest_first(histories: &mut [Value]) {
    let at = |h: &Value| {
        let created = h["created"]
            .as_str()
            .and_then(|c| DateTime::parse_from_str(c, "%Y-%m-%dT%H:%M:%S%.f%z").ok());
        let id = id_string(&h["id"]).and_then(|i| i.parse::<u64>().ok());
        (created, id)
    };
    histories.sort_by_key(at);
}

/// A history that adds a remote link (Jira's `RemoteIssueLink` change-log field).
fn adds_remote_link(history: &Value) -> bool {
    history["items"]
        .as_array()
        .is_some_and(|items| items.iter().any(|i| i["field"] == "RemoteIssueLink"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchers_built_from_the_users_listing() {
        assert_eq!(
            jql_watched_by("557058:a\"b", None),
            "watcher = \"557058:a\\\"b\""
        );
        // A `/users/search` document: keys in another order, and some a watcher has not.
        let user = |id: &str| {
            json!({"self": format!("https://x/rest/api/3/user?accountId={id}"), "accountId": id,
                "accountType": "atlassian", "avatarUrls": {"16x16": "a"}, "displayName": id,
                "active": true, "timeZone": "UTC", "locale": "en_US"})
        };
        let watching = Watching {
            users: ["a", "b"]
                .iter()
                .map(|id| (id.to_string(), user_details(&user(id))))
                .collect(),
            watchers: HashMap::from([
                ("10".to_string(), vec!["a".to_string(), "b".to_string()]),
                ("11".to_string(), vec!["a".to_string(), "z".to_string()]),
            ]),
            me: "b".into(),
        };
        let watches = |n: u64| json!({"self": "https://x/rest/api/3/issue/K-1/watchers", "watchCount": n, "isWatching": false});
        let built = watching.document("10", &watches(2)).unwrap();
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            r#"{"self":"https://x/rest/api/3/issue/K-1/watchers","isWatching":true,"watchCount":2,"watchers":[{"self":"https://x/rest/api/3/user?accountId=a","accountId":"a","avatarUrls":{"16x16":"a"},"displayName":"a","active":true,"timeZone":"UTC","accountType":"atlassian"},{"self":"https://x/rest/api/3/user?accountId=b","accountId":"b","avatarUrls":{"16x16":"a"},"displayName":"b","active":true,"timeZone":"UTC","accountType":"atlassian"}]}"#
        );
        // More watchers than found, a watcher not listed, an issue nobody listed watches.
        assert!(watching.document("10", &watches(3)).is_none());
        assert!(watching.document("11", &watches(2)).is_none());
        assert!(watching.document("12", &watches(1)).is_none());
    }
}
