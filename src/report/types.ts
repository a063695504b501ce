import type { DriftEntry } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';
import type { RolloutEntry } from '../diff/rollout.js';

import type { Problem } from '../errors.js';

export type { Problem };

/** What merging does for an app, from its reviewed config: the footer says it out loud. */
export interface MergeBehaviour {
  prune: boolean;
  /** Health wait after apply; 0 = none. */
  waitMs: number;
  /** Git wins: take over fields other field managers set (false: `conflicts: fail`, the deploy refuses a conflict). */
  force: boolean;
}

export interface AppReport {
  app: string;
  /** The environment of this row (`web · prod`'s `prod`), when the config has environments. */
  environment?: string;
  cluster: string;
  /** The app's default namespace, for the target column. */
  namespace?: string;
  diffs: ObjectDiff[];
  problems: Problem[];
  /** Fields others changed in the live objects: what the merge reverts and what it keeps. */
  drift: DriftEntry[];
  /** The API server's warnings on the dry-run (deprecations, policy `Warn`) and prunes refused. */
  warnings?: Problem[];
  /** A deploy freeze on the app: merging records the commit, the unlock applies it. */
  lock?: { by: string; reason: string; at: string };
  merge?: MergeBehaviour;
  /** What the merge does to running workloads: one entry per changed workload (or route) with its findings. */
  rollout?: RolloutEntry[];
  /** `review.onRisk` of the app: action_required gates deletions and Namespace/CRD/PVC changes. */
  review?: { onRisk: 'action_required' | 'success' };
}

/** An app the preview did not plan, and why: no file its render reads changed, or it renders as at the base. */
export interface UnchangedApp {
  app: string;
  cluster: string;
  namespace?: string;
  environment?: string;
  why: 'files' | 'render';
}

/** An environment as the reports name it: rollout order, its cluster, what it waits for. */
export interface EnvironmentReport {
  name: string;
  cluster: string;
  after: string[];
  soakMs: number;
  /** Its own preview check run beside the overall one (`previewCheck: true`). */
  previewCheck?: true;
  /** `promote: pr`: moved by a promotion pull request from `from`, not by the merge. */
  promote?: { from: string };
}

/** One app's preview environment, as the comment's 🌐 line says it. */
export interface PreviewEnvReport {
  app: string;
  state: 'starting' | 'ready' | 'failed' | 'refused';
  url?: string;
  namespace: string;
  cluster: string;
  message?: string;
  refused?: { ref: string; why: string }[];
}

export interface PreviewReport {
  repo: string;
  /** Preview environments of this PR brought up (or refused) by this job. */
  previewEnvironments?: PreviewEnvReport[];
  /** The head commit previewed. */
  sha: string;
  /** The apps planned against the cluster. */
  apps: AppReport[];
  /** Apps not planned (no API server traffic): the change cannot alter what they render. */
  unchanged?: UnchangedApp[];
  /** Set when every app was rendered because the changed files could not be trusted: why. */
  allRendered?: string;
  /** Failures before any app could be rendered (bad config, unsafe archive). */
  problems: Problem[];
  /** The base commit and branch the PR merges into (drift and "into" in the title). */
  baseSha?: string;
  baseRef?: string;
  /** When the dry-run ran, ISO 8601. */
  at?: string;
  /** The check run holding the full diff. */
  checkRunUrl?: string;
  /** `https://github.com` or a GitHub Enterprise host, for file links. */
  serverUrl?: string;
  /** GitHub's numeric repository id: the inventory key `mergeops diff` needs to find deletions. */
  repoId?: number;
  version?: string;
  /** The organisation's defaults files the config was built on (`acme/.github`, then what it extends). */
  defaultsFrom?: string[];
  /** Who pressed "Accept risk" on this commit's gated preview (write access checked). */
  riskAcceptedBy?: string;
  /** The config's environments in rollout order; absent without environments. */
  environments?: EnvironmentReport[];
}

/** `staging` first, then `prod` after `staging` (soak 10m): how the merge will roll out. */
export function rolloutText(envs: EnvironmentReport[], code: (s: string) => string): string {
  return envs
    .map((e) => {
      const soak = e.soakMs ? ` for ${formatDuration(e.soakMs)}` : '';
      if (e.promote) return `${code(e.name)} (cluster ${code(e.cluster)}) by a promotion pull request once ${code(e.promote.from)} is healthy${soak} (merging that applies it)`;
      const wait = e.after.length ? ` once ${e.after.map(code).join(' and ')} ${e.after.length === 1 ? 'is' : 'are'} healthy${soak}` : ' first';
      return `${code(e.name)} (cluster ${code(e.cluster)})${wait}`;
    })
    .join(', ');
}

function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const [h, m, sec] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60), s % 60];
  return [h && `${h}h`, m && `${m}m`, sec && `${sec}s`].filter(Boolean).join('') || '0s';
}

export interface Counts {
  create: number;
  update: number;
  replace: number;
  delete: number;
  unchanged: number;
}

export function counts(diffs: ObjectDiff[]): Counts {
  const c: Counts = { create: 0, update: 0, replace: 0, delete: 0, unchanged: 0 };
  for (const d of diffs) c[d.action]++;
  return c;
}

/** `1 created · 3 changed`: only what happens, never "+0 created". */
export function countsText(c: Counts): string {
  const parts = [c.create && `${c.create} created`, c.update && `${c.update} changed`, c.replace && `${c.replace} replaced`, c.delete && `${c.delete} deleted`].filter(Boolean);
  return parts.length ? parts.join(' · ') : 'no changes';
}

export function allProblems(r: PreviewReport): Problem[] {
  return [...r.problems, ...r.apps.flatMap((a) => a.problems)];
}
