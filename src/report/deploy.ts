import type { ApplyResult } from '../cluster/apply.js';
import { applyChanges, countChanges, type Applied } from '../cluster/changes.js';
import type { HealthReport } from '../cluster/wait.js';
import { escapeMd, mdCode, mdLink } from './markdown.js';
import type { CheckOutput } from './check.js';
import { cliCommand } from './cli-command.js';
import type { Permission } from '../config/command-permissions.js';
import type { Problem } from './types.js';

/** A deploy freeze (`/mergeops lock`) that kept an app's commit from being applied. */
export interface HeldBy {
  by: string;
  reason: string;
  at: string;
}

/**
 * The button a failed deploy check offers (check run `actions`); GitHub caps the label at
 * 20 characters, the description at 40 and the identifier at 20.
 */
export const ROLLBACK_ACTION = { label: 'Roll back', description: 'Open a PR restoring the last good deploy', identifier: 'mergeops-rollback' } as const;

/**
 * Why a unit waits instead of applying: its environment's soak runs (a delayed job goes on
 * at `until`), it waits for a person's promotion (`approval`), or an environment it comes
 * after waits (`after`). Waiting is not failing: nothing was tried on its cluster.
 */
export type Waiting = { kind: 'soak'; until: string } | { kind: 'approval'; role: Permission } | { kind: 'after'; environment: string };

/**
 * GitHub's limits on a check run's `actions`: at most 3 per check run, label ≤ 20
 * characters, identifier ≤ 20, description ≤ 40 (REST "Create a check run").
 */
export const CHECK_ACTION_LIMITS = { perRun: 3, label: 20, identifier: 20, description: 40 } as const;
/** A Promote button's identifier: this prefix and the environment's position in the config (an environment name may be longer than GitHub allows). */
export const PROMOTE_ACTION_PREFIX = 'mergeops-promote-';

export interface CheckAction {
  label: string;
  description: string;
  identifier: string;
}

/** `text` within `max` characters, an ellipsis marking a cut. */
function fit(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** The "Promote to prod-eu" button of an environment waiting for approval, within GitHub's limits. */
export function promoteAction(environment: string, index: number, role: Permission, sha: string): CheckAction {
  return {
    label: fit(`Promote to ${environment}`, CHECK_ACTION_LIMITS.label),
    description: fit(`Apply ${sha.slice(0, 7)} to ${environment} (${role})`, CHECK_ACTION_LIMITS.description),
    identifier: `${PROMOTE_ACTION_PREFIX}${index}`,
  };
}

/** The environment index a Promote button's identifier names, or null for another button. */
export function promoteActionIndex(identifier: string): number | null {
  if (!identifier.startsWith(PROMOTE_ACTION_PREFIX)) return null;
  const n = Number(identifier.slice(PROMOTE_ACTION_PREFIX.length));
  return Number.isInteger(n) && n >= 0 ? n : null;
}

/** The buttons a deploy check offers: Roll back first when a unit failed, then one Promote per environment waiting for approval, at most GitHub's 3 in all. */
export function deployActions(r: DeployReport): CheckAction[] {
  const out: CheckAction[] = [];
  if (r.apps.some((a) => !a.held && !a.waiting && !appSucceeded(a))) out.push(ROLLBACK_ACTION);
  for (const [i, e] of (r.environments ?? []).entries()) {
    const w = r.apps.find((a) => a.environment === e.name && a.waiting?.kind === 'approval')?.waiting;
    if (w?.kind === 'approval') out.push(promoteAction(e.name, i, w.role, r.sha));
  }
  return out.slice(0, CHECK_ACTION_LIMITS.perRun);
}

export interface AppDeployReport {
  app: string;
  cluster: string;
  /** The environment of this unit (`web · prod`'s `prod`), when the config has environments. */
  environment?: string;
  /** Why this unit was not applied: an environment it comes after did not deploy (`staging failed`). */
  notStarted?: string;
  /** Set when the app is locked: the commit was recorded for the unlock, not applied. */
  held?: HeldBy;
  /** Set while the unit waits for its environment's soak or a promotion; not applied yet. */
  waiting?: Waiting;
  /** Who promoted this unit's environment (`/mergeops promote`, the Promote button). */
  promotedBy?: string;
  /** Set when this branch does not deploy the app by rule (no operator policy: the default branch only): why. Not a failure. */
  notDeployed?: string;
  /**
   * Set for a unit of a `promote: pr` environment that this push did not change its own files
   * of: it moves when its promotion pull request (`branch`) merges, not with this merge. Not a failure.
   */
  awaitsPromotion?: { from: string; branch: string };
  namespace?: string;
  /** Where the app answers (`url:`, `{env}` filled in): its GitHub Deployment's environment_url. */
  url?: string;
  /** The app's health wait, for the fix of a timeout. */
  waitMs?: number;
  /** What the apply did (absent: not applied); the job and the open check carry it as stored. */
  applied?: Applied;
  health?: HealthReport;
  problems: Problem[];
}

export interface DeployReport {
  repo: string;
  sha: string;
  /** The branch deployed from. */
  branch?: string;
  apps: AppDeployReport[];
  problems: Problem[];
  /** `https://github.com` or a GitHub Enterprise host, for file links. */
  serverUrl?: string;
  /** Apps on the branch this push could not change: not applied, no Deployment. */
  unchanged?: string[];
  /** The config's environments in rollout order, with what each comes after; absent without environments. */
  environments?: { name: string; cluster: string; after?: string[] }[];
  /** Older commits this one replaced as the one waiting for an environment's promotion (the newest verified commit is promoted). */
  replaced?: { environment: string; sha: string }[];
  /** `dashboard:` of the config deployed (absent: not set, the operator's MERGEOPS_DASHBOARD decides). */
  dashboard?: boolean;
}

/**
 * A report as a job or an open check stored it: one queued by an earlier version carries
 * each app's `result` (the apply's lists) instead of its change set, read here as today's.
 */
export function storedReport(r: DeployReport): DeployReport {
  const apps = r.apps.map((a) => {
    const { result, ...rest } = a as AppDeployReport & { result?: ApplyResult };
    if (!result || a.applied) return a;
    // Orphans left without a pruneSkipped reason: the app did not prune.
    return { ...rest, applied: { changes: applyChanges({ ...result, objects: result.objects ?? [] }, false), warnings: result.warnings ?? [], ...(result.pruneSkipped ? { pruneSkipped: result.pruneSkipped } : {}) } };
  });
  return { ...r, apps };
}

/** How a waiting unit reads: `waiting for approval (write)`, `soaking until 14:12 UTC`. */
export function waitingText(w: Waiting): string {
  if (w.kind === 'approval') return `waiting for approval (${w.role})`;
  if (w.kind === 'soak') return `soaking until ${w.until.replace('T', ' ').slice(0, 19)} UTC`;
  return `waiting for ${w.environment}`;
}

/**
 * One report of a commit's deploy out of two: `later`'s units (a soak's or promotion's
 * continuation) replace the same units of `earlier`, so the check run keeps the whole timeline.
 */
export function mergeReports(earlier: DeployReport | null, later: DeployReport): DeployReport {
  if (!earlier) return later;
  const mine = new Set(later.apps.map((a) => a.app));
  const apps = [...earlier.apps.filter((a) => !mine.has(a.app)), ...later.apps];
  const order = (later.environments ?? earlier.environments ?? []).map((e) => e.name);
  apps.sort((a, b) => order.indexOf(a.environment ?? '') - order.indexOf(b.environment ?? ''));
  const unchanged = [...new Set([...(earlier.unchanged ?? []), ...(later.unchanged ?? [])])];
  return { ...earlier, ...later, apps, problems: [...earlier.problems, ...later.problems], ...(unchanged.length ? { unchanged } : {}) };
}

/**
 * One line per rollout: each environment and how it went, wave by wave — `→` between waves,
 * `·` between environments of one wave (`staging` ❌ → `prod-eu` ⛔ · `prod-us` ⛔), so a
 * fan-out does not read as a chain.
 */
function environmentsLine(r: DeployReport): string[] {
  if (!r.environments) return [];
  const part = (e: { name: string; cluster: string }): string => {
    const units = r.apps.filter((a) => a.environment === e.name);
    const notStarted = units.find((a) => a.notStarted)?.notStarted;
    const waiting = units.find((a) => a.waiting)?.waiting;
    const promoted = units.find((a) => a.promotedBy)?.promotedBy;
    const state =
      units.length === 0
        ? '➖ nothing to deploy'
        : notStarted
          ? `⛔ not started: ${escapeMd(notStarted)}`
          : units.some((a) => a.held)
            ? '🔒 held'
            : waiting
              ? `⏳ ${waitingText(waiting)}`
              : !units.every(appSucceeded)
                ? '❌ failed'
                : units.every((a) => a.awaitsPromotion)
                  ? `🔀 promoted by pull request from ${mdCode(units[0]?.awaitsPromotion?.from ?? '')}`
                  : `✅ deployed${promoted ? ` (promoted by @${promoted})` : ''}`;
    return `${mdCode(e.name)} (${mdCode(e.cluster)}) ${state}`;
  };
  const waves: string[][] = [];
  for (const [i, e] of r.environments.entries()) {
    const wave = waveOf(r.environments, i);
    (waves[wave] ??= []).push(part(e));
  }
  return [`**Environments:** ${waves.filter(Boolean).map((w) => w.join(' · ')).join(' → ')}`, ''];
}

/**
 * Which wave an environment applies in: 0 with nothing to come after, else one past the
 * latest of those it comes after. A report written before `after` was recorded reads as a
 * chain in list order, as it was shown then.
 */
function waveOf(envs: { name: string; after?: string[] }[], i: number, seen: ReadonlySet<number> = new Set()): number {
  const e = envs[i];
  if (!e) return 0;
  if (!e.after) return i;
  let wave = 0;
  for (const dep of e.after) {
    const j = envs.findIndex((x) => x.name === dep);
    // The config refuses cycles; a guard all the same, so a bad record cannot hang a report.
    if (j < 0 || seen.has(j)) continue;
    wave = Math.max(wave, waveOf(envs, j, new Set([...seen, i])) + 1);
  }
  return wave;
}

/** One line for the apps a push did not touch: how many, and their names (the first 20). */
function unchangedLine(r: DeployReport): string[] {
  const u = r.unchanged ?? [];
  if (!u.length) return [];
  const names = u.slice(0, 20).map(mdCode).join(', ') + (u.length > 20 ? ` and ${u.length - 20} more` : '');
  return [`➖ **${u.length} app${u.length === 1 ? '' : 's'} unchanged** by this push (no file ${u.length === 1 ? 'its' : 'their'} render reads changed; already deployed at the commit before), not applied: ${names}`, ''];
}

/** An app whose Deployment status a newer deploy's report writes instead (a backlog was coalesced). */
export interface Coalesced {
  app: string;
  /** The newer commit whose report covers the app's environment. */
  by: string;
}

/** Which Deployments the report writes: the changed apps', less those a newer report covers. */
export interface DeploymentsNote {
  deployments: string[];
  coalesced: Coalesced[];
  /** Apps a bootstrap deployed for the first time, whose Deployments were folded into the check. */
  bootstrapped?: string[];
}

/** A waiting unit has not failed, nor deployed: `appSucceeded` is true for it, so callers ask this first. */
export function appWaiting(a: AppDeployReport): boolean {
  return a.waiting !== undefined;
}

export function appSucceeded(a: AppDeployReport): boolean {
  return a.notStarted === undefined && a.problems.length === 0 && !a.applied?.changes.some((c) => c.action === 'failed') && !a.applied?.pruneSkipped && (a.health?.healthy ?? true);
}

export function deployFailed(r: DeployReport): boolean {
  return r.problems.length > 0 || r.apps.some((a) => !appSucceeded(a));
}

export function appLine(a: AppDeployReport): string {
  // The unit `web · prod-eu` is typed `web prod-eu` in a command.
  if (a.held) return `held: :lock: locked by @${a.held.by}${a.held.reason ? `: ${a.held.reason}` : ''}; recorded, applies on \`/mergeops unlock ${a.app.split(' · ').join(' ')}\``;
  if (a.notDeployed) return `not deployed: ${a.notDeployed}`;
  if (a.notStarted) return `not started: ${a.notStarted}`;
  if (a.awaitsPromotion) return `not applied by this merge: promoted by pull request from ${a.awaitsPromotion.from} (\`${a.awaitsPromotion.branch}\`), which mergeops opens once ${a.awaitsPromotion.from} is healthy`;
  if (a.waiting) return `${waitingText(a.waiting)}${a.waiting.kind === 'approval' && a.environment ? `: \`/mergeops promote ${a.app.split(' · ')[0]} ${a.environment}\` or the Promote button` : ''}`;
  const c = a.applied && countChanges(a.applied.changes);
  const counts = c ? `${c.created} created, ${c.configured} configured, ${c.unchanged} unchanged, ${c.deleted} pruned` : 'not applied';
  return `${appSucceeded(a) ? 'deployed' : 'failed'}: ${counts}`;
}

/** Every reason an app's deploy failed, with the object it concerns. */
export function appProblems(a: AppDeployReport): Problem[] {
  const out = [...a.problems];
  for (const e of a.applied?.changes ?? []) {
    if (e.action !== 'failed') continue;
    const p: Problem = { ref: e.ref, message: e.reason ?? 'failed' };
    if (e.source) Object.assign(p, { file: e.source.file, line: e.source.line });
    out.push(p);
  }
  for (const u of a.health?.unhealthy ?? []) out.push({ ref: u.ref, message: u.reason });
  if (a.applied?.pruneSkipped) out.push({ message: `prune skipped: ${a.applied.pruneSkipped}` });
  return out;
}

/** `apps/v1 Deployment shop/web` → `kubectl -n shop describe deployment web`. */
export function describeCommand(ref: string): string | null {
  const m = /^(\S+) (\S+) (?:([^/\s]+)\/)?(\S+)$/.exec(ref);
  if (!m) return null;
  const [, apiVersion = '', kind = '', ns, name = ''] = m;
  const group = apiVersion.includes('/') ? `.${apiVersion.split('/')[0]}` : '';
  return `kubectl${ns ? ` -n ${ns}` : ''} describe ${kind.toLowerCase()}${group === '.apps' || group === '.batch' ? '' : group} ${name}`;
}

/**
 * What to do about one failure, from the server's words. Kubernetes has no error codes a
 * client can rely on past the HTTP status, so the texts the API server and mergeops write
 * are matched; an unknown failure still gets the generic next step.
 */
export function fixFor(p: Problem, a: AppDeployReport): string {
  const m = p.message;
  const describe = p.ref ? describeCommand(p.ref) : null;
  const look = describe ? ` (${mdCode(describe)}, and ${mdCode(`kubectl${p.ref?.includes('/') ? ` -n ${p.ref.split(' ')[2]?.split('/')[0]}` : ''} get events`)})` : '';
  if (/not healthy after/.test(m)) {
    const wait = a.waitMs ? ` (${Math.round(a.waitMs / 1000)} s)` : '';
    return `it did not become healthy within the app's ${mdCode('wait')}${wait}: look at its pods and events${look}; if it only needs longer, raise ${mdCode('wait:')} in ${mdCode('.github/mergeops.yml')}.`;
  }
  if (/ProgressDeadlineExceeded|progress deadline/i.test(m)) return `the rollout stopped making progress (often an image that cannot be pulled, a crash loop or a failing readiness probe)${look}.`;
  if (/job failed|BackoffLimitExceeded/i.test(m)) return `the Job's pods failed${look}; its logs say why.`;
  if (/conflict|another field manager|conflicts: fail/i.test(m)) return `another field manager (a hand edit, another controller) owns these fields and the app sets ${mdCode('conflicts: fail')}: undo that change in the cluster, or drop ${mdCode('conflicts: fail')} to let Git take them over.`;
  if (/would take over/.test(m)) return `the object exists and is not this app's: take the steps the message names (${mdCode('adopt:')}, and for another mergeops app's object its owner's release), or give the object in Git another name.`;
  if (/^not allowed:/.test(m)) return `the operator did not grant this repository that; move the object into a granted namespace or kind, or ask the operator to extend the grant in MERGEOPS\\_CLUSTERS.`;
  if (/forbidden/i.test(m)) return `mergeops's credentials for cluster ${mdCode(a.cluster)} may not do this; ask the operator to extend its RBAC.`;
  if (/has no kind|no matches for kind|CustomResourceDefinition installed/i.test(m)) return 'install the CustomResourceDefinition first, or add it to this app so it is applied before its objects.';
  if (/is invalid|Invalid value|Unsupported value|Required value|unknown field/i.test(m)) return `the API server rejected the object as written: fix the field it names${p.file ? ` in ${mdCode(p.file)}` : ''} and merge the fix.`;
  if (/^prune skipped/.test(m)) return 'nothing was pruned, so objects Git dropped are still running; fix the cause above and the next deploy prunes.';
  if (/unreachable|ECONNREFUSED|ETIMEDOUT|EAI_AGAIN|socket hang up/i.test(m)) return `mergeops could not reach cluster ${mdCode(a.cluster)}; once it answers again, re-run the deploy.`;
  if (/invalid config/.test(m)) return `fix ${mdCode('.github/mergeops.yml')} (the key is named above) and merge the fix.`;
  if (/invalid YAML|kustomize|helm/i.test(m)) return `the app did not render: fix${p.file ? ` ${mdCode(p.file)}` : ' the manifests'} and merge the fix (${mdCode(cliCommand(`render ${a.app}`, '', { cluster: false }))} in a checkout shows it).`;
  return 'fix the cause and merge the fix, or re-run the deploy if the cause was outside Git.';
}

function fileLink(r: DeployReport, p: Problem): string {
  if (!p.file) return '';
  const label = `${p.file}${p.line ? `#L${p.line}` : ''}`;
  const path = p.file.split('/').map(encodeURIComponent).join('/');
  return ` (${mdLink(label, `${r.serverUrl ?? 'https://github.com'}/${r.repo}/blob/${r.sha}/${path}${p.line ? `#L${p.line}` : ''}`)})`;
}

/** One failure: the object, the server's words, where in Git, and the fix. */
function problemItem(r: DeployReport, a: AppDeployReport | null, p: Problem): string {
  const what = p.ref ? `${mdCode(p.ref)}: ` : '';
  const fix = a ? `\n  **Fix:** ${fixFor(p, a)}` : '';
  return `- ❌ ${what}${escapeMd(p.message)}${fileLink(r, p)}${fix}`;
}

function target(a: AppDeployReport): string {
  return `${mdCode(a.cluster)}${a.namespace ? ` / ${mdCode(a.namespace)}` : ''}`;
}

function row(a: AppDeployReport): string {
  return `| ${a.held ? '🔒' : a.waiting ? '⏳' : a.notDeployed ? '➖' : a.notStarted ? '⛔' : a.awaitsPromotion ? '🔀' : appSucceeded(a) ? '✅' : '❌'} | ${mdCode(a.app)} | ${target(a)} | ${a.notDeployed ? escapeMd(appLine(a)) : appLine(a)} |`;
}

/**
 * What the check says about GitHub Deployments: only changed apps get one, and under a
 * backlog an older status is left to the newer deploy that covers the same environment.
 */
function deploymentsLines(r: DeployReport, note: DeploymentsNote): string[] {
  const lines: string[] = [];
  const firsts = note.bootstrapped ?? [];
  const unchanged = r.apps.length - note.deployments.length - note.coalesced.length - firsts.length;
  const names = (xs: string[]) => xs.map(mdCode).join(', ');
  if (note.deployments.length) lines.push(`GitHub Deployments for the ${note.deployments.length} changed app${note.deployments.length === 1 ? '' : 's'}: ${names(note.deployments)}.`);
  if (firsts.length) {
    const shown = firsts.slice(0, 20);
    lines.push(`${firsts.length} apps deployed for the first time (a bootstrap): no GitHub Deployment each, this check is their record (rollback knows the commit); their next change gets one: ${names(shown)}${firsts.length > shown.length ? ` and ${firsts.length - shown.length} more` : ''}.`);
  }
  if (unchanged > 0) lines.push(`${unchanged} app${unchanged === 1 ? '' : 's'} unchanged, held or not deployed from here: no Deployment.`);
  if (note.coalesced.length) {
    const by = [...new Set(note.coalesced.map((c) => c.by))];
    lines.push(
      `Coalesced (GitHub writes were backed up): the Deployment status${note.coalesced.length === 1 ? '' : 'es'} of ${names(note.coalesced.map((c) => c.app))} ${note.coalesced.length === 1 ? 'is' : 'are'} left to the newer deploy of ${by.map((b) => mdCode(b.slice(0, 7))).join(', ')}, which covers the same environment${note.coalesced.length === 1 ? '' : 's'}; the newest status wins.`,
    );
  }
  return lines.length ? [...lines, ''] : [];
}


/** Which older waiting commits this one replaced: the newest commit that passed the environments before is the one promoted. */
function replacedLines(r: DeployReport): string[] {
  if (!r.replaced?.length) return [];
  return [...r.replaced.map((x) => `⏭️ Replaces ${mdCode(x.sha.slice(0, 7))} as the commit waiting for ${mdCode(x.environment)}: the newest commit that passed the environments before it is the one promoted.`), ''];
}

/** A deploy check's summary stays under GitHub's 65,535 characters with room for a line of context. */
export const DEPLOY_SUMMARY_LIMIT = 65_000;
export function formatDeployCheck(r: DeployReport, note?: DeploymentsNote): CheckOutput {
  const failed = deployFailed(r);
  const lines = [
    ...r.problems.map((p) => problemItem(r, null, p)),
    ...environmentsLine(r),
    '| | App | Target | Result |',
    '|:-:|---|---|---|',
    ...r.apps.map(row),
    '',
    ...unchangedLine(r),
    ...(note ? deploymentsLines(r, note) : []),
    ...replacedLines(r),
  ];
  for (const a of r.apps) {
    const ps = appProblems(a);
    if (ps.length) lines.push(`#### ❌ ${mdCode(a.app)}`, '', ...ps.map((p) => problemItem(r, a, p)), '');
    // The dry-run's warnings and the prunes refused: the same the preview showed.
    const ws = a.applied?.warnings ?? [];
    if (ws.length) lines.push(`#### ⚠️ ${mdCode(a.app)}: warnings`, '', ...ws.map((w) => `- ⚠️ ${mdCode(w.ref)}: ${escapeMd(w.message)}`), '');
  }
  const warnings = r.apps.flatMap((a) => a.applied?.warnings ?? []).flatMap((w) =>
    w.source ? [{ path: w.source.file, start_line: w.source.line, end_line: w.source.line, annotation_level: 'warning' as const, title: w.ref, message: w.message }] : [],
  );
  const ok = r.apps.filter(appSucceeded).length;
  const held = r.apps.filter((a) => a.held).length;
  const notDeployed = r.apps.filter((a) => a.notDeployed).length;
  const promoted = r.apps.filter((a) => a.awaitsPromotion).length;
  const waiting = r.apps.filter((a) => a.waiting);
  const waitingEnvs = [...new Set(waiting.map((a) => a.environment ?? a.app))];
  return {
    conclusion: failed ? 'failure' : held + notDeployed > 0 ? 'neutral' : 'success',
    title: failed
      ? `Deploy failed for ${r.apps.length - ok + (r.problems.length ? 1 : 0)} of ${Math.max(r.apps.length, 1)} apps`
      : waiting.length > 0
        ? `Waiting: ${waitingEnvs.map((e) => `${e} ${waitingText(waiting.find((a) => (a.environment ?? a.app) === e)?.waiting as Waiting)}`).join('; ')}${ok > waiting.length ? `; deployed ${ok - waiting.length}` : ''}`
      : held > 0
        ? `Deploy held for ${held} locked app${held === 1 ? '' : 's'}${ok > held ? `; deployed ${ok - held}` : ''}`
        : notDeployed > 0
          ? `Not deployed from ${r.branch ?? 'this branch'}: ${notDeployed} app${notDeployed === 1 ? '' : 's'} deploy${notDeployed === 1 ? 's' : ''} only from the default branch`
          : `Deployed ${r.apps.length - promoted} app${r.apps.length - promoted === 1 ? '' : 's'}${promoted ? ` · ${promoted} promoted by pull request` : ''}${r.unchanged?.length ? ` · ${r.unchanged.length} unchanged` : ''}`,
    summary: lines.join('\n').slice(0, DEPLOY_SUMMARY_LIMIT),
    text: '',
    annotations: [
      ...r.apps
        .flatMap((a) => appProblems(a))
        .filter((p) => p.file)
        .map((p) => ({ path: p.file as string, start_line: p.line ?? 1, end_line: p.line ?? 1, annotation_level: 'failure' as const, title: p.ref ?? 'mergeops', message: p.message })),
      ...warnings,
    ],
  };
}

/** What the cluster holds after a failed app: applied objects stay, prune did not run. */
function stateAfter(a: AppDeployReport): string {
  const c = a.applied && countChanges(a.applied.changes);
  const written = c ? c.created + c.configured : 0;
  if (!c || (c.failed > 0 && written === 0)) return 'nothing was applied for it, so the cluster still runs the previous deploy';
  const pruned = c.deleted ? `, ${c.deleted} pruned` : ', nothing pruned';
  return `${written} object${written === 1 ? ' was' : 's were'} applied${pruned}; the cluster runs the new objects that did apply`;
}

/** The comment on the merged PR: on failure, why, the fix and the next step, per app. */
export function formatDeployComment(r: DeployReport, checkUrl: string | undefined): string {
  const failed = deployFailed(r);
  const onto = r.branch ? ` from ${mdCode(r.branch)}` : '';
  const held = r.apps.some((a) => a.held);
  const waiting = r.apps.some((a) => a.waiting);
  const head = `### mergeops deploy of ${mdCode(r.sha.slice(0, 7))}${onto}: ${failed ? '❌ failed' : held ? '🔒 held (locked)' : waiting ? '⏳ waiting' : '✅ succeeded'}`;
  const lines = [head, ''];
  // A unit not started has no failure of its own: its row says which environment stopped it.
  const failing = r.apps.filter((a) => !a.held && !a.notStarted && !appSucceeded(a));
  if (failed) {
    const n = failing.length + (r.problems.length ? 1 : 0);
    lines.push('> [!CAUTION]', `> **${r.problems.length && !r.apps.length ? 'The deploy failed before any app was applied' : `${n} of ${Math.max(r.apps.length, 1)} app${r.apps.length === 1 ? '' : 's'} failed`}.** The causes, in the API server's words, and the fix for each are below.`, '');
  }
  lines.push(...r.problems.map((p) => problemItem(r, null, p)));
  if (r.problems.length) lines.push('');
  lines.push(...environmentsLine(r), '| | App | Target | Result |', '|:-:|---|---|---|', ...r.apps.map(row), '', ...unchangedLine(r), ...replacedLines(r));
  for (const a of failing) {
    lines.push(`#### ❌ ${mdCode(a.app)} → ${target(a)}`, '', ...appProblems(a).map((p) => problemItem(r, a, p)), '', `After the failure: ${stateAfter(a)}.`, '');
  }
  if (failed) {
    const rerun = checkUrl ? `press **Re-run** on ${mdLink('the mergeops / deploy check run', checkUrl)}` : 'press **Re-run** on the `mergeops / deploy` check run of this commit';
    lines.push(
      `**Next:** fix it in a new pull request (its preview shows the fix against the live cluster), or roll back (**${ROLLBACK_ACTION.label}** on the check run opens a PR restoring the last good deploy; or ${mdCode(`git revert ${r.sha.slice(0, 7)}`)}); when the cause was outside Git (a node, a quota, an unreachable cluster), ${rerun} to deploy this commit again.`,
    );
  } else if (checkUrl) {
    lines.push(`Details in ${mdLink('the mergeops / deploy check run', checkUrl)}.`);
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
