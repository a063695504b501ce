import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { Cluster } from '../../../src/cluster/connect.js';
import { ClusterPool } from '../../../src/cluster/connect.js';
import { fieldManager, withInventory, type InventoryKey } from '../../../src/cluster/inventory.js';
import { inventoryName } from '../../../src/cluster/inventory-store.js';
import type { ClusterTarget, Grant } from '../../../src/config/clusters.js';
import type { App } from '../../../src/config/repo-config.js';
import { desiredHash } from '../../../src/engine/desired-hash.js';
import { Engine, jobDiscovery, type AppTarget } from '../../../src/engine/engine.js';
import type { KubeObject, RenderedObject } from '../../../src/objects.js';
import { UserError } from '../../../src/errors.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { waitFor } from '../../support/github.js';
import { REPO as GH_REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';
import { refsOf } from '../../../src/cluster/changes.js';

/**
 * The per-app inventory against the real API server, every request counted by the
 * proxy in front of it: what a deploy records, that prune follows the inventory (and the
 * labels only once, for apps deployed before it), that an unchanged render costs one GET,
 * and that a plan without an inventory lists nothing outside the repository's grant.
 */
const REPO = 'acme/inventory';

function app(ns: string, over: Partial<App> = {}): App {
  return { name: 'web', path: 'k8s', cluster: 'default', namespace: ns, branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...over };
}

function cm(ns: string | undefined, name: string, value = '1'): RenderedObject {
  return { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(ns ? { namespace: ns } : {}) }, data: { value } }, source: { file: `k8s/${name}.yaml`, line: 1 } };
}

const grant = (namespaces: string[]): Grant => ({ repos: ['acme/*'], namespaces, clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false });

/** A LIST the request log shows: the collection path of a type, in a namespace or across all. */
interface Listed {
  path: string;
  namespace?: string;
  plural: string;
}
function lists(requests: ProxiedRequest[]): Listed[] {
  const out: Listed[] = [];
  for (const r of requests) {
    if (r.method !== 'GET') continue;
    const namespaced = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/namespaces\/([^/]+)\/([^/]+)$/.exec(r.path);
    if (namespaced) {
      out.push({ path: r.path, namespace: namespaced[1] as string, plural: namespaced[2] as string });
      continue;
    }
    const all = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)\/([^/]+)$/.exec(r.path);
    if (all && r.path.split('/').length === (r.path.startsWith('/api/') ? 4 : 5)) out.push({ path: r.path, plural: all[1] as string });
  }
  return out;
}

describe('the app inventory (real API server, requests counted)', () => {
  let c: Cluster;
  let proxy: FaultProxy;
  let ns: string;
  let invNs: string;
  let pool: ClusterPool;
  let engine: Engine;
  let mark = 0;
  const since = (): ProxiedRequest[] => proxy.requests.slice(mark);
  const key = (appName = 'web', repoId = 5151): InventoryKey => ({ repoId, repo: REPO, app: appName });
  const target = (a: App, k = key(), commit = 'abcdef0123456789abcdef0123456789abcdef01'): AppTarget => ({ app: a, dir: '/nonexistent', key: k, commit });
  const inventoryOf = async (k: InventoryKey) => (await get(c, 'v1', 'ConfigMap', invNs, inventoryName(k)))?.['data'] as Record<string, string> | undefined;

  function engineFor(t: Partial<ClusterTarget>): Engine {
    pool = new ClusterPool(new Map([['default', { name: 'default', kubeconfig: proxy.kubeconfig, inCluster: false, grants: [grant([ns])], inventoryNamespace: invNs, ...t }]]));
    return new Engine({ clusters: pool, log: pino({ level: 'silent' }), flow: 'test' });
  }

  beforeAll(async () => {
    c = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    ns = uniqueName('inv');
    // Not created here: the first deploy creates it.
    invNs = uniqueName('inv-store');
    await namespace(c, ns);
    engine = engineFor({});
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

  it('a deploy writes the inventory (refs, desiredHash, commit) into the inventory namespace, creating it, without the app label', async () => {
    const a = app(ns);
    const k = key('writer');
    const rendered = [cm(ns, 'b'), cm(undefined, 'a')];
    const applied = await engine.apply(target(a, k), { rendered });
    expect(refsOf(applied.changes, 'failed')).toEqual([]);
    expect(refsOf(applied.changes, 'created').sort()).toEqual([`v1 ConfigMap ${ns}/a`, `v1 ConfigMap ${ns}/b`]);
    const inv = (await get(c, 'v1', 'ConfigMap', invNs, `mergeops-5151-writer`)) as KubeObject;
    expect(inv['data']).toEqual({
      format: '1',
      repo: REPO,
      repoId: '5151',
      app: 'writer',
      objects: `v1 ConfigMap ${ns}/a\nv1 ConfigMap ${ns}/b\n`,
      retained: '',
      desiredHash: desiredHash(a, rendered),
      commit: 'abcdef0123456789abcdef0123456789abcdef01',
      grants: expect.stringMatching(/^sha256:[0-9a-f]{32}$/),
      deployedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      // Per object: its version once applied and the hash of the request that applied it.
      applied: expect.stringMatching(new RegExp(`^(v1 ConfigMap ${ns}/[ab]\t\\d+ [0-9a-f]{16}\n){2}$`)),
    });
    // Label discovery (which selects on mergeops.dev/app) can never take it for an app object.
    expect(inv.metadata.labels?.['mergeops.dev/app']).toBeUndefined();
    expect(inv.metadata.labels).toMatchObject({ 'app.kubernetes.io/component': 'inventory', 'mergeops.dev/inventory-of-app': 'writer' });
    expect(await get(c, 'v1', 'Namespace', undefined, invNs)).not.toBeNull();
    // The app's Lease first: its namespace did not exist, so a create, the namespace, a create; renewed (confirmed)
    // before the record (and before prune, when there is something to prune), given back once the apply has
    // answered. The inventory: a pending record created before the first object write, then the final one,
    // conditional on the pending one's version.
    await engine.idle();
    const writes = since().filter((r) => r.write && r.path.includes(`/namespaces/${invNs}/`));
    expect(writes.filter((r) => r.path.includes('/leases')).map((r) => r.method)).toEqual(['POST', 'POST', 'PUT', 'DELETE']);
    expect(writes.filter((r) => r.path.includes('/configmaps')).map((r) => r.method)).toEqual(['POST', 'PATCH']);
  });

  it('prunes through the inventory: an object dropped from Git is deleted; objects of another app, another repo, by hand, or labelled as this app but never recorded are not touched; the plan lists one type in one namespace', async () => {
    const a = app(ns);
    const k = key('pruner');
    await engine.apply(target(a, k), { rendered: [cm(ns, 'keep'), cm(ns, 'drop')] });
    await put(c, withInventory(cm(ns, 'other-app').object, { ...k, app: 'other' }));
    await put(c, withInventory(cm(ns, 'other-repo').object, { ...k, repoId: 9 }));
    await put(c, cm(ns, 'by-hand').object);
    // Carries this app's labels, but no deploy of it made it: labels alone no longer make an object prunable.
    await put(c, withInventory(cm(ns, 'stray').object, k));
    mark = proxy.requests.length;

    const applied = await engine.apply(target(a, k, '2222222222222222222222222222222222222222'), { rendered: [cm(ns, 'keep')] });
    expect(refsOf(applied.changes, 'failed')).toEqual([]);
    expect(refsOf(applied.changes, 'deleted')).toEqual([`v1 ConfigMap ${ns}/drop`]);
    expect(await get(c, 'v1', 'ConfigMap', ns, 'drop')).toBeNull();
    for (const n of ['keep', 'other-app', 'other-repo', 'by-hand', 'stray']) expect(await get(c, 'v1', 'ConfigMap', ns, n)).not.toBeNull();
    expect(lists(since()).map((l) => l.path)).toEqual([`/api/v1/namespaces/${ns}/configmaps`]);
    expect((await inventoryOf(k))?.['objects']).toBe(`v1 ConfigMap ${ns}/keep\n`);
    expect((await inventoryOf(k))?.['commit']).toBe('2222222222222222222222222222222222222222');
  });

  it('an app deployed before inventories (labels only): the first deploy finds it through its labels within its grant, prunes what Git dropped and writes the inventory; the next plan uses the inventory', async () => {
    const a = app(ns);
    const k = key('legacy');
    // As a deploy before this change left them: the app's labels and field manager, no inventory.
    for (const n of ['stays', 'goes']) await put(c, withInventory(cm(ns, n).object, k), fieldManager(k));
    expect(await inventoryOf(k)).toBeUndefined();
    mark = proxy.requests.length;

    const applied = await engine.apply(target(a, k), { rendered: [cm(ns, 'stays')] });
    expect(refsOf(applied.changes, 'failed')).toEqual([]);
    expect(refsOf(applied.changes, 'deleted')).toEqual([`v1 ConfigMap ${ns}/goes`]);
    expect(await get(c, 'v1', 'ConfigMap', ns, 'goes')).toBeNull();
    // Label discovery listed every type, but only in the granted namespace and the granted cluster-scoped kind.
    const fallback = lists(since());
    expect(fallback.length).toBeGreaterThan(10);
    expect(fallback.filter((l) => l.namespace !== undefined && l.namespace !== ns)).toEqual([]);
    expect(fallback.filter((l) => l.namespace === undefined).map((l) => l.path)).toEqual(['/api/v1/namespaces']);
    expect(await inventoryOf(k)).toMatchObject({ objects: `v1 ConfigMap ${ns}/stays\n`, retained: '', desiredHash: desiredHash(a, [cm(ns, 'stays')]) });

    mark = proxy.requests.length;
    const plan = await engine.plan(target(a, k), { rendered: [cm(ns, 'stays')] });
    expect(plan.plan.inventory?.desiredHash).toBe(desiredHash(a, [cm(ns, 'stays')]));
    expect(plan.plan.inventory?.commit).toBe('abcdef0123456789abcdef0123456789abcdef01');
    expect(lists(since()).map((l) => l.path)).toEqual([`/api/v1/namespaces/${ns}/configmaps`]);
  });

  it('a second deploy of the same render is skipped with exactly one API request (the inventory GET); changed grants, a changed render and a deploy without skipUnchanged still apply', async () => {
    const a = app(ns);
    const k = key('skipper');
    const rendered = [cm(ns, 's1'), cm(ns, 's2')];
    expect((await engine.apply(target(a, k, '1111111aaaa'), { rendered, skipUnchanged: true })).skipped).toBeUndefined();
    const rv = (await get(c, 'v1', 'ConfigMap', ns, 's1'))?.metadata['resourceVersion'];

    mark = proxy.requests.length;
    const again = await engine.apply(target(a, k, '3333333bbbb'), { rendered, skipUnchanged: true });
    expect(since().map((r) => `${r.method} ${r.path}`)).toEqual([`GET /api/v1/namespaces/${invNs}/configmaps/${inventoryName(k)}`]);
    expect(again.skipped).toBe('unchanged since 1111111');
    expect(again.changes.map((ch) => [ch.ref, ch.action])).toEqual([
      [`v1 ConfigMap ${ns}/s1`, 'unchanged'],
      [`v1 ConfigMap ${ns}/s2`, 'unchanged'],
    ]);
    expect((await get(c, 'v1', 'ConfigMap', ns, 's1'))?.metadata['resourceVersion']).toBe(rv);

    // Self-heal, /mergeops deploy and unlock do not ask to skip: they plan and apply.
    mark = proxy.requests.length;
    const healed = await engine.apply(target(a, k), { rendered });
    expect(healed.skipped).toBeUndefined();
    expect(refsOf(healed.changes, 'unchanged').sort()).toEqual([`v1 ConfigMap ${ns}/s1`, `v1 ConfigMap ${ns}/s2`]);
    // Planned: the inventory read under the Lease and the objects listed; each object still at the
    // version the last deploy left it, so none is dry-run again.
    expect(since().filter((r) => r.method === 'GET' && r.path === `/api/v1/namespaces/${ns}/configmaps`)).toHaveLength(1);
    expect(since().filter((r) => r.method === 'PATCH' && r.url.includes('dryRun=All'))).toHaveLength(0);

    // The operator changed the grants: the same render is planned again (the grant check runs).
    await pool.close();
    const widened = engineFor({ grants: [grant([ns, 'somewhere-else'])] });
    const regranted = await widened.apply(target(a, k, '5555555dddd'), { rendered, skipUnchanged: true });
    expect(regranted.skipped).toBeUndefined();
    expect(refsOf(regranted.changes, 'unchanged')).toHaveLength(2);
    expect((await widened.apply(target(a, k, '6666666eeee'), { rendered, skipUnchanged: true })).skipped).toBe('unchanged since 5555555');
    await pool.close();
    engine = engineFor({});

    const changed = await engine.apply(target(a, k, '4444444cccc'), { rendered: [cm(ns, 's1', '2'), cm(ns, 's2')], skipUnchanged: true });
    expect(changed.skipped).toBeUndefined();
    expect(refsOf(changed.changes, 'configured')).toEqual([`v1 ConfigMap ${ns}/s1`]);
    expect((await inventoryOf(k))?.['commit']).toBe('4444444cccc');
  });

  it('a plan of a 25-object app in one namespace with an inventory sends a constant plus a dry-run per object that may have changed: 1 GET, 1 LIST, 1 dry-run', async () => {
    const a = app(ns);
    const k = key('big');
    const rendered = Array.from({ length: 25 }, (_, i) => cm(ns, `big-${i}`));
    await engine.apply(target(a, k), { rendered });
    // The apply answers before its Lease is given back: count from after that.
    await engine.idle();
    mark = proxy.requests.length;
    const plan = await engine.plan(target(a, k), { rendered: rendered.map((r, i) => (i === 0 ? cm(ns, 'big-0', 'changed') : r)) });
    expect(plan.problems).toEqual([]);
    expect(plan.changes.filter((ch) => ch.action === 'configured').map((ch) => ch.ref)).toEqual([`v1 ConfigMap ${ns}/big-0`]);
    const sent = since();
    expect(lists(sent).map((l) => l.path)).toEqual([`/api/v1/namespaces/${ns}/configmaps`]);
    // Only the object Git changed is asked; the other 24 are at the version the deploy left them.
    expect(sent.filter((r) => r.method === 'PATCH' && !r.write).map((r) => r.path)).toEqual([`/api/v1/namespaces/${ns}/configmaps/big-0`]);
    expect(sent.filter((r) => r.path.startsWith(`/api/v1/namespaces/${invNs}/`))).toHaveLength(1);
    expect(sent).toHaveLength(3);
    // An object edited since (a new version) is asked again, and its drift shows.
    await c.client.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/big-7`, { body: { data: { value: 'by hand' } }, contentType: 'application/merge-patch+json' });
    mark = proxy.requests.length;
    const again = await engine.plan(target(a, k), { rendered });
    expect(since().filter((r) => r.method === 'PATCH' && !r.write).map((r) => r.path)).toEqual([`/api/v1/namespaces/${ns}/configmaps/big-7`]);
    expect(again.changes.filter((ch) => ch.action === 'configured').map((ch) => ch.ref)).toEqual([`v1 ConfigMap ${ns}/big-7`]);
  });

  it('apps of one repository without inventories share one label discovery per job: each finds and prunes only its own objects, and the lists are those of one app', async () => {
    const repoId = 6262;
    const [ka, kb] = [key('first-a', repoId), key('first-b', repoId)];
    const other = key('first-a', repoId + 1);
    // As deploys before inventories left them: each app's labels; and another repo's app of the same name.
    for (const [k, n] of [[ka, 'a-goes'], [kb, 'b-goes'], [other, 'other-stays']] as const) await put(c, withInventory(cm(ns, n).object, k), fieldManager(k));
    const discovery = jobDiscovery();
    mark = proxy.requests.length;
    const a = await engine.apply({ ...target(app(ns, { name: 'first-a' }), ka), discovery }, { rendered: [cm(ns, 'a-keeps')] });
    const b = await engine.apply({ ...target(app(ns, { name: 'first-b' }), kb), discovery }, { rendered: [cm(ns, 'b-keeps')] });
    expect(refsOf(a.changes, 'deleted')).toEqual([`v1 ConfigMap ${ns}/a-goes`]);
    expect(refsOf(b.changes, 'deleted')).toEqual([`v1 ConfigMap ${ns}/b-goes`]);
    expect(await get(c, 'v1', 'ConfigMap', ns, 'other-stays')).not.toBeNull();
    const selectorLists = since().filter((r) => r.method === 'GET' && r.url.includes('labelSelector='));
    // One discovery for the repository (its selector names no app), none per app.
    const byRepo = selectorLists.filter((r) => r.url.includes(`mergeops.dev/repo-id=${repoId}`) && !r.url.includes('mergeops.dev/app='));
    expect(byRepo.length).toBeGreaterThan(10);
    expect(new Set(byRepo.map((r) => r.url)).size).toBe(byRepo.length);
    expect(selectorLists.filter((r) => r.url.includes('mergeops.dev/app='))).toEqual([]);
    // Without the shared discovery, each app lists on its own: the bug this guards against.
    await put(c, withInventory(cm(ns, 'c-goes').object, key('first-c', repoId)), fieldManager(key('first-c', repoId)));
    mark = proxy.requests.length;
    await engine.apply(target(app(ns, { name: 'first-c' }), key('first-c', repoId)), { rendered: [cm(ns, 'c-keeps')] });
    expect(since().filter((r) => r.method === 'GET' && r.url.includes('mergeops.dev/app=first-c')).length).toBe(byRepo.length);
  });

  it('the health wait reads only what has readiness: ConfigMaps are settled by their apply, a Deployment is polled', async () => {
    const k = key('health');
    const rendered = Array.from({ length: 10 }, (_, i) => cm(ns, `health-${i}`));
    mark = proxy.requests.length;
    const quick = await engine.apply(target(app(ns, { name: 'health', waitMs: 300_000 }), k), { rendered });
    expect(quick.health).toEqual({ healthy: true, unhealthy: [] });
    // Per object: one dry-run and one apply; no GET of any ConfigMap afterwards.
    expect(since().filter((r) => r.method === 'GET' && r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps/`))).toEqual([]);
    expect(since().filter((r) => r.method === 'PATCH' && r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps/`))).toHaveLength(20);

    // No controller runs here: the Deployment never becomes available, and is read until the wait ends.
    const deploy: RenderedObject = {
      object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'health-web', namespace: ns }, spec: { replicas: 1, selector: { matchLabels: { app: 'health-web' } }, template: { metadata: { labels: { app: 'health-web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } } } },
      source: { file: 'k8s/deploy.yaml', line: 1 },
    };
    mark = proxy.requests.length;
    const slow = await engine.apply(target(app(ns, { name: 'health', waitMs: 1500 }), k), { rendered: [...rendered, deploy] });
    expect(slow.health?.healthy).toBe(false);
    expect(slow.health?.unhealthy.map((u) => u.ref)).toEqual([`apps/v1 Deployment ${ns}/health-web`]);
    // Reads of single objects (a LIST's path ends at the type): the Deployment's polls, nothing else.
    const reads = since().filter((r) => r.method === 'GET' && (r.path.startsWith(`/api/v1/namespaces/${ns}/configmaps/`) || r.path.startsWith(`/apis/apps/v1/namespaces/${ns}/deployments/`)));
    expect(reads.length).toBeGreaterThanOrEqual(2);
    expect(new Set(reads.map((r) => r.path))).toEqual(new Set([`/apis/apps/v1/namespaces/${ns}/deployments/health-web`]));
  });

  it('a fork-PR-style plan without inventory lists only the granted namespaces (named or by glob), never a namespaced type across the cluster', async () => {
    const prefix = uniqueName('fork');
    const [granted, globbed, outside] = [`${prefix}-a`, `${prefix}-g-1`, uniqueName('forkout')];
    for (const n of [granted, globbed, outside]) await namespace(c, n);
    const forkEngine = engineFor({ grants: [grant([granted, `${prefix}-g-*`])] });
    const k = key('fork');
    // The app's own (labelled) object in a granted namespace shows as deleted; one in a namespace not granted is never read.
    await put(c, withInventory(cm(granted, 'old').object, k));
    await put(c, withInventory(cm(outside, 'elsewhere').object, k));
    const a = app(granted);
    await forkEngine.plan(target(a, k), { rendered: [cm(granted, 'warm')] });
    mark = proxy.requests.length;
    const plan = await forkEngine.plan(target(a, k), { rendered: [cm(granted, 'new')] });
    expect(plan.changes.map((ch) => [ch.ref, ch.action])).toEqual([
      [`v1 ConfigMap ${granted}/new`, 'created'],
      [`v1 ConfigMap ${granted}/old`, 'deleted'],
    ]);
    const listed = lists(since());
    const namespaces = new Set(listed.flatMap((l) => (l.namespace ? [l.namespace] : [])));
    expect([...namespaces].sort()).toEqual([granted, globbed].sort());
    expect(listed.filter((l) => l.namespace === granted).length).toBeGreaterThan(10);
    // Across the cluster only Namespaces: the glob's expansion and the granted cluster-scoped kind.
    expect(listed.filter((l) => l.namespace === undefined).map((l) => l.path)).toEqual(['/api/v1/namespaces', '/api/v1/namespaces']);
    expect(since().some((r) => r.path.includes(`/namespaces/${outside}/`))).toBe(false);
    await pool.close();
    engine = engineFor({});
  });

  it('no app may deploy into the inventory namespace, whatever its grant says', async () => {
    const starEngine = engineFor({ grants: [grant(['*'])] });
    const plan = await starEngine.plan(target(app(invNs), key('forger')), { rendered: [cm(invNs, inventoryName(key('victim')))] });
    expect(plan.problems.map((p) => p.message)).toEqual([expect.stringContaining(`namespace "${invNs}" holds mergeops' app inventories`)]);
    await pool.close();
    engine = engineFor({});
  });

  it('an inventory namespace mergeops may not create: nothing is applied (the app\'s Lease lives there too) and the deploy fails saying what the operator must do', async () => {
    const missing = uniqueName('inv-missing');
    const locked = engineFor({ inventoryNamespace: missing });
    proxy.rule = (r) => (r.method === 'POST' && r.path === '/api/v1/namespaces' ? { status: 403 } : undefined);
    const err = (await locked.apply(target(app(ns), key('locked')), { rendered: [cm(ns, 'locked-1')] }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UserError);
    expect(err.message).toContain(`inventory and deploy lease in namespace "${missing}" of cluster "default", which does not exist, and may not create it`);
    expect(err.message).toContain(`kubectl create namespace ${missing}`);
    expect(await get(c, 'v1', 'ConfigMap', ns, 'locked-1')).toBeNull();
    await pool.close();
    engine = engineFor({});
  });
});

describe('a push whose render did not change, through the whole app', () => {
  let h: Harness;
  let c: Cluster;
  let proxy: FaultProxy;
  beforeAll(async () => {
    c = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(`clusters:\n  counted:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${GH_REPO.owner}/*"]\n        namespaces: ["invflow-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    c?.client.close();
  });

  it('costs one API request (the inventory GET), writes nothing and reports the objects unchanged; a changed render applies', async () => {
    const ns = uniqueName('invflow');
    await namespace(c, ns);
    const files = (value: string) => ({
      '.github/mergeops.yml': `apps:\n  - name: flow\n    path: deploy\n    namespace: ${ns}\n    cluster: counted\n    wait: 5s\n`,
      'deploy/a.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  value: "${value}"\n`,
      'deploy/b.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\ndata:\n  value: "1"\n`,
    });
    const finished = (s: string) =>
      waitFor(async () => {
        const j = await h.rt.queues.deploy.getJob(`deploy-${GH_REPO.id}-main-${s}`);
        return j && (await j.getState()) === 'completed' ? j : undefined;
      }, `deploy job of ${s} to complete`);
    const deploy = async (s: string, value: string) => {
      await h.push(s, files(value));
      expect(await h.pushEvent(s)).toBe(202);
      const check = await h.waitForDeploy(s);
      await finished(s);
      return check.body as { conclusion: string; output: { summary: string } };
    };
    const [s1, s2, s3] = [sha(`inv-flow-1-${ns}`), sha(`inv-flow-2-${ns}`), sha(`inv-flow-3-${ns}`)];
    expect((await deploy(s1, '1')).output.summary).toContain('deployed: 2 created, 0 configured, 0 unchanged, 0 pruned');
    const rv = (await get(c, 'v1', 'ConfigMap', ns, 'a'))?.metadata['resourceVersion'];

    const mark = proxy.requests.length;
    const same = await deploy(s2, '1');
    expect(proxy.requests.slice(mark).map((r) => `${r.method} ${r.path}`)).toEqual([`GET /api/v1/namespaces/mergeops-system/configmaps/mergeops-${GH_REPO.id}-flow`]);
    expect(same.conclusion).toBe('success');
    expect(same.output.summary).toContain('deployed: 0 created, 0 configured, 2 unchanged, 0 pruned');
    expect((await get(c, 'v1', 'ConfigMap', ns, 'a'))?.metadata['resourceVersion']).toBe(rv);

    const changed = await deploy(s3, '2');
    expect(changed.output.summary).toContain('deployed: 0 created, 1 configured, 1 unchanged, 0 pruned');
    expect(((await get(c, 'v1', 'ConfigMap', ns, 'a'))?.['data'] as { value: string }).value).toBe('2');
    expect(((await get(c, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${GH_REPO.id}-flow`))?.['data'] as { commit: string }).commit).toBe(s3);
  });
});
