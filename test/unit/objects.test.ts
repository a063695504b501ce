import { describe, expect, it } from '@jest/globals';
import { diffObject } from '../../src/diff/diff.js';
import { isUnchanged, normalize, type KubeObject } from '../../src/objects.js';

function live(): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'web',
      namespace: 'prod',
      uid: '8f1c0f7e-1111-2222-3333-444455556666',
      resourceVersion: '12345',
      generation: 7,
      creationTimestamp: '2024-01-01T00:00:00Z',
      selfLink: '/apis/apps/v1/namespaces/prod/deployments/web',
      managedFields: [{ manager: 'kubectl', operation: 'Apply' }],
      labels: { app: 'web' },
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}',
        'deployment.kubernetes.io/revision': '3',
        'team.example.com/owner': 'payments',
      },
    },
    spec: { replicas: 2 },
    status: { readyReplicas: 2 },
  };
}

describe('normalize', () => {
  it('strips server-owned metadata, status and bookkeeping annotations', () => {
    expect(normalize(live())).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: {
        name: 'web',
        namespace: 'prod',
        labels: { app: 'web' },
        annotations: { 'team.example.com/owner': 'payments' },
      },
      spec: { replicas: 2 },
    });
  });

  it.each(['managedFields', 'resourceVersion', 'uid', 'generation', 'creationTimestamp', 'selfLink'])('removes metadata.%s', (k) => {
    expect(normalize(live()).metadata).not.toHaveProperty(k);
  });

  it('removes status', () => {
    expect(normalize(live())).not.toHaveProperty('status');
  });

  it('removes the annotations map when only stripped annotations were in it', () => {
    const o = live();
    o.metadata.annotations = { 'kubectl.kubernetes.io/last-applied-configuration': '{}' };
    expect(normalize(o).metadata).not.toHaveProperty('annotations');
  });

  it('removes an annotations map that was already empty', () => {
    const o = live();
    o.metadata.annotations = {};
    expect(normalize(o).metadata).not.toHaveProperty('annotations');
  });

  it('does not change its input', () => {
    const o = live();
    const before = structuredClone(o);
    normalize(o);
    expect(o).toEqual(before);
  });

  it('returns a deep copy', () => {
    const o = live();
    const n = normalize(o);
    (n['spec'] as { replicas: number }).replicas = 99;
    (n.metadata.labels as Record<string, string>)['x'] = 'y';
    expect((o['spec'] as { replicas: number }).replicas).toBe(2);
    expect(o.metadata.labels).toEqual({ app: 'web' });
  });

  it('keeps user fields that merely look similar', () => {
    const o: KubeObject = {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c' },
      data: { status: 'ok', uid: '1', resourceVersion: '2' },
    };
    expect(normalize(o)).toEqual(o);
  });

  it('is idempotent on already-clean objects', () => {
    const clean = normalize(live());
    expect(normalize(clean)).toEqual(clean);
  });
});

describe('isUnchanged', () => {
  const NONE = new Set<string>();
  const cm = (data: Record<string, string>, extra: Record<string, unknown> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: 'n', ...extra }, data });

  it('ignores what the server owns and the order of keys', () => {
    const live = cm({ a: '1', b: '2' }, { resourceVersion: '9', uid: 'u', managedFields: [] });
    const merged = { ...cm({ b: '2', a: '1' }), status: { x: 1 } };
    expect(isUnchanged({ live, merged }, NONE)).toBe(true);
  });

  it('sees a changed value, a new object and an object the server could not validate', () => {
    expect(isUnchanged({ live: cm({ a: '1' }), merged: cm({ a: '2' }) }, NONE)).toBe(false);
    expect(isUnchanged({ live: null, merged: cm({ a: '1' }) }, NONE)).toBe(false);
    expect(isUnchanged({ live: cm({ a: '1' }), merged: cm({ a: '1' }), note: 'its namespace is created by this change' }, NONE)).toBe(false);
  });

  it('compares Secret values as bytes, so stringData equal to data is unchanged', () => {
    const secret = (body: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, ...body });
    expect(isUnchanged({ live: secret({ data: { k: Buffer.from('v').toString('base64') } }), merged: secret({ stringData: { k: 'v' } }) }, NONE)).toBe(true);
    expect(isUnchanged({ live: secret({ data: { k: Buffer.from('v').toString('base64') } }), merged: secret({ stringData: { k: 'w' } }) }, NONE)).toBe(false);
  });

  it('agrees with the diff on unchanged objects', () => {
    const live = cm({ a: '1' }, { resourceVersion: '1' });
    expect(diffObject(live, cm({ a: '1' })).action).toBe('unchanged');
    expect(isUnchanged({ live, merged: cm({ a: '1' }) }, NONE)).toBe(true);
  });
});
