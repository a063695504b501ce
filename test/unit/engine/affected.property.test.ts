import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { validateRepoConfig, type App } from '../../../src/config/repo-config.js';
import { affectedApps, under } from '../../../src/engine/affected.js';

/**
 * Property tests: for any set of apps, inputs and changed paths, (1) every app is either
 * affected or unaffected, never both, never lost; (2) an app is unaffected only when no
 * changed path lies under its path or any of its inputs (head or base) and its entry is
 * the same as the base's — the preview and deploy may skip it without missing a change;
 * (3) an untrusted list affects every app; (4) more changed paths never affect fewer apps.
 */
const segment = fc.constantFrom('apps', 'bases', 'web', 'api', 'common', 'x.yaml', 'kustomization.yaml', 'w');
const repoPath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => s.join('/'));

const scenario = fc
  .record({
    paths: fc.uniqueArray(repoPath, { minLength: 1, maxLength: 6 }),
    extra: fc.array(fc.array(repoPath, { maxLength: 3 }), { maxLength: 6 }),
    baseExtra: fc.array(fc.array(repoPath, { maxLength: 2 }), { maxLength: 6 }),
    changed: fc.array(repoPath, { maxLength: 6 }),
    more: fc.array(repoPath, { maxLength: 3 }),
    pruneFlip: fc.array(fc.boolean(), { maxLength: 6 }),
  })
  .map((s) => {
    const head = validateRepoConfig({ apps: s.paths.map((p, i) => ({ name: `app-${i}`, path: p, ...(s.pruneFlip[i] ? { prune: false } : {}) })) }, 'main').apps;
    const base = validateRepoConfig({ apps: s.paths.map((p, i) => ({ name: `app-${i}`, path: p })) }, 'main').apps;
    const inputs = new Map(head.map((a, i) => [a.name, [a.path, ...(s.extra[i] ?? [])]]));
    const baseInputs = new Map(head.map((a, i) => [a.name, s.baseExtra[i] ?? []]));
    return { head, base, inputs, baseInputs, changed: s.changed, more: s.more };
  });

const RUNS = 500;

describe('affectedApps (properties)', () => {
  it('partitions the apps, and skips only apps no change can reach', () => {
    fc.assert(
      fc.property(scenario, ({ head, base, inputs, baseInputs, changed }) => {
        const d = affectedApps({ apps: head, baseApps: base, changed: { complete: true, paths: changed }, inputs, baseInputs });
        const all = [...d.affected, ...d.unaffected].map((a) => a.name).sort();
        expect(all).toEqual(head.map((a) => a.name).sort());
        for (const app of d.unaffected) {
          const roots = [...(inputs.get(app.name) ?? []), ...(baseInputs.get(app.name) ?? [])];
          expect(changed.some((f) => roots.some((r) => under(f, r)))).toBe(false);
          expect(app.prune).toBe(base.find((b: App) => b.name === app.name)?.prune);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('an untrusted list affects every app', () => {
    fc.assert(
      fc.property(scenario, ({ head, base, inputs }) => {
        const d = affectedApps({ apps: head, baseApps: base, changed: { complete: false, reason: 'truncated' }, inputs });
        expect(d.affected).toHaveLength(head.length);
        expect(d.fallback).toBe('truncated');
      }),
      { numRuns: 100 },
    );
  });

  it('is monotone: more changed paths never affect fewer apps', () => {
    fc.assert(
      fc.property(scenario, ({ head, base, inputs, baseInputs, changed, more }) => {
        const a = affectedApps({ apps: head, baseApps: base, changed: { complete: true, paths: changed }, inputs, baseInputs });
        const b = affectedApps({ apps: head, baseApps: base, changed: { complete: true, paths: [...changed, ...more] }, inputs, baseInputs });
        const bNames = new Set(b.affected.map((x) => x.name));
        for (const x of a.affected) expect(bNames.has(x.name)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });
});
