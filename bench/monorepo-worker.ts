/**
 * One scenario of the monorepo benchmark, in its own process: the whole runtime on the
 * in-process harness (fastify + Probot + BullMQ worker, real API server and Redis, GitHub
 * stood in by nock), driven by signed webhooks. Its own process so that a job still waiting
 * on GitHub's pacing when the scenario's time is up ends with it instead of running into the
 * next scenario's counts. Reads a MonorepoJob as JSON from argv[2]; prints a ScenarioResult
 * as JSON on stdout; progress on stderr.
 */
// First: it keeps Node's HTTP functions from before nock loads (see bench/harness.ts).
import './http-originals.js';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Kubeconfig } from '../src/kubeconfig.js';
import { CHECK_NAMES } from '../src/check-names.js';
import type { Cluster } from '../src/cluster/connect.js';
import { isContentCreating } from '../src/github/write-pacer.js';
import { binDir } from '../test/support/global-setup.js';
import { GITHUB, INSTALLATION_ID, deliver } from '../test/support/github.js';
import { REPO, nextEventTime, prPayload, sha, startHarness, type Harness, type Recorded } from '../test/support/harness.js';
import { webhookExample } from '../test/support/webhook-schemas.js';
import { CLUSTERS_YAML, connect, createNamespace, dropKeys, log, median, sleep } from './common.js';
import { harnessEnv, productionLog, productionProbot } from './harness.js';
import { MonoRepo, changedObject, shapeName, type FirstResult, type GitHubTally, type MonorepoJob, type RunResult, type ScenarioResult } from './monorepo-shared.js';

const run = promisify(execFile);

/** Octokit's throttle spaces one installation's writes 1 s apart, comment POSTs 3 s (see bench/comment.ts). */
const WRITE_GAP_MS = 1100;
const NOTIFICATION_GAP_MS = 3100;
/** GitHub is quiet this long after a flow before the next run starts. */
const QUIET_MS = 1500;

// ---------------------------------------------------------------------------------------
// The API server's own count of the requests it served.

interface ApiServer {
  server: string;
  token: string;
}

function apiServerOf(kubeconfig: string): ApiServer {
  const kc = new Kubeconfig();
  kc.loadFromFile(kubeconfig);
  return { server: kc.getCurrentCluster()?.server ?? '', token: kc.getCurrentUser()?.token ?? '' };
}

/**
 * `apiserver_request_total` by verb and resource. A scrape of /metrics is not itself
 * counted there; the API server's own loopback traffic (leases, ~0.5 requests/s here) is.
 */
async function requestTotals(api: ApiServer): Promise<Map<string, number>> {
  const text = await new Promise<string>((resolve, reject) => {
    https
      .get(`${api.server}/metrics`, { headers: { authorization: `Bearer ${api.token}` }, rejectUnauthorized: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(new Error(`GET /metrics answered ${res.statusCode}`))));
      })
      .on('error', reject);
  });
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('apiserver_request_total{')) continue;
    const label = (name: string): string => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1] ?? '';
    const dry = label('dry_run') ? ' (dry run)' : '';
    const key = `${label('verb')} ${label('resource') || label('subresource')}${label('resource') && label('subresource') ? `/${label('subresource')}` : ''}${dry}`;
    out.set(key, (out.get(key) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

function delta(before: Map<string, number>, after: Map<string, number>, ownPolls: Map<string, number>): { total: number; breakdown: string[] } {
  const d = new Map<string, number>();
  for (const [k, v] of after) {
    const n = v - (before.get(k) ?? 0) - (ownPolls.get(k) ?? 0);
    if (n > 0) d.set(k, n);
  }
  const sorted = [...d.entries()].sort((a, b) => b[1] - a[1]);
  return { total: sorted.reduce((a, [, n]) => a + n, 0), breakdown: sorted.map(([k, n]) => `${k}: ${n}`) };
}

// ---------------------------------------------------------------------------------------
// GitHub's side, seen at the stand-in and at the app's fetch.

/** Counts the app's content-creating requests in flight to GitHub ("one at a time"). */
class WriteConcurrency {
  private inFlight = 0;
  max = 0;
  private original: typeof fetch | null = null;

  /** After the harness started: nock's fetch is the one to wrap. */
  install(): void {
    const original = globalThis.fetch;
    this.original = original;
    globalThis.fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const method = (init?.method ?? (input instanceof Request ? input.method : 'GET')).toUpperCase();
      if (!url.startsWith(GITHUB) || !isContentCreating(method, url)) return original(input, init);
      this.max = Math.max(this.max, ++this.inFlight);
      try {
        return await original(input, init);
      } finally {
        this.inFlight--;
      }
    };
  }

  reset(): void {
    this.max = 0;
  }

  uninstall(): void {
    if (this.original) globalThis.fetch = this.original;
    this.original = null;
  }
}

const callShape = (c: Recorded): string => `${c.method} ${c.path.replace(/\?.*$/, '').replace(`/repos/${REPO.owner}/${REPO.name}`, '') || '/repos/{repo}'}`.replace(/[0-9a-f]{40}|\d+/g, '…');

function tally(calls: Recorded[], concurrency: WriteConcurrency): GitHubTally {
  const writes = calls.filter((c) => c.method !== 'GET').map((c) => c.at).sort((a, b) => a - b);
  let maxPerMinute = 0;
  for (let i = 0, j = 0; i < writes.length; i++) {
    while ((writes[j] as number) < (writes[i] as number) - 59_999) j++;
    maxPerMinute = Math.max(maxPerMinute, i - j + 1);
  }
  const gaps = writes.slice(1).map((t, i) => t - (writes[i] as number));
  return {
    calls: calls.length,
    writes: writes.length,
    refused: calls.filter((c) => c.status !== undefined && c.status >= 400).map((c) => ({ status: c.status as number, request: callShape(c) })),
    maxWritesPerMinute: maxPerMinute,
    maxWritesInFlight: concurrency.max,
    minWriteGapMs: gaps.length ? Math.min(...gaps) : NaN,
    deployments: calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && !c.status).length,
    shape: calls.map(callShape),
  };
}

// ---------------------------------------------------------------------------------------
// Driving the app.

/** A signed `push` as GitHub sends it for one commit, with that commit's file lists. */
async function pushWebhook(h: Harness, after: string, before: string, files: { added?: string[]; modified?: string[]; removed?: string[] }): Promise<void> {
  h.git.refs.set('main', after);
  const p = webhookExample('push');
  const commit = {
    id: after,
    tree_id: sha(`tree-${after}`),
    distinct: true,
    message: 'Merge pull request',
    timestamp: new Date().toISOString(),
    url: `https://github.com/${REPO.owner}/${REPO.name}/commit/${after}`,
    author: { name: 'Codertocat', email: 'codertocat@example.com', username: 'Codertocat' },
    committer: { name: 'GitHub', email: 'noreply@github.com', username: 'web-flow' },
    added: files.added ?? [],
    removed: files.removed ?? [],
    modified: files.modified ?? [],
  };
  Object.assign(p, { ref: 'refs/heads/main', before, after, created: false, deleted: false, forced: false, base_ref: null, compare: `https://github.com/${REPO.owner}/${REPO.name}/compare/${before.slice(0, 12)}...${after.slice(0, 12)}`, commits: [commit], head_commit: commit });
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main', fork: false, pushed_at: nextEventTime() });
  p['repository'].owner.login = REPO.owner;
  p['repository'].owner.name = REPO.owner;
  const res = await deliver(h.rt.url as string, 'push', p);
  if (res.status !== 202) throw new Error(`push webhook answered ${res.status}`);
}

/** Merged PRs by merge commit, for the stand-in's `GET /commits/{sha}/pulls`. */
function mergedPulls(merged: Map<string, number>): (method: string, path: string) => [number, unknown] | undefined {
  // The harness's own merge map is filled only by its pushEvent(), whose payload lists the
  // webhook example's files rather than this commit's; the benchmark sends its own pushes,
  // so it answers this one lookup itself (as GitHub would: the merged PR of the commit).
  return (method, uri) => {
    if (method !== 'GET') return undefined;
    const m = /\/commits\/([0-9a-f]{40})\/pulls/.exec(uri);
    const pr = m ? merged.get(m[1] as string) : undefined;
    return pr === undefined ? undefined : [200, [{ number: pr, merged_at: new Date().toISOString(), state: 'closed' }]];
  };
}

/** The completed check run `name` on `head`: its PATCH by the stand-in's id rule (ids count up from 1001 in POST order), or a POST already completed. */
function checkDone(h: Harness, name: string, head: string): Recorded | undefined {
  const posts = h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs'));
  const start = posts.find((c) => c.body?.head_sha === head && c.body?.name === name);
  if (!start) return undefined;
  // A flow that reports after its work may create its check run completed, in one request.
  if (start.body?.status === 'completed') return start;
  const id = 1001 + posts.indexOf(start);
  return h.calls.find((c) => c.method === 'PATCH' && !c.status && c.path.endsWith(`/check-runs/${id}`) && c.body?.status === 'completed');
}

async function queuesIdle(h: Harness): Promise<boolean> {
  for (const q of h.rt.queues.all) {
    const c = await q.getJobCounts('active', 'waiting', 'prioritized');
    if ((c['active'] ?? 0) + (c['waiting'] ?? 0) + (c['prioritized'] ?? 0) > 0) return false;
  }
  return true;
}

/** Until `done` holds, the queues are idle and GitHub saw nothing for QUIET_MS; false at the deadline. */
async function settle(h: Harness, done: () => boolean, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    const last = h.calls.at(-1)?.at ?? 0;
    if (done() && Date.now() - last >= QUIET_MS && (await queuesIdle(h))) return true;
    await sleep(100);
  }
  return false;
}

/**
 * Deletes a scenario's objects (the test API server runs no namespace controller, so a
 * namespace deletion would leave them), and its apps' records wherever the app keeps them
 * outside those namespaces (the inventories' namespace): whatever names this scenario's tag.
 */
async function cleanUp(cluster: Cluster, namespaces: string[], tag: string): Promise<void> {
  for (const ns of namespaces) {
    for (const kind of ['configmaps', 'secrets']) await cluster.client.request('DELETE', `/api/v1/namespaces/${ns}/${kind}`).catch(() => undefined);
  }
  const all = await cluster.client.request<{ items: { metadata: { name: string; namespace: string } }[] }>('GET', '/api/v1/configmaps').catch(() => ({ items: [] }));
  for (const cm of all.items) {
    if (!namespaces.includes(cm.metadata.namespace) && JSON.stringify(cm).includes(`app-${tag}-`)) await cluster.client.request('DELETE', `/api/v1/namespaces/${cm.metadata.namespace}/configmaps/${cm.metadata.name}`).catch(() => undefined);
  }
}

const inc = (m: Map<string, number>, key: string, n = 1): void => void m.set(key, (m.get(key) ?? 0) + n);

// ---------------------------------------------------------------------------------------
// Scenarios.

interface Ctx {
  job: MonorepoJob;
  api: ApiServer;
  cluster: Cluster;
  repo: MonoRepo;
  env: Record<string, string>;
  concurrency: WriteConcurrency;
  merged: Map<string, number>;
}

/** The runtime as an operator runs it: Probot's Octokit defaults, writes paced at 80/min, enough apps allowed. */
async function production(ctx: Ctx): Promise<Harness> {
  const h = await startHarness(CLUSTERS_YAML, ctx.env, { probot: productionProbot(ctx.env), log: productionLog(), fault: mergedPulls(ctx.merged) });
  ctx.concurrency.install();
  return h;
}

/**
 * The steady state a merge or PR starts from: every app deployed at `c0` by the app
 * itself (so whatever it records of a deploy, in the cluster or in Redis under the same
 * prefix, is there). Setup, not measured: GitHub's write pacing off for it.
 */
async function deployed(ctx: Ctx): Promise<{ sha: string; files: Record<string, string> }> {
  const h = await startHarness(CLUSTERS_YAML, { ...ctx.env, MERGEOPS_GITHUB_WRITES_PER_MINUTE: '0' }, { log: productionLog(), secondaryLimits: false, fault: mergedPulls(ctx.merged) });
  try {
    const c0 = sha(`mono-${ctx.repo.tag}-c0`);
    const files = ctx.repo.files();
    await h.push(c0, files);
    const t = Date.now();
    await pushWebhook(h, c0, sha(`mono-${ctx.repo.tag}-empty`), { added: Object.keys(files) });
    if (!(await settle(h, () => checkDone(h, CHECK_NAMES.deploy, c0) !== undefined, Date.now() + ctx.job.applyWaitMs + ctx.job.githubWaitMs))) throw new Error('setup deploy did not finish');
    const check = checkDone(h, CHECK_NAMES.deploy, c0);
    if (check?.body?.conclusion !== 'success') throw new Error(`setup deploy concluded ${check?.body?.conclusion}: ${JSON.stringify(check?.body?.output?.summary ?? '').slice(0, 400)}`);
    log(`monorepo ${shapeName(ctx.job.shape)}: steady state deployed (setup, ${((Date.now() - t) / 1000).toFixed(1)} s, pacing off)`);
    return { sha: c0, files };
  } finally {
    await h.stop();
  }
}

/** Objects of the repository that hold their current value in the cluster (4 LISTs). */
async function appliedCount(ctx: Ctx, own: Map<string, number>): Promise<number> {
  let n = 0;
  const expected = new Map<string, string>();
  for (let i = 0; i < ctx.job.shape.apps; i++) for (let j = 0; j < ctx.job.shape.perApp; j++) expected.set(`${ctx.repo.namespaceOf(i)}/${ctx.repo.objectName(i, j)}`, ctx.repo.value(i, j));
  for (const ns of ctx.repo.namespaces()) {
    const list = await ctx.cluster.client.request<{ items: { metadata: { name: string }; data?: Record<string, string> }[] }>('GET', `/api/v1/namespaces/${ns}/configmaps`);
    inc(own, 'LIST configmaps');
    for (const cm of list.items) if (expected.get(`${ns}/${cm.metadata.name}`) === cm.data?.['value']) n++;
  }
  return n;
}

async function firstDeploy(ctx: Ctx): Promise<{ first: FirstResult; stopped?: string }> {
  const { job, repo } = ctx;
  // kubectl first, into namespaces of its own, on a quiet API server.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-mono-'));
  let kubectlMs: number;
  let kubectlApiRequests: number;
  try {
    for (const m of repo.manifests('bench-monok')) {
      fs.mkdirSync(path.join(dir, path.dirname(m.file)), { recursive: true });
      fs.writeFileSync(path.join(dir, m.file), m.yaml);
    }
    const before = await requestTotals(ctx.api);
    const t = performance.now();
    await run(path.join(binDir(), 'kubectl'), ['--kubeconfig', job.kubeconfig, 'apply', '--server-side', '--field-manager', 'bench', '-R', '-f', dir], { maxBuffer: 64 * 1024 * 1024 });
    kubectlMs = performance.now() - t;
    kubectlApiRequests = delta(before, await requestTotals(ctx.api), new Map()).total;
    log(`monorepo ${shapeName(job.shape)}: kubectl apply --server-side of ${repo.objectCount} objects: ${(kubectlMs / 1000).toFixed(1)} s, ${kubectlApiRequests} API requests`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const h = await production(ctx);
  let stopped: string | undefined;
  try {
    const c0 = sha(`mono-${repo.tag}-c0`);
    const files = repo.files();
    await h.push(c0, files);
    ctx.merged.set(c0, 1);
    const own = new Map<string, number>();
    const before = await requestTotals(ctx.api);
    const from = h.calls.length;
    ctx.concurrency.reset();
    const t0 = Date.now();
    await pushWebhook(h, c0, sha(`mono-${repo.tag}-empty`), { added: Object.keys(files) });
    let applied = 0;
    let appliedMs: number | null = null;
    while (Date.now() < t0 + job.applyWaitMs) {
      applied = await appliedCount(ctx, own);
      if (applied === repo.objectCount) {
        appliedMs = Date.now() - t0;
        break;
      }
      await sleep(200);
    }
    log(`monorepo ${shapeName(job.shape)}: first deploy: ${appliedMs === null ? `${applied} of ${repo.objectCount} objects applied after ${job.applyWaitMs / 1000} s` : `all ${repo.objectCount} objects applied after ${(appliedMs / 1000).toFixed(1)} s`}; waiting for GitHub's part`);
    let doneMs: number | null = null;
    if (appliedMs !== null) {
      const ok = await settle(h, () => checkDone(h, CHECK_NAMES.deploy, c0) !== undefined, Date.now() + job.githubWaitMs);
      if (ok) doneMs = (checkDone(h, CHECK_NAMES.deploy, c0)?.at ?? Date.now()) - t0;
      else stopped = `the deploy's GitHub part was not done ${job.githubWaitMs / 1000} s after the apply`;
    } else stopped = `not all objects applied within ${job.applyWaitMs / 1000} s`;
    const github = tally(h.calls.slice(from), ctx.concurrency);
    const api = delta(before, await requestTotals(ctx.api), own);
    log(`monorepo ${shapeName(job.shape)}: first deploy: ${github.calls} GitHub calls (${github.writes} writes, max ${github.maxWritesPerMinute}/min, ${github.maxWritesInFlight} in flight, ${github.refused.length} refused), ${api.total} API requests${doneMs !== null ? `, done after ${(doneMs / 1000).toFixed(1)} s` : ''}`);
    return { first: { objects: repo.objectCount, kubectlMs, kubectlApiRequests, appliedMs, appliedObjects: applied, doneMs, apiRequests: api.total, github }, ...(stopped ? { stopped } : {}) };
  } finally {
    // A deploy still waiting on GitHub's pacing would hold stop() for as long: the process ends instead.
    if (!stopped) await h.stop();
  }
}

async function merges(ctx: Ctx): Promise<{ runs: RunResult[]; stopped?: string }> {
  const { job, repo } = ctx;
  const steady = await deployed(ctx);
  let head = steady.sha;
  const h = await production(ctx);
  // The measured runtime's GitHub holds the deployed commit too (compare before...after reads it).
  await h.push(steady.sha, steady.files);
  const runs: RunResult[] = [];
  let stopped: string | undefined;
  try {
    for (let r = 0; r < job.runs && !stopped; r++) {
      const { app, obj } = changedObject(job.shape, r);
      const file = repo.change(app, obj);
      const next = sha(`mono-${repo.tag}-merge-${r}`);
      await h.push(next, repo.files());
      ctx.merged.set(next, 100 + r);
      const ns = repo.namespaceOf(app);
      const name = repo.objectName(app, obj);
      const want = repo.value(app, obj);
      const own = new Map<string, number>();
      const before = await requestTotals(ctx.api);
      const from = h.calls.length;
      ctx.concurrency.reset();
      const t0 = Date.now();
      await pushWebhook(h, next, head, { modified: [file] });
      let ms = NaN;
      while (Date.now() < t0 + job.runWaitMs) {
        const cm = await ctx.cluster.client.request<{ data?: Record<string, string> }>('GET', `/api/v1/namespaces/${ns}/configmaps/${name}`);
        inc(own, 'GET configmaps');
        if (cm.data?.['value'] === want) {
          ms = Date.now() - t0;
          break;
        }
        await sleep(20);
      }
      const settled = await settle(h, () => checkDone(h, CHECK_NAMES.deploy, next) !== undefined, t0 + job.runWaitMs);
      const doneMs = (checkDone(h, CHECK_NAMES.deploy, next)?.at ?? NaN) - t0;
      const api = delta(before, await requestTotals(ctx.api), own);
      const github = tally(h.calls.slice(from), ctx.concurrency);
      runs.push({ ms, doneMs, apiRequests: api.total, apiBreakdown: api.breakdown, github });
      log(`monorepo ${shapeName(job.shape)}: merge ${r + 1}/${job.runs} (${name}): applied after ${ms.toFixed(0)} ms, check done after ${doneMs.toFixed(0)} ms; ${github.calls} GitHub calls (${github.deployments} Deployments), ${api.total} API requests`);
      if (!settled) stopped = `merge ${r + 1} was not done within ${job.runWaitMs / 1000} s (its object ${Number.isNaN(ms) ? 'not applied' : `applied after ${ms} ms`}); later runs skipped`;
      head = next;
      await sleep(WRITE_GAP_MS);
    }
  } finally {
    if (!stopped) await h.stop();
  }
  return { runs, ...(stopped ? { stopped } : {}) };
}

async function previews(ctx: Ctx): Promise<{ runs: RunResult[]; stopped?: string }> {
  const { job, repo } = ctx;
  const steady = await deployed(ctx);
  const base = steady.sha;
  const h = await production(ctx);
  // The measured runtime's GitHub holds the base commit too (the preview downloads it).
  await h.push(base, steady.files);
  const runs: RunResult[] = [];
  let stopped: string | undefined;
  let lastPost = 0;
  try {
    for (let r = 0; r < job.runs && !stopped; r++) {
      // Each PR changes one object of one app of the deployed base.
      const { app, obj } = changedObject(job.shape, r);
      repo.change(app, obj);
      const head = sha(`mono-${repo.tag}-pr-${r}`);
      await h.push(head, repo.files());
      repo.undo(app, obj);
      const pr = 2000 + r;
      await sleep(Math.max(0, lastPost + NOTIFICATION_GAP_MS - Date.now()));
      const before = await requestTotals(ctx.api);
      const from = h.calls.length;
      ctx.concurrency.reset();
      const t0 = Date.now();
      const res = await deliver(h.rt.url as string, 'pull_request', prPayload('opened', pr, head, base));
      if (res.status !== 202) throw new Error(`pull_request webhook answered ${res.status}`);
      const isComment = (c: Recorded): boolean => c.method === 'POST' && !c.status && c.path.endsWith(`/issues/${pr}/comments`);
      const settled = await settle(h, () => checkDone(h, CHECK_NAMES.preview, head) !== undefined && h.calls.slice(from).some(isComment), t0 + job.runWaitMs);
      const comment = h.calls.slice(from).find(isComment);
      lastPost = comment?.at ?? lastPost;
      const ms = (comment?.at ?? NaN) - t0;
      const doneMs = (checkDone(h, CHECK_NAMES.preview, head)?.at ?? NaN) - t0;
      const api = delta(before, await requestTotals(ctx.api), new Map());
      const github = tally(h.calls.slice(from), ctx.concurrency);
      runs.push({ ms, doneMs, apiRequests: api.total, apiBreakdown: api.breakdown, github });
      log(`monorepo ${shapeName(job.shape)}: PR ${r + 1}/${job.runs} (${repo.objectName(app, obj)}): comment after ${ms.toFixed(0)} ms; ${github.calls} GitHub calls, ${api.total} API requests`);
      if (!settled) stopped = `PR ${r + 1} was not done within ${job.runWaitMs / 1000} s; later runs skipped`;
      await sleep(WRITE_GAP_MS);
    }
  } finally {
    if (!stopped) await h.stop();
  }
  return { runs, ...(stopped ? { stopped } : {}) };
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as MonorepoJob;
  const api = apiServerOf(job.kubeconfig);
  const cluster = await connect(job.kubeconfig);
  const repo = new MonoRepo(job.shape, crypto.randomUUID().slice(0, 6));
  const env = harnessEnv({
    MERGEOPS_GITHUB_WRITES_PER_MINUTE: '80',
    // The operator's cap on apps per repository (default 50) raised for the 200-app shape.
    MERGEOPS_MAX_APPS_PER_REPO: String(Math.max(50, job.shape.apps)),
    // A drift scan landing inside a measured run would count as that run's work.
    MERGEOPS_DRIFT_INTERVAL_MS: '0',
    MERGEOPS_CATCH_UP_INTERVAL_MS: '0',
  });
  const ctx: Ctx = { job, api, cluster, repo, env, concurrency: new WriteConcurrency(), merged: new Map() };
  const namespaces = [...repo.namespaces(), ...repo.namespaces('bench-monok')];
  const load0 = os.loadavg()[0] ?? NaN;
  let result: ScenarioResult;
  try {
    for (const ns of job.scenario === 'first' ? namespaces : repo.namespaces()) await createNamespace(cluster, ns);
    if (job.scenario === 'first') {
      const r = await firstDeploy(ctx);
      result = { scenario: job.scenario, shape: job.shape, runs: [], first: r.first, loadAvg: [load0, os.loadavg()[0] ?? NaN], ...(r.stopped ? { stopped: r.stopped } : {}) };
    } else {
      const r = job.scenario === 'merge' ? await merges(ctx) : await previews(ctx);
      result = { scenario: job.scenario, shape: job.shape, runs: r.runs, loadAvg: [load0, os.loadavg()[0] ?? NaN], ...(r.stopped ? { stopped: r.stopped } : {}) };
      if (r.runs.length) log(`monorepo ${shapeName(job.shape)} ${job.scenario}: p50 ${median(r.runs.map((x) => x.ms)).toFixed(0)} ms over ${r.runs.length} runs`);
    }
  } finally {
    ctx.concurrency.uninstall();
    await cleanUp(cluster, namespaces, repo.tag).catch(() => undefined);
    cluster.client.close();
    await dropKeys(job.redisUrl, env['MERGEOPS_REDIS_PREFIX'] as string);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
