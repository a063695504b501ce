import type { ObjectDiff } from '../diff/types.js';
import type { FieldChange } from '../diff/fields.js';
import type { RolloutFinding } from '../diff/rollout.js';
import type { AppReport, PreviewReport } from './types.js';

/**
 * What a reviewer must not miss, derived from the plan's actions and fields (never from
 * diff text). The comment's alert, the table's "look at" column, the PR labels and the
 * optional risk gate all read these, so they cannot disagree.
 */
export type RiskKind =
  /** An object the merge deletes (prune: true). */
  | 'delete'
  /** A Secret created, changed, renamed or deleted. */
  | 'secret'
  /** A live hand edit the merge reverts. */
  | 'drift'
  | 'replicas'
  | 'image'
  /** A Namespace, CustomResourceDefinition or PersistentVolumeClaim changes: cluster-wide or data. */
  | 'critical-kind'
  /** The app could not be previewed: nothing says the merge is safe. */
  | 'failed'
  /** A finding of the rollout analysis (config not picked up, no quota room, a fighting HPA…). */
  | 'rollout';

export interface Risk {
  kind: RiskKind;
  app: string;
  /** The object, for everything but `failed`. */
  ref?: string;
  objectKind?: string;
  /** The field that makes it a risk (replicas, image), with its values. */
  field?: FieldChange;
  /** The rollout finding, for `rollout`: its check name and message. */
  rollout?: RolloutFinding;
  /** caution: data or service loss is likely if it is a mistake; warning: look before merging. */
  severity: 'warning' | 'caution';
}

export const CRITICAL_KINDS = new Set(['Namespace', 'CustomResourceDefinition', 'PersistentVolumeClaim']);

const IMAGE_FIELD = /(^|\.)(containers|initContainers|ephemeralContainers)\[[^\]]+\]\.image$/;

export function isImageField(path: string): boolean {
  return IMAGE_FIELD.test(path);
}

/** Whether the merge really deletes a dropped object: only when the app prunes. */
export function deletes(app: AppReport, d: ObjectDiff): boolean {
  return d.action === 'delete' && app.merge?.prune !== false;
}

export function appRisks(app: AppReport): Risk[] {
  if (app.problems.length > 0) return [{ kind: 'failed', app: app.app, severity: 'caution' }];
  const out: Risk[] = [];
  const add = (kind: RiskKind, d: ObjectDiff, severity: Risk['severity'], field?: FieldChange): void => {
    const r: Risk = { kind, app: app.app, ref: d.ref, objectKind: d.kind, severity };
    if (field) r.field = field;
    out.push(r);
  };
  for (const d of app.diffs) {
    if (d.action === 'unchanged') continue;
    if (d.action === 'delete' && !deletes(app, d)) continue;
    const critical = CRITICAL_KINDS.has(d.kind);
    if (d.action === 'delete') add('delete', d, critical ? 'caution' : 'warning');
    if (d.kind === 'Secret' && (d.action !== 'create' || d.renamedFrom)) add('secret', d, 'warning');
    if (critical) add('critical-kind', d, d.action === 'delete' ? 'caution' : 'warning');
    for (const f of d.fields ?? []) {
      if (f.path === 'spec.replicas') add('replicas', d, 'warning', f);
      else if (isImageField(f.path)) add('image', d, 'warning', f);
    }
  }
  // A finding the app's failOn names fails the preview: caution, not a warning.
  for (const e of app.rollout ?? []) for (const f of e.findings) out.push({ kind: 'rollout', app: app.app, ref: e.ref, objectKind: e.kind, rollout: f, severity: f.fails ? 'caution' : 'warning' });
  // Only fields the merge reverts are a risk; fields it keeps change nothing.
  for (const e of app.drift.filter((d) => d.fields.length > 0)) out.push({ kind: 'drift', app: app.app, ref: e.ref, severity: 'warning' });
  return out;
}

/** What the optional risk gate (`review: {onRisk: action_required}`) holds for a second look. */
export const GATED: ReadonlySet<RiskKind> = new Set(['delete', 'critical-kind']);

/** The risks that make a gated app's preview end as action_required. */
export function gatedRisks(r: PreviewReport): Risk[] {
  return r.apps.filter((a) => a.review?.onRisk === 'action_required').flatMap((a) => appRisks(a).filter((x) => GATED.has(x.kind)));
}

/** Rollout findings the app's `failOn:` names: each fails the preview's check. */
export function rolloutFailures(r: PreviewReport): Risk[] {
  return r.apps.filter((a) => a.problems.length === 0).flatMap((a) => appRisks(a).filter((x) => x.kind === 'rollout' && x.rollout?.fails));
}

export function reportRisks(r: PreviewReport): Risk[] {
  return r.apps.flatMap(appRisks);
}

/** An app with changes the merge makes (objects or reverted drift). */
export function appChanges(app: AppReport): boolean {
  return app.drift.some((d) => d.fields.length > 0) || app.diffs.some((d) => d.action !== 'unchanged' && (d.action !== 'delete' || deletes(app, d)));
}
