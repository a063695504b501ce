import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { extractTarball, type ExtractLimits } from '../source/extract.js';
import type { Checkout } from '../source/checkout.js';
import type { RevisionCache } from '../source/revision-cache.js';
import type { Octokit, RepoRef } from './types.js';

/** Downloads the repository at `sha` as a tarball and extracts it safely into a temp dir. */
export async function fetchRevision(octokit: Octokit, r: RepoRef, sha: string, limits: ExtractLimits): Promise<Checkout> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'mergeops-src-'));
  const remove = (): Promise<void> => fs.rm(dir, { recursive: true, force: true });
  try {
    await downloadRevision(octokit, r, sha, limits, dir);
    return { dir, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * The same, through this worker's revision cache: a revision already on disk costs no
 * GitHub call. `remove()` hands it back to the cache instead of deleting it.
 */
export async function fetchCachedRevision(cache: RevisionCache, octokit: Octokit, r: RepoRef & { repoId: number }, sha: string, limits: ExtractLimits): Promise<Checkout> {
  const { repoId, ...repo } = r;
  // The repository id is in the key so a revision is only ever served to jobs of the repo it was downloaded for.
  const rev = await cache.get(`${repoId}@${sha}`, (dir) => downloadRevision(octokit, repo, sha, limits, dir));
  return { dir: rev.dir, remove: rev.release };
}

/** Streams the tarball of `sha` into `dir`; returns the bytes extracted. */
async function downloadRevision(octokit: Octokit, r: RepoRef, sha: string, limits: ExtractLimits, dir: string): Promise<number> {
  const res = await octokit.request('GET /repos/{owner}/{repo}/tarball/{ref}', {
    ...r,
    ref: sha,
    // Stream instead of buffering: the size cap must hold before the bytes are in memory.
    request: { parseSuccessResponseBody: false },
  });
  const body = res.data as unknown;
  const stream = body instanceof Readable ? body : Readable.fromWeb(body as WebReadableStream<Uint8Array>);
  return extractTarball(stream, dir, limits);
}
