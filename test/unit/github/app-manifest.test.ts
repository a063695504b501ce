import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import yaml from 'js-yaml';
import { Octokit } from '@octokit/rest';

/**
 * app.yml against GitHub's rules for App manifests, the ones GitHub enforces when the setup
 * page posts the manifest (it refuses e.g. "Default events unsupported: installation"):
 *
 * - an App cannot subscribe to the events GitHub delivers to every App (or never to Apps);
 * - each default event needs the repository permission GitHub names for it in "Webhook events
 *   and payloads" ("To subscribe to this event, a GitHub App must have at least read-level
 *   access for the … permission");
 * - and, our own rule, no permission nothing uses: every REST and GraphQL call in src/ is
 *   looked up in "Permissions required for GitHub Apps", and each requested permission must be
 *   needed by a default event or by a call (at the level requested).
 *
 * The OpenAPI description (@octokit/openapi) has no permission metadata in `x-github` (only
 * category/subcategory), so the call → permission table below is taken from GitHub's docs.
 */

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

type Level = 'read' | 'write';
/** Any one of these (permission, at least level) satisfies the requirement. */
type Need = [permission: string, level: Level][];

/** Delivered to every App without a subscription, or never to Apps: GitHub refuses them in default_events. */
const NOT_SUBSCRIBABLE = new Set(['installation', 'installation_repositories', 'installation_target', 'github_app_authorization', 'meta', 'ping', 'marketplace_purchase', 'repository_import', 'security_and_analysis', 'sponsorship', 'workflow_dispatch']);

/** "Webhook permissions required for GitHub Apps", per event (github.com docs, webhook events and payloads). */
const EVENT_NEEDS: Record<string, Need> = {
  branch_protection_rule: [['administration', 'read']],
  check_run: [['checks', 'read']],
  check_suite: [['checks', 'read']],
  commit_comment: [['contents', 'read']],
  create: [['contents', 'read']],
  delete: [['contents', 'read']],
  deployment: [['deployments', 'read']],
  deployment_protection_rule: [['deployments', 'read']],
  deployment_status: [['deployments', 'read']],
  discussion: [['discussions', 'read']],
  discussion_comment: [['discussions', 'read']],
  fork: [['contents', 'read']],
  gollum: [['contents', 'read']],
  issue_comment: [
    ['issues', 'read'],
    ['pull_requests', 'read'],
  ],
  issues: [['issues', 'read']],
  label: [['metadata', 'read']],
  merge_group: [['merge_queues', 'read']],
  milestone: [
    ['issues', 'read'],
    ['pull_requests', 'read'],
  ],
  package: [['packages', 'read']],
  page_build: [['pages', 'read']],
  public: [['metadata', 'read']],
  pull_request: [['pull_requests', 'read']],
  pull_request_review: [['pull_requests', 'read']],
  pull_request_review_comment: [['pull_requests', 'read']],
  pull_request_review_thread: [['pull_requests', 'read']],
  push: [['contents', 'read']],
  registry_package: [['packages', 'read']],
  release: [['contents', 'read']],
  repository: [['metadata', 'read']],
  repository_dispatch: [['contents', 'read']],
  star: [['metadata', 'read']],
  status: [['statuses', 'read']],
  watch: [['metadata', 'read']],
  workflow_job: [['actions', 'read']],
  workflow_run: [['actions', 'read']],
};

const ISSUES_OR_PRS = (level: Level): Need => [
  ['issues', level],
  ['pull_requests', level],
];

/**
 * "Permissions required for GitHub Apps", for every operation src/ calls. A call missing here
 * fails the test: look its permission up in GitHub's docs and add it. `null`: authenticated as
 * the App itself (its JWT), no installation permission involved.
 */
const OPERATION_NEEDS: Record<string, Need | null> = {
  'GET /app': null,
  // The App's own webhook deliveries (catch-up after downtime): App JWT, no installation permission.
  'GET /app/hook/deliveries': null,
  'POST /app/hook/deliveries/{delivery_id}/attempts': null,
  'POST /repos/{owner}/{repo}/check-runs': [['checks', 'write']],
  'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}': [['checks', 'write']],
  'POST /repos/{owner}/{repo}/git/blobs': [['contents', 'write']],
  'POST /repos/{owner}/{repo}/git/trees': [['contents', 'write']],
  'POST /repos/{owner}/{repo}/git/commits': [['contents', 'write']],
  'POST /repos/{owner}/{repo}/git/refs': [['contents', 'write']],
  'PATCH /repos/{owner}/{repo}/git/refs/{ref}': [['contents', 'write']],
  'GET /repos/{owner}/{repo}/git/commits/{commit_sha}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/git/ref/{ref}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/commits/{ref}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/compare/{basehead}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/contents/{path}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/tarball/{ref}': [['contents', 'read']],
  'GET /repos/{owner}/{repo}/commits/{commit_sha}/pulls': [['pull_requests', 'read']],
  'GET /repos/{owner}/{repo}': [['metadata', 'read']],
  'GET /repos/{owner}/{repo}/collaborators/{username}/permission': [['metadata', 'read']],
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments': ISSUES_OR_PRS('write'),
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}': ISSUES_OR_PRS('write'),
  'DELETE /repos/{owner}/{repo}/issues/comments/{comment_id}': ISSUES_OR_PRS('write'),
  'GET /repos/{owner}/{repo}/issues/{issue_number}/comments': ISSUES_OR_PRS('read'),
  'POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions': ISSUES_OR_PRS('write'),
  'GET /repos/{owner}/{repo}/issues/{issue_number}/labels': ISSUES_OR_PRS('read'),
  'POST /repos/{owner}/{repo}/issues/{issue_number}/labels': ISSUES_OR_PRS('write'),
  'DELETE /repos/{owner}/{repo}/issues/{issue_number}/labels/{name}': ISSUES_OR_PRS('write'),
  'GET /repos/{owner}/{repo}/labels/{name}': ISSUES_OR_PRS('read'),
  // The deploy dashboard: an issue (not a pull request), so the issues permission alone.
  'GET /repos/{owner}/{repo}/issues': [['issues', 'read']],
  'POST /repos/{owner}/{repo}/issues': [['issues', 'write']],
  'PATCH /repos/{owner}/{repo}/issues/{issue_number}': [['issues', 'write']],
  'POST /repos/{owner}/{repo}/labels': ISSUES_OR_PRS('write'),
  'POST /repos/{owner}/{repo}/pulls': [['pull_requests', 'write']],
  'PATCH /repos/{owner}/{repo}/pulls/{pull_number}': [['pull_requests', 'write']],
  'GET /repos/{owner}/{repo}/pulls/{pull_number}': [['pull_requests', 'read']],
  'GET /repos/{owner}/{repo}/pulls': [['pull_requests', 'read']],
  'POST /repos/{owner}/{repo}/deployments': [['deployments', 'write']],
  'GET /repos/{owner}/{repo}/deployments': [['deployments', 'read']],
  'POST /repos/{owner}/{repo}/deployments/{deployment_id}/statuses': [['deployments', 'write']],
  'GET /repos/{owner}/{repo}/deployments/{deployment_id}/statuses': [['deployments', 'read']],
  // GraphQL: turning auto-merge on is writing the pull request.
  'graphql enablePullRequestAutoMerge': [['pull_requests', 'write']],
};

interface Manifest {
  name?: unknown;
  default_events?: unknown;
  default_permissions?: unknown;
  hook_attributes?: unknown;
}

const LEVELS: Record<string, number> = { read: 1, write: 2, admin: 3 };
const grants = (perms: Record<string, string>, need: Need): boolean => need.some(([p, level]) => (LEVELS[perms[p] ?? ''] ?? 0) >= (LEVELS[level] ?? 9));
const needText = (need: Need): string => need.map(([p, l]) => `${p}: ${l}`).join(' or ');

/** Everything app.yml breaks, as messages; empty when GitHub would accept it and nothing is asked for without use. */
function manifestProblems(manifest: Manifest, calls: Map<string, string[]>): string[] {
  const problems: string[] = [];
  if (typeof manifest.name !== 'string' || manifest.name.length === 0 || manifest.name.length > 34) problems.push('name: GitHub needs a name of 1 to 34 characters');
  const events = Array.isArray(manifest.default_events) ? (manifest.default_events as unknown[]).map(String) : [];
  const perms = (manifest.default_permissions ?? {}) as Record<string, string>;
  for (const [p, level] of Object.entries(perms)) if (!(level in LEVELS)) problems.push(`default_permissions.${p}: "${level}" is not read, write or admin`);
  if (perms['metadata'] === undefined) problems.push('default_permissions.metadata: GitHub grants metadata: read to every App; say so');
  for (const e of events) {
    if (NOT_SUBSCRIBABLE.has(e)) problems.push(`default_events: ${e} is delivered to every App (or never to Apps); GitHub refuses it ("Default events unsupported")`);
    else if (!EVENT_NEEDS[e]) problems.push(`default_events: ${e} is not an event in the table of this test; look up the permission it needs`);
    else if (!grants(perms, EVENT_NEEDS[e] as Need)) problems.push(`default_events: ${e} needs ${needText(EVENT_NEEDS[e] as Need)}`);
  }
  for (const [op, where] of calls) {
    const need = OPERATION_NEEDS[op];
    if (need === undefined) problems.push(`${op} (${where.join(', ')}) is not in the table of this test: add the permission GitHub's docs name for it`);
    else if (need !== null && !grants(perms, need)) problems.push(`${op} (${where.join(', ')}) needs ${needText(need)}`);
  }
  // No permission nothing uses: each one (at its level) must be what some event or call needs.
  const needs = [...events.flatMap((e) => EVENT_NEEDS[e] ?? []), ...[...calls.keys()].flatMap((op) => OPERATION_NEEDS[op] ?? [])];
  for (const [p, level] of Object.entries(perms)) {
    if (p === 'metadata') continue;
    const used = needs.filter(([np]) => np === p).map(([, l]) => LEVELS[l] ?? 0);
    if (used.length === 0) problems.push(`default_permissions.${p}: no default event and no call in src/ needs it; drop it`);
    else if ((LEVELS[level] ?? 0) > Math.max(...used)) problems.push(`default_permissions.${p}: ${level} is more than anything needs (${Object.keys(LEVELS).find((k) => LEVELS[k] === Math.max(...used))})`);
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sourceFiles(path.join(dir, d.name)) : d.name.endsWith('.ts') ? [path.join(dir, d.name)] : []));
}

// Octokit's own route of each `rest.<scope>.<method>`, so the scan sees what is sent.
const rest = new Octokit().rest as unknown as Record<string, Record<string, { endpoint: { DEFAULTS: { method: string; url: string } } } | undefined> | undefined>;
const routeOf = (scope: string, method: string): string | undefined => {
  const d = rest[scope]?.[method]?.endpoint.DEFAULTS;
  return d ? `${d.method} ${d.url}` : undefined;
};

/** Every GitHub API operation src/ calls ("METHOD /path", or "graphql <mutation>"), with where. */
function githubCalls(files: string[]): Map<string, string[]> {
  const calls = new Map<string, string[]>();
  const add = (op: string, where: string): void => {
    calls.set(op, [...new Set([...(calls.get(op) ?? []), where])]);
  };
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    const where = path.relative(ROOT, file);
    for (const m of text.matchAll(/\brest\.([a-zA-Z]+)\.([a-zA-Z]+)\b/g)) {
      const route = routeOf(m[1] as string, m[2] as string);
      add(route ?? `octokit.rest.${m[1]}.${m[2]} (unknown to Octokit)`, where);
    }
    for (const m of text.matchAll(/\.(?:request|paginate(?:\.iterator)?)\(\s*['"`]((?:GET|POST|PATCH|PUT|DELETE) \/[^'"`]*)['"`]/g)) add(m[1] as string, where);
    // GraphQL: only the documents handed to `.graphql(` (a TypeScript `query:` parameter elsewhere is not one).
    for (const doc of text.matchAll(/\.graphql(?:<[^>]*>)?\(\s*`([^`]*)`/g)) {
      for (const m of (doc[1] as string).matchAll(/\b(?:mutation|query)\b[^{]*\{\s*([a-zA-Z]+)\s*[({]/g)) add(`graphql ${m[1]}`, where);
    }
  }
  return calls;
}

const githubFiles = sourceFiles(path.join(ROOT, 'src'));
const manifest = yaml.load(fs.readFileSync(path.join(ROOT, 'app.yml'), 'utf8')) as Manifest;

describe('app.yml, the GitHub App manifest', () => {
  const calls = githubCalls(githubFiles);

  it('finds the GitHub calls of src/ (the scan this test relies on still sees them)', () => {
    expect(calls.get('POST /repos/{owner}/{repo}/check-runs')).toEqual(expect.arrayContaining(['src/github/checks.ts']));
    expect(calls.get('GET /repos/{owner}/{repo}/tarball/{ref}')).toEqual(['src/github/tarball.ts']);
    expect(calls.get('graphql enablePullRequestAutoMerge')).toEqual(['src/github/pulls.ts']);
    expect(calls.get('GET /app/hook/deliveries')).toEqual(['src/github/hook-deliveries.ts']);
    // Every REST call is an operation of GitHub's OpenAPI description.
    const openapi = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/@octokit/openapi/generated/api.github.com.json'), 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    for (const op of calls.keys()) {
      if (op.startsWith('graphql ')) continue;
      const [method, route] = op.split(' ') as [string, string];
      expect([op, openapi.paths[route]?.[method.toLowerCase()] !== undefined]).toEqual([op, true]);
    }
  });

  it('is one GitHub accepts, asking for what the code needs and nothing more', () => {
    expect(manifestProblems(manifest, calls)).toEqual([]);
  });

  it('catches what GitHub refuses and what nothing uses (the app.yml of issue 23)', () => {
    const before: Manifest = {
      ...manifest,
      default_events: [...(manifest.default_events as string[]), 'installation'],
      default_permissions: { ...(manifest.default_permissions as Record<string, string>), statuses: 'write' },
    };
    expect(manifestProblems(before, calls)).toEqual([
      expect.stringMatching(/^default_events: installation is delivered to every App/),
      'default_permissions.statuses: no default event and no call in src/ needs it; drop it',
    ]);
    const { merge_queues: _dropped, ...noQueue } = manifest.default_permissions as Record<string, string>;
    expect(manifestProblems({ ...manifest, default_permissions: noQueue }, calls)).toEqual(['default_events: merge_group needs merge_queues: read']);
    const readOnlyChecks = { ...(manifest.default_permissions as Record<string, string>), checks: 'read' };
    expect(manifestProblems({ ...manifest, default_permissions: readOnlyChecks }, calls)).toEqual([
      expect.stringMatching(/^POST \/repos\/\{owner\}\/\{repo\}\/check-runs \(.*\) needs checks: write$/),
      expect.stringMatching(/^PATCH \/repos\/\{owner\}\/\{repo\}\/check-runs\/\{check_run_id\} \(.*\) needs checks: write$/),
    ]);
    expect(manifestProblems(manifest, new Map([...calls, ['DELETE /repos/{owner}/{repo}', ['src/x.ts']]]))).toEqual([expect.stringMatching(/^DELETE \/repos\/\{owner\}\/\{repo\} \(src\/x.ts\) is not in the table/)]);
  });

  it('subscribes to every event the App handles that GitHub does not deliver anyway', () => {
    const handled = new Set<string>();
    for (const file of githubFiles) {
      for (const m of fs.readFileSync(file, 'utf8').matchAll(/\bapp\.on\(\s*(\[[^\]]*\]|'[^']*')/g)) {
        for (const name of (m[1] as string).matchAll(/'([a-z_]+)(?:\.[a-z_]+)?'/g)) handled.add(name[1] as string);
      }
    }
    expect(handled.size).toBeGreaterThan(3);
    const subscribed = new Set(manifest.default_events as string[]);
    expect([...handled].filter((e) => !subscribed.has(e) && !NOT_SUBSCRIBABLE.has(e))).toEqual([]);
  });
});
