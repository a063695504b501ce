import type { KubeObject } from '../objects.js';
import type { SecretKeyChanges } from './types.js';

export const MASK = '***';
const MASK_BEFORE = '*** (old value)';
const MASK_AFTER = '*** (new value)';

export function isSecret(o: KubeObject | null | undefined): boolean {
  return !!o && o.kind === 'Secret' && (o.apiVersion === 'v1' || o.apiVersion === '');
}

/**
 * Replaces every Secret value with a placeholder, comparing first so the diff still shows
 * WHICH keys were added, changed or removed. Values are compared as decoded bytes, so
 * `stringData` and `data` holding the same value count as unchanged.
 */
export function maskSecretPair(
  before: KubeObject | null,
  after: KubeObject | null,
): { before: KubeObject | null; after: KubeObject | null; keys: SecretKeyChanges } {
  const b = values(before);
  const a = values(after);
  const keys: SecretKeyChanges = { added: [], changed: [], removed: [] };
  for (const k of a.keys()) {
    if (!b.has(k)) keys.added.push(k);
    else if (b.get(k) !== a.get(k)) keys.changed.push(k);
  }
  for (const k of b.keys()) if (!a.has(k)) keys.removed.push(k);
  const changed = new Set(keys.changed);
  return { before: masked(before, b, changed, MASK_BEFORE), after: masked(after, a, changed, MASK_AFTER), keys };
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

function masked(o: KubeObject | null, vals: Map<string, string>, changed: Set<string>, changedMask: string): KubeObject | null {
  if (!o) return null;
  const copy: KubeObject = { ...o };
  delete copy['stringData'];
  if (vals.size > 0) {
    copy['data'] = Object.fromEntries([...vals.keys()].sort().map((k) => [k, changed.has(k) ? changedMask : MASK]));
  }
  return copy;
}
