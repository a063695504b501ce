import type { DriftEntry } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';

import type { Problem } from '../errors.js';

export type { Problem };

export interface AppReport {
  app: string;
  cluster: string;
  diffs: ObjectDiff[];
  problems: Problem[];
  /** Live objects that differ from the base branch: merging will revert them too. */
  drift: DriftEntry[];
  baseRef?: string;
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
  delete: number;
  unchanged: number;
}

export function counts(diffs: ObjectDiff[]): Counts {
  const c: Counts = { create: 0, update: 0, delete: 0, unchanged: 0 };
  for (const d of diffs) c[d.action]++;
  return c;
}

export function countsLine(c: Counts): string {
  return `+${c.create} created ~${c.update} changed -${c.delete} deleted`;
}

export function allProblems(r: PreviewReport): Problem[] {
  return [...r.problems, ...r.apps.flatMap((a) => a.problems)];
}
