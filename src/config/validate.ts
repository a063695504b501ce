/**
 * A tiny schema checker whose only job is good error messages: every failure names the
 * key path (`apps[1].wait`) and what was expected, so a failed check run tells the user
 * exactly which line of their config to fix.
 */
import { UserError, type Blame, type Problem } from '../errors.js';

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

export function expectObj(v: unknown, path: string, allowed: readonly string[]): Obj {
  if (!isObj(v)) throw new ConfigError(`expected a mapping, got ${describe(v)}`, path);
  for (const key of Object.keys(v)) {
    if (!allowed.includes(key)) {
      throw new ConfigError(`unknown key "${key}" (allowed: ${allowed.join(', ')})`, path);
    }
  }
  return v;
}

export function optString(o: Obj, key: string, path: string, pattern?: RegExp, hint?: string): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ConfigError(`expected a string, got ${describe(v)}`, at(path, key));
  if (pattern && !pattern.test(v)) throw new ConfigError(`"${v}" is not valid${hint ? `: ${hint}` : ''}`, at(path, key));
  return v;
}

export function reqString(o: Obj, key: string, path: string, pattern?: RegExp, hint?: string): string {
  const v = optString(o, key, path, pattern, hint);
  if (v === undefined) throw new ConfigError('is required', at(path, key));
  return v;
}

export function optBool(o: Obj, key: string, path: string): boolean | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(`expected true or false, got ${describe(v)}`, at(path, key));
  return v;
}

export function optList(o: Obj, key: string, path: string): unknown[] | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new ConfigError(`expected a list, got ${describe(v)}`, at(path, key));
  return v;
}

export function optStringList(o: Obj, key: string, path: string): string[] | undefined {
  const list = optList(o, key, path);
  if (!list) return undefined;
  return list.map((item, i) => {
    if (typeof item !== 'string') throw new ConfigError(`expected a string, got ${describe(item)}`, `${path}.${key}[${i}]`);
    return item;
  });
}

/** "300s", "5m", "1h30m", 0 or a plain number of seconds → milliseconds. */
export function parseDuration(v: unknown, path: string): number {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v * 1000;
  if (typeof v === 'string') {
    const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(v.trim());
    if (m && v.trim() !== '') {
      return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
    }
  }
  throw new ConfigError(`expected a duration like "300s", "5m" or 0, got ${describe(v)}`, path);
}
