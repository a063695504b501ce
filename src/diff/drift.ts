import type { PlannedObject } from '../objects.js';
import type { KubeObject } from '../objects.js';
import { isSecret } from './mask.js';
import { normalize } from '../objects.js';

export interface FieldDrift {
  path: string;
  /** Scalar values as YAML-ish text; omitted for Secret data and for non-scalars. */
  live?: string;
  git?: string;
}

export interface DriftEntry {
  ref: string;
  fields: FieldDrift[];
}

const MAX_FIELDS = 10;

/**
 * Drift = the live object differs from what the base branch renders (after a dry-run
 * apply, so defaults don't count). Merging re-applies Git, so reviewers should know it
 * will also revert these hand edits.
 */
export function detectDrift(basePlan: PlannedObject[], refOf: (o: KubeObject) => string): DriftEntry[] {
  const out: DriftEntry[] = [];
  for (const p of basePlan) {
    if (!p.live || !p.merged || p.note) continue;
    const secret = isSecret(p.live);
    const fields = changedFields(normalize(p.live), normalize(p.merged), '', secret);
    if (fields.length) out.push({ ref: refOf(p.merged), fields: fields.slice(0, MAX_FIELDS) });
  }
  return out;
}

function changedFields(live: unknown, git: unknown, path: string, secret: boolean): FieldDrift[] {
  if (isPlainObject(live) && isPlainObject(git)) {
    const keys = [...new Set([...Object.keys(live), ...Object.keys(git)])].sort();
    return keys.flatMap((k) => changedFields(live[k], git[k], path ? `${path}.${k}` : k, secret));
  }
  if (Array.isArray(live) && Array.isArray(git) && live.length === git.length) {
    return live.flatMap((v, i) => changedFields(v, git[i], `${path}[${i}]`, secret));
  }
  if (JSON.stringify(live) === JSON.stringify(git)) return [];
  const f: FieldDrift = { path };
  const hide = secret && /^(data|stringData)\./.test(path);
  if (!hide && isScalar(live) && isScalar(git)) {
    if (live !== undefined) f.live = String(live);
    if (git !== undefined) f.git = String(git);
  }
  return [f];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === undefined || v === null || ['string', 'number', 'boolean'].includes(typeof v);
}
