import { describe, expect, it } from '@jest/globals';
import type { PlannedObject } from '../../../src/objects.js';
import { detectDrift } from '../../../src/diff/drift.js';
import { objectRef, type KubeObject } from '../../../src/objects.js';

function planned(live: KubeObject | null, merged: KubeObject): PlannedObject {
  return { desired: merged, source: { file: 'a.yaml', line: 1 }, live, merged };
}
const deploy = (replicas: number, image: string, rv = '1'): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', resourceVersion: rv, managedFields: [{ manager: 'x' }] },
  spec: { replicas, template: { spec: { containers: [{ name: 'web', image }] } } },
  status: { replicas: 1 },
});

describe('detectDrift', () => {
  it('names each drifted field with live and Git values; bookkeeping and status do not count', () => {
    const d = detectDrift([planned(deploy(5, 'web:2', '7'), deploy(2, 'web:1', '8'))], objectRef);
    expect(d).toEqual([
      {
        ref: 'apps/v1 Deployment shop/web',
        fields: [
          { path: 'spec.replicas', live: '5', git: '2' },
          { path: 'spec.template.spec.containers[0].image', live: 'web:2', git: 'web:1' },
        ],
      },
    ]);
  });

  it('ignores objects that are not live yet or match Git', () => {
    expect(detectDrift([planned(null, deploy(1, 'a')), planned(deploy(1, 'a'), deploy(1, 'a', '9'))], objectRef)).toEqual([]);
  });

  it('names drifted Secret keys but never their values', () => {
    const s = (v: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' }, data: { token: Buffer.from(v).toString('base64') } });
    const d = detectDrift([planned(s('hand-set-value'), s('git-value'))], objectRef);
    expect(d).toEqual([{ ref: 'v1 Secret n/s', fields: [{ path: 'data.token' }] }]);
    expect(JSON.stringify(d)).not.toContain(Buffer.from('hand-set-value').toString('base64'));
  });

  it('reports a whole list when its length changed', () => {
    const a = deploy(1, 'a');
    const b = structuredClone(a);
    (b['spec'] as { template: { spec: { containers: unknown[] } } }).template.spec.containers.push({ name: 'sidecar', image: 'x' });
    expect(detectDrift([planned(a, b)], objectRef)[0]?.fields).toEqual([{ path: 'spec.template.spec.containers' }]);
  });
});
