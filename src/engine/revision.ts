import fs from 'node:fs/promises';
import path from 'node:path';
import { REPO_CONFIG_PATH, parseRepoConfig, type App, type RepoConfig } from '../config/repo-config.js';
import { toProblem, type Problem } from '../errors.js';
import type { Checkout } from '../source/checkout.js';
import type { RepoCaps } from '../config/caps.js';
import { checkRepoCaps } from '../policy/caps.js';
import { NO_DEFAULTS, type ConfigDefaults } from '../config/merge.js';
import { DEFAULTS_REPO } from '../config/defaults.js';

/**
 * What a revision's config builds on: the organisation's defaults, asked of GitHub (or the
 * cache) once per job and shared by every revision the job opens, and whether this
 * repository holds them (its own file may then `_extends`).
 */
export interface ConfigBase {
  defaults: Promise<ConfigDefaults>;
  defaultsRepo: boolean;
}

/** The config base of a repository, through anything that reads its organisation's defaults (a RepoHost). */
export function configBase(source: { readonly target: { repo: string }; configDefaults(): Promise<ConfigDefaults> }): ConfigBase {
  const defaults = source.configDefaults();
  // Awaited when a config is read; a job that fails before that must not leave it unhandled.
  defaults.catch(() => undefined);
  return { defaults, defaultsRepo: source.target.repo === DEFAULTS_REPO };
}

const NO_BASE: ConfigBase = { defaults: Promise.resolve(NO_DEFAULTS), defaultsRepo: false };

/**
 * One revision of a repository, opened: extracted and its config read. A refused archive
 * or a bad config is a problem to report, not a crash; anything else (GitHub down) is ours
 * and thrown. `close()` always removes the checkout.
 */
export type Revision =
  | { ok: true; dir: string; config: RepoConfig; close(): Promise<void> }
  | { ok: false; problem: Problem; close(): Promise<void> };

/**
 * With `caps`, a config over the operator's caps (apps per repository, `wait:`) is a
 * problem like an invalid one: nothing of it renders or reaches a cluster.
 */
export async function openRevision(fetch: () => Promise<Checkout>, defaultBranch: string, caps?: RepoCaps, base: ConfigBase = NO_BASE): Promise<Revision> {
  let checkout: Checkout;
  try {
    checkout = await fetch();
  } catch (err) {
    return { ok: false, problem: toProblem(err), close: async () => undefined };
  }
  try {
    const config = await readConfig(checkout.dir, defaultBranch, base);
    if ('problem' in config) return { ok: false, problem: config.problem, close: () => checkout.remove() };
    const over = caps ? checkRepoCaps(config.apps, caps) : [];
    if (over.length > 0) return { ok: false, problem: { ...(over[0] as Problem), message: over.map((p) => p.message).join('; ') }, close: () => checkout.remove() };
    return { ok: true, dir: checkout.dir, config, close: () => checkout.remove() };
  } catch (err) {
    await checkout.remove();
    throw err;
  }
}

/**
 * Reads and validates `.github/mergeops.yml` from a checkout on top of the organisation's
 * defaults; a bad one (or bad defaults) is a problem, not a crash.
 */
export async function readConfig(dir: string, defaultBranch: string, base: ConfigBase = NO_BASE): Promise<RepoConfig | { problem: Problem }> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, REPO_CONFIG_PATH), 'utf8');
  } catch {
    return { problem: { message: `no ${REPO_CONFIG_PATH} in this revision; add one that lists your apps (see the mergeops README)` } };
  }
  try {
    return parseRepoConfig(text, defaultBranch, await base.defaults, { defaultsRepo: base.defaultsRepo });
  } catch (err) {
    return { problem: toProblem(err) };
  }
}

/** The apps that deploy from `branch`: a PR previews the apps of its base branch. */
export function appsOn(config: RepoConfig, branch: string): App[] {
  return config.apps.filter((a) => a.branch === branch);
}
