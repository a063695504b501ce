import { structuredPatch } from 'diff';
import { normalize, objectRef, type KubeObject, type PlannedObject } from '../objects.js';
import { dumpYaml } from '../yaml.js';
import { changedFields } from './fields.js';
import { managedFields, ownedBy, ownsPath } from '../managed-fields.js';
import { isSecret, maskSecretPair } from './mask.js';
import type { ObjectDiff } from './types.js';

/**
 * diff(live, desired) for every planned object and every orphan → ObjectDiff[]. `ours`
 * are this app's field managers: a Secret key's live value is compared only when one of
 * them wrote it.
 */
export function diffPlan(objects: PlannedObject[], orphans: KubeObject[], ours: ReadonlySet<string>): ObjectDiff[] {
  const out: ObjectDiff[] = [];
  const renames = generatedRenames(objects, orphans);
  for (const p of objects) {
    const old = renames.get(p);
    const before = old ?? p.live;
    const d = diffObject(before, p.merged, secretKeysWrittenBy(before, ours));
    if (old) d.renamedFrom = objectRef(old);
    if (p.replace) d.action = 'replace';
    if (p.note) d.note = p.note;
    d.source = p.source;
    out.push(d);
  }
  const replaced = new Set(renames.values());
  for (const o of orphans) if (!replaced.has(o)) out.push(diffObject(o, null));
  return out.sort(byRef);
}

/** kustomize's name hash: 10 characters of its own alphabet (hex with 0,1,3,a,e remapped). */
const KUSTOMIZE_HASH = /^(.+)-[2456789bcdfghkmt]{10}$/;

/**
 * A generator whose content changed gets a new hashed name: the render has a new object and
 * the cluster an orphan with the old name. Paired one to one (same kind, namespace and
 * name before the hash), they read as one rename with a real diff, not a create plus a delete.
 */
function generatedRenames(objects: PlannedObject[], orphans: KubeObject[]): Map<PlannedObject, KubeObject> {
  const stem = (o: KubeObject): string | undefined => {
    const m = KUSTOMIZE_HASH.exec(o.metadata.name ?? '');
    return m ? `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${m[1]}` : undefined;
  };
  const group = <T>(items: T[], key: (t: T) => string | undefined): Map<string, T[]> => {
    const m = new Map<string, T[]>();
    for (const t of items) {
      const k = key(t);
      if (k) m.set(k, [...(m.get(k) ?? []), t]);
    }
    return m;
  };
  const created = group(objects.filter((p) => !p.live && p.merged), (p) => stem(p.merged as KubeObject));
  const gone = group(orphans, stem);
  const out = new Map<PlannedObject, KubeObject>();
  for (const [k, news] of created) {
    const olds = gone.get(k);
    const [n] = news;
    const [o] = olds ?? [];
    if (n && o && news.length === 1 && olds?.length === 1) out.set(n, o);
  }
  return out;
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
  // A key whose live value is not ours is set by the apply, whether or not it differs: the
  // Secret always reads as changed, so "unchanged" never confirms a guessed value.
  const hidden = (secretKeys?.hidden?.length ?? 0) > 0;
  const action = !live ? 'create' : !merged ? 'delete' : a === b && !hidden ? 'unchanged' : 'update';
  const d: ObjectDiff = { ref: objectRef(subject), kind: subject.kind, action, diff: action === 'unchanged' ? '' : unified(a, b) };
  if (secretKeys) d.secretKeys = secretKeys;
  if (action === 'update') d.fields = changedFields(before, after, { secret: isSecret(subject) });
  return d;
}

/**
 * Keys of a live Secret whose value one of `managers` set (through `data` or `stringData`)
 * and nobody changed since: a `kubectl edit` of `data.K` makes the editor its owner, while
 * the app keeps owning `stringData.K`, so the other manager's claim on `data.K` wins.
 */
export function secretKeysWrittenBy(live: KubeObject | null, managers: ReadonlySet<string>): (key: string) => boolean {
  const owned = ownedBy(live, managers);
  const others = new Set(managedFields(live).map((e) => e.manager).filter((m) => !managers.has(m)));
  const theirs = ownedBy(live, others);
  return (key) => (ownsPath(owned, ['f:data', `f:${key}`]) || ownsPath(owned, ['f:stringData', `f:${key}`])) && !ownsPath(theirs, ['f:data', `f:${key}`]);
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
