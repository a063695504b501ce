import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { hashTag } from '../../../src/redis.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';
import { startRedisCluster, type RedisClusterNodes } from '../../support/redis-ha.js';

/**
 * mergeops on a three-node Redis Cluster (REDIS_CLUSTER_NODES, password on every node), the
 * whole app: signed webhooks → worker → the real API server (behind a proxy that counts its
 * writes) → the GitHub stand-in. A preview and a deploy run end to end; every key they left
 * on the Cluster carries the prefix's hash tag.
 */
describe('Redis Cluster: a preview and a deploy end to end', () => {
  let h: Harness;
  let nodes: RedisClusterNodes;
  let proxy: FaultProxy;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relcluster');
    await namespace(cluster, ns);
    [nodes, proxy] = await Promise.all([startRedisCluster(), startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string)]);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relcluster-*"]\n        branches: [main]\n`, nodes.env);
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await nodes?.stop();
    await proxy?.close();
    cluster?.client.close();
  });

  const files = (value: string) => ({
    '.github/mergeops.yml': `apps:\n  - name: cluster-web\n    path: app\n    namespace: ${ns}\n    wait: 0\n`,
    'app/app.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: c\n          image: nginx:1.27\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-cm\ndata:\n  value: "${value}"\n`,
  });
  const posts = (suffix: string) => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith(suffix));

  it('a preview: one delivery, one job, one check run and one comment, no write to the cluster', async () => {
    const s = sha(`cluster-pr-${ns}`);
    await h.push(s, files('pr'));
    expect(await h.open(700, s)).toBe(202);
    // The same event again (a redelivery): the job id makes it a no-op.
    expect(await h.open(700, s)).toBe(202);
    const { check, comment } = await h.waitForPreview(s);
    expect(check.body.conclusion).toBe('success');
    expect(comment.body.body).toContain('cluster-web');
    await waitFor(async () => ((await h.rt.queues.preview.getJobCounts('completed'))['completed'] === 1 ? true : undefined), 'the preview job to complete');
    expect(await h.rt.queues.preview.getJobCounts('completed', 'failed', 'waiting', 'active')).toMatchObject({ completed: 1, failed: 0, waiting: 0, active: 0 });
    expect(posts('/check-runs').filter((c) => c.body.head_sha === s)).toHaveLength(1);
    expect(posts('/issues/700/comments')).toHaveLength(1);
    expect(proxy.requests.filter((r) => r.write)).toEqual([]);
  }, 90_000);

  it('a deploy: one job, each object written once, one check run and one comment', async () => {
    const s = sha(`cluster-main-${ns}`);
    await h.push(s, files('v1'));
    expect(await h.pushEvent(s, { branch: 'main', mergedPr: 701 })).toBe(202);
    const check = await h.waitForDeploy(s);
    await h.deployReported(s);
    expect(check.body.conclusion).toBe('success');
    expect(await h.rt.queues.deploy.getJobCounts('completed', 'failed')).toEqual({ completed: 1, failed: 0 });
    const writes = proxy.requests.filter((r) => r.write && r.path.includes(`/namespaces/${ns}/`)).map((r) => `${r.method} ${r.path}`);
    expect(writes.sort()).toEqual([`PATCH /api/v1/namespaces/${ns}/configmaps/web-cm`, `PATCH /apis/apps/v1/namespaces/${ns}/deployments/web`]);
    expect((await get(cluster, 'v1', 'ConfigMap', ns, 'web-cm'))?.['data']).toEqual({ value: 'v1' });
    expect(posts('/check-runs').filter((c) => c.body.head_sha === s && String(c.body.name).includes('deploy'))).toHaveLength(1);
    expect(posts('/issues/701/comments')).toHaveLength(1);
  }, 90_000);

  it('every key the flows left is in the prefix slot', async () => {
    const keys = await nodes.keys();
    expect(h.prefix).toMatch(/^\{mergeops-test-[0-9a-f]{8}\}$/);
    const tag = hashTag(h.prefix);
    expect(keys.length).toBeGreaterThan(20);
    expect(keys.filter((k) => hashTag(k.key) !== tag)).toEqual([]);
    // Queues and state both: the families the flows wrote.
    const families = new Set(keys.map((k) => k.key.split(':')[1]));
    for (const f of ['preview', 'deploy', 'deploy-report', 'delivery', 'head', 'comments', 'deploy-latest', 'deployed']) expect(families).toContain(f);
  });
});
