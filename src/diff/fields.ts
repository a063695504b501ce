/** One field whose value a change sets, as reviewers read it (`spec.replicas 2 → 5`). */
export interface FieldChange {
  /** Dotted path; list items with a `name` are addressed by it (`containers[web].image`). */
  path: string;
  /** Scalar values as text; omitted for Secret data, non-scalars and absent sides. */
  before?: string;
  after?: string;
  /** The field exists only after (added) or only before (removed) the change. */
  added?: true;
  removed?: true;
}

/** Enough to name what changed in one line; the full diff has the rest. */
export const MAX_FIELD_CHANGES = 20;

/**
 * The fields that differ between two normalised objects, leaf by leaf. Lists of objects
 * that all carry a `name` (containers, env, ports, volumes) are matched by name, so
 * inserting a container does not read as every later container changing.
 */
export function changedFields(before: unknown, after: unknown, opts: { secret?: boolean } = {}): FieldChange[] {
  const out: FieldChange[] = [];
  walk(before, after, '', opts.secret === true, out);
  return out;
}

function walk(before: unknown, after: unknown, path: string, secret: boolean, out: FieldChange[]): void {
  if (out.length >= MAX_FIELD_CHANGES) return;
  if (isPlainObject(before) && isPlainObject(after)) {
    for (const k of [...new Set([...Object.keys(before), ...Object.keys(after)])].sort()) {
      walk(before[k], after[k], path ? `${path}.${k}` : k, secret, out);
    }
    return;
  }
  if (Array.isArray(before) && Array.isArray(after)) {
    if (namedItems(before) && namedItems(after)) {
      const b = new Map(before.map((v) => [v.name, v]));
      const a = new Map(after.map((v) => [v.name, v]));
      for (const name of [...new Set([...b.keys(), ...a.keys()])]) walk(b.get(name), a.get(name), `${path}[${name}]`, secret, out);
      return;
    }
    if (before.length === after.length) {
      before.forEach((v, i) => walk(v, after[i], `${path}[${i}]`, secret, out));
      return;
    }
  }
  if (JSON.stringify(before) === JSON.stringify(after)) return;
  const f: FieldChange = { path };
  if (before === undefined) f.added = true;
  if (after === undefined) f.removed = true;
  const hidden = secret && /^(data|stringData)\./.test(path);
  if (!hidden && isScalar(before) && isScalar(after)) {
    if (before !== undefined) f.before = String(before);
    if (after !== undefined) f.after = String(after);
  }
  out.push(f);
}

function namedItems(list: unknown[]): list is { name: string }[] {
  return list.length > 0 && list.every((v) => isPlainObject(v) && typeof v['name'] === 'string') && new Set(list.map((v) => (v as { name: string }).name)).size === list.length;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isScalar(v: unknown): boolean {
  return v === undefined || v === null || ['string', 'number', 'boolean'].includes(typeof v);
}
