import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import { GITHUB, INSTALLATION_ID, deliver, waitFor } from './github.js';
import { REPO, nextEventTime, type Harness, type Recorded } from './harness.js';
import type { Route, StandInReply } from './stand-in.js';
import { webhookExample } from './webhook-schemas.js';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];


/** GitHub's repository roles and what its permission endpoint answers for each. */
const ROLES: Record<string, { permission: string; flags: Record<string, boolean> }> = {
  read: { permission: 'read', flags: { admin: false, maintain: false, push: false, triage: false, pull: true } },
  triage: { permission: 'read', flags: { admin: false, maintain: false, push: false, triage: true, pull: true } },
  write: { permission: 'write', flags: { admin: false, maintain: false, push: true, triage: true, pull: true } },
  maintain: { permission: 'write', flags: { admin: false, maintain: true, push: true, triage: true, pull: true } },
  admin: { permission: 'admin', flags: { admin: true, maintain: true, push: true, triage: true, pull: true } },
};
/** The reactions GitHub accepts; anything else is a 422. */
const REACTIONS = ['+1', '-1', 'laugh', 'confused', 'heart', 'hooray', 'rocket', 'eyes'];

export interface PullSpec {
  head: string;
  base?: string;
  baseSha?: string;
  merged?: boolean;
  author?: string;
  fork?: boolean;
}

export interface CommandStandIn {
  /** Collaborators by login → role; anyone else gets GitHub's 404. */
  roles: Map<string, string>;
  pulls: Map<number, PullSpec>;
  reactions: { commentId: number; content: string }[];
}

/**
 * The GitHub endpoints commands use, on top of the harness: reactions, the collaborator
 * permission API, a PR by number, and Deployments read back (the harness records the ones
 * the deploy flow creates).
 */
export function commandsApi(h: Harness): CommandStandIn {
  const out: CommandStandIn = { roles: new Map(), pulls: new Map(), reactions: [] };
  const repoPath = `/repos/${REPO.owner}/${REPO.name}`;
  const record = (method: string, uri: string, body: unknown): void => void h.calls.push({ at: Date.now(), method, path: uri, body });
  const route = (method: string, path: RegExp, handle: (uri: string, body: any) => StandInReply): Route => ({ // request bodies are JSON of many shapes
    method,
    path,
    handle: (req) => {
      record(method, req.uri, req.body ?? null);
      return handle(req.uri, req.body);
    },
  });
  h.serve([
    route('POST', new RegExp(`^${repoPath}/issues/comments/\\d+/reactions$`), (uri, body) => {
      const content = (body as { content: string }).content;
      if (!REACTIONS.includes(content)) return [422, { message: 'Validation Failed', errors: [{ resource: 'Reaction', code: 'invalid', field: 'content' }] }];
      out.reactions.push({ commentId: Number(uri.split('/')[6]), content });
      return [201, { id: out.reactions.length, content, user: { login: 'mergeops[bot]', type: 'Bot' } }];
    }),
    route('GET', new RegExp(`^${repoPath}/collaborators/[^/]+/permission$`), (uri) => {
      const login = decodeURIComponent(uri.split('/')[5] ?? '');
      const role = ROLES[out.roles.get(login) ?? ''];
      if (!role) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/collaborators/collaborators#get-repository-permissions-for-a-user' }];
      return [200, { permission: role.permission, role_name: out.roles.get(login), user: { login, type: 'User', permissions: role.flags } }];
    }),
    route('GET', new RegExp(`^${repoPath}/pulls/\\d+$`), (uri) => {
      const n = Number(uri.split('/').pop());
      const spec = out.pulls.get(n);
      const created = h.git.pulls.find((p) => p.number === n);
      if (!spec && !created) return [404, { message: 'Not Found' }];
      const s: PullSpec = spec ?? { head: h.git.refs.get(created?.head ?? '') ?? '', base: created?.base ?? 'main' };
      const full = `${REPO.owner}/${REPO.name}`;
      return [
        200,
        {
          number: n,
          state: s.merged ? 'closed' : 'open',
          merged: Boolean(s.merged),
          merged_at: s.merged ? new Date().toISOString() : null,
          node_id: `PR_${n}`,
          html_url: `https://github.com/${full}/pull/${n}`,
          user: { login: s.author ?? 'octocat' },
          head: { sha: s.head, ref: 'feature', repo: { full_name: s.fork ? `${s.author ?? 'octocat'}/${REPO.name}` : full } },
          base: { sha: s.baseSha ?? '0'.repeat(40), ref: s.base ?? 'main', repo: { full_name: full } },
        },
      ];
    }),
    // A commit by full or abbreviated SHA; `application/vnd.github.sha` gets the bare SHA.
    {
      method: 'GET',
      path: new RegExp(`^${repoPath}/commits/[0-9a-f]{7,40}$`),
      handle: (req) => {
        record('GET', req.uri, null);
        const prefix = req.uri.split('/').pop() as string;
        const found = [...h.git.files.keys()].filter((s) => s.startsWith(prefix));
        if (found.length !== 1) return [422, { message: `No commit found for SHA: ${prefix}` }];
        const wantsSha = String(req.headers['accept']).includes('application/vnd.github.sha');
        return wantsSha ? [200, found[0], { 'content-type': 'application/vnd.github.sha; charset=utf-8' }] : [200, { sha: found[0] }];
      },
    },
    route('GET', new RegExp(`^${repoPath}/deployments\\?`), (uri) => {
      const q = new URL(uri, GITHUB).searchParams;
      const list = h.git.deployments
        .filter((d) => (!q.get('environment') || d.environment === q.get('environment')) && (!q.get('sha') || d.sha === q.get('sha')))
        .sort((a, b) => b.id - a.id)
        .slice(0, Number(q.get('per_page') ?? 30));
      return [200, list.map((d) => ({ id: d.id, sha: d.sha, ref: d.sha, environment: d.environment, created_at: d.created_at }))];
    }),
    route('GET', new RegExp(`^${repoPath}/deployments/\\d+/statuses`), (uri) => {
      const d = h.git.deployments.find((x) => x.id === Number(uri.split('/')[5]));
      if (!d) return [404, { message: 'Not Found' }];
      const per = Number(new URL(uri, GITHUB).searchParams.get('per_page') ?? 30);
      return [200, [...d.statuses].reverse().slice(0, per).map((s, i) => ({ id: d.statuses.length - i, state: s.state, created_at: s.created_at }))];
    }),
  ]);
  return out;
}

function repository(p: Record<string, any>): void {
  Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
  p['repository'].owner.login = REPO.owner;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
}

let nextComment = 700_000;

/** A signed `issue_comment.created` from GitHub's examples, on a PR (default) or an issue. */
export async function comment(h: Harness, body: string, opts: { issue: number; login?: string; isPullRequest?: boolean; action?: 'created' | 'edited'; userType?: string }): Promise<{ status: number; commentId: number }> {
  const p = webhookExample('issue_comment', opts.action ?? 'created');
  repository(p);
  const commentId = ++nextComment;
  p['issue'].number = opts.issue;
  if (opts.isPullRequest ?? true) {
    const html = `https://github.com/${REPO.owner}/${REPO.name}/pull/${opts.issue}`;
    p['issue'].pull_request = { url: `${GITHUB}/repos/${REPO.owner}/${REPO.name}/pulls/${opts.issue}`, html_url: html, diff_url: `${html}.diff`, patch_url: `${html}.patch`, merged_at: null };
  } else delete p['issue'].pull_request;
  Object.assign(p['comment'], { id: commentId, body, created_at: new Date(nextEventTime() * 1000).toISOString() });
  p['comment'].user = { ...p['comment'].user, login: opts.login ?? 'octocat', type: opts.userType ?? 'User' };
  p['sender'] = { ...p['sender'], login: opts.login ?? 'octocat' };
  const res = await deliver(h.rt.url as string, 'issue_comment', p);
  return { status: res.status, commentId };
}

/** A signed `check_run.requested_action`: someone clicked a button on our check run. */
export async function clickAction(h: Harness, opts: { sha: string; checkRunId: number; login: string; identifier: string; name?: string; inProgress?: boolean }): Promise<number> {
  const p = webhookExample('check_run', 'requested_action');
  repository(p);
  p['requested_action'] = { identifier: opts.identifier };
  // A deploy waiting for a promotion keeps its check run in progress: GitHub sends it so, without a conclusion.
  Object.assign(p['check_run'], { id: opts.checkRunId, head_sha: opts.sha, name: opts.name ?? 'mergeops / deploy', ...(opts.inProgress ? { status: 'in_progress', conclusion: null, completed_at: null } : { status: 'completed', conclusion: 'failure' }) });
  p['sender'] = { ...p['sender'], login: opts.login };
  return (await deliver(h.rt.url as string, 'check_run', p)).status;
}

/** A signed `check_run.rerequested` for one of our check runs (GitHub's "Re-run" button). */
export async function rerun(h: Harness, run: { id: number; name: string; headSha: string; branch: string; pr?: { number: number; baseSha: string } }, delivery = crypto.randomUUID()): Promise<number> {
  const base = examples.find((e) => e.name === 'check_run')?.examples.find((x) => x['action'] === 'rerequested');
  const p = structuredClone(base) as Record<string, any>; // fixture JSON is untyped
  // The recorded example predates the schema's date-time timestamps on the app.
  for (const app of [p['check_run'].app, p['check_run'].check_suite?.app]) {
    if (app) Object.assign(app, { created_at: '2019-04-19T19:36:24Z', updated_at: '2019-04-19T19:36:56Z' });
  }
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
  p['repository'].owner.login = REPO.owner;
  const repoRef = { id: REPO.id, url: `https://api.github.com/repos/${REPO.owner}/${REPO.name}`, name: REPO.name };
  Object.assign(p['check_run'], { id: run.id, name: run.name, head_sha: run.headSha, status: 'completed', conclusion: 'success' });
  p['check_run'].check_suite = { ...p['check_run'].check_suite, head_branch: run.branch, head_sha: run.headSha };
  p['check_run'].pull_requests = run.pr
    ? [{ url: `https://api.github.com/repos/${REPO.owner}/${REPO.name}/pulls/${run.pr.number}`, id: run.pr.number, number: run.pr.number, head: { ref: run.branch, sha: run.headSha, repo: repoRef }, base: { ref: 'main', sha: run.pr.baseSha, repo: repoRef } }]
    : [];
  return (await deliver(h.rt.url as string, 'check_run', p, { id: delivery })).status;
}

/** A signed `merge_group` event (`checks_requested` from the examples; `destroyed` shaped like it). */
export async function mergeGroup(h: Harness, action: 'checks_requested' | 'destroyed', g: { headSha: string; baseSha: string; pr: number }): Promise<number> {
  const p = webhookExample('merge_group');
  repository(p);
  p['action'] = action;
  if (action === 'destroyed') p['reason'] = 'dequeued';
  Object.assign(p['merge_group'], { head_sha: g.headSha, base_sha: g.baseSha, base_ref: 'refs/heads/main', head_ref: `refs/heads/gh-readonly-queue/main/pr-${g.pr}-${g.baseSha}` });
  return (await deliver(h.rt.url as string, 'merge_group', p)).status;
}

/** The reply mergeops posted to `issue` after `since` (an index into the call log). */
export function waitForReply(h: Harness, issue: number, since: number, text?: string): Promise<Recorded> {
  return waitFor(
    () => h.calls.slice(since).find((c) => c.method === 'POST' && !c.status && c.path.endsWith(`/issues/${issue}/comments`) && (!text || String(c.body.body).includes(text))),
    `reply on #${issue}${text ? ` containing "${text}"` : ''}`,
  );
}

/**
 * The check run `name` on `sha` started after `since`, once complete: its completing PATCH,
 * or the POST itself when it was created completed (as `mergeops / locks` is).
 */
export async function waitForCheck(h: Harness, sha: string, name: string, since: number, timeoutMs = 60_000): Promise<Recorded> {
  const posts = () => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs'));
  const start = await waitFor(() => h.calls.slice(since).find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === sha && c.body.name === name), `${name} on ${sha.slice(0, 7)}`, timeoutMs);
  // A deploy's check comes first in its report: the Deployments and comment follow it.
  if (start.body.status === 'completed') {
    if (name === 'mergeops / deploy') await h.deployReported(sha);
    return start;
  }
  // The stand-in numbers check runs in creation order from 1001.
  const id = 1000 + posts().indexOf(start) + 1;
  return waitFor(() => h.calls.find((c) => c.method === 'PATCH' && !c.status && c.path.endsWith(`/check-runs/${id}`) && c.body.status === 'completed'), `${name} completion on ${sha.slice(0, 7)}`, timeoutMs);
}
