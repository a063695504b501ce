import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import http from 'node:http';
import type net from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeClient } from '../../../src/cluster/client.js';

/** Impersonation as the API server reads it: one Impersonate-User, one Impersonate-Group line per group. */
describe('KubeClient.impersonating', () => {
  let server: http.Server;
  const seen: { user: string | undefined; groups: string[]; auth: string | undefined }[] = [];
  let base: KubeClient;

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const groups: string[] = [];
      for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === 'impersonate-group') groups.push(req.rawHeaders[i + 1] ?? '');
      seen.push({ user: req.headers['impersonate-user'] as string | undefined, groups, auth: req.headers.authorization });
      res.setHeader('content-type', 'application/json');
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'mergeops', token: 'own-token' }],
      contexts: [{ name: 'c', cluster: 'c', user: 'mergeops' }],
      currentContext: 'c',
    });
    base = await KubeClient.create('c', kc);
  });
  afterAll(async () => {
    base.close();
    await new Promise((r) => server.close(r));
  });

  it("sends mergeops' own credentials with the identity to act as; the client it came from stays itself", async () => {
    const acting = base.impersonating({ user: 'alice', groups: ['ops', 'auditors'], named: 'user alice' });
    const sa = base.impersonating({ user: 'system:serviceaccount:shop:deployer', groups: [], named: 'serviceAccount shop/deployer' });
    await acting.request('GET', '/api/v1/namespaces/shop/configmaps');
    await sa.request('GET', '/api/v1/namespaces/shop/configmaps');
    await base.request('GET', '/api/v1/namespaces/mergeops-system/configmaps/x');
    expect(seen).toEqual([
      { user: 'alice', groups: ['ops', 'auditors'], auth: 'Bearer own-token' },
      // A ServiceAccount without groups: the API server adds its own groups.
      { user: 'system:serviceaccount:shop:deployer', groups: [], auth: 'Bearer own-token' },
      { user: undefined, groups: [], auth: 'Bearer own-token' },
    ]);
    expect([acting.actingAs?.named, base.actingAs]).toEqual(['user alice', null]);
  });
});
