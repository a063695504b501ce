import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { changedBetween } from '../../../src/source/tree-diff.js';

function tree(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tree-diff-'));
  for (const [f, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), text);
  }
  return dir;
}

describe('changedBetween', () => {
  it('lists added, removed and changed files, not equal ones, in repo-relative form', async () => {
    const a = tree({ 'apps/web/cm.yaml': 'a', 'apps/api/cm.yaml': 'same', 'bases/old.yaml': 'x' });
    const b = tree({ 'apps/web/cm.yaml': 'b', 'apps/api/cm.yaml': 'same', 'apps/new/cm.yaml': 'n' });
    expect(await changedBetween(a, b)).toEqual(['apps/new/cm.yaml', 'apps/web/cm.yaml', 'bases/old.yaml']);
  });

  it('a symlink counts by its target', async () => {
    const a = tree({ 'x.yaml': '1' });
    const b = tree({ 'x.yaml': '1' });
    fs.symlinkSync('x.yaml', path.join(a, 'l.yaml'));
    fs.symlinkSync('y.yaml', path.join(b, 'l.yaml'));
    expect(await changedBetween(a, b)).toEqual(['l.yaml']);
  });
});
