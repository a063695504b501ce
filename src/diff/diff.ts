import { structuredPatch } from 'diff';
import type { PlannedObject } from '../cluster/plan.js';
import { objectRef, type KubeObject } from '../render/types.js';
import { dumpYaml } from '../render/yaml.js';
import { ownedBy, ownsPath, sameJson } from './fields.js';
import { isSecret, maskSecretPair } from './mask.js';
import { normalize } from './normalize.js';
import type { ObjectDiff } from './types.js';

/**
 * diff(live, desired) for every planned object and every orphan → ObjectDiff[]. `ours`
 * are this app's field managers: a Secret key's live value is compared only when one of
 * them wrote it.
 */
export function diffPlan(objects: PlannedObject[], orphans: KubeObject[], ours: ReadonlySet<string>): ObjectDiff[] {
  const out: ObjectDiff[] = [];
  for (const p of objects) {
    const d = diffObject(p.live, p.merged, secretKeysWrittenBy(p.live, ours));
    if (p.replace) d.action = 'replace';
    if (p.note) d.note = p.note;
    d.source = p.source;
    out.push(d);
  }
  for (const o of orphans) out.push(diffObject(o, null));
  return out.sort(byRef);
}

export function diffObject(live: KubeObject | null, merged: KubeObject | null, comparable?: (key: string) => boolean): ObjectDiff {
  const subject = (merged ?? live) as KubeObject;
  let before = live && normalize(live);
  let after = merged && normalize(merged);
  let secretKeys;
  if (isSecret(subject)) {
    const m = maskSecretPair(before, after, comparable);
    before = m.before;
    after = m.after;
    secretKeys = m.keys;
  }
  const a = before ? dumpYaml(before) : '';
  const b = after ? dumpYaml(after) : '';
  const action = !live ? 'create' : !merged ? 'delete' : a === b ? 'unchanged' : 'update';
  const d: ObjectDiff = { ref: objectRef(subject), kind: subject.kind, action, diff: action === 'unchanged' ? '' : unified(a, b) };
  if (secretKeys) d.secretKeys = secretKeys;
  return d;
}

/** Keys of a live Secret whose value one of `managers` set (through `data` or `stringData`). */
export function secretKeysWrittenBy(live: KubeObject | null, managers: ReadonlySet<string>): (key: string) => boolean {
  const owned = ownedBy(live, managers);
  return (key) => ownsPath(owned, ['f:data', `f:${key}`]) || ownsPath(owned, ['f:stringData', `f:${key}`]);
}

/**
 * The deploy's decision: applying this object would change nothing — not a value (compared
 * unmasked, Secrets included) and not who owns which field. An object someone else last
 * wrote, or one still held by the old shared manager, is applied so the app owns its fields.
 */
export function applyChangesNothing(p: PlannedObject, ours: ReadonlySet<string>): boolean {
  if (!p.live || !p.merged || p.note || p.replace || p.migrate) return false;
  return sameJson(normalize(p.live), normalize(p.merged)) && sameJson(ownedBy(p.live, ours), ownedBy(p.merged, ours));
}

/** Hunks only: the file headers would just repeat the object's name. */
export function unified(a: string, b: string, context = 3): string {
  const patch = structuredPatch('live', 'merged', a, b, '', '', { context });
  return patch.hunks
    .map((h) => [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines].join('\n'))
    .join('\n');
}

function byRef(x: ObjectDiff, y: ObjectDiff): number {
  return x.ref < y.ref ? -1 : x.ref > y.ref ? 1 : 0;
}
