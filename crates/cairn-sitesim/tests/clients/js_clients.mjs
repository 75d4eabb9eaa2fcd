// npm jira.js and confluence.js against the stand-in, with every response checked against the
// libraries' own schemas (onSchemaMismatch: 'throw'). Usage: node js_clients.mjs BASE EMAIL TOKEN
// (run from a directory whose node_modules holds jira.js and confluence.js).
import { createCloudClient, createAgileClient } from 'jira.js';
import { createV1Client, createV2Client } from 'confluence.js';

const [base, email, apiToken] = process.argv.slice(2);
const config = { host: base, auth: { type: 'basic', email, apiToken }, onSchemaMismatch: 'throw' };
const jira = createCloudClient(config);
const agile = createAgileClient(config);

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

const server = await jira.serverInfo.getServerInfo();
check(server.deploymentType === 'Cloud', 'serverInfo says Cloud');
await jira.myself.getCurrentUser();
const projects = await jira.projects.searchProjects({ maxResults: 50 });
check(projects.values.length > 0, 'projects listed');
const key = projects.values[0].key;
await jira.projects.getProject({ projectIdOrKey: key });
await jira.projectComponents.getProjectComponents({ projectIdOrKey: key });
await jira.projectVersions.getProjectVersionsPaginated({ projectIdOrKey: key, maxResults: 2 });
await jira.issueFields.getFields();
await jira.issueLinkTypes.getIssueLinkTypes();
await jira.users.getAllUsers({ maxResults: 10 });
await jira.workflowStatuses.getStatuses();

// Search with paging, then one issue with its comments, worklogs, change log and attachments.
let token;
let seen = 0;
do {
  const page = await jira.issueSearch.searchAndReconsileIssuesUsingJql({
    jql: `project = ${key}`, fields: ['summary', 'attachment', 'comment'], maxResults: 7, nextPageToken: token,
  });
  seen += page.issues.length;
  token = page.nextPageToken;
} while (token);
check(seen > 7, `search paged (${seen} issues)`);
const first = await jira.issueSearch.searchAndReconsileIssuesUsingJql({ jql: `project = ${key}`, maxResults: 50 });
const issueKey = first.issues[0].id;
const issue = await jira.issues.getIssue({ issueIdOrKey: issueKey, expand: 'changelog,names' });
await jira.issueComments.getComments({ issueIdOrKey: issueKey });
await jira.issueWorklogs.getIssueWorklog({ issueIdOrKey: issueKey });
await jira.issues.getChangeLogs({ issueIdOrKey: issueKey });
await jira.issueWatchers.getIssueWatchers({ issueIdOrKey: issueKey });
await jira.issueRemoteLinks.getRemoteIssueLinks({ issueIdOrKey: issueKey });
await jira.issues.getBulkChangelogs({ issueIdsOrKeys: first.issues.slice(0, 5).map((i) => i.id) });
for (const a of issue.fields.attachment ?? []) {
  await jira.issueAttachments.getAttachment({ id: a.id });
}
await jira.issueAttachments.getAttachmentMeta();

// Writes.
const created = await jira.issues.createIssue({
  fields: { project: { key }, issuetype: { name: 'Task' }, summary: 'Created by jira.js' },
});
await jira.issueComments.addComment({
  issueIdOrKey: created.key,
  body: { type: 'doc', version: 1, content: [{ type: 'paragraph', content: [{ type: 'text', text: 'hi from jira.js' }] }] },
});
const uploaded = await jira.issueAttachments.addAttachment({
  issueIdOrKey: created.key,
  attachments: { filename: 'jira-js.txt', content: Buffer.from('uploaded by jira.js') },
});
check(uploaded.length === 1 && uploaded[0].filename === 'jira-js.txt', 'attachment uploaded');

// Agile.
const boards = await agile.board.getAllBoards({});
const scrum = boards.values.find((b) => b.type === 'scrum');
if (scrum) await agile.board.getAllSprints({ boardId: scrum.id });

console.log('jira.js checks passed');

// Confluence: v2 reads and writes, v1 attachment upload and labels.
const v2 = createV2Client(config);
const v1 = createV1Client(config);
const spaces = await v2.space.getSpaces({ limit: 250 });
check(spaces.results.length > 0, 'spaces listed');
const space = spaces.results.find((s) => s.type !== 'personal') ?? spaces.results[0];
await v2.space.getSpaceById({ id: Number(space.id) });
let pages = [];
let cursor;
do {
  const page = await v2.page.getPages({ limit: 7, cursor, bodyFormat: 'storage' });
  pages = pages.concat(page.results);
  cursor = page._links?.next ? new URL(page._links.next, base).searchParams.get('cursor') : undefined;
} while (cursor);
check(pages.length > 7, `pages paged (${pages.length})`);
await v2.page.getPagesInSpace({ id: Number(space.id), limit: 5 });
await v2.blogPost.getBlogPosts({ limit: 5, bodyFormat: 'atlas_doc_format' });
await v2.blogPost.getBlogPostsInSpace({ id: Number(space.id) });
const p0 = pages[0];
await v2.page.getPageById({ id: Number(p0.id), bodyFormat: 'atlas_doc_format' });
await v2.children.getChildPages({ id: Number(p0.id) });
await v2.comment.getPageFooterComments({ id: Number(p0.id), bodyFormat: 'storage' });
await v2.comment.getPageInlineComments({ id: Number(p0.id), bodyFormat: 'storage' });
await v2.attachment.getPageAttachments({ id: Number(p0.id) });
await v2.label.getPageLabels({ id: Number(p0.id) });
await v2.contentProperties.getPageContentProperties({ pageId: Number(p0.id) });
const newPage = await v2.page.createPage({
  body: { spaceId: space.id, title: 'Created by confluence.js', body: { representation: 'storage', value: '<p>hello</p>' } },
});
await v2.page.updatePage({
  id: Number(newPage.id),
  body: {
    id: newPage.id, status: 'current', title: 'Updated by confluence.js',
    body: { representation: 'storage', value: '<p>updated</p>' }, version: { number: 2 },
  },
});
await v2.contentProperties.createPageProperty({ pageId: Number(newPage.id), key: 'js', value: { a: 1 } });
await v2.comment.createFooterComment({ pageId: newPage.id, body: { representation: 'storage', value: '<p>c</p>' } });
await v1.contentLabels.addLabelsToContent({ id: newPage.id, body: [{ prefix: 'global', name: 'from-js' }] });
const att = await v1.contentAttachments.createAttachment({
  id: newPage.id, attachments: { filename: 'confluence-js.txt', content: Buffer.from('uploaded by confluence.js') },
});
check(att.results.length === 1, 'v1 attachment uploaded');
const attId = att.results[0].id;
await v2.attachment.getAttachmentById({ id: attId });

console.log('all js client checks passed');
