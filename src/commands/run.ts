import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import type { ClusterTargets } from '../config/clusters.js';
import { REPO_CONFIG_PATH, parseRepoConfig, type App, type Environment, type RepoConfig } from '../config/repo-config.js';
import { DEFAULTS_REPO } from '../config/defaults.js';
import { ConfigError } from '../config/validate.js';
import { atLeast, type CommandName, type CommandPermissions, type Permission } from '../config/command-permissions.js';
import { approvalRole, globToRegExp } from '../policy/grants.js';
import { deployedAt, type DeployRecord } from '../engine/deployed.js';
import type { DeployJob, PreviewEnvJob, PreviewJob, WaitingPromotion } from '../flows/jobs.js';
import { promoteActionIndex } from '../report/deploy.js';
import { escapeCode, helpText, type AppOverrides } from './help.js';
import type { CommandHost, PullInfo, Reaction } from './host.js';
import { sourceTag, type CommandJob } from './jobs.js';
import { ALL_APPS, type Lock, type LockStore, type PendingDeploy } from './locks.js';
import { appsOf, bindCommand, parseComment, unitWords, type Command } from './parse.js';
import { authorize, requiredPermission } from './permissions.js';
import type { CommandRateLimiter } from './rate-limit.js';
import { rollbackApp, type RollbackDeps } from './rollback.js';

export const LOCKS_CHECK = CHECK_NAMES.locks;
/** How many GitHub Deployments of an app are read to find its last good deploy. */
const DEPLOYMENT_HISTORY = 20;
/**
 * How many open PRs per branch a lock or unlock re-previews (the most recently updated, one
 * page of GitHub's list): their comments show or drop the 🔒 at once; older ones on their
 * next push or `/mergeops preview`.
 */
export const LOCK_REPREVIEW_LIMIT = 30;

export interface CommandDeps {
  host: CommandHost;
  locks: Pick<LockStore, 'lock' | 'unlock' | 'lockOf' | 'list'>;
  rate: Pick<CommandRateLimiter, 'take'>;
  clusters: ClusterTargets;
  /** Each command run is a new decision: the caller adds it under the id given, never deduped against a push. */
  enqueuePreview(job: PreviewJob, jobId: string): Promise<void>;
  enqueueDeploy(job: DeployJob, jobId: string): Promise<void>;
  /** False when a newer commit was pushed to the branch (the cluster never goes back). */
  isLatestDeploy(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<boolean>;
  /** mergeops' deploy record: where each app is deployed, as engine/deployed.ts reads it. */
  deployedSha?: DeployRecord['deployedSha'];
  /** The commit a bootstrap first deployed an app at without a GitHub Deployment (rollback's oldest candidate). */
  firstDeploySha?: DeployRecord['firstDeploySha'];
  /** Commits waiting for an environment's promotion (queue/approvals.ts); without it, `promote` says nothing waits. */
  approvals?: PromotionStore;
  /** The operator's `requireApproval:` for `repo`'s units of `env`, or null (see policy/grants.ts requiredApproval). */
  operatorApproval?(repo: string, env: Environment): Permission | null;
  /** Preview environments' `down` and `extend` (`up` is a preview job); without it, `env down|extend` say they are not available. */
  previewEnvs?: PreviewEnvCommands;
  log: Logger;
  now?: () => number;
}

/** What `/mergeops env down|extend` asks of the preview environments of a PR. */
export interface PreviewEnvCommands {
  down(job: Extract<PreviewEnvJob, { kind: 'down' }>): Promise<void>;
  /** Moves the expiry of the PR's environments `ms` later (from now, when already past); what each now says. */
  extend(repoId: number, pr: number, ms: number): Promise<{ app: string; namespace: string; expiresAt: string }[]>;
}

/** What `promote` needs of the waiting commits: the ones waiting, and taking (atomically) the units it promotes. */
export interface PromotionStore {
  take(repoId: number, branch: string, environment: string, units: readonly string[] | 'all', sha: string | null): Promise<WaitingPromotion | null>;
}

export interface CommandOutcome {
  command: CommandName | 'invalid' | 'none';
  ok: boolean;
  /** What was said back (null: nothing, e.g. a repo without config or a throttled flood). */
  reply: string | null;
}

interface Context {
  job: CommandJob;
  config: RepoConfig;
  deps: CommandDeps;
  /** Set for comments on pull requests. */
  pull: PullInfo | null;
  issue: number;
}

class Refusal extends Error {}

/**
 * One comment command, start to end: config from the default branch (a repo without one
 * gets nothing from us), 👀, rate limit, bind to the configured apps, grant and permission
 * checks (asked from GitHub now, not cached), run, reply with ✅/❌ and a reaction. Every
 * command leaves an audit log line with who ran it and what came of it. User mistakes are
 * replies, never throws; a throw is ours and the job is retried.
 */
export async function runCommand(job: CommandJob, deps: CommandDeps): Promise<CommandOutcome> {
  if (job.source.kind === 'button') {
    const index = promoteActionIndex(job.source.identifier);
    return index === null ? runRollbackButton(job, job.source, deps) : runPromoteButton(job, job.source, index, deps);
  }
  if (job.source.kind === 'dashboard') throw new Error('a dashboard box runs through runDashboardCommand');
  const src = job.source;
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, issue: src.issue, actor: job.actor, flow: 'command' });
  const parsed = parseComment(src.line);
  if (parsed === null) return { command: 'none', ok: true, reply: null };
  const config = await readConfig(deps.host, job.defaultBranch);
  if (config === null) {
    log.info('command in a repository without .github/mergeops.yml; ignored');
    return { command: 'none', ok: true, reply: null };
  }
  await deps.host.react(src.commentId, 'eyes');
  const name: CommandName | 'invalid' = parsed.ok ? (parsed.value.name ?? 'help') : 'invalid';
  const rate = await deps.rate.take(job.repoId, src.issue, name);
  if (!rate.allowed) {
    audit(log, job, name, 'rate-limited');
    if (!rate.notify) return { command: name, ok: false, reply: null };
    return finish(deps, src.commentId, src.issue, src.line, false, `Too many \`${name}\` commands on this pull request; try again in ${rate.retryInS} s.`, name);
  }
  if ('problem' in config) {
    audit(log, job, name, 'invalid-config');
    return finish(deps, src.commentId, src.issue, src.line, false, `${config.problem}\n\nFix it on \`${job.defaultBranch}\` first; commands read the apps from there.`, name);
  }
  const overrides = appOverrides(config, `${job.owner}/${job.repo}`, deps.clusters);
  if (!parsed.ok) {
    audit(log, job, 'invalid', 'refused', { error: parsed.error });
    return finish(deps, src.commentId, src.issue, src.line, false, helpText(overrides, { error: parsed.error }), 'invalid');
  }
  const bound = bindCommand(parsed.value, config.apps.map((a) => a.name));
  if (!bound.ok) {
    audit(log, job, name, 'refused', { error: bound.error });
    return finish(deps, src.commentId, src.issue, src.line, false, helpText(overrides, bound.usage ? { error: bound.error, usage: bound.usage } : { error: bound.error }), name);
  }
  const command = bound.value;
  if (command.name === 'help') {
    audit(log, job, 'help', 'done');
    const text = command.unknown ? helpText(overrides, { unknown: command.unknown }) : helpText(overrides);
    return finish(deps, src.commentId, src.issue, src.line, command.unknown === undefined, text, 'help');
  }
  const pull = src.isPullRequest ? await deps.host.pull(src.issue) : null;
  const ctx: Context = { job, config, deps, pull, issue: src.issue };
  try {
    if (command.name === 'promote') {
      const text = await promote(ctx, command.app, command.environment, null, log);
      return finish(deps, src.commentId, src.issue, src.line, true, text, 'promote');
    }
    if (command.name === 'env') {
      // Every app's raise counts: the environments are the PR's, whichever apps have one.
      const permission = await deps.host.permission(job.actor);
      const decision = authorize('env', requiredPermission('env', [...overrides.values()].flat()), { login: job.actor, permission, forkAuthor: pull !== null && pull.fromFork && pull.author === job.actor });
      if (!decision.allowed) throw new Refusal(decision.reason);
      const text = await previewEnvCommand(ctx, command);
      audit(log, job, 'env', 'done', { action: command.action, permission });
      return finish(deps, src.commentId, src.issue, src.line, true, text, 'env');
    }
    const targets = targetApps(ctx, command);
    const refusedApps = targets.flatMap((a) => {
      const g = grantOf(a, `${job.owner}/${job.repo}`, deps.clusters);
      return g.ok ? [] : [g.reason];
    });
    if (refusedApps.length > 0) throw new Refusal(refusedApps.join('\n'));
    const need = requiredPermission(command.name, (command.name === 'lock' || command.name === 'unlock') && appsOf(command) === 'all' ? [...overrides.values()].flat() : targets.flatMap((a) => overrides.get(a.name) ?? []));
    const permission = await deps.host.permission(job.actor);
    const decision = authorize(command.name, need, { login: job.actor, permission, forkAuthor: pull !== null && pull.fromFork && pull.author === job.actor });
    if (!decision.allowed) throw new Refusal(decision.reason);
    const text = await execute(ctx, command as Exclude<Command, { name: 'help' | 'promote' | 'env' }>, targets, log);
    audit(log, job, command.name, 'done', { apps: targets.map((a) => a.name), permission });
    return finish(deps, src.commentId, src.issue, src.line, true, text, command.name);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    audit(log, job, command.name, 'refused', { reason: err.message });
    return finish(deps, src.commentId, src.issue, src.line, false, err.message, command.name);
  }
}

/** A command a dashboard box stands for: the same grants, permission rules, work and audit as its comment. */
export type BoxCommand = { name: 'unlock'; apps: string[] | 'all' } | { name: 'deploy'; apps: string[]; rerun?: string } | { name: 'promote'; environment: string; sha: string };

/**
 * A ticked dashboard box, run as the command it stands for (`unlock web`, `deploy web`) under
 * the same rules: the apps' grants, the permission the command needs (raised by the
 * operator's grants), then the command itself. Returns what to say in the dashboard; a
 * refusal is `ok: false`, never a throw. `decided` runs once the action is allowed and
 * before it acts: false there (the box was acted on already) stops it with nothing said.
 */
export async function runDashboardCommand(
  job: CommandJob & { source: { kind: 'dashboard' } },
  config: RepoConfig,
  command: BoxCommand,
  deps: CommandDeps,
  decided: () => Promise<boolean>,
): Promise<{ ok: boolean; text: string } | null> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, issue: job.source.issue, actor: job.actor, flow: 'dashboard' });
  const ctx: Context = { job, config, deps, pull: null, issue: job.source.issue };
  const overrides = appOverrides(config, `${job.owner}/${job.repo}`, deps.clusters);
  try {
    if (command.name === 'promote') return await promoteBox(ctx, command, decided, log);
    const byName = new Map(config.apps.map((a) => [a.name, a]));
    const targets = command.apps === 'all' ? config.apps : command.apps.map((n) => byName.get(n)).filter((a): a is App => a !== undefined);
    if (command.apps !== 'all' && targets.length !== command.apps.length) throw new Refusal(`no app named ${command.apps.map((a) => `\`${a}\``).join(', ')} in .github/mergeops.yml on \`${job.defaultBranch}\` any more`);
    const refused = targets.flatMap((a) => {
      const g = grantOf(a, `${job.owner}/${job.repo}`, deps.clusters);
      return g.ok ? [] : [g.reason];
    });
    if (refused.length > 0) throw new Refusal(refused.join('\n'));
    const need = requiredPermission(command.name, command.apps === 'all' ? [...overrides.values()].flat() : targets.flatMap((a) => overrides.get(a.name) ?? []));
    const permission = await deps.host.permission(job.actor);
    const decision = authorize(command.name, need, { login: job.actor, permission, forkAuthor: false });
    if (!decision.allowed) throw new Refusal(decision.reason);
    if (!(await decided())) {
      audit(log, job, command.name, 'already-done', { via: 'dashboard' });
      return null;
    }
    const text = command.name === 'deploy' && command.rerun ? await rerunCommit(ctx, targets, command.rerun) : await execute(ctx, command, targets, log);
    audit(log, job, command.name, 'done', { apps: targets.map((a) => a.name), permission, via: 'dashboard' });
    return { ok: true, text };
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    audit(log, job, command.name, 'refused', { reason: err.message, via: 'dashboard' });
    return { ok: false, text: err.message };
  }
}

/**
 * `.github/mergeops.yml` on the default branch: commands act on what was reviewed and
 * merged, never on what a PR proposes. Null when there is none; a problem text when invalid.
 */
export async function readConfig(host: CommandHost, ref: string): Promise<RepoConfig | null | { problem: string }> {
  const text = await host.readFile(REPO_CONFIG_PATH, ref);
  if (text === null) return null;
  try {
    return parseRepoConfig(text, ref, await host.configDefaults(), { defaultsRepo: host.target.repo === DEFAULTS_REPO });
  } catch (err) {
    if (err instanceof ConfigError) return { problem: `${REPO_CONFIG_PATH} on \`${ref}\` is invalid: ${err.message}` };
    throw err;
  }
}

function audit(log: Logger, job: CommandJob, command: string, outcome: string, extra: Record<string, unknown> = {}): void {
  // The audit trail: one line per command, who ran it, where, and what came of it.
  log.info({ audit: 'command', actor: job.actor, repo: `${job.owner}/${job.repo}`, command, outcome, ...extra }, `command ${command} by @${job.actor}: ${outcome}`);
}

async function finish(deps: CommandDeps, commentId: number, issue: number, line: string, ok: boolean, text: string, command: CommandOutcome['command']): Promise<CommandOutcome> {
  const reply = `> ${line.slice(0, 200).replace(/\r?\n/g, ' ')}\n\n${ok ? ':white_check_mark:' : ':x:'} ${text}`;
  await deps.host.comment(issue, reply);
  const reaction: Reaction = ok ? 'rocket' : 'confused';
  await deps.host.react(commentId, reaction);
  return { command, ok, reply };
}

/** The apps a command acts on: the ones named, else the ones its context implies. */
function targetApps(ctx: Context, c: Command): App[] {
  const byName = new Map(ctx.config.apps.map((a) => [a.name, a]));
  const named = appsOf(c);
  if (named === 'all') return ctx.config.apps;
  if (named.length > 0) return named.map((n) => byName.get(n) as App);
  if (c.name === 'preview') {
    if (!ctx.pull) throw new Refusal('`preview` runs on pull requests; comment on the pull request to preview');
    const apps = ctx.config.apps.filter((a) => a.branch === ctx.pull?.baseRef);
    if (apps.length === 0) throw new Refusal(`no app deploys from \`${ctx.pull.baseRef}\`, this pull request's base branch, so there is nothing to preview`);
    return apps;
  }
  if (c.name === 'deploy') {
    const branch = ctx.pull ? ctx.pull.baseRef : ctx.job.defaultBranch;
    const apps = ctx.config.apps.filter((a) => a.branch === branch);
    if (apps.length === 0) throw new Refusal(`no app deploys from \`${branch}\``);
    return apps;
  }
  return [];
}

/** Per app: the command raises of every grant for this repo on the app's cluster. */
export function appOverrides(config: RepoConfig, repo: string, clusters: ClusterTargets): AppOverrides {
  const out = new Map<string, CommandPermissions[]>();
  for (const app of config.apps) {
    const g = grantOf(app, repo, clusters);
    out.set(app.name, g.ok ? g.overrides : []);
  }
  return out;
}

/**
 * Whether the operator lets this repo deploy `app` where its config points: its cluster is
 * configured, a grant there names the repo, and the app's namespace is one it grants.
 */
export function grantOf(app: App, repo: string, clusters: ClusterTargets): { ok: true; overrides: CommandPermissions[] } | { ok: false; reason: string } {
  const target = clusters.get(app.cluster);
  if (!target) return { ok: false, reason: `\`${app.name}\` targets cluster \`${app.cluster}\`, which the operator has not configured; ask them to add it to MERGEOPS_CLUSTERS` };
  if (target.grants === null) return { ok: true, overrides: [] };
  const mine = target.grants.filter((g) => g.repos.some((glob) => globToRegExp(glob).test(repo)));
  if (mine.length === 0) return { ok: false, reason: `\`${app.name}\` targets cluster \`${app.cluster}\`, where ${repo} has no grant; ask the operator to add it to the cluster's grants in MERGEOPS_CLUSTERS` };
  if (app.namespace && !mine.some((g) => g.namespaces.some((glob) => globToRegExp(glob).test(app.namespace as string)))) {
    return { ok: false, reason: `\`${app.name}\` deploys to namespace \`${app.namespace}\` on cluster \`${app.cluster}\`, which is not granted to ${repo} (granted: ${mine.flatMap((g) => g.namespaces).join(', ') || 'none'})` };
  }
  return { ok: true, overrides: mine.map((g) => g.commands ?? {}) };
}

/**
 * `/mergeops env up|down|extend`. `up` previews the PR's head again with its environments
 * started (a fork's head too: a writer decided to run it; its Secrets are not applied, and
 * it stays inside the operator's preview grant); its later pushes do not update it.
 */
async function previewEnvCommand(ctx: Context, c: Extract<Command, { name: 'env' }>): Promise<string> {
  const pull = ctx.pull;
  if (!pull) throw new Refusal('`env` runs on pull requests; comment on the pull request');
  const j = ctx.job;
  if (c.action === 'up') {
    if (pull.state !== 'open') throw new Refusal(`#${pull.number} is ${pull.merged ? 'merged' : 'closed'}; preview environments run for open pull requests`);
    if (!ctx.config.apps.some((a) => a.previewEnvironment)) throw new Refusal(`no app in \`${REPO_CONFIG_PATH}\` on \`${j.defaultBranch}\` has a \`previewEnvironment:\`; add one there first`);
    const job: PreviewJob = { installationId: j.installationId, owner: j.owner, repo: j.repo, repoId: j.repoId, pr: pull.number, headSha: pull.headSha, baseRef: pull.baseRef, baseSha: pull.baseSha, defaultBranch: j.defaultBranch, fromFork: pull.fromFork, previewEnv: 'up' };
    await ctx.deps.enqueuePreview(job, `preview-${j.repoId}-${pull.number}-${pull.headSha}-envup-${sourceTag(ctx.job)}`);
    const fork = pull.fromFork ? ` This is a fork's head: its Secrets are not applied, and its later pushes do not update the environment (run \`/mergeops env up\` again).` : '';
    return `Starting the preview environments of #${pull.number} at ${pull.headSha.slice(0, 7)}; the preview comment says when they are ready.${fork}`;
  }
  const envs = ctx.deps.previewEnvs;
  if (!envs) throw new Refusal('preview environments are not available on this mergeops');
  if (c.action === 'down') {
    await envs.down({ kind: 'down', installationId: j.installationId, owner: j.owner, repo: j.repo, repoId: j.repoId, pr: pull.number, reason: 'command' });
    return `Removing the preview environments of #${pull.number} (their namespaces are deleted, their Deployments marked inactive).`;
  }
  const extended = await envs.extend(j.repoId, pull.number, c.ms ?? 0);
  if (extended.length === 0) throw new Refusal(`#${pull.number} has no preview environment running; \`/mergeops env up\` starts one`);
  return `Extended: ${extended.map((e) => `\`${e.app}\` (\`${e.namespace}\`) until ${e.expiresAt.replace('T', ' ').slice(0, 16)} UTC`).join(', ')}.`;
}

async function execute(ctx: Context, c: Exclude<Command, { name: 'help' | 'promote' | 'env' }>, targets: App[], log: Logger): Promise<string> {
  switch (c.name) {
    case 'preview':
      return preview(ctx, c.apps.length > 0 ? targets : null);
    case 'deploy':
      return deploy(ctx, targets);
    case 'lock':
      return lock(ctx, c.apps === 'all' ? 'all' : targets.map((a) => a.name), c.reason);
    case 'unlock':
      return unlock(ctx, c.apps === 'all' ? 'all' : targets.map((a) => a.name));
    case 'rollback': {
      const app = targets[0] as App;
      const r = await rollbackApp(app, { to: c.to, actor: ctx.job.actor, via: `a comment on #${ctx.issue}`, siblings: siblingsOf(ctx.config, app) }, rollbackDeps(ctx.job, ctx.deps, log));
      if (!r.ok) throw new Refusal(r.message);
      return r.message;
    }
  }
}

async function preview(ctx: Context, apps: App[] | null): Promise<string> {
  const pull = ctx.pull;
  if (!pull) throw new Refusal('`preview` runs on pull requests; comment on the pull request to preview');
  if (pull.state !== 'open') throw new Refusal(`#${pull.number} is ${pull.merged ? 'merged' : 'closed'}; \`preview\` runs on open pull requests (use \`deploy\` on a merged one)`);
  const elsewhere = apps?.filter((a) => a.branch !== pull.baseRef) ?? [];
  if (elsewhere.length > 0) throw new Refusal(`${elsewhere.map((a) => `\`${a.name}\` deploys from \`${a.branch}\``).join(', ')}, not from \`${pull.baseRef}\`, this pull request's base; nothing of it to preview here`);
  const j = ctx.job;
  const job: PreviewJob = {
    installationId: j.installationId,
    owner: j.owner,
    repo: j.repo,
    repoId: j.repoId,
    pr: pull.number,
    headSha: pull.headSha,
    baseRef: pull.baseRef,
    baseSha: pull.baseSha,
    defaultBranch: j.defaultBranch,
    fromFork: pull.fromFork,
    ...(apps ? { apps: apps.map((a) => a.name) } : {}),
  };
  // A new id per command: the commit's first preview ran already, this one must run again.
  const id = `preview-${j.repoId}-${pull.number}-${pull.headSha}-command-${sourceTag(ctx.job)}`;
  await ctx.deps.enqueuePreview(job, id);
  const which = apps ? apps.map((a) => `\`${a.name}\``).join(', ') : 'every app of this pull request';
  return `Re-running the preview of ${pull.headSha.slice(0, 7)} for ${which} against the live cluster; the preview comment and the \`mergeops / preview\` check update when it is done.`;
}

async function deploy(ctx: Context, apps: App[]): Promise<string> {
  const pull = ctx.pull;
  if (pull && !pull.merged) throw new Refusal(`#${pull.number} is not merged; \`deploy\` re-applies what a merge deployed. Merge it, or use \`/mergeops preview\` to re-run its preview`);
  const j = ctx.job;
  const lines: string[] = [];
  const plans = new Map<string, { branch: string; sha: string; apps: string[] }>();
  for (const app of apps) {
    const lock = await ctx.deps.locks.lockOf(j.repoId, app.name);
    if (lock) throw new Refusal(`\`${app.name}\` is ${lockLine(lock)}; \`/mergeops unlock ${unitWords(app.name)}\` first`);
    const last = await deployedAt(j.repoId, app.name, recordOf(ctx.deps), () => ctx.deps.host.deploymentHistory(app.name, DEPLOYMENT_HISTORY));
    if (!last) throw new Refusal(`\`${app.name}\` has no successful deploy recorded yet; merge a change to deploy it`);
    if (!(await ctx.deps.isLatestDeploy({ repoId: j.repoId, branch: app.branch, sha: last.sha }))) {
      throw new Refusal(`\`${app.name}\` was last deployed at ${last.sha.slice(0, 7)}, but a newer commit on \`${app.branch}\` has not deployed successfully; fix it with a new commit or \`/mergeops rollback ${app.name}\``);
    }
    const key = `${app.branch}@${last.sha}`;
    const plan = plans.get(key) ?? { branch: app.branch, sha: last.sha, apps: [] };
    plan.apps.push(app.name);
    plans.set(key, plan);
  }
  for (const plan of plans.values()) {
    const job: DeployJob = { installationId: j.installationId, owner: j.owner, repo: j.repo, repoId: j.repoId, sha: plan.sha, branch: plan.branch, defaultBranch: j.defaultBranch, reason: 'command', apps: plan.apps };
    await ctx.deps.enqueueDeploy(job, `deploy-command-${j.repoId}-${plan.sha}-${(ctx.deps.now ?? Date.now)()}`);
    lines.push(`Re-applying ${plan.sha.slice(0, 7)} (the last deployed commit) for ${plan.apps.map((a) => `\`${a}\``).join(', ')}; the \`mergeops / deploy\` check on it reports the result.`);
  }
  return lines.join('\n');
}

/**
 * The dashboard's "Promote" box: `/mergeops promote all <environment>` for the commit the box
 * was drawn for. The role is decided as `promote` decides it (the environment's approval,
 * the operator's requireApproval, a grant's raise), before the box counts as acted on.
 */
async function promoteBox(ctx: Context, c: { environment: string; sha: string }, decided: () => Promise<boolean>, log: Logger): Promise<{ ok: boolean; text: string } | null> {
  const { job, config, deps } = ctx;
  const repo = `${job.owner}/${job.repo}`;
  const env = config.environments?.find((e) => e.name === c.environment);
  const role = env ? approvalRole(env.approval, deps.operatorApproval?.(repo, env) ?? null) : null;
  if (env && role !== null) {
    const units = config.apps.filter((a) => a.unit?.environment === c.environment);
    const overrides = appOverrides(config, repo, deps.clusters);
    const raised = requiredPermission('promote', units.flatMap((a) => overrides.get(a.name) ?? []));
    const need = atLeast(raised, role) ? raised : role;
    const decision = authorize('promote', need, { login: job.actor, permission: await deps.host.permission(job.actor), forkAuthor: false });
    if (!decision.allowed) throw new Refusal(`${decision.reason} (promoting \`${c.environment}\` needs ${need})`);
    if (!(await decided())) {
      audit(log, job, 'promote', 'already-done', { via: 'dashboard' });
      return null;
    }
  }
  // promote() reads the same rules again and takes the waiting commit atomically (once).
  return { ok: true, text: await promote(ctx, 'all', c.environment, c.sha, log) };
}

/**
 * A failed deploy of `sha` run again for `apps` (GitHub's "Re-run" on the deploy check, from
 * the dashboard): only while `sha` is still its branch's newest commit, so the cluster never
 * goes back; a locked app is refused as `deploy` refuses it.
 */
async function rerunCommit(ctx: Context, apps: App[], sha: string): Promise<string> {
  const j = ctx.job;
  for (const app of apps) {
    const lock = await ctx.deps.locks.lockOf(j.repoId, app.name);
    if (lock) throw new Refusal(`\`${app.name}\` is ${lockLine(lock)}; unlock it first`);
  }
  const lines: string[] = [];
  for (const branch of [...new Set(apps.map((a) => a.branch))]) {
    const names = apps.filter((a) => a.branch === branch).map((a) => a.name);
    if (!(await ctx.deps.isLatestDeploy({ repoId: j.repoId, branch, sha }))) throw new Refusal(`a newer commit than ${sha.slice(0, 7)} was pushed to \`${branch}\` since; it deploys instead (the cluster never goes back)`);
    const job: DeployJob = { installationId: j.installationId, owner: j.owner, repo: j.repo, repoId: j.repoId, sha, branch, defaultBranch: j.defaultBranch, reason: 'command', apps: names };
    await ctx.deps.enqueueDeploy(job, `deploy-rerun-${j.repoId}-${sha}-${sourceTag(j)}`);
    lines.push(`Re-running the deploy of ${sha.slice(0, 7)} for ${names.map((a) => `\`${a}\``).join(', ')}; the \`mergeops / deploy\` check on it reports the result.`);
  }
  return lines.join('\n');
}

export function lockLine(l: Lock): string {
  const reason = l.reason ? `: ${l.reason}` : '';
  return `:lock: locked by @${l.by}${reason} (since ${l.at.replace('T', ' ').slice(0, 16)} UTC${l.app === ALL_APPS ? ', all apps' : ''})`;
}

async function lock(ctx: Context, apps: string[] | 'all', reason: string): Promise<string> {
  const j = ctx.job;
  const r = await ctx.deps.locks.lock({ repoId: j.repoId, repo: `${j.owner}/${j.repo}` }, apps, ctx.job.actor, neutralise(reason));
  await postLocksCheck(ctx);
  const lines: string[] = [];
  const label = (app: string) => (app === ALL_APPS ? 'every app of this repository' : `\`${app}\``);
  if (r.locked.length > 0) lines.push(`Locked ${r.locked.map((l) => label(l.app)).join(', ')}: merges are recorded, not applied, until \`/mergeops unlock ${apps === 'all' ? 'all' : r.locked.map((l) => unitWords(l.app)).join(' ')}\`.`);
  for (const l of r.already) lines.push(`${label(l.app)} was already ${lockLine(l)}; that lock stays.`);
  if (r.locked.length > 0) lines.push(...(await repreviewOpenPulls(ctx, r.locked.map((l) => l.app), 'show the lock')));
  return lines.join('\n');
}

async function unlock(ctx: Context, apps: string[] | 'all'): Promise<string> {
  const j = ctx.job;
  const r = await ctx.deps.locks.unlock(j.repoId, apps);
  if (r.heldByAll) throw new Refusal(`every app is ${lockLine(r.heldByAll)}; lift it with \`/mergeops unlock all\``);
  if (r.unlocked.length === 0) throw new Refusal(`${apps === 'all' ? 'no app' : r.notLocked.map((a) => `\`${a}\``).join(', ')} ${apps === 'all' || r.notLocked.length === 1 ? 'is' : 'are'} not locked`);
  await postLocksCheck(ctx);
  const lines = [`Unlocked ${r.unlocked.map((l) => (l.app === ALL_APPS ? 'every app' : `\`${l.app}\``)).join(', ')}.`];
  // The newest commit held per app; apps held at the same commit deploy in one job.
  const byCommit = new Map<string, PendingDeploy[]>();
  for (const p of r.pending) byCommit.set(`${p.branch}@${p.sha}`, [...(byCommit.get(`${p.branch}@${p.sha}`) ?? []), p]);
  for (const group of byCommit.values()) {
    const p = group[0] as PendingDeploy;
    const job: DeployJob = { installationId: p.installationId, owner: p.owner, repo: p.repo, repoId: p.repoId, sha: p.sha, branch: p.branch, defaultBranch: p.defaultBranch, reason: 'unlock', apps: group.map((g) => g.app) };
    await ctx.deps.enqueueDeploy(job, `deploy-unlock-${p.repoId}-${p.sha}-${(ctx.deps.now ?? Date.now)()}`);
    lines.push(`Applying ${p.sha.slice(0, 7)}, merged while locked, to ${group.map((g) => `\`${g.app}\``).join(', ')}; the \`mergeops / deploy\` check on it reports the result.`);
  }
  if (r.pending.length === 0) lines.push('Nothing was merged meanwhile; nothing to apply.');
  if (r.notLocked.length > 0) lines.push(`${r.notLocked.map((a) => `\`${a}\``).join(', ')} ${r.notLocked.length === 1 ? 'was' : 'were'} not locked.`);
  lines.push(...(await repreviewOpenPulls(ctx, r.unlocked.map((l) => l.app), 'no longer show the lock')));
  return lines.join('\n');
}

/**
 * A preview shows the lock of each app it covers, so a lock or unlock re-runs the previews
 * of the open PRs into the branches those apps deploy from (at most LOCK_REPREVIEW_LIMIT per
 * branch): their comments change now, not on the next push. The preview itself decides
 * which apps a PR touches. Returns the lines for the reply.
 */
async function repreviewOpenPulls(ctx: Context, apps: string[], change: string): Promise<string[]> {
  const affected = apps.includes(ALL_APPS) ? ctx.config.apps : ctx.config.apps.filter((a) => apps.includes(a.name));
  const branches = [...new Set(affected.map((a) => a.branch))].sort();
  const j = ctx.job;
  const tag = sourceTag(ctx.job);
  const lines: string[] = [];
  for (const branch of branches) {
    const pulls = await ctx.deps.host.openPulls(branch, LOCK_REPREVIEW_LIMIT);
    for (const pull of pulls) {
      const job: PreviewJob = { installationId: j.installationId, owner: j.owner, repo: j.repo, repoId: j.repoId, pr: pull.number, headSha: pull.headSha, baseRef: pull.baseRef, baseSha: pull.baseSha, defaultBranch: j.defaultBranch, fromFork: pull.fromFork };
      // One id per command and PR: this lock's re-preview runs even if the commit's first preview ran.
      await ctx.deps.enqueuePreview(job, `preview-${j.repoId}-${pull.number}-${pull.headSha}-lock-${tag}`);
    }
    if (pulls.length > 0) {
      const more = pulls.length === LOCK_REPREVIEW_LIMIT ? ` (the ${LOCK_REPREVIEW_LIMIT} most recently updated; older ones on their next push)` : '';
      lines.push(`Re-running the preview of ${pulls.map((p) => `#${p.number}`).join(', ')}, open into \`${branch}\`${more}, so their comments ${change}.`);
    }
  }
  return lines;
}

/** A lock reason is shown in previews and checks: no mentions that ping, no markup that breaks tables. */
export function neutralise(reason: string): string {
  return escapeCode(reason).replace(/@(?=\w)/g, '@\u200b').replace(/[|<>]/g, ' ').trim();
}

/** `mergeops / locks` on the default branch's head: what is frozen right now. */
async function postLocksCheck(ctx: Context): Promise<void> {
  const j = ctx.job;
  const head = await ctx.deps.host.branchHead(j.defaultBranch);
  if (!head) return;
  const locks = await ctx.deps.locks.list(j.repoId);
  await ctx.deps.host.postCheck(LOCKS_CHECK, head, locksCheck(locks));
}

export function locksCheck(locks: Lock[]): { title: string; summary: string; conclusion: 'success' | 'neutral' } {
  if (locks.length === 0) return { title: 'No deploy locks', summary: 'Every app deploys on merge.', conclusion: 'success' };
  const rows = locks.map((l) => `| ${l.app === ALL_APPS ? 'all apps' : `\`${l.app}\``} | @${l.by} | ${l.at.replace('T', ' ').slice(0, 16)} UTC | ${l.reason || '—'} |`);
  return {
    title: `${locks.length} deploy lock${locks.length === 1 ? '' : 's'}`,
    summary: ['Merges of these apps are recorded, not applied, until `/mergeops unlock <app>`.', '', '| App | Locked by | Since | Reason |', '|---|---|---|---|', ...rows].join('\n'),
    conclusion: 'neutral',
  };
}

/** The app's units in its other environments (none without environments): what a rollback of one environment must leave alone. */
function siblingsOf(config: RepoConfig, app: App): App[] {
  return app.unit ? config.apps.filter((a) => a.unit?.app === app.unit?.app && a.name !== app.name) : [];
}

/** The deploy record, when the worker wired one (unit tests of other commands leave it out). */
function recordOf(deps: CommandDeps): DeployRecord | undefined {
  const read = deps.deployedSha;
  return read ? { deployedSha: read, ...(deps.firstDeploySha ? { firstDeploySha: deps.firstDeploySha } : {}) } : undefined;
}

function rollbackDeps(job: CommandJob, deps: CommandDeps, log: Logger): RollbackDeps {
  return {
    host: deps.host,
    log,
    history: DEPLOYMENT_HISTORY,
    ...(deps.deployedSha ? { record: { repoId: job.repoId, store: recordOf(deps) as DeployRecord } } : {}),
    enqueuePreview: async (pr, headSha, baseRef, baseSha) => {
      const p: PreviewJob = { installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, pr, headSha, baseRef, baseSha, defaultBranch: job.defaultBranch, fromFork: false };
      await deps.enqueuePreview(p, `preview-${job.repoId}-${pr}-${headSha}`);
    },
  };
}

/**
 * The "Roll back" button of a failed `mergeops / deploy` check run: every app whose
 * Deployment at that commit failed gets a revert PR, under the same grant and permission
 * rules as `/mergeops rollback`. The answer goes to the merged PR of that commit.
 */
async function runRollbackButton(job: CommandJob, src: Extract<CommandJob['source'], { kind: 'button' }>, deps: CommandDeps): Promise<CommandOutcome> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, sha: src.sha.slice(0, 7), actor: job.actor, flow: 'command' });
  const config = await readConfig(deps.host, job.defaultBranch);
  if (config === null || 'problem' in config) {
    audit(log, job, 'rollback', 'refused', { reason: 'no valid config on the default branch' });
    return { command: 'rollback', ok: false, reply: null };
  }
  const pr = await deps.host.mergedPullRequest(src.sha);
  const say = async (ok: boolean, text: string): Promise<CommandOutcome> => {
    const reply = `${ok ? ':white_check_mark:' : ':x:'} @${job.actor} clicked **Roll back** on the failed deploy of ${src.sha.slice(0, 7)}.\n\n${text}`;
    if (pr !== null) await deps.host.comment(pr, reply);
    return { command: 'rollback', ok, reply };
  };
  // The newest Deployment per environment at this commit tells which apps failed.
  const seen = new Set<string>();
  const failed: App[] = [];
  for (const d of await deps.host.deploymentsOf(src.sha)) {
    if (seen.has(d.environment)) continue;
    seen.add(d.environment);
    const app = config.apps.find((a) => a.name === d.environment);
    if (app && (d.state === 'failure' || d.state === 'error')) failed.push(app);
  }
  if (failed.length === 0) {
    audit(log, job, 'rollback', 'refused', { reason: 'no failed app at this commit' });
    return say(false, `No app's deploy of ${src.sha.slice(0, 7)} failed; nothing to roll back.`);
  }
  const overrides = appOverrides(config, `${job.owner}/${job.repo}`, deps.clusters);
  const permission = await deps.host.permission(job.actor);
  const lines: string[] = [];
  let ok = true;
  for (const app of failed) {
    const g = grantOf(app, `${job.owner}/${job.repo}`, deps.clusters);
    const decision = g.ok ? authorize('rollback', requiredPermission('rollback', overrides.get(app.name) ?? []), { login: job.actor, permission, forkAuthor: false }) : { allowed: false as const, reason: g.reason };
    if (!decision.allowed) {
      ok = false;
      audit(log, job, 'rollback', 'refused', { app: app.name, reason: decision.reason });
      lines.push(`\`${app.name}\`: ${decision.reason}`);
      continue;
    }
    const r = await rollbackApp(app, { from: src.sha, actor: job.actor, via: `the Roll back button on the failed deploy of ${src.sha.slice(0, 7)}`, siblings: siblingsOf(config, app) }, rollbackDeps(job, deps, log));
    audit(log, job, 'rollback', r.ok ? 'done' : 'refused', { app: app.name, permission, via: 'button' });
    ok &&= r.ok;
    lines.push(`\`${app.name}\`: ${r.message}`);
  }
  return say(ok, lines.join('\n'));
}

/**
 * Promotes `app` (or `all`) in `environment`: the commit waiting for it there (the newest
 * that passed the environments before; `sha` when a button names one) is applied by a
 * promotion deploy. The actor needs the role the environment's `approval:` names, the
 * operator's `requireApproval:` if stricter, and any raise of `promote` in the grants of
 * its units' clusters: the strictest wins. Throws a Refusal with a readable reason.
 */
async function promote(ctx: Context, app: string, environment: string, sha: string | null, log: Logger): Promise<string> {
  const { job, config, deps } = ctx;
  const repo = `${job.owner}/${job.repo}`;
  const envs = config.environments ?? [];
  const env = envs.find((e) => e.name === environment);
  if (!env) throw new Refusal(envs.length ? `no environment named \`${environment}\` in this repository's .github/mergeops.yml (environments: ${envs.map((e) => `\`${e.name}\``).join(', ')})` : "this repository's .github/mergeops.yml has no environments: nothing to promote");
  const role = approvalRole(env.approval, deps.operatorApproval?.(repo, env) ?? null);
  if (role === null) throw new Refusal(`\`${environment}\` asks for no approval: it deploys on its own once the environments before it are healthy`);
  const units = config.apps.filter((a) => a.unit?.environment === environment && (app === 'all' || a.unit.app === app));
  if (units.length === 0) {
    const names = [...new Set(config.apps.filter((a) => a.unit?.environment === environment).map((a) => a.unit?.app ?? a.name))];
    throw new Refusal(`no app named \`${app}\` deploys to \`${environment}\` (apps there: ${names.map((n) => `\`${n}\``).join(', ') || 'none'})`);
  }
  const refused = units.flatMap((a) => {
    const g = grantOf(a, repo, deps.clusters);
    return g.ok ? [] : [g.reason];
  });
  if (refused.length > 0) throw new Refusal(refused.join('\n'));
  const overrides = appOverrides(config, repo, deps.clusters);
  const raised = requiredPermission('promote', units.flatMap((a) => overrides.get(a.name) ?? []));
  const need = atLeast(raised, role) ? raised : role;
  const permission = await deps.host.permission(job.actor);
  const decision = authorize('promote', need, { login: job.actor, permission, forkAuthor: ctx.pull !== null && ctx.pull.fromFork && ctx.pull.author === job.actor });
  if (!decision.allowed) throw new Refusal(`${decision.reason} (promoting \`${environment}\` needs ${need}: ${need === role ? `its approval${env.approval === role ? '' : " (the operator's requireApproval)"}` : "the operator's raise of promote"})`);
  const taken = await deps.approvals?.take(job.repoId, (units[0] as App).branch, environment, app === 'all' ? 'all' : units.map((a) => a.name), sha);
  if (!taken) {
    throw new Refusal(
      sha
        ? `${sha.slice(0, 7)} no longer waits for \`${environment}\`: it was promoted already, or a newer commit that passed the environments before replaced it (that commit's deploy check has the button)`
        : `nothing waits for \`${environment}\`${app === 'all' ? '' : ` in \`${app}\``}: no merge has passed the environments before it since its last promotion`,
    );
  }
  const at = (deps.now ?? Date.now)();
  const next: DeployJob = { ...taken.job, reason: 'promote', promotedBy: job.actor };
  // A fresh id per promotion: each is a person's new decision. No `:` (BullMQ ids).
  await deps.enqueueDeploy(next, `deploy-promote-${job.repoId}-${taken.job.sha}-${environment}-${at}`);
  audit(log, job, 'promote', 'done', { environment, sha: taken.job.sha, units: taken.job.apps, permission, need });
  const after = taken.job.environments.slice(1);
  return `Promoting ${taken.job.sha.slice(0, 7)} (waiting since ${taken.since.replace('T', ' ').slice(0, 16)} UTC) to \`${environment}\` for ${taken.job.apps.map((a) => `\`${a}\``).join(', ')}${after.length ? `; ${after.map((e) => `\`${e}\``).join(', ')} follow${after.length === 1 ? 's' : ''} by ${after.length === 1 ? 'its' : 'their'} own rules` : ''}. The \`mergeops / deploy\` check on ${taken.job.sha.slice(0, 7)} reports the result.`;
}

/**
 * A "Promote to …" button of a deploy check: the same rules as `/mergeops promote all
 * <environment>`, for the commit of that check only. The answer goes to that commit's
 * merged PR.
 */
async function runPromoteButton(job: CommandJob, src: Extract<CommandJob['source'], { kind: 'button' }>, index: number, deps: CommandDeps): Promise<CommandOutcome> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, sha: src.sha.slice(0, 7), actor: job.actor, flow: 'command' });
  const config = await readConfig(deps.host, job.defaultBranch);
  if (config === null || 'problem' in config) {
    audit(log, job, 'promote', 'refused', { reason: 'no valid config on the default branch' });
    return { command: 'promote', ok: false, reply: null };
  }
  const pr = await deps.host.mergedPullRequest(src.sha);
  const environment = config.environments?.[index]?.name;
  let ok = true;
  let text: string;
  try {
    if (environment === undefined) throw new Refusal(`this button names environment ${index + 1} of the config, which has ${config.environments?.length ?? 0} now; use \`/mergeops promote <app|all> <environment>\``);
    text = await promote({ job, config, deps, pull: null, issue: pr ?? 0 }, 'all', environment, src.sha, log);
  } catch (err) {
    if (!(err instanceof Refusal)) throw err;
    ok = false;
    text = err.message;
    audit(log, job, 'promote', 'refused', { reason: err.message, via: 'button' });
  }
  const reply = `${ok ? ':white_check_mark:' : ':x:'} @${job.actor} clicked **Promote${environment ? ` to ${environment}` : ''}** on the deploy of ${src.sha.slice(0, 7)}.\n\n${text}`;
  if (pr !== null) await deps.host.comment(pr, reply);
  return { command: 'promote', ok, reply };
}
