import { describe, expect, it } from '@jest/globals';
import { assessHealth, readinessFree } from '../../../src/cluster/health.js';
import type { KubeObject } from '../../../src/objects.js';

const obj = (apiVersion: string, kind: string, extra: Record<string, unknown> = {}): KubeObject => ({ apiVersion, kind, metadata: { name: 'x', namespace: 'ns' }, ...extra });

describe('readinessFree: what the health wait need not read again', () => {
  it('kinds without readiness are settled by their apply answer', () => {
    for (const o of [obj('v1', 'ConfigMap', { data: { a: '1' } }), obj('v1', 'Secret'), obj('v1', 'Service', { status: { loadBalancer: {} } }), obj('rbac.authorization.k8s.io/v1', 'Role')]) {
      expect(readinessFree(o)).toBe(true);
      expect(assessHealth(o).state).toBe('healthy');
    }
  });

  it('workloads, Jobs and CRDs are watched, even when their answer looks healthy', () => {
    const done = obj('apps/v1', 'Deployment', { metadata: { name: 'x', generation: 1 }, spec: { replicas: 1 }, status: { observedGeneration: 1, updatedReplicas: 1, availableReplicas: 1, replicas: 1 } });
    expect(assessHealth(done).state).toBe('healthy');
    for (const kind of ['Deployment', 'StatefulSet', 'DaemonSet']) expect(readinessFree(obj('apps/v1', kind))).toBe(false);
    expect(readinessFree(obj('batch/v1', 'Job'))).toBe(false);
    expect(readinessFree(obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition'))).toBe(false);
  });

  it('a custom resource with a Ready condition is watched (its controller reports), one without any is not', () => {
    expect(readinessFree(obj('example.com/v1', 'Widget', { status: { conditions: [{ type: 'Ready', status: 'True' }] } }))).toBe(false);
    expect(readinessFree(obj('example.com/v1', 'Widget', { status: { conditions: [{ type: 'Synced', status: 'True' }] } }))).toBe(true);
    expect(readinessFree(obj('example.com/v1', 'Widget'))).toBe(true);
  });
});
