import type { RepoConfig } from '../config/repo-config.js';
import type { Checkout } from '../source/checkout.js';
import type { Permission } from '../config/command-permissions.js';
import type { TreeChange } from './rollback-plan.js';

/** GitHub's reactions; it has none for ✅/❌, so success is a rocket and failure confused. */
export type Reaction = 'eyes' | 'rocket' | 'confused' | '+1' | '-1';

export interface PullInfo {
  number: number;
  state: 'open' | 'closed';
  merged: boolean;
  headSha: string;
  baseRef: string;
  baseSha: string;
  author: string;
  fromFork: boolean;
}

/** One GitHub Deployment of an app (environment = app name) with its newest status. */
export interface DeploymentRecord {
  id: number;
  sha: string;
  /** `success`, `failure`, `error`, `in_progress`, … or null without any status. */
  state: string | null;
  createdAt: string;
}

export interface RevertPullRequest {
  branch: string;
  base: string;
  baseSha: string;
  title: string;
  body: string;
  changes: TreeChange[];
  labels: string[];
}

export interface OpenedPullRequest {
  number: number;
  url: string;
  headSha: string;
  /** Null when auto-merge is on; otherwise why not (the repo does not allow it, …). */
  automerge: string | null;
}

export interface CheckSummary {
  title: string;
  summary: string;
  conclusion: 'success' | 'neutral' | 'failure';
}

/**
 * The GitHub side of commands, bound to one installation and repository, so the runner
 * unit-tests against an in-memory fake and the real calls live in one file.
 */
export interface CommandHost {
  react(commentId: number, reaction: Reaction): Promise<void>;
  reply(issue: number, body: string): Promise<void>;
  /** Asked at command time, never cached: a revoked collaborator loses access at once. */
  permission(login: string): Promise<Permission>;
  /** `.github/mergeops.yml` at `ref`: null when there is none, a problem text when invalid. */
  readConfig(ref: string, defaultBranch: string): Promise<RepoConfig | null | { problem: string }>;
  pull(number: number): Promise<PullInfo | null>;
  branchHead(branch: string): Promise<string | null>;
  /** Newest first, at most `limit`. */
  deployments(environment: string, limit: number): Promise<DeploymentRecord[]>;
  /** Deployments of `sha`, any environment, with their newest status. */
  deploymentsOf(sha: string): Promise<(DeploymentRecord & { environment: string })[]>;
  fetchRevision(sha: string): Promise<Checkout>;
  /** A commit named by a full or abbreviated SHA, as its full SHA; null when there is none. */
  resolveCommit(ref: string): Promise<string | null>;
  /** The open PR from `branch`, if one is open already. */
  openPullFrom(branch: string): Promise<{ number: number; url: string } | null>;
  openRevert(pr: RevertPullRequest): Promise<OpenedPullRequest>;
  mergedPullRequest(sha: string): Promise<number | null>;
  postCheck(name: string, sha: string, out: CheckSummary): Promise<void>;
}
