import type { CheckName } from '../check-names.js';
import type { ChangedFiles } from '../engine/affected.js';
import type { Permission } from '../config/command-permissions.js';
import type { CheckOutput } from '../report/check.js';
import type { Checkout } from '../source/checkout.js';
import type { ConfigDefaults } from '../config/merge.js';

export interface RepoRef {
  owner: string;
  repo: string;
}

/** Which installation may act on which repository: all a host needs to be made. */
export interface HostTarget extends RepoRef {
  installationId: number;
  repoId: number;
}

export type DeploymentState = 'in_progress' | 'success' | 'failure' | 'error' | 'inactive';

/** A Deployment's options beyond the commit and environment: a preview environment's is transient. */
export interface DeploymentOptions {
  /** GitHub's transient_environment: the environment goes away (a per-PR preview). */
  transient?: boolean;
}

export interface CommentIdStore {
  get(): Promise<number[] | null>;
  set(ids: number[]): Promise<void>;
}

export interface PullRequestRef {
  number: number;
  nodeId: string;
  url: string;
}

export interface FileChange {
  path: string;
  text: string;
}

/**
 * Everything a flow asks of GitHub, for one repository through one installation. Flows
 * depend on this seam only: Octokit implements it in `github/host.ts`, an in-memory fake
 * in `test/unit/fakes/repo-host.ts`, so every flow is unit-tested without HTTP.
 */
export interface RepoHost {
  readonly target: HostTarget;

  // Check runs
  startCheck(name: CheckName, headSha: string): Promise<{ id: number; url?: string }>;
  /** Completes a check run with its conclusion, annotations in GitHub's batches of 50. */
  finishCheck(id: number, output: CheckOutput): Promise<void>;
  /** Creates a check run already completed with this output: one write for a report made after the work. */
  reportCheck(name: CheckName, headSha: string, output: CheckOutput): Promise<{ id: number; url?: string }>;
  /** Completes a check run as failed after a job's last attempt. */
  failCheck(id: number, title: string, summary: string): Promise<void>;
  /** Completes a check run as cancelled: its work was called off (a merge group left the queue). */
  cancelCheck(id: number, summary: string): Promise<void>;
  /**
   * A check run left in progress with this output and its buttons (a deploy waiting for a
   * soak or an approval): created, or `id` updated; returns it.
   */
  holdCheck(name: CheckName, headSha: string, output: CheckOutput, id?: number): Promise<{ id: number; url?: string }>;
  /** Updates an in-progress check run's title and summary (a deploy retrying after a transient failure). */
  progressCheck(id: number, title: string, summary: string): Promise<void>;
  /** The check run's page, for links from comments and Deployments. */
  checkRunUrl(id: number): string;
  /** The web address of this GitHub (github.com, or a GHES host). */
  webUrl(): string;

  // Comments
  /** Makes the PR's mergeops preview comments equal `bodies`; returns their ids. */
  upsertPreviewComments(pr: number, bodies: string[], store: CommentIdStore): Promise<number[]>;
  comment(issue: number, body: string): Promise<void>;

  // Deployments
  createDeployment(sha: string, environment: string, description: string, opts?: DeploymentOptions): Promise<number>;
  /** `environmentUrl` is what GitHub's "View deployment" opens. */
  setDeploymentState(deploymentId: number, state: DeploymentState, description: string, logUrl?: string, environmentUrl?: string): Promise<void>;

  // Revisions
  /** The repository at `sha`, downloaded and extracted within the operator's limits. */
  revision(sha: string): Promise<Checkout>;
  /** The same through this worker's revision cache (PR bases: every push shares one). */
  cachedRevision(sha: string): Promise<Checkout>;

  // Repository, contents and Git data
  defaultBranch(): Promise<string>;
  /** The repository as this installation sees it (id, default branch); null when it cannot see it. */
  repository(): Promise<{ id: number; defaultBranch: string } | null>;
  /**
   * The files changed from `base` to `head` (since their merge base, as a pull request
   * shows them), or why the list is not complete (GitHub cut it). Errors are thrown.
   */
  changedFiles(base: string, head: string): Promise<ChangedFiles>;
  /**
   * The organisation's mergeops defaults this repository's config builds on (the owner's
   * `.github` repository, default branch, and the file it extends); a broken one throws
   * the ConfigError that names it. Cached across jobs until a push changes them.
   */
  configDefaults(): Promise<ConfigDefaults>;
  /** A file's text at `ref`, or null when it does not exist there. */
  readFile(path: string, ref: string): Promise<string | null>;
  /** The commit a branch points at, or null when the branch does not exist. */
  branchHead(branch: string): Promise<string | null>;
  /** Whether `sha` is on `branch` (its head, or an ancestor of it): GitHub's compare of the two. */
  commitOnBranch(sha: string, branch: string): Promise<boolean>;
  /** Writes `files` on top of `baseSha` as one commit; equal trees mean equal content. */
  commitFiles(baseSha: string, files: FileChange[], message: string): Promise<{ sha: string; tree: string }>;
  commitTree(sha: string): Promise<{ tree: string; parents: string[] }>;
  /** Points `branch` at `sha`, creating it or moving it (force: the branch is ours alone). */
  setBranch(branch: string, sha: string, exists: boolean): Promise<void>;

  // Pull requests
  /** The merged pull request a pushed commit came from, if any. */
  mergedPullRequest(sha: string): Promise<number | null>;
  findOpenPullRequest(branch: string): Promise<PullRequestRef | null>;
  /** A pull request's state and labels now; null when GitHub does not know it (deleted, or no access). */
  pullRequestState?(number: number): Promise<{ open: boolean; labels: string[] } | null>;
  /** A closed, unmerged PR from `branch` titled `title`: someone declined exactly this change. */
  findDeclinedPullRequest(branch: string, title: string): Promise<number | null>;
  createPullRequest(pr: { title: string; head: string; base: string; body: string }): Promise<PullRequestRef>;
  updatePullRequest(number: number, pr: { title: string; body: string }): Promise<void>;
  /** Closes a pull request mergeops opened whose change is no longer needed. */
  closePullRequest(number: number): Promise<void>;
  addLabels(issue: number, labels: string[]): Promise<void>;
  /**
   * Makes mergeops's own labels on an issue or PR equal `desired`, writing only the changes;
   * `known` is the label list the webhook sent (saves a read). Others' labels stay.
   */
  syncLabels(issue: number, desired: readonly string[], known?: readonly string[]): Promise<{ add: string[]; remove: string[] }>;
  /**
   * A user's role on the repository, from GitHub's collaborator permission API, asked
   * each time (never cached), with triage and maintain told apart.
   */
  permission(login: string): Promise<Permission>;
  /** Turns on auto-merge (squash); returns why GitHub refused, or null. */
  enableAutoMerge(pr: PullRequestRef): Promise<string | null>;
}

/** Makes the host of one repository; the runtime binds it to Octokit, tests to the fake. */
export type RepoHosts = (target: HostTarget) => Promise<RepoHost>;
