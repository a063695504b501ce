import path from 'node:path';
import { UserError, type Problem } from '../errors.js';

/** Why an archive or a path inside a checkout was refused. */
export class UnsafePathError extends UserError {
  constructor(
    message: string,
    readonly entry: string,
  ) {
    super(message);
    this.name = 'UnsafePathError';
  }

  override problem(): Problem {
    return { message: `the repository archive was refused: ${this.message} (entry "${this.entry}")` };
  }
}

/**
 * Maps a tar entry name to a path relative to the checkout root, or throws. GitHub puts
 * every entry under one `owner-repo-sha/` folder, which `stripComponents` removes.
 * Returns null for the folder itself.
 */
export function entryPath(name: string, stripComponents: number): string | null {
  if (name.includes('\0')) throw new UnsafePathError('entry name contains a NUL byte', name);
  if (name.startsWith('/') || /^[a-zA-Z]:[\\/]/.test(name) || name.startsWith('\\')) {
    throw new UnsafePathError('entry has an absolute path', name);
  }
  const segments = name.split(/[\\/]+/).filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new UnsafePathError('entry path contains ".."', name);
  const rest = segments.slice(stripComponents);
  return rest.length === 0 ? null : rest.join('/');
}

/**
 * Checks that a symlink at `linkRel` (relative to the root) with `target` stays inside
 * the root when resolved lexically. The physical check after extraction catches chains
 * through other links.
 */
export function checkSymlinkTarget(linkRel: string, target: string): void {
  if (target.includes('\0') || path.posix.isAbsolute(target) || /^[a-zA-Z]:[\\/]/.test(target)) {
    throw new UnsafePathError(`symlink points to an absolute path (${target})`, linkRel);
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(linkRel), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw new UnsafePathError(`symlink points outside the checkout (${target})`, linkRel);
  }
}

/** True when `child` (an absolute, real path) is `root` or below it. */
export function isInside(root: string, child: string): boolean {
  const rel = path.relative(root, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${path.sep}`) && !path.isAbsolute(rel));
}
