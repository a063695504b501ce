import { objectRef, type KubeObject, type PlannedObject } from '../objects.js';
import { displayPath, isMainResource, leafPaths, managedFields, ownedBy, ownsPath, sameJson, valueAt } from '../managed-fields.js';
import { isSecret } from './mask.js';

/** A field someone other than this app set, that the apply hands back to Git's value. */
export interface FieldDrift {
  path: string;
  /** The manager that set the live value, from managedFields (`kubectl-edit`, `helm`, …). */
  by?: string;
  /** Short scalar text; omitted for Secret data and for values too big to read inline. */
  live?: string;
  git?: string;
}

/** A field someone else set that Git does not declare: the apply leaves it as it is. */
export interface KeptField {
  path: string;
  by: string;
}

export interface DriftEntry {
  ref: string;
  /** Fields the apply reverts to Git's value. */
  fields: FieldDrift[];
  /** Fields others set that Git does not declare, which the apply keeps. */
  kept?: KeptField[];
}

const MAX_FIELDS = 10;
const MAX_VALUE = 60;
/** Bookkeeping others write that is not anyone's intent: not drift. */
const IGNORED = [
  ['f:metadata', 'f:annotations', 'f:kubectl.kubernetes.io/last-applied-configuration'],
  ['f:metadata', 'f:annotations', 'f:deployment.kubernetes.io/revision'],
  ['f:metadata', 'f:finalizers'],
  ['f:metadata', 'f:ownerReferences'],
];

/**
 * What applying Git does to fields others changed, from the API server's own records:
 * the live object's managedFields say who set each field, the dry-run's say who will own
 * it after the apply. A field another manager set that this app will own with a different
 * value is reverted ("live `blue` (set by `kubectl-edit`) → Git `dark`"); one the other
 * manager keeps (Git does not declare it) is kept. `ours` are this app's field managers.
 */
export function detectDrift(objects: PlannedObject[], ours: ReadonlySet<string>): DriftEntry[] {
  const out: DriftEntry[] = [];
  for (const p of objects) {
    if (!p.live || !p.merged || p.note) continue;
    const e = driftOf(p.live, p.merged, ours);
    if (e.fields.length || e.kept?.length) out.push(e);
  }
  return out;
}

export function driftOf(live: KubeObject, merged: KubeObject, ours: ReadonlySet<string>): DriftEntry {
  const secret = isSecret(live);
  const mine = ownedBy(merged, ours);
  const after = managedFields(merged);
  const fields: FieldDrift[] = [];
  const kept: KeptField[] = [];
  const seen = new Set<string>();
  for (const entry of managedFields(live)) {
    if (ours.has(entry.manager) || !isMainResource(entry)) continue;
    for (const path of leafPaths(entry.fieldsV1)) {
      const shown = displayPath(path);
      if (seen.has(shown) || IGNORED.some((i) => i.every((seg, n) => path[n] === seg))) continue;
      seen.add(shown);
      const liveValue = valueAt(live, path);
      const gitValue = valueAt(merged, path);
      // A Secret's `stringData.K` is written into `data.K`: declaring one takes the other.
      const declared = ownsPath(mine, path) || (secret && path[0] === 'f:data' && ownsPath(mine, ['f:stringData', ...path.slice(1)]));
      if (declared) {
        if (sameJson(liveValue, gitValue)) continue;
        const f: FieldDrift = { path: shown, by: entry.manager };
        const hide = secret && (path[0] === 'f:data' || path[0] === 'f:stringData');
        if (!hide) {
          const l = short(liveValue);
          const g = short(gitValue);
          if (l !== undefined) f.live = l;
          if (g !== undefined) f.git = g;
        }
        fields.push(f);
      } else if (after.some((a) => a.manager === entry.manager && isMainResource(a) && ownsPath(a.fieldsV1, path))) {
        kept.push({ path: shown, by: entry.manager });
      }
    }
  }
  return { ref: objectRef(merged), fields: fields.slice(0, MAX_FIELDS), kept: kept.slice(0, MAX_FIELDS) };
}

function short(v: unknown): string | undefined {
  if (v === undefined) return '(unset)';
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length <= MAX_VALUE ? s : undefined;
}
