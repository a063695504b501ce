import { describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import { pino } from 'pino';
import { KubeClient } from '../../../src/cluster/client.js';
import { ResourceWatch, foreignChange, lastWriter, watchKey } from '../../../src/cluster/watch.js';
import type { KubeObject } from '../../../src/objects.js';

const labels = { 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/app': 'web', 'mergeops.dev/repo-id': '777' };
const entry = (manager: string, time: string, subresource?: string) => ({ manager, operation: manager.startsWith('mergeops/') ? 'Apply' : 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:data': {} }, ...(subresource ? { subresource } : {}) });
const cm = (managedFields: unknown[], l: Record<string, string> = labels): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web', namespace: 'shop', labels: l, managedFields } });

describe('who wrote an object last', () => {
  it('the newest main-resource entry; a status writer is not a change of what Git declares', () => {
    expect(lastWriter(cm([entry('mergeops/777/web', '2026-12-01T10:00:00Z'), entry('kubectl-edit', '2026-12-01T10:00:05Z')]))).toBe('kubectl-edit');
    expect(lastWriter(cm([entry('kubectl-edit', '2026-12-01T10:00:00Z'), entry('mergeops/777/web', '2026-12-01T10:00:05Z')]))).toBe('mergeops/777/web');
    expect(lastWriter(cm([entry('mergeops/777/web', '2026-12-01T10:00:00Z'), entry('kube-controller-manager', '2026-12-01T10:00:09Z', 'status')]))).toBe('mergeops/777/web');
  });

  it('within the same second, the other writer (a hand edit right after a deploy is not missed)', () => {
    expect(lastWriter(cm([entry('mergeops/777/web', '2026-12-01T10:00:00Z'), entry('kubectl-edit', '2026-12-01T10:00:00Z')]))).toBe('kubectl-edit');
  });
});

describe('foreignChange', () => {
  it('names the app of a hand-edited object', () => {
    expect(foreignChange(cm([entry('mergeops/777/web', '2026-12-01T10:00:00Z'), entry('kubectl-edit', '2026-12-01T10:00:05Z')]))).toEqual({ repoId: 777, app: 'web', ref: 'v1 ConfigMap shop/web', by: 'kubectl-edit' });
  });

  it("skips the app's own applies (and the legacy shared manager's), and objects that are not an app's", () => {
    expect(foreignChange(cm([entry('mergeops/777/web', '2026-12-01T10:00:05Z')]))).toBeNull();
    expect(foreignChange(cm([entry('mergeops', '2026-12-01T10:00:05Z')]))).toBeNull();
    expect(foreignChange(cm([entry('kubectl-edit', '2026-12-01T10:00:05Z')], { 'app.kubernetes.io/managed-by': 'helm' }))).toBeNull();
  });

  it("another app's manager writing this app's object is foreign", () => {
    expect(foreignChange(cm([entry('mergeops/777/web', '2026-12-01T10:00:00Z'), entry('mergeops/778/api', '2026-12-01T10:00:05Z')]))?.by).toBe('mergeops/778/api');
  });
});

describe('watchKey', () => {
  it('one per type and namespace; cluster-scoped types have none', () => {
    expect(watchKey('v1 ConfigMap shop/web')).toBe('v1 ConfigMap shop');
    expect(watchKey('apps/v1 Deployment shop/api')).toBe('apps/v1 Deployment shop');
    expect(watchKey('v1 Namespace shop')).toBe('v1 Namespace ');
    expect(watchKey('nonsense')).toBeNull();
  });
});

describe('ResourceWatch: a silent connection', () => {
  it('a watch that hears nothing (no event, no bookmark) for its idle limit is cut and resumed from its resourceVersion, not left hanging', async () => {
    const watches: string[] = [];
    const held: http.ServerResponse[] = [];
    // An API server whose watch answers 200, streams one event, then goes silent: what a
    // half-open connection looks like from this side.
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.searchParams.get('watch') !== 'true') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ metadata: { resourceVersion: '7' }, items: [] }));
        return;
      }
      watches.push(url.searchParams.get('resourceVersion') ?? '');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (watches.length === 1) res.write(`${JSON.stringify({ type: 'MODIFIED', object: { ...cm([]), metadata: { ...cm([]).metadata, resourceVersion: '8' } } })}\n`);
      held.push(res);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    const client = await KubeClient.create('c', kc);
    const events: string[] = [];
    const w = new ResourceWatch(client, '/api/v1/namespaces/shop/configmaps', { labelSelector: 'a=b', onEvent: (t) => void events.push(t), onGap: () => undefined, log: pino({ level: 'silent' }), idleMs: 300 });
    try {
      w.start();
      const deadline = Date.now() + 10_000;
      while (watches.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // The first watch from the list's version; the resumed one from the last event's.
      expect(watches.slice(0, 2)).toEqual(['7', '8']);
      expect(events).toEqual(['MODIFIED']);
    } finally {
      await w.stop();
      for (const res of held) res.destroy();
      client.close();
      await new Promise((r) => server.close(r));
    }
  });
});
