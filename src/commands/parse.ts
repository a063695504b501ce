/**
 * `/mergeops <command>` in a PR or issue comment. Parsing is in two pure steps: the
 * comment's syntax (`parseComment`, knows nothing about the repo), then binding the words
 * to the apps the repo's config lists (`bindCommand`), which is where `lock web freeze for
 * the release` splits into apps and a reason. Neither throws: every input gets an answer.
 */

import { COMMAND_NAMES, type CommandName } from '../config/command-permissions.js';

export { COMMAND_NAMES, type CommandName } from '../config/command-permissions.js';

/** The word that addresses mergeops; a comment must start with it (quotes do not count). */
export const COMMAND_PREFIX = '/mergeops';
/** Longest command line read; GitHub comments may be 65,536 characters, a command is one line. */
export const MAX_COMMAND_LINE = 1000;
/** Longest lock reason kept: it is shown in every preview of the app and in the locks check. */
export const MAX_REASON = 200;

/** The same rule as app names in `.github/mergeops.yml` (DNS-1123 label). */
const APP_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const SHA = /^[0-9a-f]{7,40}$/i;

export type Command =
  | { name: 'help'; unknown?: string }
  | { name: 'preview'; apps: string[] }
  | { name: 'deploy'; apps: string[] }
  | { name: 'lock'; apps: string[] | 'all'; reason: string }
  | { name: 'unlock'; apps: string[] | 'all' }
  | { name: 'rollback'; app: string; to?: string }
  /** `app` is a config app name (`web`, not `web · prod`) or `all`; the runner checks both names against the environments. */
  | { name: 'promote'; app: string; environment: string }
  /** A PR's preview environments: start them (a fork's head too), remove them, or give them `ms` more. */
  | { name: 'env'; action: 'up' | 'down' | 'extend'; ms?: number };

/** A comment addressed to us, as words; `name` is null when the first word is no command. */
export interface CommandLine {
  name: CommandName | null;
  /** The first word as typed, for "unknown command" replies. */
  word: string;
  args: string[];
  /** The rest of the line after the command word, spacing kept (the lock reason). */
  rest: string;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string; usage?: CommandName };

export const USAGE: Record<CommandName, string> = {
  help: '/mergeops help',
  preview: '/mergeops preview [app…]',
  deploy: '/mergeops deploy [app…]',
  lock: '/mergeops lock <app [environment]…|all [environment]> [reason]',
  unlock: '/mergeops unlock <app [environment]…|all [environment]>',
  rollback: '/mergeops rollback <app> [environment] [to <sha>]',
  promote: '/mergeops promote <app|all> <environment>',
  env: '/mergeops env up|down|extend <duration, e.g. 24h>',
};

const ENV_DURATION = /^(?=\d)(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?$/;
/** Longest `env extend`: a week at once. */
export const MAX_ENV_EXTEND_MS = 7 * 24 * 3600_000;

/**
 * Null when the comment is not addressed to mergeops (the common case: most comments are
 * conversation). Only the first non-empty line counts, so a quoted command (`> /mergeops`)
 * or one inside a longer message never runs by accident.
 */
export function parseComment(body: string): Parsed<CommandLine> | null {
  const first = body.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  const head = first.slice(0, COMMAND_PREFIX.length + 1);
  if (head !== COMMAND_PREFIX && head !== `${COMMAND_PREFIX} ` && head !== `${COMMAND_PREFIX}\t`) return null;
  if (first.length > MAX_COMMAND_LINE) return { ok: false, error: `the command line is ${first.length} characters long; mergeops reads at most ${MAX_COMMAND_LINE}` };
  // Control characters have no place in a command and would end up in replies and logs.
  const line = first.replace(/[\u0000-\u001f\u007f]/g, ' ');
  const afterPrefix = line.slice(COMMAND_PREFIX.length).trim();
  if (afterPrefix === '') return { ok: true, value: { name: 'help', word: '', args: [], rest: '' } };
  const word = afterPrefix.split(/\s+/, 1)[0] ?? '';
  const rest = afterPrefix.slice(word.length).trim();
  const lower = word.toLowerCase();
  const name = (COMMAND_NAMES as readonly string[]).includes(lower) ? (lower as CommandName) : null;
  return { ok: true, value: { name, word, args: rest === '' ? [] : rest.split(/\s+/), rest } };
}

/**
 * The part of a comment a command job carries: its first non-empty line when addressed to
 * mergeops (cut one past the limit, so the worker still answers "too long"), else null.
 * The webhook handler calls it so conversation never becomes a job.
 */
export function commandLineOf(body: string | null | undefined): string | null {
  if (!body || parseComment(body.slice(0, 4 * MAX_COMMAND_LINE)) === null) return null;
  const first = body.split(/\r?\n/).find((l) => l.trim() !== '')?.trim() ?? '';
  return first.slice(0, MAX_COMMAND_LINE + 1);
}

/**
 * Binds a command line to the repo's configured apps. `apps` are the app names of the
 * repo's config at its default branch; names outside it are refused with the list, so a
 * typo never locks or deploys nothing silently.
 */
export function bindCommand(line: CommandLine, apps: readonly string[]): Parsed<Command> {
  if (line.name === null) return { ok: true, value: { name: 'help', unknown: line.word.slice(0, 40) } };
  // With environments, the apps are units (`web · prod-eu`), named in commands as `web prod-eu`.
  if ((line.name === 'lock' || line.name === 'unlock' || line.name === 'rollback') && apps.some((a) => a.includes(UNIT_SEPARATOR))) return bindUnitCommand(line, apps);
  const known = new Set(apps);
  const unknownApp = (a: string): Parsed<Command> => ({
    ok: false,
    usage: line.name ?? 'help',
    error: APP_NAME.test(a)
      ? `no app named \`${a}\` in this repository's .github/mergeops.yml (apps: ${apps.map((x) => `\`${x}\``).join(', ') || 'none'})`
      : `\`${a.slice(0, 70)}\` is not an app name (lowercase letters, digits and "-")`,
  });
  const dedupe = (xs: string[]): string[] => [...new Set(xs)];
  switch (line.name) {
    case 'help':
      return { ok: true, value: { name: 'help' } };
    case 'preview':
    case 'deploy': {
      const bad = line.args.find((a) => !known.has(a));
      if (bad !== undefined) return unknownApp(bad);
      return { ok: true, value: { name: line.name, apps: dedupe(line.args) } };
    }
    case 'unlock': {
      if (line.args.length === 0) return { ok: false, usage: 'unlock', error: 'name the apps to unlock, or `all`' };
      if (line.args.length === 1 && line.args[0] === 'all') return { ok: true, value: { name: 'unlock', apps: 'all' } };
      const bad = line.args.find((a) => !known.has(a));
      if (bad !== undefined) return unknownApp(bad);
      return { ok: true, value: { name: 'unlock', apps: dedupe(line.args) } };
    }
    case 'lock': {
      if (line.args.length === 0) return { ok: false, usage: 'lock', error: 'name the apps to lock, or `all`, then an optional reason' };
      // Leading words that are app names (or `all`) are the targets; the rest is the reason.
      let n = 0;
      let all = false;
      if (line.args[0] === 'all' && !known.has('all')) {
        all = true;
        n = 1;
      } else {
        while (n < line.args.length && known.has(line.args[n] as string)) n++;
      }
      if (n === 0) return unknownApp(line.args[0] as string);
      const reason = reasonAfter(line.rest, n);
      if (reason.length > MAX_REASON) return { ok: false, usage: 'lock', error: `the reason is ${reason.length} characters long; keep it under ${MAX_REASON}` };
      return { ok: true, value: { name: 'lock', apps: all ? 'all' : dedupe(line.args.slice(0, n)), reason } };
    }
    case 'rollback': {
      const [app, kw, to, ...extra] = line.args;
      if (app === undefined) return { ok: false, usage: 'rollback', error: 'name the app to roll back' };
      if (!known.has(app)) return unknownApp(app);
      if (kw === undefined) return { ok: true, value: { name: 'rollback', app } };
      if (kw !== 'to' || to === undefined || extra.length > 0) return { ok: false, usage: 'rollback', error: 'after the app name only `to <sha>` may follow' };
      if (!SHA.test(to)) return { ok: false, usage: 'rollback', error: `\`${to.slice(0, 50)}\` is not a commit SHA (7 to 40 hex digits)` };
      return { ok: true, value: { name: 'rollback', app, to: to.toLowerCase() } };
    }
    case 'env': {
      const [action, duration, ...extra] = line.args;
      if ((action === 'up' || action === 'down') && duration === undefined) return { ok: true, value: { name: 'env', action } };
      if (action === 'extend' && duration !== undefined && extra.length === 0) {
        const m = ENV_DURATION.exec(duration);
        const ms = m ? ((Number(m[1] ?? 0) * 24 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 60_000 : 0;
        if (!m || ms <= 0) return { ok: false, usage: 'env', error: `\`${duration.slice(0, 30)}\` is not a duration like 24h, 2d or 90m` };
        if (ms > MAX_ENV_EXTEND_MS) return { ok: false, usage: 'env', error: 'extend by at most 7d at a time' };
        return { ok: true, value: { name: 'env', action: 'extend', ms } };
      }
      return { ok: false, usage: 'env', error: 'say `up`, `down`, or `extend` and a duration, e.g. `/mergeops env extend 24h`' };
    }
    case 'promote': {
      const [app, environment, ...extra] = line.args;
      if (app === undefined || environment === undefined || extra.length > 0) return { ok: false, usage: 'promote', error: 'name the app (or `all`) and the environment to promote, e.g. `/mergeops promote web prod-eu`' };
      if (!APP_NAME.test(app) || !APP_NAME.test(environment)) return { ok: false, usage: 'promote', error: `\`${(APP_NAME.test(app) ? environment : app).slice(0, 70)}\` is not an app or environment name (lowercase letters, digits and "-")` };
      return { ok: true, value: { name: 'promote', app, environment } };
    }
  }
}

/** Between an app and its environment in a unit's name (`web · prod-eu`), as the config names units. */
export const UNIT_SEPARATOR = ' · ';

/** `web prod-eu`: how a command names the unit `web · prod-eu` (the words to type back). */
export function unitWords(unit: string): string {
  return unit.split(UNIT_SEPARATOR).join(' ');
}

type UnitTargets = { units: string[] | 'all'; consumed: number } | { error: string };

/**
 * The leading targets of a command in a config with environments: `web prod-eu` (one unit),
 * `web` (every environment of web), `all prod-eu` (every app of prod-eu), `all` (the whole
 * repository, first word only). Reading stops at the first word that names none.
 */
function unitTargets(args: readonly string[], units: readonly string[]): UnitTargets {
  const split = units.map((u) => {
    const [app, environment] = u.split(UNIT_SEPARATOR) as [string, string];
    return { unit: u, app, environment };
  });
  const apps = new Set(split.map((s) => s.app));
  const environments = [...new Set(split.map((s) => s.environment))];
  const out: string[] = [];
  let i = 0;
  if (args[0] === 'all' && !apps.has('all')) {
    const env = args[1];
    if (env === undefined || !environments.includes(env)) return { units: 'all', consumed: 1 };
    return { units: split.filter((s) => s.environment === env).map((s) => s.unit), consumed: 2 };
  }
  while (i < args.length && apps.has(args[i] as string)) {
    const app = args[i] as string;
    const env = args[i + 1];
    const mine = split.filter((s) => s.app === app);
    if (env !== undefined && environments.includes(env) && !apps.has(env)) {
      const unit = mine.find((s) => s.environment === env);
      if (!unit) return { error: `\`${app}\` does not deploy to \`${env}\` (its environments: ${mine.map((s) => `\`${s.environment}\``).join(', ')})` };
      out.push(unit.unit);
      i += 2;
    } else {
      out.push(...mine.map((s) => s.unit));
      i += 1;
    }
  }
  return { units: [...new Set(out)], consumed: i };
}

/** lock, unlock and rollback against units: the same commands, each app optionally followed by its environment. */
function bindUnitCommand(line: CommandLine, units: readonly string[]): Parsed<Command> {
  const name = line.name as 'lock' | 'unlock' | 'rollback';
  const apps = [...new Set(units.map((u) => u.split(UNIT_SEPARATOR)[0] as string))];
  const environments = [...new Set(units.map((u) => u.split(UNIT_SEPARATOR)[1] as string))];
  const unknown = (a: string): Parsed<Command> => ({
    ok: false,
    usage: name,
    error: APP_NAME.test(a)
      ? `no app named \`${a}\` in this repository's .github/mergeops.yml (apps: ${apps.map((x) => `\`${x}\``).join(', ')}; environments: ${environments.map((x) => `\`${x}\``).join(', ')})`
      : `\`${a.slice(0, 70)}\` is not an app name (lowercase letters, digits and "-")`,
  });
  if (line.args.length === 0) return { ok: false, usage: name, error: name === 'rollback' ? 'name the app (and its environment) to roll back' : `name the apps to ${name} (each optionally with its environment: \`web prod-eu\`), or \`all\` / \`all <environment>\`` };
  const t = unitTargets(line.args, units);
  if ('error' in t) return { ok: false, usage: name, error: t.error };
  if (t.consumed === 0) return unknown(line.args[0] as string);
  switch (name) {
    case 'lock': {
      const reason = reasonAfter(line.rest, t.consumed);
      if (reason.length > MAX_REASON) return { ok: false, usage: 'lock', error: `the reason is ${reason.length} characters long; keep it under ${MAX_REASON}` };
      return { ok: true, value: { name: 'lock', apps: t.units, reason } };
    }
    case 'unlock': {
      const extra = line.args[t.consumed];
      if (extra !== undefined) return environments.includes(extra) ? { ok: false, usage: 'unlock', error: `\`${extra}\` follows no app name; write \`<app> ${extra}\` or \`all ${extra}\`` } : unknown(extra);
      return { ok: true, value: { name: 'unlock', apps: t.units } };
    }
    case 'rollback': {
      const app = line.args[0] as string;
      if (t.units === 'all' || (app === 'all' && !apps.includes('all'))) return { ok: false, usage: 'rollback', error: 'roll back one app in one environment at a time' };
      if (t.units.length !== 1 || t.consumed !== 2) {
        return { ok: false, usage: 'rollback', error: `name the environment to roll back \`${app}\` in: ${t.units.map((u) => `\`/mergeops rollback ${unitWords(u)}\``).join(' or ')}` };
      }
      const [kw, to, ...extra] = line.args.slice(t.consumed);
      const unit = t.units[0] as string;
      if (kw === undefined) return { ok: true, value: { name: 'rollback', app: unit } };
      if (kw !== 'to' || to === undefined || extra.length > 0) return { ok: false, usage: 'rollback', error: 'after the app and environment only `to <sha>` may follow' };
      if (!SHA.test(to)) return { ok: false, usage: 'rollback', error: `\`${to.slice(0, 50)}\` is not a commit SHA (7 to 40 hex digits)` };
      return { ok: true, value: { name: 'rollback', app: unit, to: to.toLowerCase() } };
    }
  }
}

/** The text after the first `n` words of `rest`, original spacing kept. */
function reasonAfter(rest: string, n: number): string {
  let s = rest;
  for (let i = 0; i < n; i++) s = s.replace(/^\S+\s*/, '');
  return s.trim();
}

/** The apps a bound command names (empty: "every app the context implies"). */
export function appsOf(c: Command): string[] | 'all' {
  switch (c.name) {
    case 'help':
      return [];
    case 'rollback':
      return [c.app];
    case 'promote':
      // Bound to the environment's units by the runner (the config's app names are `web · prod-eu`).
      return [];
    case 'env':
      // Every preview environment of the pull request.
      return [];
    default:
      return c.apps;
  }
}
