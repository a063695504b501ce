import { describe, expect, it } from '@jest/globals';
import { validateRepoConfig } from '../../../src/config/repo-config.js';
import { desiredHash } from '../../../src/engine/desired-hash.js';
import type { RenderedObject } from '../../../src/objects.js';

const cm = (name: string, data: Record<string, string>, line = 1): RenderedObject => ({
  object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data },
  source: { file: 'apps/web/cm.yaml', line },
});

function app(extra: Record<string, unknown> = {}) {
  return validateRepoConfig({ apps: [{ name: 'web', path: 'apps/web', namespace: 'shop', ...extra }] }, 'main').apps[0]!;
}

describe('desiredHash', () => {
  it('ignores object order, key order and where an object was written', () => {
    const a = [cm('a', { x: '1', y: '2' }), cm('b', { z: '3' }, 9)];
    const b = [cm('b', { z: '3' }, 1), { ...cm('a', {}), object: { data: { y: '2', x: '1' }, metadata: { name: 'a' }, kind: 'ConfigMap', apiVersion: 'v1' } }];
    expect(desiredHash(app(), a)).toBe(desiredHash(app(), b));
  });

  it('changes when one value of one object changes', () => {
    expect(desiredHash(app(), [cm('a', { x: '1' })])).not.toBe(desiredHash(app(), [cm('a', { x: '2' })]));
  });

  it('changes when an object is added or removed', () => {
    expect(desiredHash(app(), [cm('a', { x: '1' })])).not.toBe(desiredHash(app(), [cm('a', { x: '1' }), cm('b', {})]));
  });

  it('changes with a setting that changes the apply (prune, namespace, conflicts, adopt), not with wait', () => {
    const objs = [cm('a', { x: '1' })];
    const base = desiredHash(app(), objs);
    expect(desiredHash(app({ prune: false }), objs)).not.toBe(base);
    expect(desiredHash(app({ namespace: 'other' }), objs)).not.toBe(base);
    expect(desiredHash(app({ conflicts: 'fail' }), objs)).not.toBe(base);
    expect(desiredHash(app({ adopt: ['ConfigMap/shop/a'] }), objs)).not.toBe(base);
    expect(desiredHash(app({ wait: '10s' }), objs)).toBe(base);
  });
});
