import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import nock from 'nock';
import { pino, type Logger } from 'pino';
import type { Probot } from 'probot';
import { loadSettings } from '../../src/config/settings.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { webhookExample } from './webhook-schemas.js';
import { APP_ID, GITHUB, INSTALLATION_ID, PRIVATE_KEY, type RepoFiles, WEBHOOK_SECRET, deliver, githubOnlyThroughNock, makeTarball, testProbot, waitFor } from './github.js';
import { GitHubContract } from './github-contract.js';
import { compareReply } from './compare.js';
import { HookDeliveries } from './hook-deliveries.js';
import { BOT_LOGIN, DOWNLOAD_HOST, appRoute, interceptWithNock, standIn, type Route, type StandInReply, type StandInRequest } from './stand-in.js';


export const REPO = { owner: 'acme', name: 'deploys', id: 777 };

/** A GitHub fault to answer instead of the normal reply: [status, body, headers]. */
export type FaultReply = [number, unknown, Record<string, string>?];
/**
 * Consulted before every recorded GitHub call; undefined lets the call through. It may
 * take its time (look at the cluster at the moment GitHub receives a request): the request
 * waits for it.
 */
export type Fault = (method: string, path: string, body: unknown) => FaultReply | undefined | Promise<FaultReply | undefined>;

export interface HarnessOptions {
  /** Defaults to testProbot() (no Octokit retries, so tests see exact call sequences). */
  probot?: Probot;
  log?: Logger;
  fault?: Fault;
  /**
   * GitHub's secondary rate limits (80 content-creating requests a minute per installation).
   * On by default; the intake benchmark turns them off, since its thousands of deliveries
   * stand for the traffic of many installations, not one.
   */
  secondaryLimits?: boolean;
  /** GitHub's minute for those limits, scaled down with the app's (MERGEOPS_GITHUB_WRITE_WINDOW_MS); 60 s by default. */
  rateWindowMs?: number;
  /** How long the stand-in takes to answer a content-creating request, so overlapping writes can be seen. */
  writeLatencyMs?: number;
}

export interface Recorded {
  method: string;
  path: string;
  body: any; // request bodies are JSON of many shapes; tests read the fields they assert
  /** When nock received it (ms since the epoch): the benchmarks time flows by it. */
  at: number;
  /** Set when a fault answered instead of the normal reply. */
  status?: number;
  /** For a check run created: the id the stand-in gave it (its PATCHes name it in the path). */
  checkRunId?: number;
}

/**
 * The whole app on real parts — fastify, Probot, BullMQ on a real Redis, the real API
 * server — with nock as GitHub. Every GitHub call is recorded; tarballs are served from
 * `tarballs` by SHA (404 for unknown ones, as GitHub does).
 */
export interface Harness {
  rt: Runtime;
  /** Every Redis key this runtime writes starts with it. */
  prefix: string;
  calls: Recorded[];
  tarballs: Map<string, Buffer>;
  push(sha: string, files: RepoFiles): Promise<void>;
  open(pr: number, headSha: string, opts?: { baseSha?: string; action?: 'opened' | 'synchronize' }): Promise<number>;
  waitForPreview(sha: string): Promise<{ start: Recorded; check: Recorded; comment: Recorded }>;
  /**
   * Sends a signed `push` of `sha` to `branch`; `mergedPr` makes GitHub report it as that PR's merge.
   * With `before` (a commit pushed earlier) the payload is an update of the branch as GitHub
   * sends it: `before`, and one commit per entry of `commits` (default 1) listing the files
   * that differ, the first commit all of them; `forced` marks a force-push. Without it,
   * GitHub's example: the push created the branch.
   */
  pushEvent(sha: string, opts?: { branch?: string; mergedPr?: number; id?: string; pushedAt?: number; replay?: boolean; before?: string; commits?: number; forced?: boolean }): Promise<number>;
  /**
   * Resolves with the completed `mergeops / deploy` check run of `sha`, once that deploy's
   * report (the check, then the Deployments, the comment) has settled.
   */
  waitForDeploy(sha: string): Promise<Recorded>;
  /** Resolves when no report job of `sha` is waiting, running or due for a retry. */
  deployReported(sha: string): Promise<void>;
  lastCommentId(): number;
  /** The installation tokens the stand-in issued (what a secret scan must not find). */
  tokens(): string[];
  /** The most content-creating requests of one installation GitHub was answering at once. */
  maxWritesInFlight(): number;
  /** How many content-creating requests GitHub's secondary limits refused (403 + retry-after). */
  rateLimited(): number;
  /** More GitHub endpoints for this stand-in (held to the same contract, faults included). */
  serve(routes: Route[]): void;
  /** A comment someone else (a person, another app's bot) posted on `pr`; returns its id. */
  postedBy(pr: number, user: { login: string; type: 'User' | 'Bot' }, body: string): number;
  /** The stand-in's Git: branch heads, commits with their files (pushed or created through the Git Data API), pull requests. */
  git: FakeGit;
  /**
   * Other repositories of the owner, by name (`.github`, a shared defaults repository):
   * their files on the default branch. A repository not here answers 404, as GitHub does
   * for one that does not exist or the installation cannot see.
   */
  otherRepos: Map<string, RepoFiles>;
  /** The app's webhook as GitHub runs it (deliveries recorded, listed and redelivered); sends to this runtime. */
  hooks: HookDeliveries;
  /**
   * Stops the runtime and starts another on the same settings (Redis prefix, clusters file),
   * as a redeploy or a crash restarts the worker: only Redis, the clusters and GitHub (this
   * stand-in, its repository and pull requests) carry over. `rt` is the new one after.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface FakePull {
  number: number;
  head: string;
  base: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  labels: string[];
  /** Who opened it; the app's bot when absent (the PRs the app opens). */
  author?: string;
}

export interface FakeDeployment {
  id: number;
  sha: string;
  environment: string;
  created_at: string;
  /** Oldest first, as posted. */
  statuses: { state: string; created_at: string }[];
}

export interface FakeGit {
  refs: Map<string, string>;
  files: Map<string, RepoFiles>;
  pulls: FakePull[];
  /** GitHub Deployments the app created, with their statuses (what rollback reads back). */
  deployments: FakeDeployment[];
  /** Blobs created through the Git Data API, by sha. */
  blobs: Map<string, string>;
  /** Labels on issues and PRs that are not FakePulls (previewed PRs), by number. */
  issueLabels: Map<number, string[]>;
  /** The repository's labels, with GitHub's 422 for one created twice. */
  repoLabels: Map<string, { color: string; description: string }>;
}

/** A real `pull_request` payload from GitHub's examples, pointed at our fixture repo. */
export function prPayload(action: 'opened' | 'synchronize', pr: number, headSha: string, baseSha: string): Record<string, unknown> {
  // The example of this very action: a synchronize carries before/after, an opened does not.
  const p = webhookExample('pull_request', action);
  p['number'] = pr;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  for (const repo of [p['repository'], p['pull_request']['head']['repo'], p['pull_request']['base']['repo']]) {
    repo.name = REPO.name;
    repo.full_name = `${REPO.owner}/${REPO.name}`;
    repo.owner.login = REPO.owner;
    repo.id = REPO.id;
    repo.default_branch = 'main';
  }
  p['pull_request']['number'] = pr;
  p['pull_request']['head']['sha'] = headSha;
  p['pull_request']['base']['ref'] = 'main';
  p['pull_request']['base']['sha'] = baseSha;
  p['pull_request']['updated_at'] = new Date(nextEventTime() * 1000).toISOString();
  if (action === 'synchronize') {
    p['after'] = headSha;
    p['before'] = sha(`before-${headSha}`);
  }
  return p;
}

/** GitHub's event clock: every payload built here is a second later than the previous one. */
let eventClock = Math.floor(Date.now() / 1000);
/**
 * A `push` webhook of `s` to `branch` (default main), as GitHub sends it. With `before`,
 * the commits list the files that differ between the two commits' files, as GitHub's do;
 * without, it is the first push of the branch (nothing to compare with).
 */
export function pushPayload(s: string, opts: { branch?: string; pushedAt?: number; before?: string; commits?: number; forced?: boolean; beforeFiles?: Record<string, unknown>; afterFiles?: Record<string, unknown> } = {}): ReturnType<typeof webhookExample> {
  const p = webhookExample('push');
  p['ref'] = `refs/heads/${opts.branch ?? 'main'}`;
  p['after'] = s;
  p['deleted'] = false;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main', fork: false, pushed_at: opts.pushedAt ?? nextEventTime() });
  p['repository'].owner.login = REPO.owner;
  p['repository'].owner.name = REPO.owner;
  if (opts.before) {
    const [a, b] = [opts.beforeFiles ?? {}, opts.afterFiles ?? {}];
    const differs = (f: string): boolean => JSON.stringify(a[f]) !== JSON.stringify(b[f]);
    const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter(differs).sort();
    const example = webhookExample('push', undefined, (x) => x['commits']?.length > 0)['commits'][0];
    const commit = (i: number) => ({
      ...structuredClone(example),
      id: i === 0 ? s : sha(`${s}-${i}`),
      tree_id: sha(`tree-${s}-${i}`),
      message: `commit ${i}`,
      // Later commits touch the first file again: the union is what the push changed.
      added: i === 0 ? names.filter((f) => !(f in a)) : [],
      removed: i === 0 ? names.filter((f) => !(f in b)) : [],
      modified: i === 0 ? names.filter((f) => f in a && f in b) : names.slice(0, 1),
    });
    const commits = Array.from({ length: opts.commits ?? 1 }, (_, i) => commit(i)).reverse();
    Object.assign(p, { before: opts.before, created: false, forced: opts.forced ?? false, commits, head_commit: commits.at(-1), compare: `https://github.com/${REPO.owner}/${REPO.name}/compare/${opts.before.slice(0, 12)}...${s.slice(0, 12)}` });
  }
  return p;
}

export function nextEventTime(): number {
  return ++eventClock;
}

/**
 * Resolves once `queue` has no job waiting, running or due: what a test that reads the queue
 * (or GitHub's call log) "afterwards" must wait for. A job's last GitHub call comes a moment
 * before BullMQ records it completed, so seeing that call is not seeing the job done.
 */
export function queueIdle(queue: { name: string; getJobCounts(...types: string[]): Promise<Record<string, number>> }, timeoutMs = 60_000): Promise<true> {
  return waitFor(async () => Object.values(await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')).every((n) => n === 0) || undefined, `the ${queue.name} queue idle`, timeoutMs);
}

export function sha(seed: string): string {
  return crypto.createHash('sha1').update(seed).digest('hex');
}

/**
 * Jest-free, so `npm run bench` drives the same runtime. `clustersYaml` null runs mergeops
 * as the README's getting-started does: no MERGEOPS_CLUSTERS, so no policy, the test
 * cluster as the process's own kubeconfig (KUBECONFIG) — cluster "default".
 */
export async function startHarness(clustersYaml: string | null, env: Record<string, string> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  githubOnlyThroughNock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-it-'));
  const clustersFile = path.join(dir, 'clusters.yaml');
  const kubeconfigBefore = process.env['KUBECONFIG'];
  if (clustersYaml === null) process.env['KUBECONFIG'] = process.env['MERGEOPS_TEST_KUBECONFIG'] ?? '';
  else fs.writeFileSync(clustersFile, clustersYaml.replace('$KUBECONFIG', process.env['MERGEOPS_TEST_KUBECONFIG'] ?? ''));
  const prefix = env['MERGEOPS_REDIS_PREFIX'] ?? `mergeops-test-${crypto.randomUUID().slice(0, 8)}`;
  const settings = loadSettings({
    REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'],
    MERGEOPS_REDIS_PREFIX: prefix,
    ...(clustersYaml === null ? {} : { MERGEOPS_CLUSTERS: clustersFile }),
    PORT: '0',
    HOST: '127.0.0.1',
    MERGEOPS_WORKER_CONCURRENCY: '2',
    MERGEOPS_HEALTH_POLL_MS: '200',
    // Pacing would make a test wait out GitHub's minute; the contract still refuses more
    // than 80 writes a minute within one test (see contract-guard.ts).
    MERGEOPS_GITHUB_WRITES_PER_MINUTE: '0',
    // Catch-up's reads at start would land in every test's call list; its own tests turn it on.
    MERGEOPS_CATCH_UP_INTERVAL_MS: '0',
    // Likewise drift checks a watch would start on other tests' hand edits; the drift tests choose.
    MERGEOPS_DRIFT_TRIGGER: 'interval',
    ...env,
  });
  // One logger for mergeops, Probot and Octokit, as main.ts wires it: a test that reads the
  // logs (the secret scan) reads all three.
  const start = (): Promise<Runtime> => startRuntime({ ...settings, webhookSecret: WEBHOOK_SECRET }, opts.probot ?? testProbot(opts.log), opts.log ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }));
  let rt = await start();
  const calls: Recorded[] = [];
  // What GitHub holds, so listing a PR's comments returns what was posted, as GitHub does
  // (`user`: the author, when someone other than the app posted it).
  const comments = new Map<number, { id: number; pr: number; body: string; user?: { login: string; type: string } }>();
  // A faulted call is recorded with its status, so tests can count what GitHub refused.
  const fault = async (method: string, uri: string, body: unknown): Promise<FaultReply | undefined> => {
    const f = await opts.fault?.(method, uri, body);
    if (f) calls.push({ at: Date.now(), method, path: uri, body, status: f[0] });
    return f;
  };
  const tarballs = new Map<string, Buffer>();
  let nextCheckId = 1000;
  let nextCommentId = 9000;
  const repoPath = `/repos/${REPO.owner}/${REPO.name}`;
  const merges = new Map<string, number>();
  let nextDeploymentId = 500;
  const otherRepos = new Map<string, RepoFiles>();
  const git: FakeGit = { refs: new Map(), files: new Map(), pulls: [], deployments: [], blobs: new Map(), issueLabels: new Map(), repoLabels: new Map() };
  const contract = new GitHubContract({ appId: APP_ID, privateKey: PRIVATE_KEY, secondaryLimits: opts.secondaryLimits ?? true, ...(opts.rateWindowMs ? { rateWindowMs: opts.rateWindowMs } : {}) });
  // What GitHub refused is recorded with its status, like a fault, so tests can count it.
  const refused = (req: StandInRequest, reply: StandInReply): void => {
    if (!req.uri.startsWith('/app/')) calls.push({ at: Date.now(), method: req.method, path: req.uri, body: req.body ?? null, status: reply[0] });
  };
  const record = (req: StandInRequest): void => void calls.push({ at: Date.now(), method: req.method, path: req.uri, body: req.body ?? null });
  const hooks = new HookDeliveries(() => GITHUB);
  hooks.url = rt.url as string;
  const routes: Route[] = [
    ...hooks.routes(),
    {
      method: 'POST',
      path: /^\/app\/installations\/\d+\/access_tokens$/,
      handle: (req) => [201, { ...contract.issueToken(Number(req.uri.split('/')[3])), permissions: {}, repository_selection: 'all' }],
    },
    appRoute(APP_ID),
    {
      // GitHub answers archive requests with a redirect to its download host and a short-lived token.
      method: 'GET',
      path: new RegExp(`^${repoPath}/tarball/[0-9a-f]+$`),
      handle: (req) => {
        record(req);
        const s = req.uri.split('/').pop() as string;
        if (!tarballs.has(s)) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/contents#download-a-repository-archive-tar', status: '404' }];
        const download = `/${REPO.owner}/${REPO.name}/legacy.tar.gz/${s}`;
        return [302, '', { location: `${DOWNLOAD_HOST}${download}?token=${contract.issueDownload(download)}` }];
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^/${REPO.owner}/${REPO.name}/legacy\\.tar\\.gz/[0-9a-f]+\\?token=`),
      handle: async (req) => {
        const delay = Number(env['TEST_TARBALL_DELAY_MS'] ?? 0);
        if (delay) await new Promise((r) => setTimeout(r, delay));
        const t = tarballs.get(req.url.pathname.split('/').pop() as string);
        return t ? [200, t, { 'content-type': 'application/x-gzip' }] : [404, '404: Not Found'];
      },
    },
    {
      method: 'POST',
      path: `${repoPath}/check-runs`,
      handle: (req) => {
        record(req);
        const id = ++nextCheckId;
        (calls.at(-1) as Recorded).checkRunId = id;
        contract.checkRunCreated(id);
        return [201, { id }, { 'x-ratelimit-remaining': '4990' }];
      },
    },
    {
      method: 'PATCH',
      path: new RegExp(`^${repoPath}/check-runs/\\d+$`),
      handle: (req) => {
        record(req);
        return [200, { id: Number(req.uri.split('/').pop()) }];
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^${repoPath}/issues/\\d+/comments(\\?|$)`),
      handle: (req) => {
        record(req);
        const pr = Number(/issues\/(\d+)\/comments/.exec(req.uri)?.[1]);
        return [200, [...comments.values()].filter((c) => c.pr === pr).map((c) => ({ id: c.id, body: c.body, user: c.user ?? { type: 'Bot', login: BOT_LOGIN } }))];
      },
    },
    {
      method: 'POST',
      path: new RegExp(`^${repoPath}/issues/\\d+/comments$`),
      handle: (req) => {
        record(req);
        const id = ++nextCommentId;
        const text = (req.body as { body: string }).body;
        comments.set(id, { id, pr: Number(/issues\/(\d+)\/comments/.exec(req.uri)?.[1]), body: text });
        return [201, { id, body: text, user: { type: 'Bot', login: BOT_LOGIN } }];
      },
    },
    {
      method: 'PATCH',
      path: new RegExp(`^${repoPath}/issues/comments/\\d+$`),
      handle: (req) => {
        record(req);
        const id = Number(req.uri.split('/').pop());
        const c = comments.get(id);
        if (!c) return [404, { message: 'Not Found' }];
        c.body = (req.body as { body: string }).body;
        return [200, { id }];
      },
    },
    {
      method: 'DELETE',
      path: new RegExp(`^${repoPath}/issues/comments/\\d+$`),
      handle: (req) => {
        record(req);
        const id = Number(req.uri.split('/').pop());
        if (!comments.delete(id)) return [404, { message: 'Not Found' }];
        return [204, ''];
      },
    },
    {
      method: 'POST',
      path: `${repoPath}/deployments`,
      handle: (req) => {
        record(req);
        const b = req.body as { ref: string; environment: string };
        const d: FakeDeployment = { id: ++nextDeploymentId, sha: b.ref, environment: b.environment, created_at: new Date().toISOString(), statuses: [] };
        git.deployments.push(d);
        return [201, { id: d.id, sha: d.sha, environment: d.environment, created_at: d.created_at }];
      },
    },
    {
      method: 'POST',
      path: new RegExp(`^${repoPath}/deployments/\\d+/statuses$`),
      handle: (req) => {
        record(req);
        const d = git.deployments.find((x) => x.id === Number(/deployments\/(\d+)\/statuses/.exec(req.uri)?.[1]));
        if (!d) return [404, { message: 'Not Found' }];
        const state = (req.body as { state: string }).state;
        d.statuses.push({ state, created_at: new Date().toISOString() });
        return [201, { id: d.statuses.length, state }];
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^${repoPath}/commits/[0-9a-f]+/pulls`),
      handle: (req) => {
        record(req);
        const s = /commits\/([0-9a-f]+)\/pulls/.exec(req.uri)?.[1] ?? '';
        const pr = merges.get(s);
        return [200, pr ? [{ number: pr, merged_at: new Date().toISOString() }] : []];
      },
    },
    {
      // The files a pull request (base...head) or a push (before...after) changed.
      method: 'GET',
      path: new RegExp(`^${repoPath}/compare/[^/?]+`),
      handle: (req) => {
        record(req);
        return compareReply(GITHUB, { owner: REPO.owner, name: REPO.name }, req.url.pathname.split('/compare/')[1] ?? '', (s) => git.files.get(s));
      },
    },
    {
      // The contents of the owner's other repositories (the organisation's defaults) on their
      // default branch (no ref); reads at a ref are left to routes a test adds for a repository.
      method: 'GET',
      path: new RegExp(`^/repos/${REPO.owner}/(?!${REPO.name}/)[^/]+/contents/[^?]+$`),
      handle: (req) => {
        record(req);
        const name = req.url.pathname.split('/')[3] as string;
        const file = decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? '');
        const content = otherRepos.get(name)?.[file];
        return typeof content === 'string' ? [200, content, { 'content-type': 'application/vnd.github.raw; charset=utf-8' }] : [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/contents#get-repository-content', status: '404' }];
      },
    },
    ...gitDataRoutes(git, record, tarballs),
  ];
  const github = standIn(contract, routes, {
    apiBase: GITHUB,
    onRefusal: refused,
    before: (req) => {
      if (req.url.origin !== GITHUB || req.uri.startsWith('/app/')) return undefined;
      return fault(req.method, req.uri, req.body ?? null);
    },
  });
  // Writes in flight at GitHub (the App's own token calls aside), for "one at a time".
  let inFlight = 0;
  let maxInFlight = 0;
  const timedGithub = {
    ...github,
    dispatch: async (raw: Parameters<typeof github.dispatch>[0]) => {
      const write = raw.method.toUpperCase() !== 'GET' && !new URL(raw.url).pathname.startsWith('/app');
      if (!write) return github.dispatch(raw);
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      try {
        if (opts.writeLatencyMs) await new Promise((r) => setTimeout(r, opts.writeLatencyMs));
        return await github.dispatch(raw);
      } finally {
        inFlight--;
      }
    },
  };
  interceptWithNock(timedGithub, [GITHUB, DOWNLOAD_HOST]);

  const reported = async (s: string): Promise<void> => {
    await waitFor(async () => {
      const open = await rt.queues.deployReport.getJobs(['waiting', 'active', 'delayed', 'prioritized']);
      return open.some((j) => j.data.sha === s) ? undefined : true;
    }, `the deploy report of ${s.slice(0, 7)} to settle`, 60_000);
  };

  return {
    get rt() {
      return rt;
    },
    restart: async () => {
      await rt.stop();
      rt = await start();
      hooks.url = rt.url as string;
    },
    prefix: settings.redisPrefix,
    calls,
    tarballs,
    push: async (s, files) => {
      git.files.set(s, files);
      tarballs.set(s, await makeTarball(files, `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    },
    git,
    otherRepos,
    hooks,
    open: async (pr, headSha, opts = {}) => {
      const p = prPayload(opts.action ?? 'opened', pr, headSha, opts.baseSha ?? sha('no-base')) as Record<string, any>; // fixture JSON is untyped
      // As GitHub does, the event lists the labels the PR has now.
      p['pull_request'].labels = (git.issueLabels.get(pr) ?? []).map((name, i) => ({ id: i + 1, node_id: `LA_${i + 1}`, url: `${GITHUB}/repos/${REPO.owner}/${REPO.name}/labels/${encodeURIComponent(name)}`, name, color: git.repoLabels.get(name)?.color ?? 'ededed', default: false, description: git.repoLabels.get(name)?.description ?? null }));
      const res = await deliver(rt.url as string, 'pull_request', p);
      return res.status;
    },
    waitForPreview: async (s) => {
      const start = await waitFor(() => calls.find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s), `check run start for ${s}`);
      // Check ids are handed out in order, so the matching PATCH is the one to our id.
      const checkId = 1000 + calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs')).indexOf(start) + 1;
      const check = await waitFor(() => calls.find((c) => c.method === 'PATCH' && !c.status && c.path.endsWith(`/check-runs/${checkId}`) && c.body.status === 'completed'), `check completion for ${s}`);
      // The comment names the commit; several PRs may be previewing at once.
      const comment = await waitFor(() => calls.slice(calls.indexOf(start)).find((c) => c.path.includes('/comments') && c.method !== 'GET' && !c.status && String(c.body?.body).includes(s.slice(0, 7))), `comment for ${s}`);
      return { start, check, comment };
    },
    lastCommentId: () => nextCommentId,
    postedBy: (pr, user, body) => {
      const id = ++nextCommentId;
      comments.set(id, { id, pr, body, user });
      return id;
    },
    serve: (more) => void routes.push(...more),
    maxWritesInFlight: () => maxInFlight,
    rateLimited: () => contract.rateLimited,
    tokens: () => contract.issuedTokens(),
    pushEvent: async (s, opts = {}) => {
      if (opts.mergedPr) merges.set(s, opts.mergedPr);
      // A push moves the branch, as on GitHub; a replayed delivery of an old push does not.
      if (!opts.replay) git.refs.set(opts.branch ?? 'main', s);
      const p = pushPayload(s, { ...opts, ...(opts.before ? { beforeFiles: git.files.get(opts.before) ?? {}, afterFiles: git.files.get(s) ?? {} } : {}) });
      const res = await deliver(rt.url as string, 'push', p, opts.id ? { id: opts.id } : {});
      return res.status;
    },
    waitForDeploy: async (s) => {
      const start = await waitFor(() => calls.find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s && c.body.name === 'mergeops / deploy'), `deploy check for ${s}`, 60_000);
      // A deploy reports after its apply: its check run is created completed, in one request.
      const done = start.body.status === 'completed' ? start : await waitFor(() => calls.find((c) => c.method === 'PATCH' && !c.status && c.path.endsWith(`/check-runs/${start.checkRunId}`) && c.body.status === 'completed'), `deploy completion for ${s}`, 60_000);
      await reported(s);
      return done;
    },
    deployReported: reported,
    stop: async () => {
      await rt.stop();
      if (clustersYaml === null) {
        if (kubeconfigBefore === undefined) delete process.env['KUBECONFIG'];
        else process.env['KUBECONFIG'] = kubeconfigBefore;
      }
      nock.cleanAll();
      nock.enableNetConnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * GitHub's Git Data, contents and pulls endpoints over an in-memory repository: enough for
 * the image-bump flow to read branches, write trees/commits/refs and open or update PRs.
 * A commit created here gets a tarball too, so the bump PR's preview can fetch it.
 */
function gitDataRoutes(git: FakeGit, record: (req: StandInRequest) => void, tarballs: Map<string, Buffer>): Route[] {
  const repoPath = `/repos/${REPO.owner}/${REPO.name}`;
  // An entry carries its content inline, or a blob sha, or `sha: null` to delete the path (as GitHub's create-a-tree does).
  const trees = new Map<string, { base: string; entries: { path: string; content?: string; sha?: string | null }[] }>();
  const commits = new Map<string, { tree: string; parents: string[] }>();
  const treeOf = (commit: string): string => commits.get(commit)?.tree ?? `tree-of-${commit}`;
  const filesOfTree = (tree: string): RepoFiles => {
    const t = trees.get(tree);
    if (!t) return git.files.get(tree.replace(/^tree-of-/, '')) ?? {};
    const out = { ...filesOfTree(t.base) };
    for (const e of t.entries) {
      if (e.content !== undefined) out[e.path] = e.content;
      else if (e.sha === null) delete out[e.path];
      else if (e.sha && git.blobs.has(e.sha)) out[e.path] = git.blobs.get(e.sha) as string;
    }
    return out;
  };
  const route = (method: string, path: RegExp | string, handle: (req: StandInRequest) => StandInReply | Promise<StandInReply>): Route => ({
    method,
    path,
    handle: (req) => {
      record(req);
      return handle(req);
    },
  });
  const notFound: StandInReply = [404, { message: 'Not Found' }];
  return [
    route('GET', repoPath, () => [200, { id: REPO.id, name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, default_branch: 'main', owner: { login: REPO.owner }, allow_auto_merge: true }]),
    // Octokit sends the ref URL-encoded (`heads%2Fmain`), as GitHub accepts it.
    route('GET', new RegExp(`^${repoPath}/git/ref/.+`), (req) => {
      const branch = decodeURIComponent(req.uri.split('/git/ref/')[1] ?? '').replace(/^heads\//, '');
      const head = git.refs.get(branch);
      return head ? [200, { ref: `refs/heads/${branch}`, object: { sha: head, type: 'commit' } }] : notFound;
    }),
    route('GET', new RegExp(`^${repoPath}/git/commits/[0-9a-f]+$`), (req) => {
      const s = req.uri.split('/').pop() as string;
      return [200, { sha: s, tree: { sha: treeOf(s) }, parents: (commits.get(s)?.parents ?? []).map((p) => ({ sha: p })) }];
    }),
    route('POST', `${repoPath}/git/blobs`, (req) => {
      const b = req.body as { content: string; encoding?: string };
      const text = b.encoding === 'base64' ? Buffer.from(b.content, 'base64').toString('utf8') : b.content;
      const blob = crypto.createHash('sha1').update(`blob ${Buffer.byteLength(text)}\0${text}`).digest('hex');
      git.blobs.set(blob, text);
      return [201, { sha: blob, url: `${GITHUB}${repoPath}/git/blobs/${blob}` }];
    }),
    route('POST', `${repoPath}/git/trees`, (req) => {
      const b = req.body as { base_tree: string; tree: { path: string; content?: string; sha?: string | null }[] };
      // Git names a tree by its content: the same files give the same sha.
      const tree = sha(JSON.stringify(filesOfTree(b.base_tree)) + JSON.stringify(b.tree));
      trees.set(tree, { base: b.base_tree, entries: b.tree });
      return [201, { sha: tree }];
    }),
    route('POST', `${repoPath}/git/commits`, async (req) => {
      const b = req.body as { tree: string; parents: string[] };
      const commit = sha(`${b.tree}${Date.now()}${Math.random()}`);
      commits.set(commit, { tree: b.tree, parents: b.parents });
      const files = filesOfTree(b.tree);
      git.files.set(commit, files);
      tarballs.set(commit, await makeTarball(files, `${REPO.owner}-${REPO.name}-${commit.slice(0, 7)}`));
      return [201, { sha: commit }];
    }),
    route('POST', `${repoPath}/git/refs`, (req) => {
      const b = req.body as { ref: string; sha: string };
      const branch = b.ref.replace('refs/heads/', '');
      if (git.refs.has(branch)) return [422, { message: 'Reference already exists' }];
      git.refs.set(branch, b.sha);
      return [201, { ref: b.ref, object: { sha: b.sha } }];
    }),
    route('PATCH', new RegExp(`^${repoPath}/git/refs/.+`), (req) => {
      const branch = decodeURIComponent(req.uri.split('/git/refs/')[1] ?? '').replace(/^heads\//, '');
      if (!git.refs.has(branch)) return [422, { message: 'Reference does not exist' }];
      git.refs.set(branch, (req.body as { sha: string }).sha);
      return [200, { ref: `refs/heads/${branch}`, object: { sha: (req.body as { sha: string }).sha } }];
    }),
    route('GET', new RegExp(`^${repoPath}/contents/.+`), (req) => {
      const file = decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? '');
      const ref = req.url.searchParams.get('ref') ?? 'main';
      const content = git.files.get(git.refs.get(ref) ?? ref)?.[file];
      return typeof content === 'string' ? [200, content, { 'content-type': 'text/plain; charset=utf-8' }] : notFound;
    }),
    route('GET', new RegExp(`^${repoPath}/pulls(\\?|$)`), (req) => {
      const head = (req.url.searchParams.get('head') ?? '').split(':')[1];
      const base = req.url.searchParams.get('base');
      const state = req.url.searchParams.get('state') ?? 'open';
      const open = git.pulls.filter((p) => (state === 'all' || p.state === state) && (!head || p.head === head) && (!base || p.base === base));
      const repo = { full_name: `${REPO.owner}/${REPO.name}` };
      return [200, open.map((p) => ({
        number: p.number,
        title: p.title,
        state: p.state,
        merged_at: null,
        node_id: `PR_${p.number}`,
        html_url: `https://github.com/${REPO.owner}/${REPO.name}/pull/${p.number}`,
        user: { login: p.author ?? BOT_LOGIN },
        head: { ref: p.head, sha: git.refs.get(p.head) ?? '', repo },
        base: { ref: p.base, sha: git.refs.get(p.base) ?? '', repo },
      }))];
    }),
    route('POST', `${repoPath}/pulls`, (req) => {
      const b = req.body as { title: string; head: string; base: string; body: string };
      const pr: FakePull = { number: 100 + git.pulls.length, head: b.head, base: b.base, title: b.title, body: b.body, state: 'open', labels: [] };
      git.pulls.push(pr);
      return [201, { number: pr.number, node_id: `PR_${pr.number}`, html_url: `https://github.com/${REPO.owner}/${REPO.name}/pull/${pr.number}` }];
    }),
    route('PATCH', new RegExp(`^${repoPath}/pulls/\\d+$`), (req) => {
      const pr = git.pulls.find((p) => p.number === Number(req.uri.split('/').pop()));
      if (!pr) return notFound;
      Object.assign(pr, req.body);
      return [200, { number: pr.number }];
    }),
    route('POST', new RegExp(`^${repoPath}/issues/\\d+/labels$`), (req) => {
      const n = Number(req.uri.split('/')[5]);
      const pr = git.pulls.find((p) => p.number === n);
      const list = pr?.labels ?? git.issueLabels.get(n) ?? [];
      for (const l of (req.body as { labels: string[] }).labels) if (!list.includes(l)) list.push(l);
      if (!pr) git.issueLabels.set(n, list);
      return [200, list.map((name) => ({ name }))];
    }),
    route('GET', new RegExp(`^${repoPath}/issues/\\d+/labels(\\?.*)?$`), (req) => {
      const n = Number(req.url.pathname.split('/')[5]);
      const list = git.pulls.find((p) => p.number === n)?.labels ?? git.issueLabels.get(n) ?? [];
      return [200, list.map((name, i) => ({ id: i + 1, name, color: git.repoLabels.get(name)?.color ?? 'ededed' }))];
    }),
    route('DELETE', new RegExp(`^${repoPath}/issues/\\d+/labels/.+`), (req) => {
      const parts = req.url.pathname.split('/');
      const n = Number(parts[5]);
      const name = decodeURIComponent(parts[7] ?? '');
      const list = git.pulls.find((p) => p.number === n)?.labels ?? git.issueLabels.get(n) ?? [];
      if (!list.includes(name)) return [404, { message: 'Label does not exist' }];
      list.splice(list.indexOf(name), 1);
      return [200, list.map((l) => ({ name: l }))];
    }),
    route('GET', new RegExp(`^${repoPath}/labels/.+`), (req) => {
      const name = decodeURIComponent(req.url.pathname.split('/labels/')[1] ?? '');
      const l = git.repoLabels.get(name);
      return l ? [200, { name, ...l }] : notFound;
    }),
    route('POST', `${repoPath}/labels`, (req) => {
      const b = req.body as { name: string; color: string; description: string };
      if (git.repoLabels.has(b.name)) return [422, { message: 'Validation Failed', errors: [{ resource: 'Label', code: 'already_exists', field: 'name' }] }];
      git.repoLabels.set(b.name, { color: b.color, description: b.description });
      return [201, { name: b.name, color: b.color, description: b.description }];
    }),
    route('POST', '/graphql', () => [200, { data: { enablePullRequestAutoMerge: { clientMutationId: null } } }]),
  ];
}
