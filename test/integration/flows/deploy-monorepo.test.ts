import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type FaultReply, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const APPS = ['alpha', 'beta', 'gamma', 'delta'];
const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const config = (ns: string) => `apps:\n${APPS.map((a) => `  - name: ${a}-${ns}\n    path: apps/${a}\n    namespace: ${ns}\n    wait: 0\n`).join('')}`;
/** The monorepo at one commit: every app one ConfigMap, `values` per app (default "1"). */
const files = (ns: string, values: Record<string, string> = {}) => ({
  '.github/mergeops.yml': config(ns),
  ...Object.fromEntries(APPS.map((a) => [`apps/${a}/cm.yaml`, cm(a, values[a] ?? '1')])),
});

/**
 * A monorepo of several apps through the whole app (webhook → deploy job → report job)
 * against the real API server: the cluster first, GitHub after, and GitHub only hears of
 * what changed.
 */
describe('deploying a monorepo: cluster first, a Deployment only for changed apps', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  /**
   * At every content-creating request GitHub receives while set, what the cluster holds
   * right then (the request waits for the look): proves the order from the API server's
   * state, not from timestamps.
   */
  let watch: { sha: string; seen: { write: string; values: (string | undefined)[] }[] } | null = null;
  /** Fails the n-th Deployment status of the watched commit with a 500 (ours: the report job retries). */
  let failStatus = 0;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('mono');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["mono-*"]\n`, {}, {
      fault: async (method, path, body): Promise<FaultReply | undefined> => {
        if (method === 'GET' || !watch) return undefined;
        const values = await Promise.all(APPS.map(async (a) => ((await get(cluster, 'v1', 'ConfigMap', ns, a))?.['data'] as { value?: string } | undefined)?.value));
        watch.seen.push({ write: `${method} ${path.replace(/\d+/g, ':id')}`, values });
        if (failStatus > 0 && /\/deployments\/\d+\/statuses$/.test(path) && --failStatus === 0) return [500, { message: 'Server Error' }];
        void body;
        return undefined;
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const deploymentsOf = (s: string) => h.git.deployments.filter((d) => d.sha === s);
  const reportDone = async (s: string) =>
    waitFor(async () => {
      const id = `report-deploy-${REPO.id}-main-${s}`;
      const j = await h.rt.queues.deployReport.getJob(id);
      // Read again once completed: a snapshot taken before the retry finished has the old attemptsMade.
      return j && (await j.getState()) === 'completed' ? h.rt.queues.deployReport.getJob(id) : undefined;
    }, `the report of ${s.slice(0, 7)}`, 60_000);

  it('every app is applied before GitHub hears a word of the deploy; then one check run and a Deployment per app', async () => {
    const s = sha(`mono-first-${ns}`);
    await h.push(s, files(ns, { alpha: '1', beta: '1', gamma: '1', delta: '1' }));
    watch = { sha: s, seen: [] };
    expect(await h.pushEvent(s, { mergedPr: 51 })).toBe(202);
    const check = await h.waitForDeploy(s);
    await reportDone(s);
    const seen = watch.seen;
    watch = null;

    expect(check.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    // Writes: the check run, a Deployment and its one status per app, the PR comment.
    expect(seen.map((x) => x.write)).toEqual([
      'POST /repos/acme/deploys/check-runs',
      ...APPS.flatMap(() => ['POST /repos/acme/deploys/deployments', 'POST /repos/acme/deploys/deployments/:id/statuses']),
      'POST /repos/acme/deploys/issues/:id/comments',
    ]);
    // At the first write, and every one after, the API server already held every app's object.
    for (const x of seen) expect(x.values).toEqual(['1', '1', '1', '1']);
    expect(deploymentsOf(s).map((d) => [d.environment, d.statuses.map((st) => st.state)])).toEqual(APPS.map((a) => [`${a}-${ns}`, ['success']]));
  });

  it('a merge touching one app of several creates exactly one Deployment; the one check lists every app', async () => {
    const s = sha(`mono-one-${ns}`);
    await h.push(s, files(ns, { gamma: '2' }));
    watch = { sha: s, seen: [] };
    await h.pushEvent(s, { mergedPr: 52 });
    const check = await h.waitForDeploy(s);
    await reportDone(s);
    const seen = watch.seen;
    watch = null;

    expect(deploymentsOf(s).map((d) => [d.environment, d.statuses.map((st) => st.state)])).toEqual([[`gamma-${ns}`, ['success']]]);
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === s)).toHaveLength(1);
    const summary: string = check.body.output.summary;
    for (const a of APPS) expect(summary).toContain(`<code>${a}-${ns}</code>`);
    expect(summary).toContain(`GitHub Deployments for the 1 changed app: <code>gamma-${ns}</code>.`);
    expect(summary).toContain('3 apps unchanged, held or not deployed from here: no Deployment.');
    expect(seen.map((x) => x.write)).toEqual(['POST /repos/acme/deploys/check-runs', 'POST /repos/acme/deploys/deployments', 'POST /repos/acme/deploys/deployments/:id/statuses', 'POST /repos/acme/deploys/issues/:id/comments']);
    expect(seen[0]?.values).toEqual(['1', '1', '2', '1']);
  });

  it('a report retried after GitHub failed a Deployment status writes nothing twice', async () => {
    const s = sha(`mono-retry-${ns}`);
    await h.push(s, files(ns, { alpha: '3', gamma: '2', delta: '3' }));
    watch = { sha: s, seen: [] };
    // The second status (delta's) fails once: alpha's check, Deployment and status are done by then.
    failStatus = 2;
    await h.pushEvent(s, { mergedPr: 53 });
    const job = await reportDone(s);
    const seen = watch.seen;
    watch = null;

    expect(job.attemptsMade).toBe(2);
    expect(h.calls.filter((c) => c.status === 500)).toHaveLength(1);
    expect(h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s)).toHaveLength(1);
    expect(deploymentsOf(s).map((d) => [d.environment, d.statuses.map((st) => st.state)])).toEqual([
      [`alpha-${ns}`, ['success']],
      [`delta-${ns}`, ['success']],
    ]);
    expect(h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/issues/53/comments'))).toHaveLength(1);
    // The retry re-sent only the refused status.
    expect(seen.map((x) => x.write).filter((w) => w.endsWith('/statuses'))).toHaveLength(3);
  });

  it('a merge of one app whose parent this branch deployed costs 8 GitHub calls: no config probe, no compare, one tarball', async () => {
    const before = h.git.refs.get('main') as string;
    const s = sha(`mono-eight-${ns}`);
    await h.push(s, files(ns, { alpha: '3', gamma: '2', delta: '3', beta: '4' }));
    const from = h.calls.length;
    expect(await h.pushEvent(s, { mergedPr: 54, before })).toBe(202);
    await h.waitForDeploy(s);
    await reportDone(s);

    const calls = h.calls.slice(from).filter((c) => c.path.startsWith('/repos/')).map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{40}/g, ':sha').replace(/\/\d+(\/|$)/g, '/:id$1')}`);
    expect(calls).toEqual([
      // The deploy gate: the repository (its default branch) and the branch's head, from GitHub.
      'GET /repos/acme/deploys',
      'GET /repos/acme/deploys/git/ref/heads%2Fmain',
      'GET /repos/acme/deploys/tarball/:sha',
      'POST /repos/acme/deploys/check-runs',
      'POST /repos/acme/deploys/deployments',
      'POST /repos/acme/deploys/deployments/:id/statuses',
      'GET /repos/acme/deploys/commits/:sha/pulls?per_page=10',
      'POST /repos/acme/deploys/issues/:id/comments',
    ]);
    expect(deploymentsOf(s).map((d) => d.environment)).toEqual([`beta-${ns}`]);
    expect(((await get(cluster, 'v1', 'ConfigMap', ns, 'beta'))?.['data'] as { value?: string }).value).toBe('4');
  });
});
