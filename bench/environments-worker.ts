/**
 * One scenario of the environments benchmark (the merge or the preview), in its own
 * process: the whole runtime on the in-process harness (fastify + Probot + BullMQ worker,
 * real API servers and Redis, GitHub stood in by nock), driven by signed
 * webhooks. Reads an EnvironmentsJob as JSON from argv[2]; prints an EnvironmentsResult as
 * JSON on stdout; progress on stderr.
 */
// First: it keeps Node's HTTP functions from before nock loads (see bench/harness.ts).
import './http-originals.js';
import crypto from 'node:crypto';
import type { Cluster } from '../src/cluster/connect.js';
import { sha, startHarness, type Harness } from '../test/support/harness.js';
import { connect, createNamespace, dropKeys, log, sleep } from './common.js';
import { ENVIRONMENTS, type EnvironmentsJob, type EnvironmentsResult } from './environments-shared.js';
import { harnessEnv, productionLog, productionProbot } from './harness.js';

/** Octokit spaces comment POSTs 3 s apart: runs are spaced so none waits for the one before. */
const NOTIFICATION_GAP_MS = 3100;

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n  payload: "${'x'.repeat(200)}"\n`;

/** The environments a scenario deploys to: staging alone (today's single environment) or all three. */
const envsOf = (job: EnvironmentsJob): (typeof ENVIRONMENTS)[number][] => (job.environments === 1 ? ['staging'] : [...ENVIRONMENTS]);

/** The operator's clusters file: one API server per environment, bench namespaces only. */
function clustersYaml(job: EnvironmentsJob): string {
  const grants = '    grants:\n      - repos: ["acme/*"]\n        namespaces: ["bench-*"]\n';
  const kubeconfigs = job.appKubeconfigs ?? job.kubeconfigs;
  return `clusters:\n${ENVIRONMENTS.map((e) => `  ${e}:\n    kubeconfig: ${kubeconfigs[e]}\n${grants}`).join('')}`;
}

/**
 * `.github/mergeops.yml`: with one environment, today's config (no environments:, the app on
 * the staging cluster); with three, staging then prod-eu and prod-us side by side, soak 0.
 */
function config(job: EnvironmentsJob, ns: string, apps: string[]): string {
  const wait = '    wait: 0s\n';
  if (job.environments === 1) return `apps:\n${apps.map((a) => `  - name: ${a}\n    path: deploy/${a}/staging\n    cluster: staging\n    namespace: ${ns}-staging\n${wait}`).join('')}`;
  const envs = 'environments:\n  - name: staging\n    cluster: staging\n  - name: prod-eu\n    cluster: prod-eu\n    after: [staging]\n    soak: 0s\n  - name: prod-us\n    cluster: prod-us\n    after: [staging]\n    soak: 0s\n';
  return `${envs}apps:\n${apps.map((a) => `  - name: ${a}\n    path: deploy/${a}/{env}\n    namespace: ${ns}-{env}\n${wait}`).join('')}`;
}

async function clusters(job: EnvironmentsJob): Promise<Map<string, Cluster>> {
  const out = new Map<string, Cluster>();
  for (const e of envsOf(job)) out.set(e, await connect(job.kubeconfigs[e]));
  return out;
}

/** The runtime as an operator runs it: Probot's Octokit defaults, writes paced at 80/min. */
function production(job: EnvironmentsJob, env: Record<string, string>): Promise<Harness> {
  return startHarness(clustersYaml(job), env, { probot: productionProbot(), log: productionLog() });
}

/**
 * A watch of one ConfigMap, open once the API server sent its current state: `at` resolves
 * with the time (this process's clock) of the event carrying `value`.
 */
async function landing(cluster: Cluster, namespace: string, name: string, value: string): Promise<{ at: Promise<number>; stop: () => void }> {
  const abort = new AbortController();
  let opened: () => void = () => undefined;
  const open = new Promise<void>((resolve) => (opened = resolve));
  const at = new Promise<number>((resolve, reject) => {
    cluster.client
      .watch(`/api/v1/namespaces/${namespace}/configmaps`, { fieldSelector: `metadata.name=${name}` }, (line) => {
        const e = line as { type?: string; object?: { data?: Record<string, string> } };
        opened();
        if (e.object?.data?.['value'] === value) resolve(Date.now());
      }, abort.signal)
      .catch(reject);
  });
  at.catch(() => undefined);
  await Promise.race([open, at]);
  return { at, stop: () => abort.abort() };
}

/**
 * Merges of one changed object (in every environment's overlay): webhook sent → the new
 * value in the last environment's cluster. The first merge deploys everything (not measured).
 */
async function merges(job: EnvironmentsJob, h: Harness, ns: string, targets: Map<string, Cluster>): Promise<number[]> {
  const envs = envsOf(job);
  const objects = 10;
  const files = (version: number, changed: number): Record<string, string> => {
    const out: Record<string, string> = { '.github/mergeops.yml': config(job, ns, ['web']) };
    for (const e of envs) out[`deploy/web/${e}/app.yaml`] = Array.from({ length: objects }, (_, i) => cm(`web-${i}`, i === changed ? String(version) : '0')).join('---\n');
    return out;
  };
  let head = sha(`env-${ns}-c0`);
  await h.push(head, files(0, -1));
  await h.pushEvent(head, { mergedPr: 1 });
  const first = await h.waitForDeploy(head);
  if (first.body.conclusion !== 'success') throw new Error(`setup deploy concluded ${first.body.conclusion}: ${String(first.body.output?.summary).slice(0, 400)}`);
  const runs: number[] = [];
  for (let r = 1; r <= job.runs; r++) {
    const changed = r % objects;
    const next = sha(`env-${ns}-merge-${r}`);
    await h.push(next, files(r, changed));
    // One watch per environment, open before the webhook: the API server says when the new
    // value landed, and nothing is polled meanwhile (polls would share the worker's CPU, three
    // times over with three environments).
    const landed = await Promise.all(envs.map((e) => landing(targets.get(e) as Cluster, `${ns}-${e}`, `web-${changed}`, String(r))));
    const t0 = Date.now();
    await h.pushEvent(next, { mergedPr: 100 + r, before: head });
    let timer: NodeJS.Timeout | undefined;
    const at = await Promise.race([Promise.all(landed.map((l) => l.at)), new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), 60_000)))]);
    clearTimeout(timer);
    for (const l of landed) l.stop();
    if (!at) throw new Error(`merge ${r}: not applied in every environment within 60 s`);
    const ms = Math.max(...at) - t0;
    runs.push(ms);
    // The report (check, Deployments) is GitHub bookkeeping after the apply: let it finish before the next run.
    await h.waitForDeploy(next);
    log(`environments ×${envs.length}: merge ${r}/${job.runs}: last environment applied after ${ms} ms`);
    head = next;
  }
  return runs;
}

/** PRs changing one object of one app of `job.apps`: webhook sent → the preview comment written. */
async function previews(job: EnvironmentsJob, h: Harness, ns: string): Promise<number[]> {
  const apps = Array.from({ length: job.apps }, (_, i) => `app-${i}`);
  const perApp = 5;
  const files = (changedApp: number, version: number): Record<string, string> => {
    const out: Record<string, string> = { '.github/mergeops.yml': config(job, ns, apps) };
    for (const [i, a] of apps.entries()) {
      for (const e of envsOf(job)) out[`deploy/${a}/${e}/app.yaml`] = Array.from({ length: perApp }, (_, j) => cm(`${a}-${j}`, i === changedApp && j === 0 ? String(version) : '0')).join('---\n');
    }
    return out;
  };
  const base = sha(`env-${ns}-base`);
  await h.push(base, files(-1, 0));
  const runs: number[] = [];
  let lastComment = 0;
  for (let r = 1; r <= job.runs; r++) {
    const head = sha(`env-${ns}-pr-${r}`);
    await h.push(head, files(r % job.apps, r));
    await sleep(Math.max(0, lastComment + NOTIFICATION_GAP_MS - Date.now()));
    const t0 = Date.now();
    const status = await h.open(2000 + r, head, { baseSha: base });
    if (status !== 202) throw new Error(`pull_request webhook answered ${status}`);
    const { comment, check } = await h.waitForPreview(head);
    if (check.body.conclusion !== 'success') throw new Error(`preview ${r} concluded ${check.body.conclusion}: ${String(check.body.output?.summary).slice(0, 400)}`);
    lastComment = comment.at;
    runs.push(comment.at - t0);
    log(`environments ${job.apps} apps × ${envsOf(job).length}: PR ${r}/${job.runs}: comment after ${comment.at - t0} ms`);
    // The check completes one write slot after the comment.
    await sleep(1100);
  }
  return runs;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as EnvironmentsJob;
  process.env['MERGEOPS_TEST_KUBECONFIG'] = job.kubeconfigs.staging;
  const ns = `bench-env-${crypto.randomUUID().slice(0, 6)}`;
  const targets = await clusters(job);
  for (const [e, c] of targets) await createNamespace(c, `${ns}-${e}`);
  const env = harnessEnv({
    // 40 apps × 3 environments are 120 deployable units, over the default cap of 50.
    MERGEOPS_MAX_APPS_PER_REPO: '200',
    MERGEOPS_DRIFT_INTERVAL_MS: '0',
    MERGEOPS_CATCH_UP_INTERVAL_MS: '0',
  });
  const h = await production(job, env);
  let result: EnvironmentsResult;
  try {
    if (job.scenario === 'merge') result = { scenario: 'merge', environments: job.environments, runs: await merges(job, h, ns, targets) };
    else result = { scenario: 'preview', environments: job.environments, runs: await previews(job, h, ns) };
  } finally {
    await h.stop();
    for (const [e, c] of targets) {
      // The test API servers run no namespace controller: delete what the scenario made.
      for (const kind of ['configmaps']) await c.client.request('DELETE', `/api/v1/namespaces/${ns}-${e}/${kind}`).catch(() => undefined);
      await c.client.request('DELETE', `/apis/apps/v1/namespaces/${ns}-${e}/deployments`).catch(() => undefined);
      c.client.close();
    }
    await dropKeys(job.redisUrl, env['MERGEOPS_REDIS_PREFIX'] as string);
  }
  process.stdout.write(`${JSON.stringify(result)}\n`, () => process.exit(0));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
