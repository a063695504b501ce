import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * The repo-relative paths whose content differs between two checkouts (added, removed or
 * changed; a symlink by its target). Both trees are already on this worker's disk, so this
 * costs no GitHub request and has no file limit, unlike the compare API's 300 files.
 */
export async function changedBetween(baseDir: string, headDir: string): Promise<string[]> {
  const [a, b] = await Promise.all([fingerprints(baseDir), fingerprints(headDir)]);
  const out: string[] = [];
  for (const [f, h] of b) if (a.get(f) !== h) out.push(f);
  for (const f of a.keys()) if (!b.has(f)) out.push(f);
  return out.sort();
}

/** Every file under `root` (folders walked, symlinks not followed) → a hash of its content. */
async function fingerprints(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      const rel = path.relative(root, abs).split(path.sep).join('/');
      if (e.isDirectory()) await walk(abs);
      else if (e.isSymbolicLink()) out.set(rel, `link:${await fs.readlink(abs)}`);
      else if (e.isFile()) out.set(rel, crypto.createHash('sha1').update(await fs.readFile(abs)).digest('hex'));
    }
  };
  await walk(root);
  return out;
}
