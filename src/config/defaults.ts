import { z } from 'zod';
import { ConfigError, check, isObj, type Obj } from './validate.js';
import { EXTENDS_REF, REPO_CONFIG_PATH, parseConfigDocument, repoConfigFileSchema } from './repo-config.js';
import { NO_DEFAULTS, mergeConfig, type ConfigDefaults } from './merge.js';

/**
 * Organisation-wide defaults, as Probot apps and Renovate keep them: `.github/mergeops.yml`
 * in the owner's `.github` repository, read from its default branch. Its `appDefaults:`
 * apply to every app of every repository of the installation; it may `_extends:` one other
 * repository's file of the same owner (one level). This file is pure: it reads the texts
 * github/ fetched (and Redis cached), so the rules are unit-tested without GitHub.
 */
export const DEFAULTS_REPO = '.github';

/** One defaults file as read from a default branch; `text` null: the repository or the file does not exist (GitHub's 404). */
export interface DefaultsFile {
  repo: string;
  text: string | null;
}

/** The organisation's defaults repository of `owner`: `acme/.github`. */
export function defaultsRepoOf(owner: string): string {
  return `${owner}/${DEFAULTS_REPO}`;
}

/** Only the keys a defaults file lends others are checked here: its own `apps:` are its repository's business. */
const defaultsFileSchema = z.object({
  version: repoConfigFileSchema.shape.version,
  _extends: repoConfigFileSchema.shape._extends,
  appDefaults: repoConfigFileSchema.shape.appDefaults,
});

interface DefaultsFileContent {
  extends?: string;
  appDefaults: Obj;
}

/** Says which defaults file is wrong and that it is fixed there, not in the repository being previewed. */
function inDefaultsFile(file: DefaultsFile, err: unknown): unknown {
  if (!(err instanceof ConfigError)) return err;
  return new ConfigError(`${err.detail} (in ${file.repo}'s ${REPO_CONFIG_PATH}, the organisation's mergeops defaults; fix it there)`, err.path);
}

function parseDefaultsFile(owner: string, file: DefaultsFile & { text: string }): DefaultsFileContent {
  try {
    const raw = parseConfigDocument(file.text);
    const c = check(defaultsFileSchema, raw);
    const appDefaults = isObj(raw) && isObj(raw['appDefaults']) ? raw['appDefaults'] : {};
    return c._extends === undefined ? { appDefaults } : { extends: extendsTarget(owner, c._extends), appDefaults };
  } catch (err) {
    throw inDefaultsFile(file, err);
  }
}

/**
 * `_extends: repo` or `owner/repo` as a full name. An installation belongs to one account,
 * so a repository of another owner could never be read through it: refused by name.
 */
function extendsTarget(owner: string, ref: string): string {
  const [o, r] = ref.includes('/') ? (ref.split('/') as [string, string]) : [owner, ref];
  if (o.toLowerCase() !== owner.toLowerCase()) {
    throw new ConfigError(`"${ref}" is a repository of ${o}; defaults are read only from repositories of ${owner}, through the same installation`, '_extends');
  }
  return `${owner}/${r}`;
}

/**
 * The repository the organisation's file extends, to read next; null when it extends
 * none (or names one wrongly: resolveDefaults then says what is wrong).
 */
export function extendsOf(owner: string, text: string): string | null {
  try {
    const raw = parseConfigDocument(text);
    const ref = isObj(raw) ? raw['_extends'] : undefined;
    return typeof ref === 'string' && EXTENDS_REF.test(ref) ? extendsTarget(owner, ref) : null;
  } catch {
    return null;
  }
}

/**
 * Reads the defaults files of `owner` through `read` (GitHub's answer for a repository's
 * `.github/mergeops.yml` on its default branch): the organisation's, then the one it
 * extends, if any. At most two reads.
 */
export async function readDefaultsFiles(owner: string, read: (repo: string) => Promise<string | null>): Promise<DefaultsFile[]> {
  const org = defaultsRepoOf(owner);
  const files: DefaultsFile[] = [{ repo: org, text: await read(org) }];
  const text = files[0]?.text;
  const extended = text ? extendsOf(owner, text) : null;
  if (extended) files.push({ repo: extended, text: await read(extended) });
  return files;
}

/**
 * The defaults a repository of `owner` builds on, from the files read: the organisation's
 * file first, then the one it extends. The organisation's keys win over the extended
 * file's, key by key (config/merge.ts). A broken defaults file is a ConfigError naming it.
 */
export function resolveDefaults(owner: string, files: readonly DefaultsFile[]): ConfigDefaults {
  const [org, base] = files;
  if (!org || org.text === null) return NO_DEFAULTS;
  const own = parseDefaultsFile(owner, { repo: org.repo, text: org.text });
  if (own.extends === undefined) return { sources: [org.repo], appDefaults: own.appDefaults };
  if (!base || base.repo !== own.extends) throw new Error(`defaults of ${org.repo} extend ${own.extends}, which was not read`);
  if (base.text === null) {
    throw inDefaultsFile(org, new ConfigError(`${own.extends} has no ${REPO_CONFIG_PATH} on its default branch, or this installation cannot see it; add the file there, install mergeops on it, or remove _extends`, '_extends'));
  }
  const extended = parseDefaultsFile(owner, { repo: base.repo, text: base.text });
  if (extended.extends !== undefined) {
    throw inDefaultsFile(base, new ConfigError(`defaults extend one level only: ${org.repo} extends ${base.repo}, which may not extend ${extended.extends} in turn; copy what you need from there`, '_extends'));
  }
  return { sources: [org.repo, base.repo], appDefaults: mergeConfig(extended.appDefaults, own.appDefaults) as Obj };
}

/**
 * A file of defaults alone (`appDefaults:` or `_extends:`, no apps): the organisation's
 * `.github` repository, which deploys nothing. False for anything else, valid or not.
 */
export function isDefaultsOnly(text: string): boolean {
  try {
    const raw = parseConfigDocument(text);
    if (!isObj(raw) || (Array.isArray(raw['apps']) && raw['apps'].length > 0)) return false;
    return raw['apps'] == null && (raw['appDefaults'] != null || raw['_extends'] != null);
  } catch {
    return false;
  }
}
