import { describe, expect, it } from '@jest/globals';
import type { PlannedObject } from '../../../src/objects.js';
import { detectDrift } from '../../../src/diff/drift.js';
import type { KubeObject } from '../../../src/objects.js';

const OURS = new Set(['mergeops/777/web', 'mergeops']);
const fv = (o: object) => o as Record<string, never>;

function planned(live: KubeObject | null, merged: KubeObject): PlannedObject {
  return { desired: merged, source: { file: 'a.yaml', line: 1 }, live, merged };
}
function cm(data: Record<string, string>, managedFields: object[]): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'web-config', namespace: 'shop', managedFields }, data };
}
const entry = (manager: string, fields: object, extra: object = {}) => ({ manager, operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: fv(fields), ...extra });

describe('detectDrift (from managedFields: who set each field, who owns it after the apply)', () => {
  it('a field kubectl edit changed that Git declares is reverted, named with both values and the manager; one Git does not declare is kept', () => {
    const live = cm({ THEME: 'blue', EXTRA: 'x', SIZE: 'l' }, [
      entry('mergeops/777/web', { 'f:data': { 'f:SIZE': {} } }),
      entry('kubectl-edit', { 'f:data': { 'f:THEME': {}, 'f:EXTRA': {} } }, { operation: 'Update' }),
    ]);
    // The forced dry-run: the app now owns THEME; kubectl-edit keeps EXTRA.
    const merged = cm({ THEME: 'dark', EXTRA: 'x', SIZE: 'l' }, [
      entry('mergeops/777/web', { 'f:data': { 'f:SIZE': {}, 'f:THEME': {} } }),
      entry('kubectl-edit', { 'f:data': { 'f:EXTRA': {} } }, { operation: 'Update' }),
    ]);
    expect(detectDrift([planned(live, merged)], OURS)).toEqual([
      { ref: 'v1 ConfigMap shop/web-config', fields: [{ path: '.data.THEME', by: 'kubectl-edit', live: 'blue', git: 'dark' }], kept: [{ path: '.data.EXTRA', by: 'kubectl-edit' }] },
    ]);
  });

  it('a field another manager set to the value Git has is not drift; the old shared manager counts as ours', () => {
    const live = cm({ THEME: 'dark' }, [entry('mergeops', { 'f:data': { 'f:THEME': {} } }), entry('helm', { 'f:data': { 'f:THEME': {} } })]);
    const merged = cm({ THEME: 'dark' }, [entry('mergeops/777/web', { 'f:data': { 'f:THEME': {} } }), entry('helm', { 'f:data': { 'f:THEME': {} } })]);
    expect(detectDrift([planned(live, merged)], OURS)).toEqual([]);
  });

  it('names list items by their keys, ignores status writers and bookkeeping annotations', () => {
    const dep = (image: string, replicas: number, mf: object[]): KubeObject => ({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop', annotations: { 'deployment.kubernetes.io/revision': '3' }, managedFields: mf },
      spec: { replicas, template: { spec: { containers: [{ name: 'web', image }] } } },
      status: { replicas: 1 },
    });
    const container = { 'f:spec': { 'f:template': { 'f:spec': { 'f:containers': { 'k:{"name":"web"}': { '.': {}, 'f:image': {} } } } } } };
    const live = dep('web:hotfix', 5, [
      entry('kubectl-set', container, { operation: 'Update' }),
      entry('kubectl-scale', { 'f:spec': { 'f:replicas': {} } }, { operation: 'Update', subresource: 'scale' }),
      entry('kube-controller-manager', { 'f:status': { 'f:replicas': {} } }, { operation: 'Update', subresource: 'status' }),
      entry('kube-controller-manager', { 'f:metadata': { 'f:annotations': { 'f:deployment.kubernetes.io/revision': {} } } }, { operation: 'Update' }),
    ]);
    const merged = dep('web:2', 2, [entry('mergeops/777/web', { ...container, 'f:spec': { ...container['f:spec'], 'f:replicas': {} } })]);
    expect(detectDrift([planned(live, merged)], OURS)[0]?.fields).toEqual([
      { path: '.spec.template.spec.containers[name=web].image', by: 'kubectl-set', live: 'web:hotfix', git: 'web:2' },
      { path: '.spec.replicas', by: 'kubectl-scale', live: '5', git: '2' },
    ]);
  });

  it('names a drifted Secret key and who set it, never its values', () => {
    const s = (v: string, mf: object[]): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n', managedFields: mf }, data: { token: Buffer.from(v).toString('base64') } });
    const d = detectDrift([planned(s('hand-set-value', [entry('kubectl-edit', { 'f:data': { 'f:token': {} } })]), s('git-value', [entry('mergeops/777/web', { 'f:data': { 'f:token': {} } })]))], OURS);
    expect(d).toEqual([{ ref: 'v1 Secret n/s', fields: [{ path: '.data.token', by: 'kubectl-edit' }], kept: [] }]);
    expect(JSON.stringify(d)).not.toContain(Buffer.from('hand-set-value').toString('base64'));
    expect(JSON.stringify(d)).not.toContain(Buffer.from('git-value').toString('base64'));
  });

  it('a Secret key Git declares through stringData reverts a hand edit of data', () => {
    const s = (v: string, mf: object[]): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n', managedFields: mf }, data: { password: Buffer.from(v).toString('base64') } });
    const ours = entry('mergeops/777/web', { 'f:stringData': { 'f:password': {} } });
    const edit = entry('kubectl-edit', { 'f:data': { 'f:password': {} } }, { operation: 'Update' });
    expect(detectDrift([planned(s('hand', [ours, edit]), s('git', [ours, edit]))], OURS)).toEqual([{ ref: 'v1 Secret n/s', fields: [{ path: '.data.password', by: 'kubectl-edit' }], kept: [] }]);
  });

  it('ignores objects that are not live yet, and notes (not validated by the server)', () => {
    const merged = cm({ THEME: 'dark' }, []);
    const p = planned(cm({ THEME: 'blue' }, [entry('x', { 'f:data': { 'f:THEME': {} } })]), merged);
    p.note = 'not validated';
    expect(detectDrift([planned(null, merged), p], OURS)).toEqual([]);
  });
});
