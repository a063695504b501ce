import fs from 'node:fs/promises';
import path from 'node:path';

/** One path of the revert commit: the target revision's bytes, or null to delete it. */
export interface TreeChange {
  path: string;
  content: Buffer | null;
}

/** Files of one revision, repo-relative path → bytes. */
export type Snapshot = ReadonlyMap<string, Buffer>;

/** The repo config decides where apps deploy; a rollback of one app never rewrites it. */
export const NEVER_RESTORED = ['.github/mergeops.yml'];

/** Whether `file` lies in one of `scopes` (files or folders, repo-relative; "." is all). */
export function inScope(file: string, scopes: readonly string[]): boolean {
  if (NEVER_RESTORED.includes(file)) return false;
  return scopes.some((s) => s === '.' || file === s || file.startsWith(`${s}/`));
}

/**
 * The tree changes that make the app's files equal `target` again: every in-scope file
 * that differs or is missing now gets the target's bytes, every in-scope file the target
 * did not have is deleted. `scopes` should be the union of what the render read at both
 * revisions, so a base added since the target is removed and one dropped comes back.
 * Sorted by path, so the same rollback gives the same tree.
 */
export function planRollback(scopes: readonly string[], target: Snapshot, now: Snapshot): TreeChange[] {
  const out: TreeChange[] = [];
  for (const [file, bytes] of target) {
    if (!inScope(file, scopes)) continue;
    const current = now.get(file);
    if (!current || !current.equals(bytes)) out.push({ path: file, content: bytes });
  }
  for (const file of now.keys()) {
    if (inScope(file, scopes) && !target.has(file)) out.push({ path: file, content: null });
  }
  return out.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** Reads the in-scope files of a checkout into a snapshot. Symlinks were refused on extract. */
export async function readScope(dir: string, scopes: readonly string[]): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  const walk = async (rel: string): Promise<void> => {
    const abs = path.join(dir, rel);
    const stat = await fs.lstat(abs).catch(() => null);
    if (!stat) return;
    if (stat.isFile()) {
      if (inScope(rel, scopes)) out.set(rel, await fs.readFile(abs));
      return;
    }
    if (!stat.isDirectory()) return;
    for (const e of await fs.readdir(abs)) await walk(rel === '.' ? e : `${rel}/${e}`);
  };
  for (const s of new Set(scopes)) await walk(s);
  return out;
}

/** A short human summary of a plan, for the PR body and the reply. */
export function describeChanges(changes: readonly TreeChange[]): string[] {
  return changes.map((c) => (c.content === null ? `- delete \`${c.path}\`` : `- restore \`${c.path}\``));
}
