import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inScope, planRollback, readScope } from '../../../src/commands/rollback-plan.js';

const snap = (o: Record<string, string>) => new Map(Object.entries(o).map(([k, v]) => [k, Buffer.from(v)]));

describe('planRollback', () => {
  it('restores changed and removed files, deletes added ones, leaves other paths and the repo config alone', () => {
    const target = snap({ 'apps/web/a.yaml': 'a1', 'apps/web/b.yaml': 'b1', 'base/x.yaml': 'x1', 'apps/api/a.yaml': 'old', '.github/mergeops.yml': 'old config' });
    const now = snap({ 'apps/web/a.yaml': 'a2', 'apps/web/c.yaml': 'c2', 'base/x.yaml': 'x1', 'apps/api/a.yaml': 'new', '.github/mergeops.yml': 'new config' });
    const changes = planRollback(['apps/web', 'base'], target, now);
    expect(changes.map((c) => [c.path, c.content?.toString() ?? null])).toEqual([
      ['apps/web/a.yaml', 'a1'],
      ['apps/web/b.yaml', 'b1'],
      ['apps/web/c.yaml', null],
    ]);
  });

  it('is empty when the app is already at the target', () => {
    expect(planRollback(['apps/web'], snap({ 'apps/web/a.yaml': 'a' }), snap({ 'apps/web/a.yaml': 'a', 'README.md': 'x' }))).toEqual([]);
  });

  it('scopes match whole path segments, single files, and "." for the whole repo', () => {
    expect(inScope('apps/web2/a.yaml', ['apps/web'])).toBe(false);
    expect(inScope('apps/web/a.yaml', ['apps/web'])).toBe(true);
    expect(inScope('values-prod.yaml', ['values-prod.yaml'])).toBe(true);
    expect(inScope('anything/at/all', ['.'])).toBe(true);
    expect(inScope('.github/mergeops.yml', ['.'])).toBe(false);
  });
});

describe('readScope', () => {
  it('reads the files under each scope once, bytes as they are', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rb-'));
    try {
      fs.mkdirSync(path.join(dir, 'apps/web/sub'), { recursive: true });
      fs.writeFileSync(path.join(dir, 'apps/web/a.yaml'), 'a');
      fs.writeFileSync(path.join(dir, 'apps/web/sub/b.bin'), Buffer.from([0, 255]));
      fs.writeFileSync(path.join(dir, 'other.yaml'), 'o');
      const s = await readScope(dir, ['apps/web', 'apps/web/sub', 'missing']);
      expect([...s.keys()].sort()).toEqual(['apps/web/a.yaml', 'apps/web/sub/b.bin']);
      expect(s.get('apps/web/sub/b.bin')).toEqual(Buffer.from([0, 255]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
