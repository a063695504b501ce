import { describe, expect, it } from '@jest/globals';
import { diffObject, diffPlan } from '../../../src/diff/diff.js';
import { MAX_FIELD_CHANGES, changedFields } from '../../../src/diff/fields.js';
import type { PlannedObject } from '../../../src/objects.js';
import type { KubeObject } from '../../../src/objects.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function deployment(replicas: number, containers: { name: string; image: string }[]): KubeObject {
  return { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', namespace: 'shop' }, spec: { replicas, template: { spec: { containers } } } };
}

function cm(name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'shop' }, data };
}

function planned(live: KubeObject | null, merged: KubeObject): PlannedObject {
  return { desired: merged, source: { file: 'k.yaml', line: 1 }, live, merged };
}

describe('changedFields', () => {
  it('names scalar changes with both values', () => {
    expect(changedFields(deployment(2, [{ name: 'web', image: 'web:1.4.0' }]), deployment(5, [{ name: 'web', image: 'web:1.5.0' }]))).toEqual([
      { path: 'spec.replicas', before: '2', after: '5' },
      { path: 'spec.template.spec.containers[web].image', before: 'web:1.4.0', after: 'web:1.5.0' },
    ]);
  });

  it('matches list items by name, so an inserted container is one added field', () => {
    const before = deployment(1, [{ name: 'web', image: 'w' }]);
    const after = deployment(1, [{ name: 'proxy', image: 'p' }, { name: 'web', image: 'w' }]);
    expect(changedFields(before, after)).toEqual([{ path: 'spec.template.spec.containers[proxy]', added: true }]);
  });

  it('marks added and removed scalars', () => {
    expect(changedFields(cm('a', { X: '1' }), cm('a', { Y: '2' }))).toEqual([
      { path: 'data.X', before: '1', removed: true },
      { path: 'data.Y', after: '2', added: true },
    ]);
  });

  it('never carries Secret values', () => {
    const fields = changedFields({ kind: 'Secret', data: { K: b64('old') } }, { kind: 'Secret', data: { K: b64('new') } }, { secret: true });
    expect(fields).toEqual([{ path: 'data.K' }]);
    expect(JSON.stringify(fields)).not.toContain(b64('new'));
  });

  it('stops at MAX_FIELD_CHANGES', () => {
    const many = (v: string): Record<string, string> => Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, v]));
    expect(changedFields(cm('a', many('1')), cm('a', many('2')))).toHaveLength(MAX_FIELD_CHANGES);
  });
});

describe('diffObject fields', () => {
  it('an update carries its changed fields; a Secret update only key paths', () => {
    expect(diffObject(deployment(2, []), deployment(5, [])).fields).toEqual([{ path: 'spec.replicas', before: '2', after: '5' }]);
    const s = (v: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'shop' }, data: { K: b64(v) } });
    const d = diffObject(s('old'), s('new'));
    expect(d.fields).toEqual([{ path: 'data.K' }]);
    expect(JSON.stringify(d)).not.toContain(b64('old'));
    expect(JSON.stringify(d)).not.toContain(b64('new'));
  });
});

describe('diffPlan: kustomize generated-name renames', () => {
  it('pairs the new hashed name with the orphaned old one as one rename with a real diff', () => {
    const old = cm('settings-9kd7ch2tgh', { POOL: '10' });
    const fresh = cm('settings-84h459494f', { POOL: '20' });
    const diffs = diffPlan([planned(null, fresh)], [old], new Set());
    expect(diffs).toHaveLength(1);
    expect(diffs[0]).toMatchObject({ ref: 'v1 ConfigMap shop/settings-84h459494f', action: 'update', renamedFrom: 'v1 ConfigMap shop/settings-9kd7ch2tgh' });
    expect(diffs[0]?.fields).toContainEqual({ path: 'data.POOL', before: '10', after: '20' });
    expect(diffs[0]?.diff).toContain('-  POOL: \'10\'');
  });

  it('leaves a create and a delete alone when the names are not a kustomize hash or not one to one', () => {
    expect(diffPlan([planned(null, cm('settings-v2', {}))], [cm('settings-v1', {})], new Set()).map((d) => d.action).sort()).toEqual(['create', 'delete']);
    const two = diffPlan([planned(null, cm('s-84h459494f', {})), planned(null, cm('s-bbbbbbbbbb', {}))], [cm('s-9kd7ch2tgh', {})], new Set());
    expect(two.map((d) => d.action).sort()).toEqual(['create', 'create', 'delete']);
    // A different namespace is a different object.
    const other = { ...cm('s-9kd7ch2tgh', {}), metadata: { name: 's-9kd7ch2tgh', namespace: 'other' } };
    expect(diffPlan([planned(null, cm('s-84h459494f', {}))], [other], new Set()).map((d) => d.action).sort()).toEqual(['create', 'delete']);
  });
});
