import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { DEFAULT_INVENTORY_NAMESPACE } from '../../../src/config/clusters.js';
import { fieldManager, type InventoryKey } from '../../../src/cluster/inventory.js';
import { inventoryName, readInventory } from '../../../src/cluster/inventory-store.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { managedFields } from '../../../src/managed-fields.js';
import type { KubeObject } from '../../../src/objects.js';
import { deployJobId } from '../../../src/queue/jobs.js';
import { createQueues, enqueueDeploy, type Queues } from '../../../src/queue/queues.js';
import { createRedis } from '../../../src/redis.js';
import { compiledMain } from '../../support/build.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { INSTALLATION_ID, makeTarball, waitFor } from '../../support/github.js';
import { REPO, sha } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';
import { startMainProcess, type MainProcess } from '../../support/main-process.js';

/** Where the CLI keeps inventories and Leases (it has no clusters file): the workers use the same. */
const INVENTORY_NS = DEFAULT_INVENTORY_NAMESPACE;
const WRITERS = ['main', 'release', 'cli'] as const;
type Writer = (typeof WRITERS)[number];

interface Seen {
  type: string;
  rv: bigint;
  name: string;
  holder?: string;
}

const cm = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "1"\n`;

/**
 * One app deployed by three writers at the same moment, each its own process as operators
 * run them: two `node dist/main.js` workers (deploys of two allowed branches naming the
 * same app, so the per-branch deploy lease does not serialise them) and a `mergeops apply`
 * (`node dist/cli.js`) from a laptop. The app's Lease must make them take turns. Proven
 * from the API server's own record: a watch on the Lease gives each holder's span of
 * resourceVersions, a watch on the app's objects and its inventory gives every write's
 * resourceVersion, and every write falls inside its own writer's span; each object is
 * written once; what stays is one render, exactly as its inventory records it.
 */
describe('two worker processes and a CLI apply of one app at once', () => {
  let gh: FakeGitHub;
  let queues: Queues;
  let connection: ReturnType<typeof createRedis>;
  let cluster: Cluster;
  let proxy: FaultProxy;
  let dir: string;
  let checkout: string;
  let ns: string;
  let main: string;
  const workers: MainProcess[] = [];
  const abort = new AbortController();
  const prefix = `mergeops-race-${crypto.randomUUID().slice(0, 8)}`;
  const app = `race-${crypto.randomUUID().slice(0, 6)}`;
  const key: InventoryKey = { repoId: REPO.id, repo: `${REPO.owner}/${REPO.name}`, app };

  beforeAll(async () => {
    main = await compiledMain();
    cluster = await testCluster();
    ns = uniqueName('relrace');
    await namespace(cluster, ns);
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relrace-'));
    // Both branches may deploy here: the operator allowed them.
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relrace-*"]\n        branches: ["main", "release"]\n`);
    connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
    queues = createQueues(connection, prefix);
    for (let i = 0; i < 2; i++) workers.push(await startMainProcess({ dir, gh, prefix, mode: 'worker', env: { MERGEOPS_WORKER_CONCURRENCY: '1' } }));
    checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relrace-cli-'));
    for (const [f, text] of Object.entries(files('cli', 'main'))) {
      fs.mkdirSync(path.dirname(path.join(checkout, f)), { recursive: true });
      fs.writeFileSync(path.join(checkout, f), text);
    }
  }, 180_000);
  afterAll(async () => {
    abort.abort();
    for (const w of workers) await w.stop();
    await queues?.close();
    connection?.disconnect();
    await gh?.close();
    await proxy?.close();
    cluster?.client.close();
    for (const d of [dir, checkout]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  /** The repository at a commit of `branch`: the app (deploying from that branch) renders two objects named for `writer`. */
  function files(writer: Writer, branch: string): Record<string, string> {
    return {
      '.github/mergeops.yml': `apps:\n  - name: ${app}\n    path: apps/race\n    namespace: ${ns}\n    branch: ${branch}\n    prune: true\n    wait: 0\n`,
      'apps/race/all.yaml': [cm(`race-${writer}-a`), cm(`race-${writer}-b`)].join('---\n'),
    };
  }

  /** Lists `collection`, then watches it from there, recording every event until the suite ends. */
  async function record(collection: string, fieldSelector?: string): Promise<Seen[]> {
    const seen: Seen[] = [];
    const list = await cluster.client.request<{ metadata: { resourceVersion: string } }>('GET', collection, { query: fieldSelector ? { fieldSelector } : {} });
    void cluster.client
      .watch(
        collection,
        { resourceVersion: list.metadata.resourceVersion, ...(fieldSelector ? { fieldSelector } : {}) },
        (line) => {
          const e = line as { type: string; object: KubeObject & { spec?: { holderIdentity?: string } } };
          if (e.type === 'BOOKMARK' || e.type === 'ERROR') return;
          const s: Seen = { type: e.type, rv: BigInt(String(e.object.metadata['resourceVersion'])), name: e.object.metadata.name ?? '' };
          if (e.object.spec?.holderIdentity) s.holder = e.object.spec.holderIdentity;
          seen.push(s);
        },
        abort.signal,
      )
      .catch((err: unknown) => void seen.push({ type: `watch failed: ${(err as Error).message}`, rv: 0n, name: '' }));
    return seen;
  }

  /** Queues the deploy of `branch`'s commit as the webhook would; resolves once the job completed. */
  async function deploy(branch: string, s: string): Promise<void> {
    const job: DeployJob = { installationId: INSTALLATION_ID, owner: REPO.owner, repo: REPO.name, repoId: REPO.id, sha: s, branch, defaultBranch: 'main', reason: 'command', apps: [app] };
    expect(await enqueueDeploy(queues, job)).toBe(true);
    await waitFor(
      async () => {
        const j = await queues.deploy.getJob(deployJobId(job));
        if (j && (await j.isFailed())) throw new Error(`deploy of ${branch} failed: ${j.failedReason}`);
        return j && (await j.isCompleted()) ? true : undefined;
      },
      `deploy of ${branch}`,
      120_000,
    );
  }

  /** `mergeops apply <app> --yes --prune` from the checkout, against the same API server. */
  function cliApply(): Promise<{ code: number | null; output: string }> {
    const child = spawn(process.execPath, [path.join(path.dirname(main), 'cli.js'), 'apply', app, '--yes', '--prune', '--dir', checkout, '--kubeconfig', proxy.kubeconfig, '--repo-id', String(REPO.id), '--repo', key.repo], {
      env: { PATH: process.env['PATH'], HOME: process.env['HOME'], LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    return new Promise((r) => child.once('exit', (code) => r({ code, output })));
  }

  it('takes turns through the app\'s Lease: every write inside its writer\'s span, each object written once, what stays is one render as recorded', async () => {
    const mainSha = sha(`race-main-${app}`);
    const releaseSha = sha(`race-release-${app}`);
    gh.tarballs.set(mainSha, await makeTarball(files('main', 'main'), `${REPO.owner}-${REPO.name}-${mainSha.slice(0, 7)}`));
    gh.tarballs.set(releaseSha, await makeTarball(files('release', 'release'), `${REPO.owner}-${REPO.name}-${releaseSha.slice(0, 7)}`));
    gh.refs.set('main', mainSha);
    gh.refs.set('release', releaseSha);
    const lease = await record(`/apis/coordination.k8s.io/v1/namespaces/${INVENTORY_NS}/leases`, `metadata.name=${inventoryName(key)}`);
    const inventory = await record(`/api/v1/namespaces/${INVENTORY_NS}/configmaps`, `metadata.name=${inventoryName(key)}`);
    const objects = await record(`/api/v1/namespaces/${ns}/configmaps`);
    const mark = proxy.requests.length;

    const [, , cli] = await Promise.all([deploy('main', mainSha), deploy('release', releaseSha), cliApply()]);
    expect({ code: cli.code, output: cli.code === 2 ? '' : cli.output }).toEqual({ code: 2, output: '' });
    // Each writer gave the Lease back: three deletions seen.
    await waitFor(() => lease.filter((e) => e.type === 'DELETED').length >= 3 || undefined, 'three Lease releases on the watch', 30_000).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${JSON.stringify(lease.map((e) => `${e.type} ${e.holder ?? ''} ${e.rv}`))}, ${inventory.length} inventory and ${objects.length} object events`);
    });

    // The Lease's holders, in the API server's order: each one span from its take to its
    // release, three holders (two worker processes and the CLI), never two at once.
    const spans: { holder: string; from: bigint; to: bigint }[] = [];
    for (const e of lease) {
      const open = spans[spans.length - 1];
      if (e.type === 'DELETED') {
        if (open) open.to = e.rv;
        continue;
      }
      if (!open || open.holder !== e.holder || open.to !== -1n) spans.push({ holder: e.holder ?? '', from: e.rv, to: -1n });
    }
    expect(spans).toHaveLength(3);
    for (const s of spans) expect(s.to).toBeGreaterThan(s.from);
    for (let i = 1; i < spans.length; i++) expect(spans[i]?.from).toBeGreaterThan(spans[i - 1]?.to as bigint);
    const kinds = spans.map((s) => s.holder.split('/')[0]).sort();
    expect(kinds).toEqual(['cli', 'deploy', 'deploy']);
    const pids = spans.filter((s) => s.holder.startsWith('deploy/')).map((s) => s.holder.split('/')[2]);
    expect(new Set(pids).size).toBe(2);

    // Every write of the app's objects and of its inventory falls inside a holder's span,
    // and each span created exactly one writer's objects.
    const within = (rv: bigint) => spans.find((s) => rv > s.from && rv < s.to);
    const appWrites = objects.filter((e) => e.name.startsWith('race-'));
    for (const e of [...appWrites, ...inventory]) expect({ write: `${e.type} ${e.name}`, inSpan: within(e.rv) !== undefined }).toEqual({ write: `${e.type} ${e.name}`, inSpan: true });
    const writerOf = new Map<string, Writer>();
    for (const s of spans) {
      const created = new Set(appWrites.filter((e) => e.type === 'ADDED' && within(e.rv) === s).map((e) => /^race-([a-z]+)-/.exec(e.name)?.[1]));
      expect(created.size).toBe(1);
      writerOf.set(s.holder, [...created][0] as Writer);
    }
    expect([...writerOf.values()].sort()).toEqual([...WRITERS].sort());
    // The CLI's span created the CLI's objects: the Lease holder and the writes agree.
    expect(writerOf.get(spans.find((s) => s.holder.startsWith('cli/'))?.holder ?? '')).toBe('cli');

    // Nothing doubled: each object was written (applied for real) once, by its writer.
    const applies = proxy.requests.slice(mark).filter((r) => r.write && r.method === 'PATCH' && r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps/race-`));
    const perObject = new Map<string, number>();
    for (const r of applies) perObject.set(r.path, (perObject.get(r.path) ?? 0) + 1);
    expect([...perObject.values()]).toEqual(Array(6).fill(1));

    // What stays is the last writer's render, and the inventory records exactly it.
    const last = writerOf.get(spans[2]?.holder ?? '') as Writer;
    const live = await cluster.client.request<{ items: KubeObject[] }>('GET', `/api/v1/namespaces/${ns}/configmaps`, { query: { labelSelector: `mergeops.dev/app=${app}` } });
    expect(live.items.map((o) => o.metadata.name).sort()).toEqual([`race-${last}-a`, `race-${last}-b`]);
    const recorded = await readInventory({ ...cluster, target: { ...cluster.target, inventoryNamespace: INVENTORY_NS } } as Cluster, key);
    expect(recorded?.objects).toEqual([`v1 ConfigMap ${ns}/race-${last}-a`, `v1 ConfigMap ${ns}/race-${last}-b`]);
    expect(recorded?.retained).toEqual([]);
    expect(recorded?.desiredHash).toBeDefined();
    // One field manager owns them however many processes wrote: the app's own.
    for (const o of live.items) expect(managedFields(o).filter((m) => m.operation === 'Apply').map((m) => m.manager)).toEqual([fieldManager(key)]);
  }, 240_000);
});
