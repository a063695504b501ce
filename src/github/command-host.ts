import { REPO_CONFIG_PATH, parseRepoConfig } from '../config/repo-config.js';
import { ConfigError } from '../config/validate.js';
import { permissionOf } from '../commands/permissions.js';
import { mergedPullRequest } from './deployments.js';
import { branchHead, enableAutoMerge, findOpenPullRequest } from './pulls.js';
import { fetchRevision } from './tarball.js';
import type { Octokit, RepoRef } from './types.js';
import type { ExtractLimits } from '../source/extract.js';
import type { CommandHost, DeploymentRecord } from '../commands/host.js';

const status = (err: unknown): number | undefined => (err as { status?: number }).status;

async function orNullOn404<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (err) {
    if (status(err) === 404) return null;
    throw err;
  }
}

/** The command host over an installation's Octokit (Probot's: throttled, Retry-After honoured). */
export function octokitCommandHost(octokit: Octokit, r: RepoRef, limits: ExtractLimits): CommandHost {
  const newestState = async (deploymentId: number): Promise<string | null> => {
    const res = await octokit.rest.repos.listDeploymentStatuses({ ...r, deployment_id: deploymentId, per_page: 1 });
    return res.data[0]?.state ?? null;
  };
  return {
    react: async (commentId, content) => {
      await octokit.rest.reactions.createForIssueComment({ ...r, comment_id: commentId, content });
    },
    reply: async (issue, body) => {
      await octokit.rest.issues.createComment({ ...r, issue_number: issue, body });
    },
    permission: async (login) => {
      // GitHub answers 404 for a user who is not a collaborator of a private repository.
      const res = await orNullOn404(octokit.rest.repos.getCollaboratorPermissionLevel({ ...r, username: login }));
      return res ? permissionOf(res.data) : 'none';
    },
    readConfig: async (ref, defaultBranch) => {
      const res = await orNullOn404(octokit.rest.repos.getContent({ ...r, path: REPO_CONFIG_PATH, ref, mediaType: { format: 'raw' } }));
      if (!res) return null;
      const text = typeof res.data === 'string' ? res.data : Buffer.from(res.data as unknown as ArrayBuffer).toString('utf8');
      try {
        return parseRepoConfig(text, defaultBranch);
      } catch (err) {
        if (err instanceof ConfigError) return { problem: `${REPO_CONFIG_PATH} on \`${ref}\` is invalid: ${err.message}` };
        throw err;
      }
    },
    pull: async (number) => {
      const res = await orNullOn404(octokit.rest.pulls.get({ ...r, pull_number: number }));
      if (!res) return null;
      const p = res.data;
      return {
        number: p.number,
        state: p.state === 'open' ? 'open' : 'closed',
        merged: p.merged === true || p.merged_at !== null,
        headSha: p.head.sha,
        baseRef: p.base.ref,
        baseSha: p.base.sha,
        author: p.user?.login ?? '',
        fromFork: p.head.repo?.full_name !== p.base.repo.full_name,
      };
    },
    branchHead: (branch) => branchHead(octokit, r, branch),
    deployments: async (environment, limit) => {
      const res = await octokit.rest.repos.listDeployments({ ...r, environment, per_page: limit });
      const out: DeploymentRecord[] = [];
      for (const d of res.data) out.push({ id: d.id, sha: d.sha, state: await newestState(d.id), createdAt: d.created_at });
      return out;
    },
    deploymentsOf: async (sha) => {
      const res = await octokit.rest.repos.listDeployments({ ...r, sha, per_page: 30 });
      const out: (DeploymentRecord & { environment: string })[] = [];
      for (const d of res.data) out.push({ id: d.id, sha: d.sha, environment: d.environment, state: await newestState(d.id), createdAt: d.created_at });
      return out;
    },
    fetchRevision: (sha) => fetchRevision(octokit, r, sha, limits),
    resolveCommit: async (ref) => {
      try {
        // `application/vnd.github.sha` answers with the bare full SHA, nothing else.
        const res = await octokit.request('GET /repos/{owner}/{repo}/commits/{ref}', { ...r, ref, headers: { accept: 'application/vnd.github.sha' } });
        const text = String(res.data as unknown).trim();
        return /^[0-9a-f]{40}$/.test(text) ? text : null;
      } catch (err) {
        // GitHub answers 422 for a SHA that names no commit, 404 for a ref that does not exist.
        if (status(err) === 422 || status(err) === 404) return null;
        throw err;
      }
    },
    openPullFrom: async (branch) => {
      const pr = await findOpenPullRequest(octokit, r, branch);
      return pr ? { number: pr.number, url: pr.url } : null;
    },
    openRevert: async (spec) => {
      // Blobs first (base64: a manifest folder may hold binary files), then one tree on top
      // of the base commit's tree; a null sha deletes a path.
      const entries: { path: string; mode: '100644'; type: 'blob'; sha: string | null }[] = [];
      for (const c of spec.changes) {
        if (c.content === null) {
          entries.push({ path: c.path, mode: '100644', type: 'blob', sha: null });
          continue;
        }
        const blob = await octokit.rest.git.createBlob({ ...r, content: c.content.toString('base64'), encoding: 'base64' });
        entries.push({ path: c.path, mode: '100644', type: 'blob', sha: blob.data.sha });
      }
      const base = await octokit.rest.git.getCommit({ ...r, commit_sha: spec.baseSha });
      const tree = await octokit.rest.git.createTree({ ...r, base_tree: base.data.tree.sha, tree: entries });
      const commit = await octokit.rest.git.createCommit({ ...r, message: spec.title, tree: tree.data.sha, parents: [spec.baseSha] });
      const exists = (await branchHead(octokit, r, spec.branch)) !== null;
      // A branch left from an earlier, closed rollback is ours to move.
      if (exists) await octokit.rest.git.updateRef({ ...r, ref: `heads/${spec.branch}`, sha: commit.data.sha, force: true });
      else await octokit.rest.git.createRef({ ...r, ref: `refs/heads/${spec.branch}`, sha: commit.data.sha });
      const pr = await octokit.rest.pulls.create({ ...r, title: spec.title, head: spec.branch, base: spec.base, body: spec.body });
      if (spec.labels.length > 0) await octokit.rest.issues.addLabels({ ...r, issue_number: pr.data.number, labels: spec.labels });
      const repo = await octokit.rest.repos.get({ ...r });
      const automerge = repo.data.allow_auto_merge
        ? await enableAutoMerge(octokit, { number: pr.data.number, nodeId: pr.data.node_id, url: pr.data.html_url })
        : 'the repository does not allow auto-merge (Settings → General → Allow auto-merge)';
      return { number: pr.data.number, url: pr.data.html_url, headSha: commit.data.sha, automerge };
    },
    mergedPullRequest: (sha) => mergedPullRequest(octokit, r, sha),
    postCheck: async (name, sha, out) => {
      await octokit.rest.checks.create({
        ...r,
        name,
        head_sha: sha,
        status: 'completed',
        conclusion: out.conclusion,
        completed_at: new Date().toISOString(),
        output: { title: out.title, summary: out.summary },
      });
    },
  };
}
