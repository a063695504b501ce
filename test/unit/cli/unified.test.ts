import { describe, expect, it } from '@jest/globals';
import { formatUnified, objectFileName, wantsColor } from '../../../src/cli/unified.js';
import type { ObjectDiff } from '../../../src/diff/types.js';

const update: ObjectDiff = { ref: 'apps/v1 Deployment shop/web', kind: 'Deployment', action: 'update', diff: '@@ -1,3 +1,3 @@\n spec:\n-  replicas: 1\n+  replicas: 2\n', source: { file: 'deploy/web.yaml', line: 1 } };
const create: ObjectDiff = { ref: 'v1 ConfigMap shop/cfg', kind: 'ConfigMap', action: 'create', diff: '@@ -1,0 +1,2 @@\n+apiVersion: v1\n+kind: ConfigMap\n' };
const gone: ObjectDiff = { ref: 'v1 Namespace old', kind: 'Namespace', action: 'delete', diff: '@@ -1,2 +1,0 @@\n-apiVersion: v1\n-kind: Namespace\n' };
const same: ObjectDiff = { ref: 'v1 ConfigMap shop/same', kind: 'ConfigMap', action: 'unchanged', diff: '' };

describe('mergeops diff on a terminal: unified diffs like kubectl diff', () => {
  it('names objects the way kubectl diff names its files', () => {
    expect(objectFileName(update)).toBe('apps.v1.Deployment.shop.web');
    expect(objectFileName(gone)).toBe('v1.Namespace.old');
  });

  it('plain when piped: headers, hunks, /dev/null for creates and deletes, nothing for unchanged, no markdown', () => {
    const text = formatUnified([update, create, gone, same], { color: false });
    expect(text).toBe(
      [
        'diff -u -N live/apps.v1.Deployment.shop.web merged/apps.v1.Deployment.shop.web',
        '# from deploy/web.yaml:1',
        '--- live/apps.v1.Deployment.shop.web',
        '+++ merged/apps.v1.Deployment.shop.web',
        '@@ -1,3 +1,3 @@',
        ' spec:',
        '-  replicas: 1',
        '+  replicas: 2',
        'diff -u -N /dev/null merged/v1.ConfigMap.shop.cfg',
        '--- /dev/null',
        '+++ merged/v1.ConfigMap.shop.cfg',
        '@@ -1,0 +1,2 @@',
        '+apiVersion: v1',
        '+kind: ConfigMap',
        'diff -u -N live/v1.Namespace.old /dev/null',
        '--- live/v1.Namespace.old',
        '+++ /dev/null',
        '@@ -1,2 +1,0 @@',
        '-apiVersion: v1',
        '-kind: Namespace',
        '',
      ].join('\n'),
    );
    expect(text).not.toMatch(/<details>|\u001b\[/);
  });

  it('coloured on a terminal: additions green, removals red, hunk headers cyan', () => {
    const text = formatUnified([update], { color: true });
    expect(text).toContain('\u001b[32m+  replicas: 2\u001b[0m');
    expect(text).toContain('\u001b[31m-  replicas: 1\u001b[0m');
    expect(text).toContain('\u001b[36m@@ -1,3 +1,3 @@\u001b[0m');
    expect(text).toContain(' spec:\n');
  });

  it('colour follows the terminal, NO_COLOR and FORCE_COLOR', () => {
    expect(wantsColor(true, {})).toBe(true);
    expect(wantsColor(false, {})).toBe(false);
    expect(wantsColor(true, { NO_COLOR: '1' })).toBe(false);
    expect(wantsColor(false, { FORCE_COLOR: '1' })).toBe(true);
    expect(wantsColor(true, { TERM: 'dumb' })).toBe(false);
  });
});
