import type { KubeObject } from '../objects.js';
import type { SecretKeyChanges } from './types.js';

export const MASK = '***';
const MASK_BEFORE = '*** (old value)';
const MASK_AFTER = '*** (new value)';
const MASK_HIDDEN = '*** (set, value hidden)';

export function isSecret(o: KubeObject | null | undefined): boolean {
  return !!o && o.kind === 'Secret' && (o.apiVersion === 'v1' || o.apiVersion === '');
}

/**
 * Replaces every Secret value with a placeholder, comparing first so the diff still shows
 * WHICH keys were added, changed or removed. Values are compared as decoded bytes, so
 * `stringData` and `data` holding the same value count as unchanged.
 *
 * A live value is compared only when `comparable` says this app wrote it (its field
 * manager owns the key): otherwise "changed" or "unchanged" would answer whether a guess
 * at somebody else's secret was right. Such keys are reported as set, value hidden.
 */
export function maskSecretPair(
  before: KubeObject | null,
  after: KubeObject | null,
  comparable: (key: string) => boolean = () => true,
): { before: KubeObject | null; after: KubeObject | null; keys: SecretKeyChanges } {
  const b = values(before);
  const a = values(after);
  const hidden: string[] = [];
  const keys: SecretKeyChanges = { added: [], changed: [], removed: [], hidden };
  for (const k of a.keys()) {
    if (!b.has(k)) keys.added.push(k);
    else if (!comparable(k)) hidden.push(k);
    else if (b.get(k) !== a.get(k)) keys.changed.push(k);
  }
  for (const k of b.keys()) if (!a.has(k)) keys.removed.push(k);
  const marks = new Map<string, [string, string]>([...keys.changed.map((k): [string, [string, string]] => [k, [MASK_BEFORE, MASK_AFTER]]), ...hidden.map((k): [string, [string, string]] => [k, [MASK_HIDDEN, MASK_HIDDEN]])]);
  return { before: masked(before, b, marks, 0), after: masked(after, a, marks, 1), keys };
}

function values(o: KubeObject | null): Map<string, string> {
  const out = new Map<string, string>();
  if (!o) return out;
  for (const [k, v] of Object.entries((o['data'] as Record<string, unknown> | undefined) ?? {})) {
    out.set(k, Buffer.from(String(v), 'base64').toString('hex'));
  }
  for (const [k, v] of Object.entries((o['stringData'] as Record<string, unknown> | undefined) ?? {})) {
    out.set(k, Buffer.from(String(v), 'utf8').toString('hex'));
  }
  return out;
}

function masked(o: KubeObject | null, vals: Map<string, string>, marks: Map<string, [string, string]>, side: 0 | 1): KubeObject | null {
  if (!o) return null;
  const copy: KubeObject = { ...o };
  delete copy['stringData'];
  if (vals.size > 0) {
    copy['data'] = Object.fromEntries([...vals.keys()].sort().map((k) => [k, marks.get(k)?.[side] ?? MASK]));
  }
  return copy;
}
