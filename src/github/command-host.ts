import type { CheckName } from '../check-names.js';
import type { HostTarget } from '../flows/host.js';
import type { CheckSummary, CommandHost, DeploymentRecord, PullInfo, Reaction } from '../commands/host.js';
import type { TreeChange } from '../commands/rollback-plan.js';
import { OctokitRepoHost, type OctokitHostOptions } from './host.js';
import type { Octokit } from './types.js';

const status = (err: unknown): number | undefined => (err as { status?: number }).status;

async function orNullOn(codes: number[], p: Promise<unknown>): Promise<unknown> {
  try {
    return await p;
  } catch (err) {
    if (codes.includes(status(err) ?? 0)) return null;
    throw err;
  }
}

type PullFields = Pick<Awaited<ReturnType<Octokit['rest']['pulls']['list']>>['data'][number], 'number' | 'state' | 'merged_at' | 'head' | 'base' | 'user'> & { merged?: boolean };

/** A pull request as commands see it, from either the single-PR or the list answer. */
function pullInfo(p: PullFields): PullInfo {
  return {
    number: p.number,
    state: p.state === 'open' ? 'open' : 'closed',
    merged: p.merged === true || p.merged_at !== null,
    headSha: p.head.sha,
    baseRef: p.base.ref,
    baseSha: p.base.sha,
    author: p.user?.login ?? '',
    // A fork whose repository was deleted has no head repo: still not ours.
    fromFork: p.head.repo?.full_name !== p.base.repo.full_name,
  };
}

/** The command host over Octokit: the flows' host plus the calls only commands make. */
export class OctokitCommandHost extends OctokitRepoHost implements CommandHost {
  constructor(target: HostTarget, octokit: Octokit, opts: Omit<OctokitHostOptions, 'octokit'>) {
    super(target, octokit, opts);
  }

  async react(commentId: number, content: Reaction): Promise<void> {
    await this.octokit.rest.reactions.createForIssueComment({ ...this.r, comment_id: commentId, content });
  }

  async pull(number: number): Promise<PullInfo | null> {
    const res = (await orNullOn([404], this.octokit.rest.pulls.get({ ...this.r, pull_number: number }))) as Awaited<ReturnType<Octokit['rest']['pulls']['get']>> | null;
    if (!res) return null;
    return pullInfo({ ...res.data, merged: res.data.merged });
  }

  async openPulls(base: string, limit: number): Promise<PullInfo[]> {
    const res = await this.octokit.rest.pulls.list({ ...this.r, state: 'open', base, sort: 'updated', direction: 'desc', per_page: limit });
    return res.data.map((p) => pullInfo(p));
  }

  async deploymentHistory(environment: string, limit: number): Promise<DeploymentRecord[]> {
    const res = await this.octokit.rest.repos.listDeployments({ ...this.r, environment, per_page: limit });
    const out: DeploymentRecord[] = [];
    for (const d of res.data) out.push({ id: d.id, sha: d.sha, state: await this.newestState(d.id), createdAt: d.created_at });
    return out;
  }

  async deploymentsOf(sha: string): Promise<(DeploymentRecord & { environment: string })[]> {
    const res = await this.octokit.rest.repos.listDeployments({ ...this.r, sha, per_page: 30 });
    const out: (DeploymentRecord & { environment: string })[] = [];
    for (const d of res.data) out.push({ id: d.id, sha: d.sha, environment: d.environment, state: await this.newestState(d.id), createdAt: d.created_at });
    return out;
  }

  async resolveCommit(ref: string): Promise<string | null> {
    // `application/vnd.github.sha` answers with the bare full SHA; GitHub says 422 for a
    // SHA that names no commit, 404 for a ref that does not exist.
    const res = (await orNullOn([404, 422], this.octokit.request('GET /repos/{owner}/{repo}/commits/{ref}', { ...this.r, ref, headers: { accept: 'application/vnd.github.sha' } }))) as { data: unknown } | null;
    const text = res ? String(res.data).trim() : '';
    return /^[0-9a-f]{40}$/.test(text) ? text : null;
  }

  async commitChanges(baseSha: string, changes: TreeChange[], message: string): Promise<string> {
    // Blobs first (base64: a manifest folder may hold binary files), then one tree on top of
    // the base commit's tree, where a null sha deletes a path.
    const entries: { path: string; mode: '100644'; type: 'blob'; sha: string | null }[] = [];
    for (const c of changes) {
      if (c.content === null) {
        entries.push({ path: c.path, mode: '100644', type: 'blob', sha: null });
        continue;
      }
      const blob = await this.octokit.rest.git.createBlob({ ...this.r, content: c.content.toString('base64'), encoding: 'base64' });
      entries.push({ path: c.path, mode: '100644', type: 'blob', sha: blob.data.sha });
    }
    const base = await this.octokit.rest.git.getCommit({ ...this.r, commit_sha: baseSha });
    const tree = await this.octokit.rest.git.createTree({ ...this.r, base_tree: base.data.tree.sha, tree: entries });
    const commit = await this.octokit.rest.git.createCommit({ ...this.r, message, tree: tree.data.sha, parents: [baseSha] });
    return commit.data.sha;
  }

  async allowsAutoMerge(): Promise<boolean> {
    return (await this.octokit.rest.repos.get({ ...this.r })).data.allow_auto_merge === true;
  }

  async postCheck(name: CheckName, sha: string, out: CheckSummary): Promise<void> {
    await this.octokit.rest.checks.create({
      ...this.r,
      name,
      head_sha: sha,
      status: 'completed',
      conclusion: out.conclusion,
      completed_at: new Date().toISOString(),
      output: { title: out.title, summary: out.summary },
    });
  }

  private async newestState(deploymentId: number): Promise<string | null> {
    const res = await this.octokit.rest.repos.listDeploymentStatuses({ ...this.r, deployment_id: deploymentId, per_page: 1 });
    return res.data[0]?.state ?? null;
  }
}
