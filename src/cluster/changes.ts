import type { ApplyResult } from './apply.js';
import type { ClusterPlan, ObjectWarning } from './plan.js';
import { isUnchanged, objectRef, type SourceRef } from '../objects.js';

/**
 * What happened (or, for a plan, would happen) to one object, like fluxcd/pkg/ssa's
 * ChangeSet: callers decide what to report from the actions, never by re-diffing text.
 */
export type ChangeAction = 'created' | 'configured' | 'unchanged' | 'deleted' | 'skipped' | 'failed';

export interface Change {
  /** `apiVersion Kind namespace/name` as users read it. */
  ref: string;
  action: ChangeAction;
  /** Why it failed or was skipped. */
  reason?: string;
  source?: SourceRef;
}

export type ChangeSet = Change[];

/**
 * What an apply did to an app, as every flow, report and the CLI read it: the change set
 * (one action per object), the dry-run's warnings, and why prune did not run when the app
 * prunes (another object failed, a read was incomplete): a failed deploy even when every
 * write succeeded.
 */
export interface Applied {
  changes: ChangeSet;
  warnings: ObjectWarning[];
  pruneSkipped?: string;
}

/** Why an orphan of an app that does not prune stays in the cluster. */
export const PRUNE_OFF = 'prune is off for this app';

export const CHANGE_ACTIONS: readonly ChangeAction[] = ['created', 'configured', 'unchanged', 'deleted', 'skipped', 'failed'];

/** The change set a dry-run plan predicts; orphans count as deleted only when `prune` is on. */
export function planChanges(plan: ClusterPlan, prune: boolean): ChangeSet {
  const out: ChangeSet = [];
  for (const p of plan.objects) {
    const action: ChangeAction = isUnchanged(p, plan.ours) ? 'unchanged' : p.live ? 'configured' : 'created';
    out.push({ ref: objectRef(p.desired), action, source: p.source });
  }
  for (const o of plan.orphans) out.push(prune ? { ref: objectRef(o), action: 'deleted' } : { ref: objectRef(o), action: 'skipped', reason: PRUNE_OFF });
  for (const e of plan.errors) out.push({ ref: e.ref, action: 'failed', reason: e.message, ...(e.source ? { source: e.source } : {}) });
  return out.sort(byRef);
}

/**
 * The change set of an apply, each object once: every object the apply got to, and every
 * orphan. When the dry-run refuses the render, only the refused objects are listed (as
 * failed): nothing was written.
 */
export function applyChanges(result: ApplyResult, prune: boolean): ChangeSet {
  const out: ChangeSet = [];
  const seen = new Map<string, Change>();
  const add = (c: Change): void => {
    const earlier = seen.get(c.ref);
    // Two errors of one object (defined twice, then refused) both reach the user.
    if (earlier?.action === 'failed' && c.action === 'failed') earlier.reason = `${earlier.reason}; ${c.reason}`;
    if (earlier) return;
    seen.set(c.ref, c);
    out.push(c);
  };
  for (const e of result.errors) add({ ref: e.ref, action: 'failed', reason: e.message, ...(e.source ? { source: e.source } : {}) });
  for (const ref of result.created) add({ ref, action: 'created' });
  const replaced = new Set(result.replaced);
  for (const ref of result.configured) add(replaced.has(ref) ? { ref, action: 'configured', reason: 'deleted and created again: an immutable field changed' } : { ref, action: 'configured' });
  for (const ref of result.unchanged) add({ ref, action: 'unchanged' });
  for (const ref of result.pruned) add({ ref, action: 'deleted' });
  // Nothing is written after the first failure, and prune runs only after every write succeeded.
  for (const o of result.objects) add({ ref: o.ref, action: 'skipped', reason: 'not applied: another object of this app failed' });
  const notPruned = result.pruneSkipped ?? (prune ? 'not pruned: another object of this app failed' : PRUNE_OFF);
  for (const ref of result.orphans ?? []) add({ ref, action: 'skipped', reason: notPruned });
  return out.sort(byRef);
}

/** The refs of `changes` with `action`, in order. */
export function refsOf(changes: ChangeSet, action: ChangeAction): string[] {
  return changes.filter((c) => c.action === action).map((c) => c.ref);
}

/** Whether the apply wrote anything: an object created or configured, or one deleted. */
export function wroteAny(changes: ChangeSet): boolean {
  return changes.some((c) => c.action === 'created' || c.action === 'configured' || c.action === 'deleted');
}

/** An apply's result as every reader takes it: its change set, with the warnings and why prune did not run. */
export function appliedOf(result: ApplyResult, prune: boolean): Applied {
  return { changes: applyChanges(result, prune), warnings: result.warnings, ...(result.pruneSkipped ? { pruneSkipped: result.pruneSkipped } : {}) };
}

export function countChanges(changes: ChangeSet): Record<ChangeAction, number> {
  const c = Object.fromEntries(CHANGE_ACTIONS.map((a) => [a, 0])) as Record<ChangeAction, number>;
  for (const ch of changes) c[ch.action]++;
  return c;
}

function byRef(x: Change, y: Change): number {
  return x.ref < y.ref ? -1 : x.ref > y.ref ? 1 : 0;
}
