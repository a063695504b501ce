import { appChanges, reportRisks } from './risk.js';
import type { PreviewReport } from './types.js';

/**
 * The labels mergeops keeps on a pull request, so reviewers can filter ("is:pr label:
 * "mergeops: deletes"") and branch rules or other bots can react. Only these names are ever
 * added or removed; anyone's other labels are left alone.
 */
export const LABELS = {
  deletes: { name: 'mergeops: deletes', color: 'b60205', description: 'Merging deletes objects in a cluster (prune)' },
  secrets: { name: 'mergeops: secrets', color: 'd93f0b', description: 'Merging changes a Secret' },
  drift: { name: 'mergeops: drift', color: 'fbca04', description: 'Merging reverts changes made in the cluster outside Git' },
  noop: { name: 'mergeops: no-op', color: 'c2e0c6', description: 'Merging changes nothing in any cluster' },
} as const;

export const MANAGED_LABELS: ReadonlySet<string> = new Set(Object.values(LABELS).map((l) => l.name));

/**
 * The labels a preview calls for, or null to leave them as they are: a preview that failed
 * somewhere knows nothing new ("no-op", or dropping "deletes", would be a guess).
 */
export function previewLabels(r: PreviewReport): string[] | null {
  if (r.problems.length > 0) return null;
  const risks = reportRisks(r);
  if (risks.some((x) => x.kind === 'failed')) return null;
  const out: string[] = [];
  if (risks.some((x) => x.kind === 'delete')) out.push(LABELS.deletes.name);
  if (risks.some((x) => x.kind === 'secret')) out.push(LABELS.secrets.name);
  if (risks.some((x) => x.kind === 'drift')) out.push(LABELS.drift.name);
  if (r.apps.length + (r.unchanged?.length ?? 0) > 0 && !r.apps.some(appChanges)) out.push(LABELS.noop.name);
  return out;
}

/** What to add and remove so the PR carries exactly `desired` of mergeops's labels. */
export function labelChanges(current: readonly string[], desired: readonly string[]): { add: string[]; remove: string[] } {
  const have = new Set(current.filter((l) => MANAGED_LABELS.has(l)));
  const want = new Set(desired);
  return { add: [...want].filter((l) => !have.has(l)), remove: [...have].filter((l) => !want.has(l)) };
}
