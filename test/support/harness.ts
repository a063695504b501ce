import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import nock from 'nock';
import { pino, type Logger } from 'pino';
import type { Probot } from 'probot';
import { loadSettings } from '../../src/config/settings.js';
import { startRuntime, type Runtime } from '../../src/runtime.js';
import { GITHUB, INSTALLATION_ID, type RepoFiles, WEBHOOK_SECRET, deliver, githubOnlyThroughNock, makeTarball, testProbot, tokenInterceptor, waitFor } from './github.js';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];

export const REPO = { owner: 'acme', name: 'deploys', id: 777 };

export interface Recorded {
  method: string;
  path: string;
  body: any; // request bodies are JSON of many shapes; tests read the fields they assert
  /** performance.now() when the stand-in saw it: the benchmarks time flows by it. */
  at: number;
}

/**
 * The whole app on real parts — fastify, Probot, BullMQ on a real Redis, the real API
 * server — with nock as GitHub. Every GitHub call is recorded; tarballs are served from
 * `tarballs` by SHA (404 for unknown ones, as GitHub does).
 */
export interface Harness {
  rt: Runtime;
  /** This harness's Redis key prefix. */
  prefix: string;
  calls: Recorded[];
  tarballs: Map<string, Buffer>;
  push(sha: string, files: RepoFiles): Promise<void>;
  open(pr: number, headSha: string, opts?: { baseSha?: string; action?: 'opened' | 'synchronize' }): Promise<number>;
  waitForPreview(sha: string): Promise<{ start: Recorded; check: Recorded; comment: Recorded }>;
  /** Sends a signed `push` of `sha` to `branch`; `mergedPr` makes GitHub report it as that PR's merge. */
  pushEvent(sha: string, opts?: { branch?: string; mergedPr?: number; id?: string; pushedAt?: number }): Promise<number>;
  /** Resolves with the completed `mergeops / deploy` check run of `sha`. */
  waitForDeploy(sha: string): Promise<Recorded>;
  lastCommentId(): number;
  stop(): Promise<void>;
}

/** A real `pull_request` payload from GitHub's examples, pointed at our fixture repo. */
export function prPayload(action: 'opened' | 'synchronize', pr: number, headSha: string, baseSha: string): Record<string, unknown> {
  const base = examples.find((e) => e.name === 'pull_request')?.examples.find((x) => x['action'] === 'opened');
  const p = structuredClone(base) as Record<string, any>; // fixture JSON is untyped
  p['action'] = action;
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
  return p;
}

/** GitHub's event clock: every payload built here is a second later than the previous one. */
let eventClock = Math.floor(Date.now() / 1000);
export function nextEventTime(): number {
  return ++eventClock;
}

export function sha(seed: string): string {
  return crypto.createHash('sha1').update(seed).digest('hex');
}

export interface HarnessOptions {
  /** Instead of the test Probot (retries and write throttling off), e.g. production's. */
  probot?: Probot;
  /** Instead of a silent logger (TEST_LOG_LEVEL), e.g. production's level into /dev/null. */
  log?: Logger;
}

/** Jest-free, so `npm run bench` drives the same runtime. */
export async function startHarness(clustersYaml: string, env: Record<string, string> = {}, opts: HarnessOptions = {}): Promise<Harness> {
  githubOnlyThroughNock();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-it-'));
  const clustersFile = path.join(dir, 'clusters.yaml');
  fs.writeFileSync(clustersFile, clustersYaml.replace('$KUBECONFIG', process.env['MERGEOPS_TEST_KUBECONFIG'] ?? ''));
  const prefix = env['MERGEOPS_REDIS_PREFIX'] ?? `mergeops-test-${crypto.randomUUID().slice(0, 8)}`;
  const settings = loadSettings({
    REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'],
    MERGEOPS_REDIS_PREFIX: prefix,
    MERGEOPS_CLUSTERS: clustersFile,
    PORT: '0',
    HOST: '127.0.0.1',
    MERGEOPS_WORKER_CONCURRENCY: '2',
    MERGEOPS_HEALTH_POLL_MS: '200',
    ...env,
  });
  const rt = await startRuntime({ ...settings, webhookSecret: WEBHOOK_SECRET }, opts.probot ?? testProbot(), opts.log ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }));
  const calls: Recorded[] = [];
  const tarballs = new Map<string, Buffer>();
  let nextCheckId = 1000;
  let nextCommentId = 9000;
  const repoPath = `/repos/${REPO.owner}/${REPO.name}`;
  const merges = new Map<string, number>();
  let nextDeploymentId = 500;
  tokenInterceptor();
  nock(GITHUB)
    .persist()
    .get(new RegExp(`${repoPath}/tarball/[0-9a-f]+$`))
    .delay(Number(env['TEST_TARBALL_DELAY_MS'] ?? 0))
    .reply((uri) => {
      calls.push({ method: 'GET', path: uri, body: null, at: performance.now() });
      const t = tarballs.get(uri.split('/').pop() as string);
      return t ? [200, t, { 'content-type': 'application/x-gzip' }] : [404, { message: 'Not Found' }];
    })
    .post(`${repoPath}/check-runs`)
    .reply((uri, body) => {
      calls.push({ method: 'POST', path: uri, body, at: performance.now() });
      return [201, { id: ++nextCheckId }, { 'x-ratelimit-remaining': '4990' }];
    })
    .patch(new RegExp(`${repoPath}/check-runs/\\d+$`))
    .reply((uri, body) => {
      calls.push({ method: 'PATCH', path: uri, body, at: performance.now() });
      return [200, { id: Number(uri.split('/').pop()) }];
    })
    .get(new RegExp(`${repoPath}/issues/\\d+/comments`))
    .reply((uri) => {
      calls.push({ method: 'GET', path: uri, body: null, at: performance.now() });
      return [200, []];
    })
    .post(new RegExp(`${repoPath}/issues/\\d+/comments$`))
    .reply((uri, body) => {
      calls.push({ method: 'POST', path: uri, body, at: performance.now() });
      return [201, { id: ++nextCommentId, body: (body as { body: string }).body, user: { type: 'Bot', login: 'mergeops[bot]' } }];
    })
    .post(`${repoPath}/deployments`)
    .reply((uri, body) => {
      calls.push({ method: 'POST', path: uri, body, at: performance.now() });
      return [201, { id: ++nextDeploymentId }];
    })
    .post(new RegExp(`${repoPath}/deployments/\\d+/statuses$`))
    .reply((uri, body) => {
      calls.push({ method: 'POST', path: uri, body, at: performance.now() });
      return [201, { id: 1 }];
    })
    .get(new RegExp(`${repoPath}/commits/[0-9a-f]+/pulls`))
    .reply((uri) => {
      calls.push({ method: 'GET', path: uri, body: null, at: performance.now() });
      const s = /commits\/([0-9a-f]+)\/pulls/.exec(uri)?.[1] ?? '';
      const pr = merges.get(s);
      return [200, pr ? [{ number: pr, merged_at: new Date().toISOString() }] : []];
    })
    .patch(new RegExp(`${repoPath}/issues/comments/\\d+$`))
    .reply((uri, body) => {
      calls.push({ method: 'PATCH', path: uri, body, at: performance.now() });
      return [200, { id: Number(uri.split('/').pop()) }];
    });

  return {
    rt,
    prefix,
    calls,
    tarballs,
    push: async (s, files) => {
      tarballs.set(s, await makeTarball(files, `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    },
    open: async (pr, headSha, opts = {}) => {
      const res = await deliver(rt.url as string, 'pull_request', prPayload(opts.action ?? 'opened', pr, headSha, opts.baseSha ?? sha('no-base')));
      return res.status;
    },
    waitForPreview: async (s) => {
      const start = await waitFor(() => calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === s), `check run start for ${s}`);
      // Check ids are handed out in order, so the matching PATCH is the one to our id.
      const checkId = 1000 + calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs')).indexOf(start) + 1;
      const check = await waitFor(() => calls.find((c) => c.method === 'PATCH' && c.path.endsWith(`/check-runs/${checkId}`) && c.body.status === 'completed'), `check completion for ${s}`);
      const comment = await waitFor(() => calls.slice(calls.indexOf(start), calls.indexOf(check)).find((c) => c.path.includes('/comments') && c.method !== 'GET'), `comment for ${s}`);
      return { start, check, comment };
    },
    lastCommentId: () => nextCommentId,
    pushEvent: async (s, opts = {}) => {
      if (opts.mergedPr) merges.set(s, opts.mergedPr);
      const base = examples.find((e) => e.name === 'push')?.examples[0];
      const p = structuredClone(base) as Record<string, any>; // fixture JSON is untyped
      p['ref'] = `refs/heads/${opts.branch ?? 'main'}`;
      p['after'] = s;
      p['deleted'] = false;
      p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
      Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main', fork: false, pushed_at: opts.pushedAt ?? nextEventTime() });
      p['repository'].owner.login = REPO.owner;
      p['repository'].owner.name = REPO.owner;
      const res = await deliver(rt.url as string, 'push', p, opts.id ? { id: opts.id } : {});
      return res.status;
    },
    waitForDeploy: async (s) => {
      const start = await waitFor(() => calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === s && c.body.name === 'mergeops / deploy'), `deploy check for ${s}`, 60_000);
      const checkId = 1000 + calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs')).indexOf(start) + 1;
      return waitFor(() => calls.find((c) => c.method === 'PATCH' && c.path.endsWith(`/check-runs/${checkId}`) && c.body.status === 'completed'), `deploy completion for ${s}`, 60_000);
    },
    stop: async () => {
      await rt.stop();
      nock.cleanAll();
      nock.enableNetConnect();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
