import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { readInventory } from '../../../src/cluster/inventory-store.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { deployJobId } from '../../../src/queue/jobs.js';
import { createQueues, enqueueDeploy, type Queues } from '../../../src/queue/queues.js';
import { createRedis } from '../../../src/redis.js';
import { compiledMain } from '../../support/build.js';
import { spawnMain } from '../../support/main-process.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { INSTALLATION_ID, makeTarball, waitFor } from '../../support/github.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { REPO, sha } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const LOCK_MS = 1500;
/**
 * Kill runs: half a 200-object first deploy, half a deploy that prunes 100 objects (and
 * creates 20, changes 50). The suite runs a few; `MERGEOPS_CRASH_RUNS=20` is the figure in
 * docs/reliability.md. `MERGEOPS_CRASH_SEED` repeats a run's kill points.
 */
const RUNS = Number(process.env['MERGEOPS_CRASH_RUNS'] ?? 4);
const SEED = Number(process.env['MERGEOPS_CRASH_SEED'] ?? Date.now() % 1_000_000);

/** A small seeded generator (mulberry32), so a failing run's kill points can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/**
 * Deploys killed where it hurts, through the deploy worker as an operator runs it (`node
 * dist/main.js` in worker mode, real Redis, a real API server behind a fault proxy, GitHub
 * over HTTP): the worker is SIGKILLed at a random write of the apply, or the API server is
 * unreachable for 10 s in the middle of it. After the retry (another worker process, or
 * the queue's next attempt) the cluster equals Git, every object of the app is in its
 * inventory, and nothing outside Git remains.
 */
describe('deploys killed mid-apply (SIGKILL, API server gone for 10 s)', () => {
  let gh: FakeGitHub;
  let queues: Queues;
  let connection: ReturnType<typeof createRedis>;
  let cluster: Cluster;
  let proxy: FaultProxy;
  let dir: string;
  let ns: string;
  let invNs: string;
  let current: ChildProcess | undefined;
  let main: string;
  const prefix = `mergeops-crash-${crypto.randomUUID().slice(0, 8)}`;
  const children: ChildProcess[] = [];
  const figures: string[] = [];

  beforeAll(async () => {
    main = await compiledMain();
    cluster = await testCluster();
    ns = uniqueName('relcrash');
    invNs = uniqueName('relcrash-inv');
    await namespace(cluster, ns);
    await namespace(cluster, invNs);
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relcrash-'));
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    inventoryNamespace: ${invNs}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relcrash-*"]\n`);
    connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
    queues = createQueues(connection, prefix);
    current = worker();
  }, 180_000);
  afterAll(async () => {
    if (figures.length) process.stderr.write(`deploy crash runs (seed ${SEED}):\n${figures.join('\n')}\n`);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await queues?.close();
    connection?.disconnect();
    await gh?.close();
    await proxy?.close();
    cluster?.client.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `node dist/main.js` in worker mode, as a container would run it. */
  function worker(): ChildProcess {
    const child = spawnMain(main, { dir, gh, prefix, mode: 'worker', env: { MERGEOPS_JOB_LOCK_MS: String(LOCK_MS), MERGEOPS_WORKER_CONCURRENCY: '1' } });
    children.push(child);
    return child;
  }

  const files = (app: string, objects: Record<string, string>): Record<string, string> => ({
    '.github/mergeops.yml': `apps:\n  - name: ${app}\n    path: apps/${app}\n    namespace: ${ns}\n    wait: 0\n`,
    [`apps/${app}/all.yaml`]: Object.entries(objects).map(([name, value]) => cm(name, value)).join('---\n'),
  });
  /** Pushes the commit and queues its deploy as the webhook would; resolves once the job completed. */
  async function deploy(app: string, s: string, objects: Record<string, string>): Promise<void> {
    gh.tarballs.set(s, await makeTarball(files(app, objects), `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    gh.refs.set('main', s);
    const job: DeployJob = { installationId: INSTALLATION_ID, owner: REPO.owner, repo: REPO.name, repoId: REPO.id, sha: s, branch: 'main', defaultBranch: 'main', reason: 'command', apps: [app] };
    expect(await enqueueDeploy(queues, job)).toBe(true);
    await waitFor(
      async () => {
        const j = await queues.deploy.getJob(deployJobId(job));
        if (j && (await j.isFailed())) throw new Error(`deploy of ${s.slice(0, 7)} failed: ${j.failedReason}`);
        return j && (await j.isCompleted()) ? true : undefined;
      },
      `deploy of ${app} at ${s.slice(0, 7)}`,
      120_000,
    );
  }
  /** The deploy's writes the proxy sees (one app deploys at a time): its objects and its inventory, not Lease renewals. */
  const appWrite = (r: ProxiedRequest): boolean => r.write && (r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps`) || r.path.startsWith(`/api/v1/namespaces/${invNs}/configmaps`));

  /** Cluster = Git, every live object of the app recorded, nothing else left. */
  async function expectConverged(app: string, objects: Record<string, string>): Promise<{ lost: number; leaked: number }> {
    const list = await cluster.client.request<{ items: { metadata: { name: string }; data?: { value?: string } }[] }>('GET', `/api/v1/namespaces/${ns}/configmaps`, { query: { labelSelector: `mergeops.dev/app=${app}` } });
    const live = Object.fromEntries(list.items.map((o) => [o.metadata.name, o.data?.value ?? '']));
    const inventory = await readInventory({ client: cluster.client, own: cluster.client, target: { name: 'default', inCluster: false, grants: null, inventoryNamespace: invNs } } as unknown as Cluster, { repoId: REPO.id, repo: `${REPO.owner}/${REPO.name}`, app });
    const recorded = new Set(inventory?.objects ?? []);
    const lost = Object.keys(live).filter((n) => !recorded.has(`v1 ConfigMap ${ns}/${n}`)).length;
    const leaked = Object.keys(live).filter((n) => !(n in objects)).length;
    expect(live).toEqual(objects);
    expect(lost).toBe(0);
    expect(inventory?.objects).toEqual(Object.keys(objects).map((n) => `v1 ConfigMap ${ns}/${n}`).sort());
    expect(inventory?.desiredHash).toBeDefined();
    return { lost, leaked };
  }

  /** SIGKILLs the worker at the deploy's `k`-th write and starts the next one once it is dead. */
  function killAt(k: number): { killed: () => boolean; replaced: Promise<void> } {
    let seen = 0;
    let dead = false;
    let onDead!: () => void;
    const replaced = new Promise<void>((r) => (onDead = r));
    proxy.rule = (r) => {
      if (dead) return 'drop';
      if (!appWrite(r) || ++seen < k) return undefined;
      dead = true;
      const victim = current as ChildProcess;
      victim.kill('SIGKILL');
      victim.once('exit', () => {
        proxy.rule = null;
        current = worker();
        onDead();
      });
      return 'drop';
    };
    return { killed: () => dead, replaced };
  }

  const rand = random(SEED);
  /** Objects `<app>-o<i>`: names of one namespace, so each app's own. */
  const names = (app: string, from: number, to: number, value: string): Record<string, string> => Object.fromEntries(Array.from({ length: to - from }, (_, i) => [`${app}-o${String(from + i).padStart(3, '0')}`, value]));

  it(`SIGKILL at a random write of ${RUNS} deploys (first deploys of 200 objects, deploys that prune 100): each retry converges, nothing lost, nothing leaked`, async () => {
    for (let run = 0; run < RUNS; run++) {
      const app = `crash-${run}`;
      const prunes = run % 2 === 1;
      let git = names(app, 0, 200, '1');
      let writes = 202;
      if (prunes) {
        await deploy(app, sha(`crash-${SEED}-${run}-base`), git);
        // 100 dropped, 50 changed, 50 kept, 20 new: 100 deletes, 70 applies, 2 inventory writes.
        git = { ...names(app, 100, 150, '2'), ...names(app, 150, 200, '1'), ...names(app, 200, 220, '1') };
        writes = 172;
      }
      const k = 1 + Math.floor(rand() * writes);
      const kill = killAt(k);
      const started = Date.now();
      await deploy(app, sha(`crash-${SEED}-${run}`), git);
      const killed = kill.killed();
      if (killed) await kill.replaced;
      proxy.rule = null;
      const { lost, leaked } = await expectConverged(app, git);
      figures.push(`run ${run + 1}: ${prunes ? 'prune 100 of 200' : 'first deploy of 200'}, SIGKILL at app write ${k}/${writes}${killed ? '' : ' (not reached)'}, converged in ${Date.now() - started} ms, lost ${lost}, leaked ${leaked}`);
    }
  }, 60_000 + RUNS * 90_000);

  it('the API server unreachable for 10 s in the middle of a deploy that prunes: the check says retrying (n/3), the retry converges', async () => {
    const app = 'outage';
    await deploy(app, sha(`outage-${SEED}-base`), names(app, 0, 200, '1'));
    const git = { ...names(app, 100, 150, '2'), ...names(app, 150, 200, '1'), ...names(app, 200, 220, '1') };
    let seen = 0;
    const k = 1 + Math.floor(rand() * 172);
    let cut = 0;
    proxy.rule = (r) => {
      if (cut || !appWrite(r) || ++seen < k) return undefined;
      cut = Date.now();
      void proxy.stop().then(() => setTimeout(() => void proxy.start(), 10_000));
      return 'drop';
    };
    const from = gh.calls.length;
    const started = Date.now();
    await deploy(app, sha(`outage-${SEED}`), git);
    proxy.rule = null;
    expect(cut).toBeGreaterThan(0);
    const { lost, leaked } = await expectConverged(app, git);
    const retrying = gh.calls.slice(from).filter((c) => c.method === 'PATCH' && c.path.includes('/check-runs/') && /^retrying \(\d\/3\)$/.test(String(c.body?.output?.title ?? '')));
    expect(retrying.length).toBeGreaterThan(0);
    figures.push(`outage: API server unreachable 10 s from app write ${k}/172, converged in ${Date.now() - started} ms after ${retrying.length} retr${retrying.length === 1 ? 'y' : 'ies'}, lost ${lost}, leaked ${leaked}`);
  }, 180_000);
});
