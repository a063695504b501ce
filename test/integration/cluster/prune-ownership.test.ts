import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { deleteOrphan } from '../../../src/cluster/prune.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import { fieldManager, withInventory, type InventoryKey } from '../../../src/cluster/inventory.js';
import type { App } from '../../../src/config/repo-config.js';
import type { KubeObject } from '../../../src/objects.js';
import { edit, get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const key: InventoryKey = { repoId: 777, repo: 'acme/deploys', app: 'web' };
const app: App = { name: 'web', path: 'k8s', cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false };

/**
 * Prune deletes an orphan only as the plan saw it (uid + resourceVersion preconditions), so
 * an object another app took over between the plan's list and the delete is never deleted
 * (issue #24: the old owner's prune never deletes an object now owned by another app).
 */
describe('prune against the real API server: never an object that changed hands meanwhile', () => {
  let cluster: Cluster;
  let ns: string;
  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('prown');
    await namespace(cluster, ns);
  });
  afterAll(() => cluster?.client.close());

  const path = (name: string) => `/api/v1/namespaces/${ns}/configmaps/${name}`;
  const ours = (name: string, value: string): Promise<KubeObject> =>
    put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { value } }, key), fieldManager(key));

  it('an orphan taken over by another app after the plan saw it is kept, naming the new owner', async () => {
    const seen = await ours('taken', 'a');
    const other = { repoId: 888, repo: 'acme/billing', app: 'pay' };
    await put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'taken', namespace: ns }, data: { value: 'b' } }, other), fieldManager(other));
    expect(await deleteOrphan(cluster, path('taken'), seen, app, key)).toEqual({ kept: 'it now belongs to app "pay" of acme/billing' });
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'taken')).not.toBeNull();
  });

  it('an orphan changed meanwhile but still this app\'s is deleted; one deleted meanwhile is gone', async () => {
    const seen = await ours('edited', 'a');
    await edit(cluster, 'v1', 'ConfigMap', ns, 'edited', (o) => void (o['data'] = { value: 'by hand' }));
    expect(await deleteOrphan(cluster, path('edited'), seen, app, key)).toBe('deleted');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'edited')).toBeNull();
    expect(await deleteOrphan(cluster, path('edited'), seen, app, key)).toBe('gone');
  });
});
