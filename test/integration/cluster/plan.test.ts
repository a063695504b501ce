import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { App } from '../../../src/config/repo-config.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import { ClusterUnreachableError, KubeClient } from '../../../src/cluster/client.js';
import { Discovery } from '../../../src/cluster/discovery.js';
import { withInventory } from '../../../src/cluster/inventory.js';
import { planApp } from '../../../src/cluster/plan.js';
import { diffPlan } from '../../../src/diff/diff.js';
import type { RenderedObject } from '../../../src/objects.js';
import { KubeConfig } from '@kubernetes/client-node';
import { namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const key = { repoId: 4242, repo: 'acme/plan', app: 'web' };

function app(ns: string): App {
  return { name: 'web', path: 'k8s', cluster: 'default', namespace: ns, branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false };
}

function cm(ns: string | undefined, name: string, data: Record<string, string>): RenderedObject {
  return { object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ...(ns ? { namespace: ns } : {}) }, data }, source: { file: 'k8s/cm.yaml', line: 1 } };
}

describe('planApp against a real API server', () => {
  let c: Cluster;
  let ns: string;
  beforeAll(async () => {
    c = await testCluster();
    ns = uniqueName('plan');
    await namespace(c, ns);
  });
  afterAll(() => c.client.close());

  it('diffs through a server-side dry run: no default noise, namespace defaulted, nothing written', async () => {
    await put(c, withInventory(cm(ns, 'same', { a: '1' }).object, key));
    await put(c, withInventory(cm(ns, 'changed', { a: '1' }).object, key));
    await put(c, withInventory(cm(ns, 'gone', { a: '1' }).object, key));
    await put(c, cm(ns, 'not-ours', { a: '1' }).object);

    const plan = await planApp(c, app(ns), [cm(undefined, 'same', { a: '1' }), cm(ns, 'changed', { a: '2' }), cm(ns, 'fresh', { b: 'x' })], key);
    expect(plan.errors).toEqual([]);
    const diffs = diffPlan(plan.objects, plan.orphans, plan.ours);
    expect(diffs.map((d) => [d.ref, d.action])).toEqual([
      [`v1 ConfigMap ${ns}/changed`, 'update'],
      [`v1 ConfigMap ${ns}/fresh`, 'create'],
      [`v1 ConfigMap ${ns}/gone`, 'delete'],
      [`v1 ConfigMap ${ns}/same`, 'unchanged'],
    ]);
    expect(diffs[0]?.diff).toContain("-  a: '1'");
    expect(diffs[0]?.diff).toContain("+  a: '2'");
    // dry run: nothing was created
    const fresh = await c.client.request<unknown>('GET', `/api/v1/namespaces/${ns}/configmaps/fresh`).catch((e: { status: number }) => e.status);
    expect(fresh).toBe(404);
  });

  it('reads only objects that exist without its marks: a new object costs one dry run and no GET', async () => {
    await put(c, cm(ns, 'adopted', { a: '1' }).object);
    const client = c.client;
    const original = client.requestWithStatus.bind(client);
    const seen: string[] = [];
    client.requestWithStatus = (async (method: string, path: string, opts) => {
      seen.push(`${method} ${path}`);
      return original(method, path, opts);
    }) as typeof client.requestWithStatus;
    let plan;
    try {
      plan = await planApp(c, { ...app(ns), adopt: [`ConfigMap/${ns}/adopted`] }, [cm(ns, 'adopted', { a: '2' }), cm(ns, 'brand-new', { b: 'x' })], { ...key, app: 'other' });
    } finally {
      client.requestWithStatus = original;
    }
    expect(diffPlan(plan.objects, plan.orphans, plan.ours).map((d) => [d.ref, d.action])).toEqual([
      [`v1 ConfigMap ${ns}/adopted`, 'update'],
      [`v1 ConfigMap ${ns}/brand-new`, 'create'],
    ]);
    const base = `/api/v1/namespaces/${ns}/configmaps`;
    expect(seen.filter((s) => s.includes(`${base}/`)).sort()).toEqual([`GET ${base}/adopted`, `PATCH ${base}/adopted`, `PATCH ${base}/brand-new`]);
  });

  it('reports the server rejection on the object and its source', async () => {
    const bad: RenderedObject = {
      object: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'Bad_Name', namespace: ns }, spec: { selector: {}, template: {} } },
      source: { file: 'k8s/deploy.yaml', line: 7 },
    };
    const plan = await planApp(c, app(ns), [bad], key);
    expect(plan.errors).toHaveLength(1);
    expect(plan.errors[0]?.source).toEqual({ file: 'k8s/deploy.yaml', line: 7 });
    expect(plan.errors[0]?.message).toMatch(/Deployment.apps "Bad_Name" is invalid/);
  });

  it('names an unknown kind instead of failing the whole app', async () => {
    const plan = await planApp(c, app(ns), [{ object: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }, source: { file: 'k8s/w.yaml', line: 3 } }], key);
    expect(plan.errors[0]?.message).toMatch(/no kind Widget in example.com\/v1/);
  });

  it('says the cluster is unreachable when nothing listens', async () => {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'x', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'x', user: 'u' }],
      currentContext: 'x',
    });
    const client = await KubeClient.create('prod', kc);
    const dead = { client, own: client, discovery: new Discovery(client), target: { name: 'prod', inCluster: false, grants: null } };
    await expect(planApp(dead, app(ns), [cm(ns, 'a', {})], key)).rejects.toThrow(ClusterUnreachableError);
    await expect(planApp(dead, app(ns), [cm(ns, 'a', {})], key)).rejects.toThrow(/cluster "prod" is unreachable: ECONNREFUSED/);
  });
});
