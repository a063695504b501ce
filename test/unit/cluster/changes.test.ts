import { describe, expect, it } from '@jest/globals';
import type { ApplyResult } from '../../../src/cluster/apply.js';
import { PRUNE_OFF, appliedOf, applyChanges, countChanges, wroteAny } from '../../../src/cluster/changes.js';
import { appLine, appProblems, appSucceeded, formatDeployCheck, storedReport, type AppDeployReport, type DeployReport } from '../../../src/report/deploy.js';

const empty = (): ApplyResult => ({ created: [], configured: [], unchanged: [], pruned: [], replaced: [], orphans: [], errors: [], warnings: [], objects: [] });

describe('the change set of an apply: one action per object', () => {
  it('lists each object once, a failure first; two errors of one object both reach the user', () => {
    const r = empty();
    r.errors = [
      { ref: 'v1 ConfigMap shop/a', message: 'defined twice (also at a.yaml:1)', source: { file: 'b.yaml', line: 3 } },
      { ref: 'v1 ConfigMap shop/a', message: 'refused by the server' },
    ];
    r.created = ['v1 ConfigMap shop/a', 'v1 ConfigMap shop/b'];
    expect(applyChanges(r, true)).toEqual([
      { ref: 'v1 ConfigMap shop/a', action: 'failed', reason: 'defined twice (also at a.yaml:1); refused by the server', source: { file: 'b.yaml', line: 3 } },
      { ref: 'v1 ConfigMap shop/b', action: 'created' },
    ]);
  });

  it('says why a configured object was replaced, and why an orphan stayed', () => {
    const r = empty();
    r.configured = ['batch/v1 Job shop/migrate'];
    r.replaced = ['batch/v1 Job shop/migrate'];
    r.orphans = ['v1 ConfigMap shop/old'];
    expect(applyChanges(r, false)).toEqual([
      { ref: 'batch/v1 Job shop/migrate', action: 'configured', reason: 'deleted and created again: an immutable field changed' },
      { ref: 'v1 ConfigMap shop/old', action: 'skipped', reason: PRUNE_OFF },
    ]);
  });

  it('counts actions, and a set of unchanged and skipped objects wrote nothing', () => {
    const r = empty();
    r.unchanged = ['v1 ConfigMap shop/a'];
    r.orphans = ['v1 ConfigMap shop/old'];
    const changes = applyChanges(r, false);
    expect(countChanges(changes)).toEqual({ created: 0, configured: 0, unchanged: 1, deleted: 0, skipped: 1, failed: 0 });
    expect(wroteAny(changes)).toBe(false);
    r.pruned = ['v1 ConfigMap shop/old'];
    expect(wroteAny(applyChanges(r, true))).toBe(true);
  });
});

describe('the deploy report reads the change set', () => {
  it('its line, problems and verdict come from the actions: a failed object fails the app, a skipped prune too', () => {
    const r = empty();
    r.created = ['v1 ConfigMap shop/a'];
    r.pruned = ['v1 ConfigMap shop/gone'];
    r.errors = [{ ref: 'v1 Secret shop/s', message: 'forbidden', source: { file: 's.yaml', line: 2 } }];
    const a: AppDeployReport = { app: 'web', cluster: 'default', applied: appliedOf(r, true), problems: [] };
    expect(appSucceeded(a)).toBe(false);
    expect(appLine(a)).toBe('failed: 1 created, 0 configured, 0 unchanged, 1 pruned');
    expect(appProblems(a)).toEqual([{ ref: 'v1 Secret shop/s', message: 'forbidden', file: 's.yaml', line: 2 }]);

    const skipped = empty();
    skipped.configured = ['v1 ConfigMap shop/a'];
    skipped.orphans = ['v1 ConfigMap shop/old'];
    skipped.pruneSkipped = 'a list of v1 ConfigMap failed';
    const b: AppDeployReport = { app: 'api', cluster: 'default', applied: appliedOf(skipped, true), problems: [] };
    expect(appSucceeded(b)).toBe(false);
    expect(appProblems(b)).toEqual([{ message: 'prune skipped: a list of v1 ConfigMap failed' }]);
  });

  it('a report queued by an earlier version (apps carrying the apply lists as `result`) reads the same as today\'s', () => {
    const legacy = {
      repo: 'acme/deploys',
      sha: 'c'.repeat(40),
      problems: [],
      apps: [
        { app: 'web', cluster: 'default', problems: [], result: { created: ['v1 ConfigMap shop/a'], configured: ['v1 ConfigMap shop/b'], unchanged: [], pruned: [], replaced: [], errors: [], warnings: [{ ref: 'v1 ConfigMap shop/b', message: 'deprecated', from: 'server' }], objects: [] } },
        { app: 'api', cluster: 'default', problems: [], result: { created: [], configured: [], unchanged: [], pruned: [], replaced: [], errors: [{ ref: 'v1 Secret shop/s', message: 'forbidden' }], warnings: [] } },
      ],
    } as unknown as DeployReport;
    const read = storedReport(legacy);
    expect(read.apps.map((a) => 'result' in a)).toEqual([false, false]);
    expect(read.apps[0]?.applied).toEqual({ changes: [{ ref: 'v1 ConfigMap shop/a', action: 'created' }, { ref: 'v1 ConfigMap shop/b', action: 'configured' }], warnings: [{ ref: 'v1 ConfigMap shop/b', message: 'deprecated', from: 'server' }] });
    expect(read.apps.map(appLine)).toEqual(['deployed: 1 created, 1 configured, 0 unchanged, 0 pruned', 'failed: 0 created, 0 configured, 0 unchanged, 0 pruned']);
    const out = formatDeployCheck(read);
    expect(out.conclusion).toBe('failure');
    expect(out.summary).toContain('forbidden');
    expect(out.summary).toContain('deprecated');
    // Today's reports pass through as they are.
    expect(storedReport(read)).toEqual(read);
  });
});
