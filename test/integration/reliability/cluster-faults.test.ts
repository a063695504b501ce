import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * The API server misbehaving during deploys, through a fault-injecting proxy in front of
 * the real one: load shedding (429 with Retry-After, 503) is retried with backoff and
 * changes nothing in the result; an API server that goes away mid-apply (or keeps
 * answering 503) is retried by the queue, the check saying so, then fails the deploy with a
 * check run that says why, and never prunes after the partial apply.
 */
describe('API server faults during deploy (fault-injecting proxy)', () => {
  let h: Harness;
  let cluster: Cluster;
  let proxy: FaultProxy;

  beforeAll(async () => {
    cluster = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(`clusters:\n  flaky:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relk-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    cluster?.client.close();
  });
  beforeEach(() => {
    proxy.rule = null;
  });

  const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
  const files = (ns: string, objects: Record<string, string>) => ({
    '.github/mergeops.yml': `apps:\n  - name: app-${ns.slice(-6)}\n    path: deploy\n    namespace: ${ns}\n    cluster: flaky\n    wait: 0\n`,
    ...Object.fromEntries(Object.entries(objects).map(([n, v]) => [`deploy/${n}.yaml`, cm(n, v)])),
  });
  const value = async (ns: string, name: string) => ((await get(cluster, 'v1', 'ConfigMap', ns, name))?.['data'] as { value?: string } | undefined)?.value ?? null;
  const rv = async (ns: string, name: string) => (await get(cluster, 'v1', 'ConfigMap', ns, name))?.metadata['resourceVersion'];

  async function deploy(ns: string, seed: string, objects: Record<string, string>): Promise<{ conclusion: string; summary: string }> {
    const s = sha(`${seed}-${ns}`);
    await h.push(s, files(ns, objects));
    expect(await h.pushEvent(s)).toBe(202);
    const check = await h.waitForDeploy(s);
    return { conclusion: check.body.conclusion, summary: check.body.output.summary };
  }

  it('429 with Retry-After: 2 and 503 on writes and reads: retried (after Retry-After, else with backoff), deploy succeeds, each object written once, a re-run writes nothing', async () => {
    const ns = uniqueName('relk-a');
    await namespace(cluster, ns);
    // Retry-After 2 s is above anything the client's own backoff would wait (≤ 1 s for these
    // attempts), so a client that ignored it would resend too soon and fail the gap check below.
    const plan = [{ status: 429, retryAfter: 2 }, { status: 503 }, { status: 429, retryAfter: 2 }, { status: 503 }];
    let readFaults = 2;
    proxy.rule = (r) => {
      if (r.write && r.method === 'PATCH') return plan.shift();
      if (!r.write && r.path.includes(`/namespaces/${ns}/`) && readFaults > 0) {
        readFaults--;
        return { status: 503 };
      }
      return undefined;
    };
    const first = proxy.requests.length;
    const started = Date.now();
    const r = await deploy(ns, 'shed', { a: '1', b: '1', c: '1' });
    const seen = proxy.requests.slice(first);

    expect(plan).toEqual([]);
    expect(seen.filter((q) => q.injected !== undefined).map((q) => q.injected).sort()).toEqual([429, 429, 503, 503, 503, 503]);
    expect(r.conclusion).toBe('success');
    expect(r.summary).toContain('deployed: 3 created, 0 configured, 0 unchanged, 0 pruned');
    // Each 429's Retry-After was honoured, measured on the wire: the same object's next write
    // came no sooner than 2 s after the refusal.
    const limited = seen.filter((q) => q.injected === 429);
    expect(limited).toHaveLength(2);
    for (const q of limited) {
      const resend = seen.slice(seen.indexOf(q) + 1).find((n) => n.method === q.method && n.path === q.path);
      expect(resend).toBeDefined();
      expect((resend?.at ?? 0) - q.at).toBeGreaterThanOrEqual(1990);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    // Each object ends with exactly one successful write: 4 refused + 3 accepted PATCHes; the
    // only other writes record the app's inventory (twice when its namespace had to be created).
    const accepted = seen.filter((q) => q.write && q.method === 'PATCH' && q.injected === undefined);
    expect(accepted.filter((q) => q.path.includes(`/namespaces/${ns}/`))).toHaveLength(3);
    const others = [...new Set(accepted.filter((q) => !q.path.includes(`/namespaces/${ns}/`)).map((q) => q.path))];
    expect(others).toEqual([expect.stringMatching(/^\/api\/v1\/namespaces\/mergeops-system\/configmaps\/mergeops-777-/)]);
    expect([await value(ns, 'a'), await value(ns, 'b'), await value(ns, 'c')]).toEqual(['1', '1', '1']);

    const versions = [await rv(ns, 'a'), await rv(ns, 'b'), await rv(ns, 'c')];
    const again = await deploy(ns, 'shed-again', { a: '1', b: '1', c: '1' });
    expect(again.summary).toContain('deployed: 0 created, 0 configured, 3 unchanged, 0 pruned');
    expect([await rv(ns, 'a'), await rv(ns, 'b'), await rv(ns, 'c')]).toEqual(versions);
  });

  it('the API server stops in the middle of the apply: the deploy is retried (the check says retrying (n/3)), then fails saying unreachable, nothing pruned; once it is back the next deploy completes and prunes', async () => {
    const ns = uniqueName('relk-b');
    await namespace(cluster, ns);
    expect((await deploy(ns, 'base', { a: '1', b: '1', c: '1', old: '1' })).conclusion).toBe('success');

    let writes = 0;
    proxy.rule = (r) => {
      if (!(r.write && r.method === 'PATCH')) return undefined;
      writes++;
      if (writes === 1) return undefined;
      // The second write finds the API server gone: its connection is cut, the rest refused.
      void proxy.stop();
      return 'drop';
    };
    const broken = await deploy(ns, 'broken', { a: '2', b: '2', c: '2' });
    expect(broken.conclusion).toBe('failure');
    expect(broken.summary).toMatch(/cluster "flaky" is unreachable: (ECONNREFUSED|ECONNRESET)( \(after 4 attempts\))?/);
    // Transient, so not the app's failure: the queue tried again, and the check said so meanwhile.
    expect(h.calls.filter((c) => c.method === 'PATCH' && c.path.includes('/check-runs/') && c.body?.status === 'in_progress').map((c) => c.body.output.title)).toEqual(expect.arrayContaining(['retrying (2/3)', 'retrying (3/3)']));
    await proxy.start();
    // A partial apply: at most the one write that got through; `old` is still there.
    const values = [await value(ns, 'a'), await value(ns, 'b'), await value(ns, 'c')];
    expect(values.filter((v) => v === '2').length).toBeLessThanOrEqual(1);
    expect(await value(ns, 'old')).toBe('1');
    expect(proxy.requests.filter((q) => q.method === 'DELETE' && q.path.includes(`/namespaces/${ns}/`))).toEqual([]);

    proxy.rule = null;
    const fixed = await deploy(ns, 'fixed', { a: '2', b: '2', c: '2' });
    expect(fixed.conclusion).toBe('success');
    expect(fixed.summary).toContain('1 pruned');
    expect([await value(ns, 'a'), await value(ns, 'b'), await value(ns, 'c'), await value(ns, 'old')]).toEqual(['2', '2', '2', null]);
  }, 120_000);

  it('503 that never ends on one object: each attempt gives up on it after 4 requests, the job is retried (3 attempts), then fails with that reason; nothing is pruned', async () => {
    const ns = uniqueName('relk-c');
    await namespace(cluster, ns);
    expect((await deploy(ns, 'base', { a: '1', b: '1', old: '1' })).conclusion).toBe('success');
    proxy.rule = (r) => (r.write && r.method === 'PATCH' && r.path.endsWith('/configmaps/b') ? { status: 503 } : undefined);
    const r = await deploy(ns, 'stuck', { a: '2', b: '2' });
    expect(r.conclusion).toBe('failure');
    expect(r.summary).toContain('(HTTP 503, still after 4 attempts)');
    // 4 requests per attempt, 3 attempts: a load-shedding server is not the app's failure.
    expect(proxy.requests.filter((q) => q.injected === 503 && q.path.endsWith(`/namespaces/${ns}/configmaps/b`))).toHaveLength(12);
    expect(proxy.requests.filter((q) => q.method === 'DELETE' && q.path.includes(`/namespaces/${ns}/`))).toEqual([]);
    expect([await value(ns, 'b'), await value(ns, 'old')]).toEqual(['1', '1']);
  }, 120_000);
});
