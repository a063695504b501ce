import { structuredPatch } from 'diff';
import type { PlannedObject } from '../objects.js';
import { objectRef, type KubeObject } from '../objects.js';
import { dumpYaml } from '../yaml.js';
import { isSecret, maskSecretPair } from './mask.js';
import { normalize } from '../objects.js';
import type { ObjectDiff } from './types.js';

/** diff(live, desired) for every planned object and every orphan → ObjectDiff[]. */
export function diffPlan(objects: PlannedObject[], orphans: KubeObject[]): ObjectDiff[] {
  const out: ObjectDiff[] = [];
  for (const p of objects) {
    const d = diffObject(p.live, p.merged);
    if (p.note) d.note = p.note;
    d.source = p.source;
    out.push(d);
  }
  for (const o of orphans) out.push(diffObject(o, null));
  return out.sort(byRef);
}

export function diffObject(live: KubeObject | null, merged: KubeObject | null): ObjectDiff {
  const subject = (merged ?? live) as KubeObject;
  let before = live && normalize(live);
  let after = merged && normalize(merged);
  let secretKeys;
  if (isSecret(subject)) {
    const m = maskSecretPair(before, after);
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
