import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Job } from 'bullmq';
import type { Cluster } from '../../../src/cluster/connect.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';
import { startSentinelGroup, type SentinelGroup } from '../../support/redis-ha.js';

const PREVIEWS = 3;

/**
 * mergeops on a Redis Sentinel group (REDIS_SENTINELS, primary + replica + 3 sentinels,
 * passwords on both), the whole app: signed webhooks → worker → the real API server (behind
 * a proxy that counts its writes) → the GitHub stand-in. The primary is SIGKILLed the moment
 * a job first reaches the API server (a preview's dry-run, a deploy's first write); the
 * sentinels promote the replica and every job goes on against it. Nothing is lost (every
 * delivery's job completes, every PR gets its check and comment), nothing is done twice (each
 * job started once, never stalled; each object written once; one check run and one comment
 * per PR).
 */
describe('Redis Sentinel: the primary fails over mid-preview and mid-deploy', () => {
  let h: Harness;
  let group: SentinelGroup;
  let proxy: FaultProxy;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relsentinel');
    await namespace(cluster, ns);
    [group, proxy] = await Promise.all([startSentinelGroup(), startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string)]);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relsentinel-*"]\n        branches: [main]\n`, {
      ...group.env,
      // Each tarball takes 1 s: previews are still waiting while the first one reaches the API server.
      TEST_TARBALL_DELAY_MS: '1000',
    });
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await group?.stop();
    await proxy?.close();
    cluster?.client.close();
  });

  const deployment = (name: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n        - name: c\n          image: nginx:1.27\n`;
  const files = (value: string) => ({
    '.github/mergeops.yml': `apps:\n  - name: sentinel-web\n    path: app\n    namespace: ${ns}\n    wait: 0\n`,
    'app/app.yaml': `${deployment('web')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-cm\ndata:\n  value: "${value}"\n`,
  });
  const posts = (suffix: string) => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith(suffix));
  /** Kills the primary when `when` first matches a request to the API server; resolves with the promoted node. */
  const failOverAt = (when: (r: ProxiedRequest) => boolean): Promise<{ killed: number; promoted: number; ms: number }> =>
    new Promise((resolve, reject) => {
      proxy.rule = (r) => {
        if (when(r)) {
          proxy.rule = null;
          const at = Date.now();
          void group
            .killPrimary()
            .then(async (killed) => ({ killed, promoted: await group.promoted(killed), ms: Date.now() - at }))
            .then(resolve, reject);
        }
        return undefined;
      };
    });
  /** Each job ran once: started once, never stalled (a lost lock would have re-run it elsewhere). */
  const ranOnce = (jobs: Job[]) => jobs.map((j) => ({ id: j.id, started: j.attemptsStarted, stalled: j.stalledCounter, failed: j.failedReason ?? null }));

  it(`${PREVIEWS} previews, the primary killed at the first dry-run: each PR gets one check and one comment, no job runs twice`, async () => {
    const shas = Array.from({ length: PREVIEWS }, (_, i) => sha(`sentinel-pr-${ns}-${i}`));
    for (const s of shas) await h.push(s, files('pr'));
    const failover = failOverAt((r) => r.method === 'PATCH' && r.url.includes('dryRun=All'));
    const writesBefore = proxy.requests.filter((r) => r.write).length;
    for (let i = 0; i < PREVIEWS; i++) expect(await h.open(500 + i, shas[i] as string)).toBe(202);

    const { killed, promoted, ms } = await failover;
    expect(promoted).not.toBe(killed);
    const done = await waitFor(async () => {
      const jobs = await h.rt.queues.preview.getJobs(['completed', 'failed']);
      return jobs.length === PREVIEWS ? jobs : undefined;
    }, 'every preview finished after the failover', 90_000);

    expect(ranOnce(done).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual(
      done.map((j) => ({ id: j.id, started: 1, stalled: 0, failed: null })).sort((a, b) => String(a.id).localeCompare(String(b.id))),
    );
    for (let i = 0; i < PREVIEWS; i++) {
      const s = shas[i] as string;
      expect(posts('/check-runs').filter((c) => c.body.head_sha === s)).toHaveLength(1);
      expect(posts(`/issues/${500 + i}/comments`)).toHaveLength(1);
      expect((await h.waitForPreview(s)).check.body.conclusion).toBe('success');
    }
    // A preview writes nothing to the cluster: every request it sent was a dry run.
    expect(proxy.requests.filter((r) => r.write).length).toBe(writesBefore);
    process.stdout.write(`sentinel failover mid-preview: primary :${killed} killed, :${promoted} promoted ${ms} ms later; ${PREVIEWS} deliveries, ${PREVIEWS} previews, each started once; ${PREVIEWS} check runs, ${PREVIEWS} comments\n`);
  }, 150_000);

  it('a deploy, the primary killed at its first write: every object written once, one check run, one comment, the job started once', async () => {
    // The node killed mid-preview comes back as the new primary's replica: there is one to promote again.
    await group.rejoin();
    const s = sha(`sentinel-main-${ns}`);
    await h.push(s, files('v1'));
    const from = proxy.requests.length;
    const failover = failOverAt((r) => r.write && r.path.includes(`/namespaces/${ns}/`));
    expect(await h.pushEvent(s, { branch: 'main', mergedPr: 600 })).toBe(202);

    const { killed, promoted, ms } = await failover;
    expect(promoted).not.toBe(killed);
    const check = await h.waitForDeploy(s);
    await h.deployReported(s);
    expect(check.body.conclusion).toBe('success');

    const jobs = await h.rt.queues.deploy.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed']);
    expect(ranOnce(jobs)).toEqual([{ id: jobs[0]?.id, started: 1, stalled: 0, failed: null }]);
    // Each of the app's objects was written once at the API server.
    const writes = proxy.requests.slice(from).filter((r) => r.write && r.path.includes(`/namespaces/${ns}/`));
    const perObject = new Map<string, number>();
    for (const w of writes) perObject.set(w.path, (perObject.get(w.path) ?? 0) + 1);
    expect(Object.fromEntries(perObject)).toEqual({
      [`/apis/apps/v1/namespaces/${ns}/deployments/web`]: 1,
      [`/api/v1/namespaces/${ns}/configmaps/web-cm`]: 1,
    });
    expect((await get(cluster, 'apps/v1', 'Deployment', ns, 'web'))?.metadata['generation']).toBe(1);
    expect((await get(cluster, 'v1', 'ConfigMap', ns, 'web-cm'))?.['data']).toEqual({ value: 'v1' });
    // GitHub heard of it once: one deploy check run for the commit, one comment on the merged PR.
    expect(posts('/check-runs').filter((c) => c.body.head_sha === s && String(c.body.name).includes('deploy'))).toHaveLength(1);
    expect(posts('/issues/600/comments')).toHaveLength(1);
    process.stdout.write(`sentinel failover mid-deploy: primary :${killed} killed, :${promoted} promoted ${ms} ms later; 1 delivery, 1 deploy started once; ${writes.length} object writes (each once); 1 check run, 1 comment\n`);
  }, 150_000);
});
