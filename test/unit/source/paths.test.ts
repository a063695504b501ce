import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { UnsafePathError, checkSymlinkTarget, entryPath, isInside } from '../../../src/source/paths.js';

function unsafe(fn: () => unknown): UnsafePathError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(UnsafePathError);
    return err as UnsafePathError;
  }
  throw new Error('expected an UnsafePathError, nothing was thrown');
}

describe('entryPath', () => {
  it('strips the first component', () => {
    expect(entryPath('acme-deploys-abc123/apps/web/deploy.yaml', 1)).toBe('apps/web/deploy.yaml');
    expect(entryPath('acme-deploys-abc123/README.md', 1)).toBe('README.md');
  });

  it('returns null for the top-level folder itself', () => {
    expect(entryPath('acme-deploys-abc123/', 1)).toBeNull();
    expect(entryPath('acme-deploys-abc123', 1)).toBeNull();
    expect(entryPath('./', 1)).toBeNull();
  });

  it('supports other strip counts', () => {
    expect(entryPath('a/b/c', 0)).toBe('a/b/c');
    expect(entryPath('a/b/c', 2)).toBe('c');
    expect(entryPath('a/b/c', 3)).toBeNull();
  });

  it('normalises "." segments, repeated and trailing slashes', () => {
    expect(entryPath('top/./a//b/', 1)).toBe('a/b');
    expect(entryPath('./top/a', 1)).toBe('a');
  });

  it('keeps names that merely contain dots', () => {
    expect(entryPath('top/..a/b..', 1)).toBe('..a/b..');
    expect(entryPath('top/.github/mergeops.yml', 1)).toBe('.github/mergeops.yml');
  });

  it.each(['top/../etc/passwd', 'top/a/../../b', '../x', 'top/..', 'top\\..\\x', 'top/a/..\\..\\..\\b'])('rejects ".." in %p', (name) => {
    const e = unsafe(() => entryPath(name, 1));
    expect(e.entry).toBe(name);
    expect(e.message).toContain('".."');
  });

  it('rejects ".." even in the stripped component', () => {
    expect(() => entryPath('../a/b', 1)).toThrow(UnsafePathError);
  });

  it.each(['/etc/passwd', '/top/a', 'C:/Windows/x', 'c:\\x', '\\\\server\\share\\x', '\\x'])('rejects absolute path %p', (name) => {
    const e = unsafe(() => entryPath(name, 1));
    expect(e.message).toContain('absolute');
    expect(e.entry).toBe(name);
  });

  it('rejects a NUL byte', () => {
    const e = unsafe(() => entryPath('top/a\0b', 1));
    expect(e.message).toContain('NUL');
  });

  it('UnsafePathError has a name', () => {
    expect(new UnsafePathError('m', 'e').name).toBe('UnsafePathError');
  });
});

describe('checkSymlinkTarget', () => {
  it.each([
    ['a', 'b'],
    ['a', './b'],
    ['dir/link', '../other/file'],
    ['dir/sub/link', '../../top.yaml'],
    ['dir/link', '..'],
    ['link', '.'],
    ['dir/link', 'x/../y'],
  ])('allows %p -> %p', (link, target) => {
    expect(() => checkSymlinkTarget(link, target)).not.toThrow();
  });

  it.each([
    ['link', '..'],
    ['link', '../x'],
    ['dir/link', '../../etc'],
    ['dir/sub/link', '../../../x'],
    ['link', 'a/../../x'],
    ['dir/link', '../dir/../../x'],
  ])('rejects %p -> %p (outside)', (link, target) => {
    const e = unsafe(() => checkSymlinkTarget(link, target));
    expect(e.entry).toBe(link);
    expect(e.message).toContain('outside');
  });

  it.each(['/etc/passwd', '/', 'C:/x', 'c:\\x'])('rejects absolute target %p', (target) => {
    const e = unsafe(() => checkSymlinkTarget('link', target));
    expect(e.message).toContain('absolute');
  });

  it('rejects a NUL in the target', () => {
    expect(() => checkSymlinkTarget('link', 'a\0b')).toThrow(UnsafePathError);
  });
});

describe('isInside', () => {
  const root = path.resolve('/tmp/checkout');

  it('is true for the root and below', () => {
    expect(isInside(root, root)).toBe(true);
    expect(isInside(root, path.join(root, 'a/b'))).toBe(true);
  });

  it('is false outside, including a sibling with the same prefix', () => {
    expect(isInside(root, path.dirname(root))).toBe(false);
    expect(isInside(root, `${root}-other/x`)).toBe(false);
    expect(isInside(root, '/etc')).toBe(false);
  });

  // Regression: a child whose name merely starts with ".." used to count as outside.
  it('is true for names that merely start with ".."', () => {
    expect(isInside('/r', '/r/..a')).toBe(true);
    expect(isInside('/r', '/r/..a/b')).toBe(true);
    expect(isInside('/r', '/r/...')).toBe(true);
    expect(isInside('/r', '/r/..data/x.yaml')).toBe(true);
    expect(isInside(root, path.join(root, '..2024_01_01'))).toBe(true);
  });

  it('is still false for a real ".." step out', () => {
    expect(isInside('/r', '/r/../x')).toBe(false);
    expect(isInside('/r', '/r/..')).toBe(false);
    expect(isInside('/r', '/x/..a')).toBe(false);
    expect(isInside('/r', '/..a')).toBe(false);
  });
});

