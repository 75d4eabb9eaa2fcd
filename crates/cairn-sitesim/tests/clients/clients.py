"""Drive the stand-in with independent clients: PyPI `jira` and `atlassian-python-api`.

Usage: python3 clients.py BASE_URL EMAIL TOKEN   (BASE_URL must be a loopback address)
"""

import io
import sys
from urllib.parse import urlparse

base, email, token = sys.argv[1:4]
host = urlparse(base).hostname
assert host in ("127.0.0.1", "localhost", "::1"), f"refusing non-loopback URL {base}"

from jira import JIRA  # noqa: E402
from atlassian import Confluence  # noqa: E402


def step(msg):
    print(f"ok: {msg}", flush=True)


# ---------------------------------------------------------------- jira (PyPI)
j = JIRA(server=base, basic_auth=(email, token), options={"rest_api_version": "3"})
assert j._is_cloud, "serverInfo must make the client treat the site as Cloud"
projects = j.projects()
assert len(projects) >= 2, projects
step(f"jira: {len(projects)} projects")
key = projects[0].key

# search with paging (nextPageToken under the hood); walk all pages in small pages
seen = []
token_ = None
while True:
    page = j.enhanced_search_issues(f"project = {key}", nextPageToken=token_, maxResults=7, fields="summary")
    seen.extend(i.key for i in page)
    token_ = page.nextPageToken
    if not token_:
        break
assert len(seen) == len(set(seen)) and len(seen) > 7, len(seen)
count = j.approximate_issue_count(f"project = {key}")
assert count == len(seen), (count, len(seen))
all_at_once = j.search_issues(f"project = {key}", maxResults=False, fields="summary")
assert sorted(i.key for i in all_at_once) == sorted(seen)
step(f"jira: searched {len(seen)} issues of {key} in pages of 7")

# read an issue with comments and attachments
target = None
for k in seen:
    issue = j.issue(k)
    if issue.fields.comment.comments and issue.fields.attachment:
        target = issue
        break
assert target is not None, "no issue with both comments and attachments"
comments = j.comments(target.key)
assert comments and comments[0].raw["body"]["type"] == "doc"
att = target.fields.attachment[0]
data = att.get()
assert len(data) == att.size, (len(data), att.size)
step(f"jira: read {target.key} with {len(comments)} comments and attachment {att.filename} ({att.size} bytes)")

# create an issue, a comment and an attachment
doc = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Created by the jira client"}]}]}
new = j.create_issue(fields={"project": {"key": key}, "issuetype": {"name": "Task"}, "summary": "Made by python jira", "description": doc})
assert new.key.startswith(key + "-"), new.key
c = j.add_comment(new.key, doc)
assert c.id
a = j.add_attachment(issue=new.key, attachment=io.BytesIO(b"attached by python"), filename="py.txt")
assert a.size == 18, a.size
again = j.issue(new.key)
assert again.fields.summary == "Made by python jira"
assert len(again.fields.attachment) == 1 and len(again.fields.comment.comments) == 1
step(f"jira: created {new.key} with a comment and an attachment")

# ---------------------------------------------- atlassian-python-api (Confluence)
wiki = base + "/wiki"
cv2 = Confluence(url=wiki, username=email, password=token, cloud=True, api_version=2)
spaces = cv2.get_spaces(limit=2)
assert len(spaces) >= 2, spaces
space = next(s for s in spaces if s["type"] == "global")
step(f"confluence v2: {len(spaces)} spaces")
pages = cv2.get_pages(space_id=space["id"], limit=5, body_format="storage")
assert len(pages) > 5, len(pages)  # the client follows _links.next itself
ids = [p["id"] for p in pages]
assert len(ids) == len(set(ids))
step(f"confluence v2: {len(pages)} pages in space {space['key']} (paged by 5)")
page = cv2.create_page(space_id=space["id"], title="Made by atlassian-python-api", body="<p>hello from python</p>", parent_id=pages[0]["id"])
assert page["title"] == "Made by atlassian-python-api" and page["parentId"] == pages[0]["id"], page
got = cv2.get_page_by_id(page["id"], body_format="storage")
assert got["body"]["storage"]["value"] == "<p>hello from python</p>", got
step(f"confluence v2: created page {page['id']}")

# Attachment upload exists only in v1; the library's Cloud classes route it to v2 paths, so post
# to the v1 operation through the library's own REST client (with the XSRF header).
res = cv2.post(
    f"{wiki}/rest/api/content/{page['id']}/child/attachment",
    files={"file": ("note.txt", b"page attachment", "text/plain")},
    headers={"X-Atlassian-Token": "no-check"},
    absolute=True,
)
assert res["results"][0]["title"] == "note.txt", res
atts = cv2.get(f"api/v2/pages/{page['id']}/attachments")
assert atts["results"][0]["title"] == "note.txt", atts
assert atts["results"][0]["fileSize"] == 15
step("confluence v1: uploaded an attachment")
print("all client checks passed")
