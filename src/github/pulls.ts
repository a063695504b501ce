import type { PullRequestRef } from '../flows/host.js';
import type { Octokit, RepoRef } from './types.js';
import { errorText } from '../errors.js';

/** The commit a branch points at, or null when the branch does not exist. */
export async function branchHead(octokit: Octokit, r: RepoRef, branch: string): Promise<string | null> {
  try {
    const res = await octokit.rest.git.getRef({ ...r, ref: `heads/${branch}` });
    return res.data.object.sha;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return null;
    throw err;
  }
}

/**
 * Writes `files` on top of `baseSha` as one commit through the Git Data API (no clone, no
 * push credentials: the installation token is enough). Returns the commit and its tree;
 * equal trees mean equal content, which lets the caller skip a no-op force-push.
 */
export async function commitFiles(octokit: Octokit, r: RepoRef, baseSha: string, files: { path: string; text: string }[], message: string): Promise<{ sha: string; tree: string }> {
  const base = await octokit.rest.git.getCommit({ ...r, commit_sha: baseSha });
  const tree = await octokit.rest.git.createTree({
    ...r,
    base_tree: base.data.tree.sha,
    tree: files.map((f) => ({ path: f.path, mode: '100644' as const, type: 'blob' as const, content: f.text })),
  });
  const commit = await octokit.rest.git.createCommit({ ...r, message, tree: tree.data.sha, parents: [baseSha] });
  return { sha: commit.data.sha, tree: tree.data.sha };
}

export async function commitTree(octokit: Octokit, r: RepoRef, sha: string): Promise<{ tree: string; parents: string[] }> {
  const c = await octokit.rest.git.getCommit({ ...r, commit_sha: sha });
  return { tree: c.data.tree.sha, parents: c.data.parents.map((p) => p.sha) };
}

/** Points `branch` at `sha`, creating it or moving it (force: the bump branch is ours alone). */
export async function setBranch(octokit: Octokit, r: RepoRef, branch: string, sha: string, exists: boolean): Promise<void> {
  if (exists) await octokit.rest.git.updateRef({ ...r, ref: `heads/${branch}`, sha, force: true });
  else await octokit.rest.git.createRef({ ...r, ref: `refs/heads/${branch}`, sha });
}

export async function findOpenPullRequest(octokit: Octokit, r: RepoRef, branch: string): Promise<PullRequestRef | null> {
  const res = await octokit.rest.pulls.list({ ...r, head: `${r.owner}:${branch}`, state: 'open', per_page: 1 });
  const pr = res.data[0];
  return pr ? { number: pr.number, nodeId: pr.node_id, url: pr.html_url } : null;
}

/** A closed, unmerged PR from `branch` titled `title`: someone declined exactly this bump. */
export async function findDeclinedPullRequest(octokit: Octokit, r: RepoRef, branch: string, title: string): Promise<number | null> {
  const res = await octokit.rest.pulls.list({ ...r, head: `${r.owner}:${branch}`, state: 'closed', sort: 'updated', direction: 'desc', per_page: 20 });
  return res.data.find((pr) => pr.title === title && !pr.merged_at)?.number ?? null;
}

/**
 * Turns on auto-merge (squash). Repositories that do not allow auto-merge answer with an
 * error; the PR stays open for a human, so that is reported, not thrown.
 */
export async function enableAutoMerge(octokit: Octokit, pr: PullRequestRef): Promise<string | null> {
  try {
    await octokit.graphql(
      `mutation($id: ID!) { enablePullRequestAutoMerge(input: { pullRequestId: $id, mergeMethod: SQUASH }) { clientMutationId } }`,
      { id: pr.nodeId },
    );
    return null;
  } catch (err) {
    return errorText(err);
  }
}
