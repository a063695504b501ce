import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { edit, get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
/** The issue's bound: a hand edit of a selfHeal app is reverted within this. */
/**
 * GitHub's minute, scaled down for the app's pacer and the stand-in's limits alike (as in
 * deploy-write-budget.test.ts): the 100-app deploy reports ~200 writes, paced, within its test.
 */
const RATE_WINDOW_MS = 2000;

/**
 * Drift seen as it happens: the app runs with MERGEOPS_DRIFT_TRIGGER=watch against the real
 * API server through a proxy that records every request (so watch requests are counted where
 * the API server receives them) and can cut connections (a broken watch).
 */
describe('drift watches (real API server)', () => {
  let h: Harness;
  let cluster: Cluster;
  let proxy: FaultProxy;
  let ns: string;
  beforeAll(async () => {
    cluster = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["dwatch-*"]\n`, { MERGEOPS_DRIFT_TRIGGER: 'watch', MERGEOPS_MAX_APPS_PER_REPO: '200', MERGEOPS_GITHUB_WRITES_PER_MINUTE: '80', MERGEOPS_GITHUB_WRITE_WINDOW_MS: String(RATE_WINDOW_MS) }, { rateWindowMs: RATE_WINDOW_MS });
    ns = uniqueName('dwatch');
    await namespace(cluster, ns);
  });
  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    cluster?.client.close();
  });

  // App names of their own: another suite's app of the same name and repository would share this one's deploy Lease on the shared API server.
  const twoApps = () => `  - name: selfhealed\n    path: selfhealed\n    namespace: ${ns}\n    selfHeal: true\n  - name: kept\n    path: kept\n    namespace: ${ns}\n`;
  const twoAppFiles = { 'selfhealed/cm.yaml': cm('selfhealed', 'git'), 'kept/cm.yaml': cm('kept', 'git') };
  const watchRequests = (path: string): ProxiedRequest[] => proxy.requests.filter((r) => r.method === 'GET' && r.url.startsWith(`${path}?`) && /[?&]watch=true/.test(r.url));
  const value = async (name: string, where = ns) => ((await get(cluster, 'v1', 'ConfigMap', where, name))?.['data'] as { value?: string } | undefined)?.value;
  const driftAlerts = (app: string) => h.calls.filter((c) => c.method === 'PATCH' && !c.status && String(c.body?.output?.title).startsWith(`Drift in ${app}:`));
  const idle = (q: 'drift' | 'deploy') => waitFor(async () => Object.values(await h.rt.queues[q].getJobCounts('waiting', 'active', 'delayed', 'prioritized')).every((n) => n === 0) || undefined, `${q} jobs to settle`);
  const driftIdle = () => idle('drift');
  const deployIdle = () => idle('deploy');
  /** Resolves once the app's watch on `path` is open at the API server (listed, then watching). */
  const watchOpen = (path: string) => waitFor(() => watchRequests(path).length > 0 || undefined, `a watch on ${path}`);
  const kubectlEdit = (name: string, v: string) =>
    edit(cluster, 'v1', 'ConfigMap', ns, name, (o) => {
      (o['data'] as Record<string, string>)['value'] = v;
    });
  /** The drift checks queued for one app: a watch event queues one limited to it (a full compare names none). */
  const checksOf = async (app: string) => (await h.rt.queues.drift.getJobs(['completed', 'failed', 'active', 'waiting'])).filter((j) => j.name === 'drift-check' && j.data.apps?.includes(`${REPO.id}/${app}`));
  /**
   * Edits by hand and waits for Git's value to be back through a check the watch queued for
   * this app (the periodic compare is off in watch mode). How fast is the bench's figure
   * (`BENCH_ONLY=selfheal`, under 2 s), not a timed assertion here.
   */
  const revertedAfterEdit = async (name: string): Promise<void> => {
    const checks = (await checksOf(name)).length;
    await kubectlEdit(name, 'hand-edited');
    await waitFor(async () => ((await value(name)) === 'git' ? true : undefined), `${name} reverted`);
    expect((await checksOf(name)).length).toBe(checks + 1);
  };

  it('a kubectl edit of a selfHeal app is reverted through the watch and alerted once; a kept drift is alerted once however many compares see it', async () => {
    const s = sha(`dwatch-${ns}`);
    await h.push(s, { '.github/mergeops.yml': `apps:\n${twoApps()}`, ...twoAppFiles });
    await h.pushEvent(s);
    expect((await h.waitForDeploy(s)).body.conclusion).toBe('success');
    await watchOpen(`/api/v1/namespaces/${ns}/configmaps`);
    await driftIdle();

    await revertedAfterEdit('selfhealed');
    await waitFor(() => driftAlerts('selfhealed').length > 0 || undefined, 'the drift alert of selfhealed');
    await deployIdle();
    await driftIdle();
    // The heal's own apply is a watch event too: the app's own write starts no check.
    expect(await checksOf('selfhealed')).toHaveLength(1);
    expect(driftAlerts('selfhealed')).toHaveLength(1);
    expect(driftAlerts('selfhealed')[0]?.body.output.title).toBe('Drift in selfhealed: 1 object differs from this commit; re-applying (selfHeal)');

    await kubectlEdit('kept', 'hand-edited');
    await waitFor(() => driftAlerts('kept').length > 0 || undefined, 'the drift alert of kept');
    // A full compare (as after a watch gap) still sees the kept drift: no second alert.
    await h.rt.queues.drift.add('drift-scan', {});
    await driftIdle();
    expect(driftAlerts('kept')).toHaveLength(1);
    expect(await value('kept')).toBe('hand-edited');
  }, 120_000);

  it('100 deployed apps hold at most one watch per (cluster, type, namespace)', async () => {
    const spaces = [uniqueName('dwatch-m0'), uniqueName('dwatch-m1')];
    for (const n of spaces) await namespace(cluster, n);
    const apps = Array.from({ length: 100 }, (_, i) => `m${i}`);
    const s = sha(`dwatch-many-${ns}`);
    // The first test's apps stay on the branch (the last test heals one of them at this commit).
    const files: Record<string, string> = { '.github/mergeops.yml': `apps:\n${twoApps()}${apps.map((a, i) => `  - name: ${a}\n    path: apps/${a}\n    namespace: ${spaces[i % 2]}\n`).join('')}`, ...twoAppFiles };
    for (const a of apps) files[`apps/${a}/cm.yaml`] = cm(a, 'git');
    await h.push(s, files);
    await h.pushEvent(s);
    await waitFor(async () => ((await value('m99', spaces[1])) === 'git' ? true : undefined), 'the 100 apps deployed', 150_000);
    for (const n of spaces) await watchOpen(`/api/v1/namespaces/${n}/configmaps`);
    await h.deployReported(s);
    const watched = h.rt.driftWatches?.().get('default') ?? [];
    expect(watched).toEqual(expect.arrayContaining(spaces.map((n) => `v1 ConfigMap ${n}`)));
    // At the API server: every path watched once, however many apps live there.
    const byPath = new Map<string, number>();
    for (const r of proxy.requests.filter((x) => x.method === 'GET' && /[?&]watch=true/.test(x.url))) byPath.set(r.path, (byPath.get(r.path) ?? 0) + 1);
    expect([...byPath.values()].every((n) => n === 1)).toBe(true);
    for (const n of spaces) expect(byPath.get(`/api/v1/namespaces/${n}/configmaps`)).toBe(1);
    // One per watch target (and the inventories' own watch), nothing more.
    expect(byPath.size).toBe(watched.length + 1);
  }, 200_000);

  it('a broken watch resumes from its resourceVersion (no new list) and still heals through the watch', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const before = watchRequests(path);
    const lists = (): number => proxy.requests.filter((r) => r.method === 'GET' && r.url.startsWith(`${path}?`) && !/[?&]watch=true/.test(r.url)).length;
    const listed = lists();
    await proxy.stop();
    await proxy.start();
    const resumed = await waitFor(() => watchRequests(path).slice(before.length)[0], 'the watch to resume', 30_000);
    expect(resumed.url).toMatch(/[?&]resourceVersion=\d+/);
    expect(lists()).toBe(listed);
    await driftIdle();
    await deployIdle();
    await revertedAfterEdit('selfhealed');
  }, 120_000);

  it('a watch the API server answers 410 Gone lists again and runs one full compare', async () => {
    const path = `/api/v1/namespaces/${ns}/configmaps`;
    const before = watchRequests(path).length;
    const scansBefore = (await h.rt.queues.drift.getJobs(['completed', 'active', 'waiting'])).filter((j) => j.name === 'drift-scan').length;
    let gone = false;
    proxy.rule = (r) => {
      if (gone || !r.url.startsWith(`${path}?`) || !/[?&]watch=true/.test(r.url)) return undefined;
      gone = true;
      return { status: 410 };
    };
    await proxy.stop();
    await proxy.start();
    await waitFor(() => watchRequests(path).length > before + 1 || undefined, 'the watch to list and watch again', 30_000);
    proxy.rule = null;
    await waitFor(async () => (await h.rt.queues.drift.getJobs(['completed', 'active', 'waiting'])).filter((j) => j.name === 'drift-scan').length > scansBefore || undefined, 'one full compare after the gap');
  }, 120_000);
});
