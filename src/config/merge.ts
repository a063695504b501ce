import { isObj, type Obj } from './validate.js';

/**
 * What a repository's config builds on: the `appDefaults:` of the organisation's defaults
 * file (`.github/mergeops.yml` in the owner's `.github` repository, read from its default
 * branch) and of the file it `_extends`, merged. Resolved by config/defaults.ts.
 */
export interface ConfigDefaults {
  /** The defaults files that applied, the organisation's first, then the one it extends; empty when none did. */
  sources: string[];
  /** Their `appDefaults:`, as written (validated), the organisation's winning key by key. */
  appDefaults: Obj;
}

export const NO_DEFAULTS: ConfigDefaults = { sources: [], appDefaults: {} };

/**
 * The merge rule of every layer of config (defaults file ← the file it extends, an app ←
 * its file's `appDefaults:`): `over` wins key by key; two mappings merge the same way, all
 * the way down (Helm `values:` included, as Helm merges values); a list or a value replaces
 * (`failOn: []` turns off an inherited list). An absent or null key (`key:` / `key: ~`,
 * which YAML readers take for unset) keeps what `base` has.
 */
export function mergeConfig(base: unknown, over: unknown): unknown {
  if (over === undefined || over === null) return base;
  if (isObj(base) && isObj(over)) {
    const out: Obj = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = mergeConfig(base[k], v);
    return out;
  }
  return over;
}
