import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { readDefaultsFiles, resolveDefaults } from '../config/defaults.js';
import type { ConfigDefaults } from '../config/merge.js';
import type { DefaultsCache } from '../queue/defaults-cache.js';
import type { Octokit, RepoRef } from './types.js';

/**
 * A file's text at `ref` — without one, on the repository's default branch, which is the
 * only place defaults are read from — or null on GitHub's 404 (no such repository, none
 * this installation can see, or no such file).
 */
export async function readText(octokit: Octokit, r: RepoRef, path: string, ref?: string): Promise<string | null> {
  try {
    const res = await octokit.rest.repos.getContent({ ...r, path, ...(ref !== undefined ? { ref } : {}), mediaType: { format: 'raw' } });
    // The raw media type comes back as text or bytes depending on the content type GitHub sets.
    const data = res.data as unknown;
    const text = typeof data === 'string' ? data : data instanceof ArrayBuffer ? Buffer.from(data).toString('utf8') : null;
    if (text === null) throw new Error(`unexpected reply reading ${path}`);
    return text;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return null;
    throw err;
  }
}

/**
 * The organisation's defaults for a repository of `owner`, through its own installation
 * (so only repositories of that installation are read), from the cache when a push has not
 * retired it: a preview or deploy asks GitHub nothing for them when nothing changed.
 */
export async function configDefaults(octokit: Octokit, installationId: number, owner: string, cache?: DefaultsCache): Promise<ConfigDefaults> {
  const cached = await cache?.get(installationId, owner);
  if (cached?.files) return resolveDefaults(owner, cached.files);
  const files = await readDefaultsFiles(owner, (repo) => {
    const [o, name] = repo.split('/') as [string, string];
    return readText(octokit, { owner: o, repo: name }, REPO_CONFIG_PATH);
  });
  if (cache) await cache.set(installationId, owner, cached?.gen ?? 0, files);
  return resolveDefaults(owner, files);
}
