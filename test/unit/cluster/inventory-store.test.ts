import { describe, expect, it } from '@jest/globals';
import { nextInventory, pendingInventory } from '../../../src/cluster/apply-record.js';
import { withInventory } from '../../../src/cluster/inventory.js';
import { inventoryName, inventoryObject, parseInventory, parseRef, refIdentity, type InventoryRecord } from '../../../src/cluster/inventory-store.js';
import { identity, objectRef, type KubeObject, type PlannedObject } from '../../../src/objects.js';

const key = { repoId: 77, repo: 'acme/shop', app: 'web' };
const cm = (ns: string, name: string): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns } });
const planned = (o: KubeObject): PlannedObject => ({ desired: withInventory(o, key), source: { file: 'k8s/x.yaml', line: 1 }, live: null, merged: o });
const target = { target: { name: 'prod', inCluster: false, grants: null, inventoryNamespace: 'ops' } };

describe('inventory refs and names', () => {
  it('reads back every ref objectRef writes, namespaced or cluster-scoped, with the identity of the object', () => {
    const objects: KubeObject[] = [cm('shop', 'a'), { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop' } }, { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' } }];
    for (const o of objects) {
      const r = parseRef(objectRef(o));
      expect(r).not.toBeNull();
      expect(refIdentity(r as NonNullable<typeof r>)).toBe(identity(o));
    }
    expect(parseRef('v1 ConfigMap')).toBeNull();
    expect(parseRef('v1 ConfigMap a/b/c')).toBeNull();
  });

  it('names one ConfigMap per (repo id, app), never the same for two pairs', () => {
    expect(inventoryName(key)).toBe('mergeops-77-web');
    expect(inventoryName({ repoId: 1, app: '2-a' })).not.toBe(inventoryName({ repoId: 12, app: 'a' }));
  });

  it('round-trips a record through its ConfigMap; a ConfigMap of another app is refused, another format never vouches for a hash', () => {
    const record: InventoryRecord = { objects: ['v1 ConfigMap shop/a'], retained: ['v1 ConfigMap shop/old'], desiredHash: 'sha256:x', commit: 'abc', deployedAt: '2026-01-01T00:00:00.000Z' };
    const obj = inventoryObject(target, key, record);
    expect(obj.metadata).toMatchObject({ name: 'mergeops-77-web', namespace: 'ops' });
    expect(parseInventory(obj, key)).toEqual(record);
    expect(() => parseInventory(obj, { ...key, app: 'api' })).toThrow(/is not the inventory of app "api"/);
    // A very large app's refs are gzipped, and read back the same.
    const many: InventoryRecord = { objects: Array.from({ length: 12_000 }, (_, i) => `v1 ConfigMap shop/config-with-a-long-name-${i}`), retained: [] };
    const packed = inventoryObject(target, key, many);
    expect(packed['data']).not.toHaveProperty('objects');
    expect(JSON.stringify(packed).length).toBeLessThan(1024 * 1024);
    expect(parseInventory(packed, key).objects).toEqual(many.objects);
    const old = { ...obj, data: { ...(obj['data'] as Record<string, string>), format: '0' } };
    expect(parseInventory(old, key).desiredHash).toBeUndefined();
  });
});

describe('nextInventory (what an apply leaves recorded)', () => {
  const old: InventoryRecord = { objects: ['v1 ConfigMap shop/a', 'v1 ConfigMap shop/gone'], retained: [], desiredHash: 'sha256:old', commit: 'c0' };

  it('after success: exactly the render, plus the stale objects prune kept, with the hash and commit', () => {
    const next = nextInventory({ objects: [planned(cm('shop', 'b')), planned(cm('shop', 'a'))], stale: [cm('shop', 'gone'), cm('shop', 'kept')], inventory: old, unobserved: [] }, { pruned: ['v1 ConfigMap shop/gone'] }, { desiredHash: 'sha256:new', commit: 'c1' });
    expect(next).toMatchObject({ objects: ['v1 ConfigMap shop/a', 'v1 ConfigMap shop/b'], retained: ['v1 ConfigMap shop/kept'], desiredHash: 'sha256:new', commit: 'c1' });
  });

  it('after a failure midway: the old refs and the render, and no hash, so no later deploy is skipped over a half-applied state', () => {
    const next = nextInventory({ objects: [planned(cm('shop', 'b'))], stale: [], inventory: old, unobserved: [] }, { pruned: [] }, null);
    expect(next.objects).toEqual(['v1 ConfigMap shop/a', 'v1 ConfigMap shop/b', 'v1 ConfigMap shop/gone']);
    expect(next.desiredHash).toBeUndefined();
    expect(next.commit).toBeUndefined();
  });

  it('a failed read never shrinks it: refs the plan could not look at (list refused, type not served) stay recorded after a success', () => {
    const next = nextInventory({ objects: [planned(cm('shop', 'a'))], stale: [], inventory: { ...old, objects: [...old.objects, 'example.com/v1 Widget shop/w'] }, unobserved: ['example.com/v1 Widget shop/w'] }, { pruned: ['v1 ConfigMap shop/gone'] }, { desiredHash: 'sha256:new' });
    expect(next.objects).toEqual(['v1 ConfigMap shop/a']);
    expect(next.retained).toEqual(['example.com/v1 Widget shop/w']);
  });
});

describe('pendingInventory (what is recorded before the first write)', () => {
  const old: InventoryRecord = { objects: ['v1 ConfigMap shop/a', 'v1 ConfigMap shop/gone'], retained: ['v1 ConfigMap shop/kept'], desiredHash: 'sha256:old', commit: 'c0', resourceVersion: '41' };

  it('holds the old refs and everything the render may create, unobserved refs too, no hash or commit, conditional on the version read', () => {
    const pending = pendingInventory({ objects: [planned(cm('shop', 'a')), planned(cm('shop', 'new'))], stale: [cm('shop', 'gone')], inventory: old, unobserved: ['example.com/v1 Widget shop/w'] });
    expect(pending).toMatchObject({ objects: ['v1 ConfigMap shop/a', 'v1 ConfigMap shop/gone', 'v1 ConfigMap shop/new'], retained: ['example.com/v1 Widget shop/w', 'v1 ConfigMap shop/kept'], resourceVersion: '41' });
    expect(pending?.desiredHash).toBeUndefined();
    expect(pending?.commit).toBeUndefined();
  });

  it('a first deploy (no inventory) records the whole render as a create', () => {
    const pending = pendingInventory({ objects: [planned(cm('shop', 'a'))], stale: [], inventory: null, unobserved: [] });
    expect(pending?.objects).toEqual(['v1 ConfigMap shop/a']);
    expect(pending?.resourceVersion).toBeUndefined();
  });

  it('nothing to write when the record already is a pending one holding every ref (a retry of a crashed attempt)', () => {
    const first = pendingInventory({ objects: [planned(cm('shop', 'a'))], stale: [], inventory: old, unobserved: [] }) as InventoryRecord;
    expect(pendingInventory({ objects: [planned(cm('shop', 'a'))], stale: [], inventory: first, unobserved: [] })).toBeNull();
  });
});
