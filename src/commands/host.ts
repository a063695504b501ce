import type { CheckName } from '../check-names.js';
import type { RepoHost } from '../flows/host.js';
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

export interface CheckSummary {
  title: string;
  summary: string;
  conclusion: 'success' | 'neutral' | 'failure';
}

/**
 * The GitHub side of commands: the flows' RepoHost (one repository through one
 * installation), plus the few calls only commands make. The runner unit-tests against an
 * in-memory fake of it; `github/command-host.ts` is the Octokit one.
 */
export interface CommandHost extends RepoHost {
  react(commentId: number, reaction: Reaction): Promise<void>;
  pull(number: number): Promise<PullInfo | null>;
  /** Open pull requests into `base`, most recently updated first, at most `limit` (one page). */
  openPulls(base: string, limit: number): Promise<PullInfo[]>;
  /** An app's Deployments (environment = app name), newest first, at most `limit`. */
  deploymentHistory(environment: string, limit: number): Promise<DeploymentRecord[]>;
  /** Deployments of `sha`, any environment, with their newest status. */
  deploymentsOf(sha: string): Promise<(DeploymentRecord & { environment: string })[]>;
  /** A commit named by a full or abbreviated SHA, as its full SHA; null when there is none. */
  resolveCommit(ref: string): Promise<string | null>;
  /**
   * One commit on top of `baseSha` that writes each change (bytes, through blobs) or deletes
   * its path (`content: null`); returns the commit's SHA.
   */
  commitChanges(baseSha: string, changes: TreeChange[], message: string): Promise<string>;
  /** Whether the repository's settings allow auto-merge at all. */
  allowsAutoMerge(): Promise<boolean>;
  /** A check run created already completed (the locks list). */
  postCheck(name: CheckName, sha: string, out: CheckSummary): Promise<void>;
}
