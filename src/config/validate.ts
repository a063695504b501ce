import { z } from 'zod';
import { UserError, type Blame, type Problem } from '../errors.js';

/**
 * Building blocks for the config schemas (zod), whose only extra job is good error
 * messages: every failure names the key path (`apps[1].wait`) and what was expected, so a
 * failed check run tells the user exactly which line of their config to fix. Each block
 * carries its own message; `check` turns the first issue into a ConfigError.
 */
export class ConfigError extends UserError {
  constructor(
    readonly detail: string,
    readonly path: string,
    blame: Blame = {},
  ) {
    super(path ? `${path}: ${detail}` : detail, blame);
    this.name = 'ConfigError';
  }

  /** The same error, pointing at the file it was found in. */
  inFile(file: string, line = 1): ConfigError {
    return new ConfigError(this.detail, this.path, { file, line });
  }

  override problem(): Problem {
    return { ...super.problem(), message: `invalid config: ${this.message}` };
  }
}

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : `${typeof v} ${JSON.stringify(v)}`;
}

/** `apps` at the root, `apps[0].wait` below it. */
export function at(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

/** A zod issue path as users read it: `apps[1].helm.valuesFiles[0]`, below `base`. */
export function keyPath(base: string, path: readonly PropertyKey[]): string {
  let out = base;
  for (const seg of path) out = typeof seg === 'number' ? `${out}[${seg}]` : at(out, String(seg));
  return out;
}

/**
 * Validates `value` and returns the schema's output, or throws the ConfigError of the
 * first problem in reading order. Zod reports an object's unknown keys after its fields;
 * an unknown key is reported first, as the likelier cause (a typo of a key the field
 * checks then miss).
 */
export function check<S extends z.ZodType>(schema: S, value: unknown, base = ''): z.output<S> {
  const res = schema.safeParse(value);
  if (res.success) return res.data;
  const issues = res.error.issues;
  const first = issues[0] as z.core.$ZodIssue;
  const isPrefix = (p: readonly PropertyKey[]): boolean => p.length <= first.path.length && p.every((seg, i) => seg === first.path[i]);
  const unknown = issues.filter((i) => i.code === 'unrecognized_keys' && isPrefix(i.path)).sort((a, b) => a.path.length - b.path.length)[0];
  const chosen = unknown ?? first;
  throw new ConfigError(chosen.message, keyPath(base, chosen.path));
}

/** A user-defined check inside a schema: the message and where it points. */
export function fail(ctx: z.RefinementCtx, message: string, path: PropertyKey[] = []): void {
  ctx.addIssue({ code: 'custom', message, path });
}

/** A string, optionally matching `pattern` (the hint says what would). */
export function str(pattern?: RegExp, hint?: string): z.ZodString {
  const s = z.string({ error: (iss) => (iss.input === undefined || iss.input === null ? 'is required' : `expected a string, got ${describe(iss.input)}`) });
  return pattern ? s.regex(pattern, { error: (iss) => `"${String(iss.input)}" is not valid${hint ? `: ${hint}` : ''}` }) : s;
}

export function bool(): z.ZodBoolean {
  return z.boolean({ error: (iss) => `expected true or false, got ${describe(iss.input)}` });
}

export function list<T extends z.ZodType>(item: T): z.ZodArray<T> {
  return z.array(item, { error: (iss) => `expected a list, got ${describe(iss.input)}` });
}

/** Optional, and `key:` or `key: ~` (null) count as unset, as YAML readers expect. */
export function unset<T extends z.ZodType>(s: T) {
  return s.nullish().transform((v) => v ?? undefined);
}

/** A mapping with exactly these keys allowed; an unknown key names the nearest allowed one, and all of them. */
export function mapping<S extends z.core.$ZodLooseShape>(shape: S) {
  const keys = Object.keys(shape);
  const allowed = keys.join(', ');
  return z.strictObject(shape, {
    error: (iss) => {
      if (iss.code !== 'unrecognized_keys') return `expected a mapping, got ${describe(iss.input)}`;
      const key = iss.keys[0] ?? '';
      const near = nearest(key, keys);
      return `unknown key "${key}"${near ? `; did you mean "${near}"?` : ''} (allowed: ${allowed})`;
    },
  });
}

/** Edits (insert, delete, substitute, swap two neighbours) turning `a` into `b`. */
export function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) row[j] = Math.min(row[j] as number, ((d[i - 2] as number[])[j - 2] as number) + 1);
    }
  }
  return (d[a.length] as number[])[b.length] as number;
}

/**
 * The allowed key a typo most likely meant: same letters in another case, or within a
 * third of its length in edits (at least one); none when nothing is that close.
 */
export function nearest(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  const sameCase = allowed.find((k) => k.toLowerCase() === lower);
  if (sameCase) return sameCase;
  let best: { key: string; d: number } | undefined;
  for (const k of allowed) {
    const d = editDistance(lower, k.toLowerCase());
    if (d <= Math.max(1, Math.floor(k.length / 3)) && (!best || d < best.d)) best = { key: k, d };
  }
  return best?.key;
}

/** A mapping of any keys (Helm values, named clusters, registry hosts). */
export function anyMapping<T extends z.ZodType>(value: T) {
  return z.record(z.string(), value, { error: (iss) => `expected a mapping, got ${describe(iss.input)}` });
}

const DURATION = /^\s*(?=\S)(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?\s*$/;

/** "300s", "5m", "1h30m", 0 or a plain number of seconds → milliseconds. */
export function duration() {
  const error = (iss: { input?: unknown }): string => `expected a duration like "300s", "5m" or 0, got ${describe(iss.input)}`;
  return z
    .union([z.number({ error }).min(0, { error }), z.string({ error }).regex(DURATION, { error })], { error })
    .transform((v) => {
      if (typeof v === 'number') return v * 1000;
      const m = DURATION.exec(v) as RegExpExecArray;
      return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
    });
}
