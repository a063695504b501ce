import { describe, expect, it } from '@jest/globals';
import { migratedEntries } from '../../../src/cluster/apply.js';
import { parseWarnings } from '../../../src/cluster/client.js';
import { fieldManager, ownershipOf, withInventory } from '../../../src/cluster/inventory.js';
import { takeOverRefusal } from '../../../src/cluster/plan.js';
import type { App } from '../../../src/config/repo-config.js';
import type { KubeObject } from '../../../src/objects.js';

const key = { repoId: 777, repo: 'acme/deploys', app: 'web' };
const app = (extra: Partial<App> = {}): App => ({ name: 'web', path: 'k8s', cluster: 'default', namespace: 'shop', branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...extra });
const cm = (meta: Partial<KubeObject['metadata']> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'payments-config', namespace: 'shop', ...meta }, data: { A: 'x' } });

describe('field manager per app', () => {
  it('names repo id and app', () => {
    expect(fieldManager(key)).toBe('mergeops/777/web');
  });
});

describe('ownership and adoption', () => {
  it('an object carrying this app\'s marks is its own; one of another app or repo names that owner', () => {
    expect(ownershipOf(withInventory(cm(), key), key)).toEqual({ owner: 'this-app' });
    expect(ownershipOf(cm(), key)).toEqual({ owner: 'nobody' });
    expect(ownershipOf(withInventory(cm(), { ...key, repoId: 888, repo: 'acme/other' }), key)).toEqual({ owner: 'other', repo: 'acme/other', app: 'web' });
    expect(ownershipOf(withInventory(cm(), { ...key, app: 'api' }), key)).toEqual({ owner: 'other', repo: 'acme/deploys', app: 'api' });
  });

  it('refuses a take-over with what to do, unless adopted by list or by the owner\'s annotation', () => {
    const msg = takeOverRefusal(cm(), cm(), app(), key);
    expect(msg).toContain('would take over `v1 ConfigMap shop/payments-config`, which this app does not manage; its live content is not shown.');
    expect(msg).toContain('add "ConfigMap/shop/payments-config" to adopt: of app "web"');
    expect(msg).toContain('mergeops.dev/adopt: "acme/deploys/web"');
    expect(takeOverRefusal(cm(), cm(), app({ adopt: ['ConfigMap/shop/payments-config'] }), key)).toBeNull();
    expect(takeOverRefusal(cm({ annotations: { 'mergeops.dev/adopt': 'acme/deploys/web' } }), cm(), app(), key)).toBeNull();
    expect(takeOverRefusal(cm({ annotations: { 'mergeops.dev/adopt': 'acme/deploys/api' } }), cm(), app(), key)).not.toBeNull();
    expect(takeOverRefusal(withInventory(cm(), key), cm(), app(), key)).toBeNull();
    expect(takeOverRefusal(withInventory(cm(), { repoId: 888, repo: 'acme/other', app: 'web' }), cm(), app(), key)).toContain('(it belongs to app "web" of acme/other)');
  });
});

describe('migration from the old shared "mergeops" manager', () => {
  const e = (manager: string, fields: object, extra: object = {}) => ({ manager, operation: 'Apply', apiVersion: 'v1', fieldsType: 'FieldsV1', fieldsV1: fields as Record<string, never>, ...extra });

  it('folds the legacy Apply entry into the app\'s own, keeping every other manager', () => {
    const entries = [e('mergeops', { 'f:data': { 'f:a': {} } }), e('mergeops/777/web', { 'f:data': { 'f:b': {} } }), e('kubectl-edit', { 'f:data': { 'f:c': {} } }, { operation: 'Update' }), e('mergeops', { 'f:status': {} }, { subresource: 'status' })];
    expect(migratedEntries(entries, 'mergeops/777/web')).toEqual([
      entries[2],
      entries[3],
      { ...entries[1], fieldsV1: { 'f:data': { 'f:a': {}, 'f:b': {} } } },
    ]);
  });

  it('renames the legacy entry when the app has none yet, and does nothing without one', () => {
    expect(migratedEntries([e('mergeops', { 'f:data': {} })], 'mergeops/777/web')).toEqual([e('mergeops/777/web', { 'f:data': {} })]);
    expect(migratedEntries([e('kubectl', {})], 'mergeops/777/web')).toBeNull();
  });
});

describe('parseWarnings', () => {
  it('reads RFC 7234 warn-text, unescaping quotes, several per header', () => {
    expect(parseWarnings(['299 - "example.com/v1beta1 Widget is deprecated; use \\"v1\\""', '299 - "a, b", 299 - "c"'])).toEqual(['example.com/v1beta1 Widget is deprecated; use "v1"', 'a, b', 'c']);
    expect(parseWarnings([])).toEqual([]);
  });
});
