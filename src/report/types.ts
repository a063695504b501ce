import type { DriftEntry } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';

/** Something the user must fix; file/line become a check-run annotation. */
export interface Problem {
  message: string;
  file?: string;
  line?: number;
  /** The object it concerns, when there is one. */
  ref?: string;
}

export interface AppReport {
  app: string;
  cluster: string;
  diffs: ObjectDiff[];
  problems: Problem[];
  /** Fields others changed in the live objects: what the merge reverts and what it keeps. */
  drift: DriftEntry[];
  /** The API server's warnings on the dry-run (deprecations, policy `Warn`) and prunes refused. */
  warnings?: Problem[];
}

export interface PreviewReport {
  repo: string;
  sha: string;
  apps: AppReport[];
  /** Failures before any app could be rendered (bad config, unsafe archive). */
  problems: Problem[];
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

export function countsLine(c: Counts): string {
  return `+${c.create} created ~${c.update} changed${c.replace ? ` ±${c.replace} replaced` : ''} -${c.delete} deleted`;
}

export function allProblems(r: PreviewReport): Problem[] {
  return [...r.problems, ...r.apps.flatMap((a) => a.problems)];
}
