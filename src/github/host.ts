import type { CheckName } from '../check-names.js';
import type { Permission } from '../config/command-permissions.js';
import { permissionOf } from '../commands/permissions.js';
import type { CheckOutput } from '../report/check.js';
import type { Checkout } from '../source/checkout.js';
import type { ExtractLimits } from '../source/extract.js';
import type { RevisionCache } from '../source/revision-cache.js';
import type { CommentIdStore, DeploymentOptions, DeploymentState, FileChange, HostTarget, PullRequestRef, RepoHost, RepoHosts } from '../flows/host.js';
import { cancelCheck, checkRunUrl, failCheck, finishCheck, holdCheck, progressCheck, reportCheck, startCheck, webUrl } from './checks.js';
import { upsertComments } from './comments.js';
import { changedFiles, commitOnBranch } from './compare.js';
import type { ChangedFiles } from '../engine/affected.js';
import { createDeployment, mergedPullRequest, setDeploymentState } from './deployments.js';
import { branchHead, commitFiles, commitTree, enableAutoMerge, findDeclinedPullRequest, findOpenPullRequest, setBranch } from './pulls.js';
import { fetchCachedRevision, fetchRevision } from './tarball.js';
import { syncLabels } from './labels.js';
import type { LabelDefinitions } from '../queue/label-definitions.js';
import type { Octokit, RepoRef } from './types.js';
import { BOOKKEEPING } from './write-pacer.js';
import type { ConfigDefaults } from '../config/merge.js';
import type { DefaultsCache } from '../queue/defaults-cache.js';
import { configDefaults, readText } from './config-defaults.js';

export interface OctokitHostOptions {
  /** An installation-authenticated client; the runtime's also records rate-limit metrics. */
  octokit(installationId: number): Promise<Octokit>;
  limits: ExtractLimits;
  /** This worker's extracted revisions; without one, cachedRevision downloads each time. */
  revisions?: RevisionCache;
  /** This app's bot login (`<slug>[bot]`): the only author whose preview comments are ours. */
  botLogin(): Promise<string>;
  /** The organisation's defaults files as last read; without it every job reads them. */
  defaults?: DefaultsCache;
  /** mergeops's label definitions each repository has; without it a label is looked up before it is created. */
  labelDefinitions?: LabelDefinitions;
}

/** RepoHost over Octokit: every method is one or a few REST (or GraphQL) calls. */
export class OctokitRepoHost implements RepoHost {
  protected readonly r: RepoRef;

  constructor(
    readonly target: HostTarget,
    protected readonly octokit: Octokit,
    private readonly opts: Omit<OctokitHostOptions, 'octokit'>,
  ) {
    this.r = { owner: target.owner, repo: target.repo };
  }

  startCheck(name: CheckName, headSha: string): Promise<{ id: number; url?: string }> {
    return startCheck(this.octokit, this.r, name, headSha).then((c) => (c.url ? { id: c.id, url: c.url } : { id: c.id }));
  }

  finishCheck(id: number, output: CheckOutput): Promise<void> {
    return finishCheck(this.octokit, this.r, id, output);
  }

  reportCheck(name: CheckName, headSha: string, output: CheckOutput): Promise<{ id: number; url?: string }> {
    return reportCheck(this.octokit, this.r, name, headSha, output).then((c) => (c.url ? { id: c.id, url: c.url } : { id: c.id }));
  }

  failCheck(id: number, title: string, summary: string): Promise<void> {
    return failCheck(this.octokit, this.r, id, title, summary);
  }

  cancelCheck(id: number, summary: string): Promise<void> {
    return cancelCheck(this.octokit, this.r, id, summary);
  }

  holdCheck(name: CheckName, headSha: string, output: CheckOutput, id?: number): Promise<{ id: number; url?: string }> {
    return holdCheck(this.octokit, this.r, name, headSha, output, id).then((c) => (c.url ? { id: c.id, url: c.url } : { id: c.id }));
  }

  progressCheck(id: number, title: string, summary: string): Promise<void> {
    return progressCheck(this.octokit, this.r, id, title, summary);
  }

  checkRunUrl(id: number): string {
    return checkRunUrl(this.octokit, this.r, id);
  }

  webUrl(): string {
    return webUrl(this.octokit);
  }

  upsertPreviewComments(pr: number, bodies: string[], store: CommentIdStore): Promise<number[]> {
    return upsertComments(this.octokit, this.r, pr, bodies, store, this.opts.botLogin);
  }

  async comment(issue: number, body: string): Promise<void> {
    await this.octokit.rest.issues.createComment({ ...this.r, issue_number: issue, body });
  }

  createDeployment(sha: string, environment: string, description: string, opts?: DeploymentOptions): Promise<number> {
    return createDeployment(this.octokit, this.r, sha, environment, description, opts);
  }

  setDeploymentState(deploymentId: number, state: DeploymentState, description: string, logUrl?: string, environmentUrl?: string): Promise<void> {
    return setDeploymentState(this.octokit, this.r, deploymentId, state, description, logUrl, environmentUrl);
  }

  revision(sha: string): Promise<Checkout> {
    return fetchRevision(this.octokit, this.r, sha, this.opts.limits);
  }

  cachedRevision(sha: string): Promise<Checkout> {
    if (!this.opts.revisions) return this.revision(sha);
    return fetchCachedRevision(this.opts.revisions, this.octokit, { ...this.r, repoId: this.target.repoId }, sha, this.opts.limits);
  }

  async repository(): Promise<{ id: number; defaultBranch: string } | null> {
    try {
      const { data } = await this.octokit.rest.repos.get({ ...this.r });
      return { id: data.id, defaultBranch: data.default_branch };
    } catch (err) {
      // 404: not installed on this repository (or it does not exist): GitHub says the same for both.
      if ((err as { status?: number }).status === 404) return null;
      throw err;
    }
  }

  async defaultBranch(): Promise<string> {
    return (await this.octokit.rest.repos.get({ ...this.r })).data.default_branch;
  }

  changedFiles(base: string, head: string): Promise<ChangedFiles> {
    return changedFiles(this.octokit, this.r, base, head);
  }

  readFile(path: string, ref: string): Promise<string | null> {
    return readText(this.octokit, this.r, path, ref);
  }

  configDefaults(): Promise<ConfigDefaults> {
    return configDefaults(this.octokit, this.target.installationId, this.target.owner, this.opts.defaults);
  }

  branchHead(branch: string): Promise<string | null> {
    return branchHead(this.octokit, this.r, branch);
  }

  commitOnBranch(sha: string, branch: string): Promise<boolean> {
    return commitOnBranch(this.octokit, this.r, sha, branch);
  }

  commitFiles(baseSha: string, files: FileChange[], message: string): Promise<{ sha: string; tree: string }> {
    return commitFiles(this.octokit, this.r, baseSha, files, message);
  }

  commitTree(sha: string): Promise<{ tree: string; parents: string[] }> {
    return commitTree(this.octokit, this.r, sha);
  }

  setBranch(branch: string, sha: string, exists: boolean): Promise<void> {
    return setBranch(this.octokit, this.r, branch, sha, exists);
  }

  mergedPullRequest(sha: string): Promise<number | null> {
    return mergedPullRequest(this.octokit, this.r, sha);
  }

  findOpenPullRequest(branch: string): Promise<PullRequestRef | null> {
    return findOpenPullRequest(this.octokit, this.r, branch);
  }

  async pullRequestState(number: number): Promise<{ open: boolean; labels: string[] } | null> {
    try {
      const pr = await this.octokit.rest.pulls.get({ ...this.r, pull_number: number });
      return { open: pr.data.state === 'open', labels: (pr.data.labels ?? []).map((l) => l.name) };
    } catch (err) {
      if ((err as { status?: number }).status === 404) return null;
      throw err;
    }
  }

  findDeclinedPullRequest(branch: string, title: string): Promise<number | null> {
    return findDeclinedPullRequest(this.octokit, this.r, branch, title);
  }

  async createPullRequest(pr: { title: string; head: string; base: string; body: string }): Promise<PullRequestRef> {
    const created = await this.octokit.rest.pulls.create({ ...this.r, ...pr, maintainer_can_modify: false });
    return { number: created.data.number, nodeId: created.data.node_id, url: created.data.html_url };
  }

  async updatePullRequest(number: number, pr: { title: string; body: string }): Promise<void> {
    await this.octokit.rest.pulls.update({ ...this.r, pull_number: number, ...pr });
  }

  async closePullRequest(number: number): Promise<void> {
    await this.octokit.rest.pulls.update({ ...this.r, pull_number: number, state: 'closed' });
  }

  async addLabels(issue: number, labels: string[]): Promise<void> {
    await this.octokit.rest.issues.addLabels({ ...this.r, issue_number: issue, labels, request: BOOKKEEPING });
  }

  syncLabels(issue: number, desired: readonly string[], known?: readonly string[]): Promise<{ add: string[]; remove: string[] }> {
    return syncLabels(this.octokit, { ...this.r, repoId: this.target.repoId }, issue, desired, known, this.opts.labelDefinitions);
  }

  async permission(login: string): Promise<Permission> {
    try {
      return permissionOf((await this.octokit.rest.repos.getCollaboratorPermissionLevel({ ...this.r, username: login })).data);
    } catch (err) {
      // 404: not a collaborator at all.
      if ((err as { status?: number }).status === 404) return 'none';
      throw err;
    }
  }

  enableAutoMerge(pr: PullRequestRef): Promise<string | null> {
    return enableAutoMerge(this.octokit, pr);
  }
}

/** The runtime's host factory: one Octokit per installation, one host per repository. */
export function octokitHosts(opts: OctokitHostOptions): RepoHosts {
  const { octokit, ...rest } = opts;
  return async (target) => new OctokitRepoHost(target, await octokit(target.installationId), rest);
}
