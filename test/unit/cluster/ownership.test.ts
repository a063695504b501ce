import { describe, expect, it } from '@jest/globals';
import { migratedEntries } from '../../../src/cluster/field-managers.js';
import { parseWarnings } from '../../../src/cluster/client.js';
import { fieldManager, ownershipOf, withInventory } from '../../../src/cluster/inventory.js';
import { releaseOf, releasedByApp, takeOverRefusal, type OwnerConfig } from '../../../src/cluster/ownership.js';
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
    expect(ownershipOf(withInventory(cm(), { ...key, repoId: 888, repo: 'acme/other' }), key)).toEqual({ owner: 'other', repoId: 888, repo: 'acme/other', app: 'web' });
    expect(ownershipOf(withInventory(cm(), { ...key, app: 'api' }), key)).toEqual({ owner: 'other', repoId: 777, repo: 'acme/deploys', app: 'api' });
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
    expect(takeOverRefusal(withInventory(cm(), { repoId: 888, repo: 'acme/other', app: 'web' }), cm(), app(), key)).toContain('which belongs to app "web" of acme/other, another mergeops app');
  });
});

describe('ownership between mergeops apps: adopt: never crosses it, only the owner\'s release does', () => {
  const ref = 'ConfigMap/shop/payments-config';
  const other = { repoId: 888, repo: 'acme/other', app: 'pay' };
  const entry = (manager: string, annotation = true) => ({
    manager,
    operation: 'Apply',
    apiVersion: 'v1',
    fieldsType: 'FieldsV1',
    fieldsV1: { 'f:data': { 'f:A': {} }, ...(annotation ? { 'f:metadata': { 'f:annotations': { 'f:mergeops.dev/adopt': {} } } } : {}) },
  });
  /** Another repository's object, as its deploy left it; `annotatedBy` wrote mergeops.dev/adopt: `to`. */
  const owned = (opts: { to?: string; annotatedBy?: string } = {}): KubeObject => {
    const o = withInventory(cm(opts.to ? { annotations: { 'mergeops.dev/adopt': opts.to } } : {}), other);
    o.metadata['managedFields'] = [entry('mergeops/888/pay', opts.annotatedBy === 'mergeops/888/pay'), ...(opts.annotatedBy && opts.annotatedBy !== 'mergeops/888/pay' ? [entry(opts.annotatedBy)] : [])];
    return o;
  };
  const config = (releases: { app?: string; object?: string; to?: string }[], apps = ['pay']): OwnerConfig => ({
    read: true,
    branch: 'main',
    apps,
    releases: releases.map((r) => ({ app: r.app ?? 'pay', object: r.object ?? ref, ...(r.to ? { to: r.to } : {}) })),
  });
  const adopting = app({ adopt: [ref] });

  it('labels stripped by hand: the field manager still names the owning app', () => {
    const o = owned();
    o.metadata.labels = {};
    expect(ownershipOf(o, key)).toEqual({ owner: 'other', repoId: 888, repo: 'acme/other', app: 'pay' });
    expect(takeOverRefusal(o, cm(), adopting, key)).toContain('belongs to app "pay" of acme/other');
  });

  it('labels stripped from one environment of an app (manager mergeops/888/pay.prod): still that unit\'s', () => {
    const o = withInventory(cm(), { ...other, app: 'pay.prod' });
    o.metadata['managedFields'] = [entry('mergeops/888/pay.prod', false)];
    o.metadata.labels = {};
    expect(ownershipOf(o, key)).toEqual({ owner: 'other', repoId: 888, repo: 'acme/other', app: 'pay.prod' });
  });

  it('adopt: alone is refused, naming the owner (repository and app) and both ways to hand it over', () => {
    const msg = takeOverRefusal(owned(), cm(), adopting, key, config([]));
    expect(msg).toContain('would take over `v1 ConfigMap shop/payments-config`, which belongs to app "pay" of acme/other, another mergeops app; its live content is not shown.');
    expect(msg).toContain(`this app's adopt: names "${ref}" (done)`);
    expect(msg).toContain(`the owner adds { object: ${ref}, to: acme/deploys/web } under release: of app "pay" in acme/other's .github/mergeops.yml on its default branch (mergeops read it on main: app "pay" does not release this object to this app)`);
    expect(msg).toContain('or app "pay" declares the annotation mergeops.dev/adopt: "acme/deploys/web" on the object in its own Git and deploys it');
  });

  it("the owner's release: on its default branch hands it over, to this app, its repository or anyone, but not to another app", () => {
    for (const to of [undefined, 'acme/deploys', 'acme/deploys/web']) {
      expect(takeOverRefusal(owned(), cm(), adopting, key, config([to ? { to } : {}]))).toBeNull();
      expect(releaseOf(owned(), other, key, config([to ? { to } : {}]))).toBe('release');
    }
    expect(takeOverRefusal(owned(), cm(), adopting, key, config([{ to: 'acme/deploys/api' }]))).toContain('does not release this object to this app');
    expect(takeOverRefusal(owned(), cm(), adopting, key, config([{ to: 'acme/third' }]))).not.toBeNull();
    expect(takeOverRefusal(owned(), cm(), adopting, key, config([{ object: 'ConfigMap/shop/other-config' }]))).not.toBeNull();
  });

  it('the release needs the taker to ask too: without adopt: it is still refused', () => {
    expect(takeOverRefusal(owned(), cm(), app(), key, config([{}]))).toContain(`add "${ref}" to adopt: of app "web"`);
  });

  it("only the owning app's release counts, unless its repository has removed that app", () => {
    expect(takeOverRefusal(owned(), cm(), adopting, key, config([{ app: 'billing' }], ['pay', 'billing']))).not.toBeNull();
    expect(takeOverRefusal(owned(), cm(), adopting, key, config([{ app: 'billing' }], ['billing']))).toBeNull();
  });

  it("the annotation counts only when the owner's field manager wrote it, never the taker's or a person's", () => {
    expect(takeOverRefusal(owned({ to: 'acme/deploys/web', annotatedBy: 'mergeops/888/pay' }), cm(), adopting, key)).toBeNull();
    expect(releaseOf(owned({ to: 'acme/deploys/web', annotatedBy: 'mergeops/888/pay' }), other, key, undefined)).toBe('annotation');
    for (const writer of ['mergeops/777/web', 'kubectl-edit', 'mergeops/999/pay']) {
      const msg = takeOverRefusal(owned({ to: 'acme/deploys/web', annotatedBy: writer }), cm(), adopting, key);
      expect(msg).toContain("the live object carries it, but the owner's deploy did not write it, so it does not count");
    }
    expect(takeOverRefusal(owned({ to: 'acme/deploys/api', annotatedBy: 'mergeops/888/pay' }), cm(), adopting, key)).toContain('the live object\'s says "acme/deploys/api", not this app');
  });

  it('an owner mergeops cannot read is named with the reason: the annotation is then the only way', () => {
    const why = 'acme/other is not in this repository\'s GitHub App installation, so mergeops cannot read its config; only the annotation can release the object';
    expect(takeOverRefusal(owned(), cm(), adopting, key, { read: false, why })).toContain(`on its default branch (${why}),`);
  });

  it('another app of the same repository is an owner like any other', () => {
    const sibling = withInventory(cm(), { ...key, app: 'api' });
    const msg = takeOverRefusal(sibling, cm(), adopting, key, config([]));
    expect(msg).toContain('belongs to app "api" of this repository (acme/deploys)');
    expect(msg).toContain('under release: of app "api" in this repository\'s .github/mergeops.yml');
    expect(takeOverRefusal(sibling, cm(), adopting, key, { read: true, branch: 'main', apps: ['api', 'web'], releases: [{ app: 'api', object: ref, to: 'acme/deploys/web' }] })).toBeNull();
  });

  it("the old owner's prune keeps what it released (release: or its own annotation), and nothing else", () => {
    const mine = withInventory(cm(), key);
    expect(releasedByApp(mine, app(), key)).toBeNull();
    expect(releasedByApp(mine, app({ release: [{ object: ref, to: 'acme/other/pay' }] }), key)).toContain('app "web" releases it (release: in .github/mergeops.yml, to acme/other/pay)');
    const annotated = withInventory(cm({ annotations: { 'mergeops.dev/adopt': 'acme/other/pay' } }), key);
    annotated.metadata['managedFields'] = [entry('mergeops/777/web')];
    expect(releasedByApp(annotated, app(), key)).toContain('released it with mergeops.dev/adopt: "acme/other/pay"');
    annotated.metadata['managedFields'] = [entry('mergeops/777/web', false), entry('kubectl-edit')];
    expect(releasedByApp(annotated, app(), key)).toBeNull();
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
