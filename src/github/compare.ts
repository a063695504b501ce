import { changedPaths, type ChangedFiles } from '../engine/affected.js';
import type { Octokit, RepoRef } from './types.js';

/**
 * GitHub's compare API lists at most 300 changed files for a whole comparison, on its first
 * page only ("Compare two commits", REST docs); a list that long may be cut, so it is not
 * trusted.
 */
export const COMPARE_FILES_LIMIT = 300;

/**
 * The files changed from `base` to `head` (`GET /repos/{owner}/{repo}/compare/{base}...{head}`,
 * three dots: since their merge base, what a pull request shows). One request: `per_page=1`
 * keeps the commit list short while the file list stays whole; a full list is untrusted.
 * Errors are thrown; the caller decides to fall back.
 */
export async function changedFiles(octokit: Octokit, r: RepoRef, base: string, head: string): Promise<ChangedFiles> {
  const { data } = await octokit.rest.repos.compareCommitsWithBasehead({ ...r, basehead: `${base}...${head}`, per_page: 1 });
  const files = data.files ?? [];
  if (files.length >= COMPARE_FILES_LIMIT) {
    return { complete: false, reason: `${files.length} or more files changed: GitHub's compare API lists at most ${COMPARE_FILES_LIMIT}` };
  }
  return { complete: true, paths: changedPaths(files) };
}
