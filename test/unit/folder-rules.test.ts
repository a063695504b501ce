import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { checkFolders, folderOf } from '../support/folder-rules.js';

const BAD = path.resolve('test/fixtures/folder-rules/bad/src');

describe('folder rules of src/ (run by npm test)', () => {
  it('hold for the code: no folder cycle, nothing imports upward, every folder has a layer', () => {
    expect(checkFolders(path.resolve('src')).map((v) => v.message)).toEqual([]);
  });
});

describe('the folder-rule checker', () => {
  const violations = checkFolders(BAD);

  it('catches a cycle between two folders, naming the imports that make it', () => {
    const cycles = violations.filter((v) => v.rule === 'cycle');
    expect(cycles).toHaveLength(1);
    expect(cycles[0]?.message).toContain('cluster → diff (cluster/a.ts imports ../diff/b.js)');
    expect(cycles[0]?.message).toContain('diff → cluster (diff/b.ts imports ../cluster/a.js)');
  });

  it('catches an upward import (flows must not import queue)', () => {
    expect(violations.filter((v) => v.rule === 'upward').map((v) => v.message)).toEqual(['flows → queue goes upward (layer 4 imports layer 5): flows/f.ts imports ../queue/q.js']);
  });

  it('catches a new folder nobody placed in the layers', () => {
    expect(violations.filter((v) => v.rule === 'unknown-folder').map((v) => v.message)).toEqual([expect.stringContaining('src/widgets/ has no layer')]);
  });

  it('files at the root of src/ are the shared pieces, except the entry points', () => {
    const src = path.resolve('src');
    expect(folderOf(src, path.join(src, 'errors.ts'))).toBe('(root)');
    expect(folderOf(src, path.join(src, 'runtime.ts'))).toBe('(entry)');
    expect(folderOf(src, path.join(src, 'flows', 'deploy.ts'))).toBe('flows');
  });
});
