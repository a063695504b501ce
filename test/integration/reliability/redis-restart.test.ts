import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';
import { startOwnRedis, type OwnRedis } from '../../support/own-redis.js';

const PREVIEWS = 8;
const DEPLOYS = 2;

/**
 * Redis killed (SIGKILL) and restarted from its AOF while preview and deploy jobs are
 * both waiting and running. Every job completes exactly once in effect: one check run and
 * one comment per PR, one comment per merged PR, and applies that leave each object as
 * one clean apply would (a Deployment's spec written once: generation 1).
 */
describe('Redis restarted (own redis-server, AOF on) while jobs wait and run', () => {
  let h: Harness;
  let redis: OwnRedis;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relredis');
    await namespace(cluster, ns);
    redis = await startOwnRedis();
    // Every tarball takes 1.5 s: with 2 workers per queue, jobs are both running and waiting when Redis dies.
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relredis-*"]\n        branches: [main, release]\n`, {
      REDIS_URL: redis.url,
      TEST_TARBALL_DELAY_MS: '1500',
      // A job that does lose its lock in the restart is re-run within ~10 s, not a minute.
      MERGEOPS_JOB_LOCK_MS: '5000',
    });
  });
  afterAll(async () => {
    await h?.stop();
    await redis?.stop();
    cluster?.client.close();
  });

  const deployment = (name: string) =>
    `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ${name}}\n  template:\n    metadata:\n      labels: {app: ${name}}\n    spec:\n      containers:\n        - name: c\n          image: nginx:1.27\n`;
  const files = (value: string) => ({
    '.github/mergeops.yml': `apps:\n  - name: rel-main\n    path: main\n    namespace: ${ns}\n    wait: 0\n  - name: rel-release\n    path: release\n    namespace: ${ns}\n    branch: release\n    wait: 0\n`,
    'main/app.yaml': `${deployment('main-web')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: main-cm\ndata:\n  value: "${value}"\n`,
    'release/app.yaml': `${deployment('release-web')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: release-cm\ndata:\n  value: "${value}"\n`,
  });

  it(`SIGKILL + restart with ${PREVIEWS} previews and ${DEPLOYS} deploys queued or running: each completes once, nothing duplicated or lost`, async () => {
    const shas = Array.from({ length: PREVIEWS }, (_, i) => sha(`redis-pr-${ns}-${i}`));
    for (const s of shas) await h.push(s, files('pr'));
    const mainSha = sha(`redis-main-${ns}`);
    const releaseSha = sha(`redis-release-${ns}`);
    await h.push(mainSha, files('v1'));
    await h.push(releaseSha, files('v1'));

    for (let i = 0; i < PREVIEWS; i++) expect(await h.open(300 + i, shas[i] as string)).toBe(202);
    expect(await h.pushEvent(mainSha, { branch: 'main', mergedPr: 400 })).toBe(202);
    expect(await h.pushEvent(releaseSha, { branch: 'release', mergedPr: 401 })).toBe(202);

    const counts = async () => {
      const [p, d] = await Promise.all([h.rt.queues.preview.getJobCounts('waiting', 'active'), h.rt.queues.deploy.getJobCounts('waiting', 'active')]);
      return { active: (p['active'] ?? 0) + (d['active'] ?? 0), waiting: (p['waiting'] ?? 0) + (d['waiting'] ?? 0) };
    };
    const atKill = await waitFor(async () => {
      const c = await counts();
      return c.active >= 2 && c.waiting >= 2 ? c : undefined;
    }, 'jobs both running and waiting');
    await redis.kill('SIGKILL');
    // Down long enough for every connection to notice and for running jobs to hit it.
    await new Promise((r) => setTimeout(r, 2000));
    await redis.start();

    await waitFor(async () => {
      const [p, d] = await Promise.all([h.rt.queues.preview.getJobCounts('completed', 'failed'), h.rt.queues.deploy.getJobCounts('completed', 'failed')]);
      return (p['completed'] ?? 0) + (p['failed'] ?? 0) === PREVIEWS && (d['completed'] ?? 0) + (d['failed'] ?? 0) === DEPLOYS ? true : undefined;
    }, 'every job finished', 100_000);
    // A deploy's comment is posted by its report job, which runs after the deploy.
    await waitFor(async () => {
      const r = await h.rt.queues.deployReport.getJobCounts('completed', 'failed');
      return (r['completed'] ?? 0) + (r['failed'] ?? 0) === DEPLOYS ? true : undefined;
    }, 'every deploy reported', 60_000);

    const posts = (suffix: string) => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith(suffix));
    for (let i = 0; i < PREVIEWS; i++) {
      const s = shas[i] as string;
      expect(posts('/check-runs').filter((c) => c.body.head_sha === s)).toHaveLength(1);
      expect(posts(`/issues/${300 + i}/comments`)).toHaveLength(1);
      expect((await h.waitForPreview(s)).check.body.conclusion).toBe('success');
    }
    expect(posts('/issues/400/comments')).toHaveLength(1);
    expect(posts('/issues/401/comments')).toHaveLength(1);
    expect(await h.rt.queues.preview.getJobCounts('failed')).toEqual({ failed: 0 });
    expect(await h.rt.queues.deploy.getJobCounts('failed')).toEqual({ failed: 0 });
    expect(await h.rt.queues.deployReport.getJobCounts('failed')).toEqual({ failed: 0 });

    for (const name of ['main-web', 'release-web']) {
      const d = await get(cluster, 'apps/v1', 'Deployment', ns, name);
      expect(d?.metadata['generation']).toBe(1);
    }
    for (const name of ['main-cm', 'release-cm']) expect((await get(cluster, 'v1', 'ConfigMap', ns, name))?.['data']).toEqual({ value: 'v1' });
    process.stdout.write(`redis restart: killed with ${atKill.active} running and ${atKill.waiting} waiting; ${PREVIEWS + DEPLOYS} jobs completed once\n`);
  }, 120_000);
});
