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

/**
 * Whether `sha` is on `branch`: GitHub compares the two (`{sha}...{branch}`), and the branch
 * is then its head (`identical`) or ahead of it. A commit GitHub does not have (404) is not.
 */
export async function commitOnBranch(octokit: Octokit, r: RepoRef, sha: string, branch: string): Promise<boolean> {
  try {
    const { data } = await octokit.rest.repos.compareCommitsWithBasehead({ ...r, basehead: `${sha}...${branch}`, per_page: 1 });
    return data.status === 'identical' || data.status === 'ahead';
  } catch (err) {
    if ((err as { status?: number }).status === 404) return false;
    throw err;
  }
}
