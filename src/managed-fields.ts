import type { KubeObject } from './objects.js';

/**
 * Server-side apply's record of who set what (`metadata.managedFields`), read as data: a
 * field set (`fieldsV1`) is a tree whose keys name a field (`f:name`), a list item by its
 * keys (`k:{"name":"web"}`), a set member (`v:"x"`) or an index (`i:0`); `.` marks the
 * node itself. Drift and Secret comparisons are decided from it, never from guessing.
 */
export interface FieldSet {
  [segment: string]: FieldSet;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
  subresource?: string;
}

export function managedFields(o: KubeObject | null | undefined): ManagedFieldsEntry[] {
  const mf = o?.metadata['managedFields'];
  return Array.isArray(mf) ? (mf as ManagedFieldsEntry[]).filter((e) => typeof e?.manager === 'string') : [];
}

/** Every leaf of a field set, as its path of segments. */
export function leafPaths(set: FieldSet | undefined, prefix: string[] = []): string[][] {
  if (!set) return [];
  const keys = Object.keys(set).filter((k) => k !== '.');
  if (keys.length === 0) return prefix.length ? [prefix] : [];
  return keys.flatMap((k) => leafPaths(set[k], [...prefix, k]));
}

/** True when the set has this path (a leaf, or a node with fields of its own below). */
export function ownsPath(set: FieldSet | undefined, path: string[]): boolean {
  let node = set;
  for (const seg of path) {
    node = node?.[seg];
    if (!node) return false;
  }
  return node !== undefined;
}

/** The union of field sets (a deep merge of the trees). */
export function unionFieldSets(...sets: (FieldSet | undefined)[]): FieldSet {
  const out: FieldSet = {};
  for (const s of sets) {
    if (!s) continue;
    for (const [k, v] of Object.entries(s)) out[k] = unionFieldSets(out[k], v);
  }
  return out;
}

/** What the fields of `managers` (main resource, not status) add up to on this object. */
export function ownedBy(o: KubeObject | null | undefined, managers: ReadonlySet<string>): FieldSet {
  return unionFieldSets(...managedFields(o).filter((e) => managers.has(e.manager) && isMainResource(e)).map((e) => e.fieldsV1));
}

/** Status writers (controllers) are not drift; `scale` (an HPA) sets spec.replicas, which is. */
export function isMainResource(e: ManagedFieldsEntry): boolean {
  return e.subresource === undefined || e.subresource === '' || e.subresource === 'scale';
}

const MISSING = Symbol('missing');

/** The value at a field-set path, or `undefined` when the object has none there. */
export function valueAt(o: unknown, path: string[]): unknown {
  let cur: unknown = o;
  for (const seg of path) {
    const v = step(cur, seg);
    if (v === MISSING) return undefined;
    cur = v;
  }
  return cur;
}

function step(cur: unknown, seg: string): unknown {
  const kind = seg.slice(0, 2);
  const rest = seg.slice(2);
  if (kind === 'f:') {
    if (typeof cur !== 'object' || cur === null || Array.isArray(cur)) return MISSING;
    return rest in cur ? (cur as Record<string, unknown>)[rest] : MISSING;
  }
  if (!Array.isArray(cur)) return MISSING;
  if (kind === 'i:') return cur[Number(rest)] ?? MISSING;
  let want: unknown;
  try {
    want = JSON.parse(rest);
  } catch {
    return MISSING;
  }
  if (kind === 'v:') return cur.find((x) => sameJson(x, want)) ?? MISSING;
  if (kind === 'k:' && typeof want === 'object' && want !== null) {
    const keys = Object.entries(want as Record<string, unknown>);
    return cur.find((x) => typeof x === 'object' && x !== null && keys.every(([k, v]) => sameJson((x as Record<string, unknown>)[k], v))) ?? MISSING;
  }
  return MISSING;
}

/** `.spec.template.spec.containers[name=web].image`: a field-set path as people read it. */
export function displayPath(path: string[]): string {
  return path
    .map((seg) => {
      const kind = seg.slice(0, 2);
      const rest = seg.slice(2);
      if (kind === 'f:') return /^[A-Za-z_$][\w$]*$/.test(rest) ? `.${rest}` : `["${rest}"]`;
      if (kind === 'i:') return `[${rest}]`;
      try {
        const v: unknown = JSON.parse(rest);
        if (kind === 'k:' && typeof v === 'object' && v !== null) {
          return `[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}=${typeof x === 'string' ? x : JSON.stringify(x)}`).join(',')}]`;
        }
        return `[=${typeof v === 'string' ? v : JSON.stringify(v)}]`;
      } catch {
        return `[${rest}]`;
      }
    })
    .join('');
}

export function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** `v` with every object's keys sorted, so equal values serialise to equal JSON. */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  }
  return v;
}
