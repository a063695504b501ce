import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { LeaseLostError } from '../../../src/cluster/app-lease.js';
import { ClusterPool, type Cluster } from '../../../src/cluster/connect.js';
import type { InventoryKey } from '../../../src/cluster/inventory.js';
import { InventoryConflictError, inventoryName, readInventory, writeInventory } from '../../../src/cluster/inventory-store.js';
import type { Grant } from '../../../src/config/clusters.js';
import type { App } from '../../../src/config/repo-config.js';
import { Engine, type AppTarget } from '../../../src/engine/engine.js';
import { isTransient } from '../../../src/errors.js';
import type { KubeObject, RenderedObject } from '../../../src/objects.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';
import { refsOf } from '../../../src/cluster/changes.js';

/**
 * The deploy path's bookkeeping against the real API server, faults injected by the proxy
 * in front of it: a failed read never shrinks the inventory, an attempt cut off midway
 * leaves what it created recorded (and its retry prunes it), the hash waits for health,
 * inventory writes are conditional, and the app Lease serialises writers and stops one
 * that lost it before prune.
 */
const REPO = 'acme/safety';
const grant = (namespaces: string[]): Grant => ({ repos: ['acme/*'], namespaces, clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false });

function app(ns: string, over: Partial<App> = {}): App {
  return { name: 'web', path: 'k8s', cluster: 'default', namespace: ns, branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...over };
}
const cm = (ns: string, name: string, value = '1'): RenderedObject => ({ object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { value } }, source: { file: `k8s/${name}.yaml`, line: 1 } });
const secret = (ns: string, name: string): RenderedObject => ({ object: { apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: ns }, stringData: { k: 'v' } }, source: { file: `k8s/${name}.yaml`, line: 1 } });
/** No controllers run here: a Deployment never becomes available, so its health wait fails. */
const deployment = (ns: string, name: string): RenderedObject => ({
  object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns }, spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } } } },
  source: { file: `k8s/${name}.yaml`, line: 1 },
});

describe('deploy path safety (real API server, faults injected)', () => {
  let c: Cluster;
  let proxy: FaultProxy;
  let ns: string;
  let invNs: string;
  let pool: ClusterPool;
  const engines: Engine[] = [];
  let mark = 0;
  const since = (): ProxiedRequest[] => proxy.requests.slice(mark);
  const key = (appName: string): InventoryKey => ({ repoId: 6161, repo: REPO, app: appName });
  const target = (a: App, commit = 'c'.repeat(40)): AppTarget => ({ app: a, dir: '/nonexistent', key: key(a.name), commit });
  /** The test's own client, looking where this suite's inventories live. */
  const store = (): Cluster => ({ ...c, target: { ...c.target, inventoryNamespace: invNs } }) as Cluster;
  const recorded = async (appName: string) => readInventory(store(), key(appName));
  const exists = async (name: string, kind = 'ConfigMap') => (await get(c, 'v1', kind, ns, name)) !== null;
  const engine = (flow = 'deploy', lease: { durationS?: number; waitMs?: number } = {}): Engine => {
    const e = new Engine({ clusters: pool, log: pino({ level: 'silent' }), flow, healthPollMs: 100, lease });
    engines.push(e);
    return e;
  };

  beforeAll(async () => {
    c = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    ns = uniqueName('safe');
    invNs = uniqueName('safe-inv');
    await namespace(c, ns);
    pool = new ClusterPool(new Map([['default', { name: 'default', kubeconfig: proxy.kubeconfig, inCluster: false, grants: [grant([ns])], inventoryNamespace: invNs }]]));
  });
  afterAll(async () => {
    await pool?.close();
    await proxy?.close();
    c?.client.close();
  });
  beforeEach(() => {
    proxy.rule = null;
    mark = proxy.requests.length;
  });

  it('a list that fails (RBAC refuses it) never shrinks the inventory: the ref is carried forward, not pruned, and pruned once it can be read again', async () => {
    const a = app(ns, { name: 'carry' });
    const e = engine();
    expect(refsOf((await e.apply(target(a), { rendered: [cm(ns, 'carry-cm'), secret(ns, 'carry-secret')] })).changes, 'failed')).toEqual([]);
    // Git drops the Secret while listing Secrets is refused: it cannot be seen, so it is neither pruned nor forgotten.
    proxy.rule = (r) => (r.method === 'GET' && r.path === `/api/v1/namespaces/${ns}/secrets` ? { status: 403 } : undefined);
    const blind = await e.apply(target(a), { rendered: [cm(ns, 'carry-cm', '2')] });
    expect(refsOf(blind.changes, 'failed')).toEqual([]);
    expect(blind.warnings.map((w) => w.ref)).toContain(`v1 Secret ${ns}/carry-secret`);
    expect(await exists('carry-secret', 'Secret')).toBe(true);
    expect((await recorded('carry'))?.retained).toEqual([`v1 Secret ${ns}/carry-secret`]);
    proxy.rule = null;
    const seeing = await e.apply(target(a), { rendered: [cm(ns, 'carry-cm', '3')] });
    expect(refsOf(seeing.changes, 'deleted')).toEqual([`v1 Secret ${ns}/carry-secret`]);
    expect(await exists('carry-secret', 'Secret')).toBe(false);
    expect(await recorded('carry')).toMatchObject({ objects: [`v1 ConfigMap ${ns}/carry-cm`], retained: [] });
  });

  it('a list answered 503 past the client\'s retries fails the plan as transient (retried), never as an empty list', async () => {
    const a = app(ns, { name: 'shed' });
    const e = engine();
    await e.apply(target(a), { rendered: [cm(ns, 'shed-a'), secret(ns, 'shed-s')] });
    proxy.rule = (r) => (r.method === 'GET' && r.path === `/api/v1/namespaces/${ns}/secrets` ? { status: 503 } : undefined);
    const err = await e.apply(target(a), { rendered: [cm(ns, 'shed-a', '2')] }).catch((x: unknown) => x);
    expect(isTransient(err)).toBe(true);
    proxy.rule = null;
    expect((await recorded('shed'))?.objects).toEqual([`v1 ConfigMap ${ns}/shed-a`, `v1 Secret ${ns}/shed-s`]);
    expect(await exists('shed-a')).toBe(true);
  });

  it('an attempt cut off midway leaves everything it may create recorded (no hash); the retry with a smaller render prunes what it created', async () => {
    const a = app(ns, { name: 'cut' });
    const e = engine();
    await e.apply(target(a), { rendered: [cm(ns, 'cut-base')] });
    let writes = 0;
    proxy.rule = (r) => (r.write && r.method === 'PATCH' && r.path.startsWith(`/api/v1/namespaces/${ns}/`) && ++writes > 2 ? 'drop' : undefined);
    const err = await e.apply(target(a), { rendered: [cm(ns, 'cut-base'), cm(ns, 'cut-1'), cm(ns, 'cut-2'), cm(ns, 'cut-3'), cm(ns, 'cut-4')] }).catch((x: unknown) => x);
    expect(isTransient(err)).toBe(true);
    proxy.rule = null;
    const pending = await recorded('cut');
    expect(pending?.objects).toEqual(['base', '1', '2', '3', '4'].map((n) => `v1 ConfigMap ${ns}/cut-${n}`).sort());
    expect(pending?.desiredHash).toBeUndefined();
    const created = [];
    for (const n of ['1', '2', '3', '4']) if (await exists(`cut-${n}`)) created.push(n);
    expect(created.length).toBeGreaterThan(0);
    // Git changed its mind meanwhile: the retry renders only the base, and prunes whatever the cut-off attempt made.
    const retry = await e.apply(target(a), { rendered: [cm(ns, 'cut-base')] });
    expect(refsOf(retry.changes, 'deleted').sort()).toEqual(created.map((n) => `v1 ConfigMap ${ns}/cut-${n}`));
    for (const n of ['1', '2', '3', '4']) expect(await exists(`cut-${n}`)).toBe(false);
    expect(await recorded('cut')).toMatchObject({ objects: [`v1 ConfigMap ${ns}/cut-base`], retained: [], desiredHash: expect.stringMatching(/^sha256:/) });
  });

  it('the render hash is recorded only after the health wait succeeded: an unhealthy render is applied again by the next deploy, not skipped as unchanged', async () => {
    const a = app(ns, { name: 'sick', waitMs: 600 });
    const e = engine();
    const rendered = [deployment(ns, 'sick')];
    const first = await e.apply(target(a), { rendered, skipUnchanged: true });
    expect(first.health?.healthy).toBe(false);
    const after = await recorded('sick');
    expect(after?.objects).toEqual([`apps/v1 Deployment ${ns}/sick`]);
    expect(after?.desiredHash).toBeUndefined();
    const again = await e.apply(target(a), { rendered, skipUnchanged: true });
    expect(again.skipped).toBeUndefined();
    expect(again.health?.healthy).toBe(false);
  });

  it('inventory writes are conditional on the version read: a stale version or a create that lost the race is refused (409), never overwritten', async () => {
    const e = engine();
    const a = app(ns, { name: 'cond' });
    await e.apply(target(a), { rendered: [cm(ns, 'cond-a')] });
    const mine = (await recorded('cond')) as NonNullable<Awaited<ReturnType<typeof recorded>>>;
    expect(mine.resourceVersion).toBeDefined();
    // Another writer records meanwhile.
    await writeInventory(store(), key('cond'), { ...mine, objects: [...mine.objects, `v1 ConfigMap ${ns}/theirs`] });
    await expect(writeInventory(store(), key('cond'), { ...mine, objects: [] })).rejects.toBeInstanceOf(InventoryConflictError);
    expect((await recorded('cond'))?.objects).toContain(`v1 ConfigMap ${ns}/theirs`);
    await expect(writeInventory(store(), key('cond'), { objects: [], retained: [] })).rejects.toBeInstanceOf(InventoryConflictError);
  });

  it('two workers and a CLI apply of one app at once are serialised by its Lease: each writer\'s object writes are one run, and what stays is one render, exactly as recorded', async () => {
    const a = app(ns, { name: 'race' });
    const writers = [engine('deploy'), engine('deploy'), engine('cli')];
    const names = ['w1', 'w2', 'cli'];
    await Promise.all(writers.map((w, i) => w.apply(target(a), { rendered: [cm(ns, `race-${names[i]}-a`), cm(ns, `race-${names[i]}-b`)] })));
    // Each apply answers before its Lease is given back.
    await Promise.all(writers.map((w) => w.idle()));
    const log = since();
    const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${invNs}/leases/`;
    // Each writer took the Lease and gave it back.
    expect(log.filter((r) => r.method === 'DELETE' && r.path.startsWith(leasePath))).toHaveLength(3);
    // The applies' object writes, in the order the API server got them, by writer: three runs, none interleaved.
    const writer = log.filter((r) => r.write && r.method === 'PATCH' && r.path.includes(`/namespaces/${ns}/configmaps/race-`)).map((r) => /race-([^-]+)-/.exec(r.path)?.[1]);
    const runs = writer.filter((w, i) => i === 0 || writer[i - 1] !== w);
    expect(writer).toHaveLength(6);
    expect(runs.sort()).toEqual([...names].sort());
    // Nothing leaked: the live objects are one writer's render, and the inventory names exactly them.
    const live: string[] = [];
    for (const n of names) for (const part of ['a', 'b']) if (await exists(`race-${n}-${part}`)) live.push(`v1 ConfigMap ${ns}/race-${n}-${part}`);
    expect(live).toHaveLength(2);
    expect((await recorded('race'))?.objects).toEqual(live.sort());
  });

  it('a worker whose Lease is taken by another writer mid-apply stops before prune and before the inventory write', async () => {
    const a = app(ns, { name: 'stolen' });
    const e = engine();
    await e.apply(target(a), { rendered: [cm(ns, 'stolen-old'), cm(ns, 'stolen-keep')] });
    const before = await recorded('stolen');
    const leaseUrl = `/apis/coordination.k8s.io/v1/namespaces/${invNs}/leases/${inventoryName(key('stolen'))}`;
    let stolen = false;
    // The first object write waits until another writer has taken the Lease over.
    proxy.rule = (r) => {
      if (stolen || !(r.write && r.method === 'PATCH' && r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps/stolen-`))) return undefined;
      stolen = true;
      return {
        hold: (async () => {
          const lease = await c.client.request<KubeObject & { spec: Record<string, unknown> }>('GET', leaseUrl);
          await c.client.request('PUT', leaseUrl, { body: { ...lease, spec: { ...lease.spec, holderIdentity: 'thief', renewTime: new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z') } } });
        })(),
      };
    };
    const err = await e.apply(target(a), { rendered: [cm(ns, 'stolen-keep', '2')] }).catch((x: unknown) => x);
    proxy.rule = null;
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(stolen).toBe(true);
    // Not pruned, and the record is still the pending one (no hash), not this writer's final word.
    expect(await exists('stolen-old')).toBe(true);
    expect(since().filter((r) => r.method === 'DELETE' && r.path.includes(`/configmaps/stolen-`))).toEqual([]);
    const after = await recorded('stolen');
    expect(after?.objects).toEqual(before?.objects);
    expect(after?.desiredHash).toBeUndefined();
    // The thief's Lease is left alone.
    expect(((await c.client.request<KubeObject & { spec: { holderIdentity: string } }>('GET', leaseUrl)).spec.holderIdentity)).toBe('thief');
  });
  it('a Lease whose release failed (the API server did not answer) is given back when the engine stops, so the next writer does not wait it out', async () => {
    const a = app(ns, { name: 'handback' });
    const leaseUrl = `/apis/coordination.k8s.io/v1/namespaces/${invNs}/leases/${inventoryName(key('handback'))}`;
    const first = engine('deploy', { durationS: 60 });
    // Every DELETE of the Lease is cut off: the apply succeeds, its release does not.
    proxy.rule = (r) => (r.method === 'DELETE' && r.path === leaseUrl ? 'drop' : undefined);
    await first.apply(target(a), { rendered: [cm(ns, 'handback-a')] });
    proxy.rule = null;
    const held = await c.client.request<KubeObject & { spec: { holderIdentity: string } }>('GET', leaseUrl);
    expect(held.spec.holderIdentity).toMatch(/^deploy\//);
    // A graceful stop gives it back.
    await first.close();
    expect(await get(c, 'coordination.k8s.io/v1', 'Lease', invNs, inventoryName(key('handback')))).toBeNull();
    // Another writer takes it at once: far inside the 60 s the Lease would otherwise last.
    const started = Date.now();
    await engine('cli', { durationS: 60, waitMs: 5_000 }).apply(target(a), { rendered: [cm(ns, 'handback-a', '2')] });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
  describe('objects unchanged since the last deploy are not dry-run again (the inventory\'s stamps)', () => {
    const dryRuns = (): string[] => since().filter((r) => r.method === 'PATCH' && r.url.includes('dryRun=All') && r.path.includes(`/namespaces/${ns}/`)).map((r) => r.path.split('/').pop() as string).sort();
    const ref = (name: string, kind = 'v1 ConfigMap'): string => `${kind} ${ns}/${name}`;
    const actions = (changes: { ref: string; action: string }[]): Record<string, string> => Object.fromEntries(changes.map((ch) => [ch.ref, ch.action]));

    it('only what Git changed and what was edited by hand since is asked of the server, and the hand edit is still reverted', async () => {
      const a = app(ns, { name: 'stamps' });
      const e = engine();
      await e.apply(target(a), { rendered: [cm(ns, 'st-a'), cm(ns, 'st-b'), cm(ns, 'st-c')] });
      expect(Object.keys((await recorded('stamps'))?.applied ?? {}).sort()).toEqual([ref('st-a'), ref('st-b'), ref('st-c')]);
      await c.client.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/st-b`, { body: { data: { value: 'by hand' } }, contentType: 'application/merge-patch+json' });
      mark = proxy.requests.length;
      const applied = await e.apply(target(a, 'd'.repeat(40)), { rendered: [cm(ns, 'st-a'), cm(ns, 'st-b'), cm(ns, 'st-c', '2')] });
      expect(dryRuns()).toEqual(['st-b', 'st-c']);
      expect(actions(applied.changes)).toEqual({ [ref('st-a')]: 'unchanged', [ref('st-b')]: 'configured', [ref('st-c')]: 'configured' });
      expect((await get(c, 'v1', 'ConfigMap', ns, 'st-b'))?.['data']).toEqual({ value: '1' });
      // The next deploy of the same render asks nothing: every object is where that deploy left it.
      mark = proxy.requests.length;
      expect(actions((await e.apply(target(a, 'e'.repeat(40)), { rendered: [cm(ns, 'st-a'), cm(ns, 'st-b'), cm(ns, 'st-c', '2')] })).changes)).toEqual({ [ref('st-a')]: 'unchanged', [ref('st-b')]: 'unchanged', [ref('st-c')]: 'unchanged' });
      expect(dryRuns()).toEqual([]);
    });

    it('another request for the same object (the app\'s conflicts setting, so force) is asked of the server again', async () => {
      const a = app(ns, { name: 'stamps-force' });
      const e = engine();
      await e.apply(target(a), { rendered: [cm(ns, 'sf-a'), cm(ns, 'sf-b')] });
      mark = proxy.requests.length;
      await e.apply(target({ ...a, conflicts: 'fail' }), { rendered: [cm(ns, 'sf-a'), cm(ns, 'sf-b')] });
      expect(dryRuns()).toEqual(['sf-a', 'sf-b']);
      mark = proxy.requests.length;
      await e.apply(target({ ...a, conflicts: 'fail' }), { rendered: [cm(ns, 'sf-a'), cm(ns, 'sf-b')] });
      expect(dryRuns()).toEqual([]);
    });

    it('an object the server warned about is asked again on the next deploy, so a warning the server repeats keeps showing', async () => {
      const a = app(ns, { name: 'stamps-warn' });
      // A node selector on a label deprecated since v1.14: the server warns on every apply.
      const warned = deployment(ns, 'sw-warned');
      ((warned.object['spec'] as { template: { spec: Record<string, unknown> } }).template.spec)['nodeSelector'] = { 'beta.kubernetes.io/os': 'linux' };
      const e = engine();
      const first = await e.apply(target(a), { rendered: [warned, cm(ns, 'sw-quiet')] });
      expect(first.warnings.map((w) => w.ref)).toContain(ref('sw-warned', 'apps/v1 Deployment'));
      mark = proxy.requests.length;
      const second = await e.apply(target(a), { rendered: [warned, cm(ns, 'sw-quiet')] });
      expect(dryRuns()).toEqual(['sw-warned']);
      // This warning is given when the deprecated label is introduced, not on later updates:
      // answered without one now, the object is stamped like any other.
      expect(second.warnings).toEqual([]);
      mark = proxy.requests.length;
      await e.apply(target(a), { rendered: [warned, cm(ns, 'sw-quiet')] });
      expect(dryRuns()).toEqual([]);
    });
  });
});
