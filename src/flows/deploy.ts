import type { Logger } from 'pino';
import type { RepoCaps } from '../config/caps.js';
import type { BranchViolation } from '../policy/grants.js';
import type { App, Environment } from '../config/repo-config.js';
import { appKey, jobDiscovery, renderTarget, type AppApply, type AppEngine, type AppTarget } from '../engine/engine.js';
import { appsOn, configBase, openRevision } from '../engine/revision.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { isDefaultsOnly } from '../config/defaults.js';
import { toProblem } from '../errors.js';
import { countChanges, wroteAny } from '../cluster/changes.js';
import { appLabel, applyResults, timed } from '../metrics.js';
import type { RenderedObject, SourceRef } from '../objects.js';
import { appLine, appSucceeded, type AppDeployReport, type DeployReport, type HeldBy } from '../report/deploy.js';
import { mapLimit } from '../util/pool.js';
import type { RepoHosts } from './host.js';
import type { DeployJob, DeployReportJob, WaitingPromotion } from './jobs.js';
import type { Permission } from '../config/command-permissions.js';
import { approvalRole } from '../policy/grants.js';
import { gateOf, withDependents, type DependencyOutcome } from './environment-gates.js';
import { pushScope } from './deploy-affected.js';
import { promotionBranch } from './promote.js';
import { ownerConfigs } from './owner-configs.js';

/**
 * Apps of one push applied at once: enough to overlap the round trips each app waits on
 * (inventory, lists, dry-runs, applies, inventory write), so 200 small apps are not 50
 * waves of them. One API server still sees at most its client's 32 sockets.
 */
export const DEPLOY_APP_CONCURRENCY = 8;
/** Apps rendered at once: helm and kustomize are processes, each allowed the operator's render memory. */
export const RENDER_CONCURRENCY = 4;

/** Kinds other apps' objects may need to exist first: the apps that render them apply first. */
const FOUNDATION_KINDS = new Set(['CustomResourceDefinition', 'Namespace']);

export interface DeployDeps {
  hosts: RepoHosts;
  engine: AppEngine;
  log: Logger;
  recordDeployed(job: DeployJob, app: string): Promise<void>;
  /**
   * Deploy freezes: when `app` is locked, records this commit for its unlock (the newest
   * push wins; `pushedAtMs` 0 never replaces one) and answers who holds it.
   */
  holdIfLocked?(job: DeployJob, app: string, pushedAtMs: number): Promise<HeldBy | null>;
  /**
   * Why this job's branch may not deploy `app` (the operator's grant `branches:`, default
   * the repository's default branch; without a policy, the default branch only), or null.
   * The config that says where and how an app deploys is read from the pushed commit, so
   * only allowed branches may have a say.
   */
  branchRefusal?(job: DeployJob, app: App): BranchViolation | null;
  /** The operator's caps on a repository's config (apps, `wait:`). */
  caps?: RepoCaps;
  /** The commit `app` last deployed successfully (null: never): a push skips an app only when it is the push's parent. */
  lastDeployed?(job: DeployJob, app: string): Promise<string | null>;
  /**
   * The newest commit of the job's branch whose deploy found a repository config, and
   * recording one. A push that starts there and whose trusted file list leaves the config
   * alone has one too, so it skips the probe that keeps mergeops quiet on other repositories.
   */
  configAt?(job: DeployJob): Promise<string | null>;
  recordConfigAt?(job: DeployJob): Promise<void>;
  /**
   * Records the commit apps were first deployed at when a bootstrap writes them no GitHub
   * Deployment (see BOOTSTRAP_DEPLOYMENTS_MAX): rollback's oldest good commit for them.
   */
  recordFirstDeploys?(job: DeployJob, apps: string[]): Promise<void>;
  /**
   * Hands the finished deploy's GitHub bookkeeping on (check run, Deployments, comment,
   * notifications): the worker queues it, so the cluster never waits for GitHub's pacing.
   */
  report(job: Omit<DeployReportJob, 'deployJobId' | 'seq'>): Promise<void>;
  /**
   * The operator's `requireApproval:` for this repository's units of `env` (the strictest
   * grant covering it on its cluster), or null; the stricter of it and `approval:` promotes.
   */
  operatorApproval?(job: DeployJob, env: Environment): Permission | null;
  /**
   * Goes on with the environments of `job` at `atMs` (a soak's end): a delayed job, so this
   * one ends now and the branch's lease goes to other deploys meanwhile. Without it (unit
   * tests of the waves alone) the soak is waited out in the job.
   */
  continueLater?(job: DeployJob & { environments: string[] }, atMs: number): Promise<void>;
  /**
   * Records `waiting` as the commit held before its environment (durably) and answers the
   * one it replaced, if any: the newest commit that passed the environments before is the
   * one promoted.
   */
  awaitApproval?(waiting: WaitingPromotion): Promise<WaitingPromotion | null>;
  /**
   * `environment` (promoted by pull request) has its source healthy at this commit: queue
   * its promotion for when the soak (`delayMs`) is over. Redis only; GitHub comes later.
   */
  promote?(job: DeployJob, environment: string, delayMs: number): Promise<void>;
}

/**
 * The deploy flow for one pushed commit, cluster first: fetch → config → every app on this
 * branch rendered, then applied in dependency order (apps rendering CRDs or Namespaces
 * first, the rest after; independent apps in parallel, bounded) → prune → wait for health.
 * Nothing is written to GitHub here — the reads that decide what to deploy are all it asks
 * of GitHub — and the bookkeeping goes on as a report job. The caller holds the branch's
 * deploy lease.
 */
export async function runDeploy(job: DeployJob, deps: DeployDeps): Promise<DeployReport | null> {
  const started = Date.now();
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, branch: job.branch, sha: job.sha.slice(0, 7), flow: 'deploy' });
  const host = await deps.hosts(job);
  const report: DeployReport = { repo: `${job.owner}/${job.repo}`, sha: job.sha, branch: job.branch, apps: [], problems: [], serverUrl: host.webUrl() };
  const timings: Record<string, number> = {};

  // A repository without a config is not ours to deploy or report on: no check, no comment.
  // Asked before the download (one small read, not a tarball), unless the push is known to keep one.
  if (!(await keepsConfig(job, deps))) {
    const text = await host.readFile(REPO_CONFIG_PATH, job.sha);
    if (text === null) {
      log.info(`no ${REPO_CONFIG_PATH} in this commit; not a mergeops repository, staying quiet`);
      return null;
    }
    // The organisation's defaults (its .github repository): nothing to download or deploy.
    if (isDefaultsOnly(text)) {
      log.info(`${REPO_CONFIG_PATH} holds defaults only, no apps; nothing to deploy`);
      return null;
    }
  }
  const configs = configBase(host);
  const revision = await timed('deploy', 'fetch', () => openRevision(() => host.revision(job.sha), job.defaultBranch, deps.caps, configs), timings);
  const changed: string[] = [];
  const bootstrapped: string[] = [];
  try {
    if (revision.ok) {
      await deps.recordConfigAt?.(job);
      // A command's deploy (`/mergeops deploy web`, an unlock) names its apps.
      let apps = appsOn(revision.config, job.branch).filter((a) => !job.apps || job.apps.includes(a.name));
      if (apps.length === 0) {
        log.info('no app deploys from this branch');
        return null;
      }
      // Cost follows the change: a push deploys only the apps it affects (commands, unlocks
      // and self-heal name their own). Skipped apps stay recorded as deployed, now at this commit.
      let changedFiles: string[] | undefined;
      if ((job.reason ?? 'push') === 'push' && !job.apps) {
        const scope = await pushScope(job, host, revision.dir, apps, configs, (app) => deps.lastDeployed?.(job, app) ?? Promise.resolve(null), log);
        apps = scope.apps;
        changedFiles = scope.changed;
        if (scope.unchanged.length) report.unchanged = scope.unchanged.map((a) => a.name);
        for (const app of scope.unchanged) await deps.recordDeployed(job, app.name);
      }
      if (revision.config.environments) report.environments = revision.config.environments.map((e) => ({ name: e.name, cluster: e.cluster, after: e.after }));
      // The dashboard's opt-in travels with the report: a repository without one costs its render nothing.
      if (revision.config.dashboard !== undefined) report.dashboard = revision.config.dashboard;
      const promotion: PromotionScope = { sources: promotionSources(revision.config.apps, revision.config.environments), changedFiles, due: [] };
      const deployed = await deployApps(job, apps, revision.dir, deps, log, timings, revision.config.environments, report, promotion);
      // Queued (Redis only) before the report: a promotion never waits for GitHub's pacing of this deploy's bookkeeping.
      for (const env of promotion.due) await deps.promote?.(job, env.name, env.soakMs);
      report.apps = deployed.reports;
      changed.push(...report.apps.filter((a) => appChanged(a, deployed.attempted.has(a.app))).map((a) => a.app));
      // A bootstrap's Deployments tell nobody anything the check does not: fold them.
      const firsts = report.apps.filter((a) => changed.includes(a.app) && onlyCreated(a)).map((a) => a.app);
      if (firsts.length > BOOTSTRAP_DEPLOYMENTS_MAX) {
        await deps.recordFirstDeploys?.(job, firsts);
        bootstrapped.push(...firsts);
        changed.splice(0, changed.length, ...changed.filter((a) => !firsts.includes(a)));
      }
    } else {
      report.problems.push(revision.problem);
    }
    log.info({ apps: report.apps.map((a) => `${a.app}: ${appLine(a)}`), ms: Date.now() - started, timings }, 'deploy applied; reporting to GitHub next');
    await deps.report({
      installationId: job.installationId,
      owner: job.owner,
      repo: job.repo,
      repoId: job.repoId,
      sha: job.sha,
      branch: job.branch,
      defaultBranch: job.defaultBranch,
      ...(job.reason ? { reason: job.reason } : {}),
      report,
      changed,
      ...(bootstrapped.length ? { bootstrapped } : {}),
    });
    return report;
  } finally {
    await revision.close();
  }
}

/**
 * Whether the pushed commit certainly has a config: the push starts at a commit a deploy of
 * this branch found one in, and its trusted file list does not name the config. (Should
 * Redis be wrong, the checkout's own config read still decides; the probe only spares a
 * tarball download for repositories that are not ours.)
 */
async function keepsConfig(job: DeployJob, deps: DeployDeps): Promise<boolean> {
  const c = job.changes;
  if (!c || 'untrusted' in c || !c.paths || c.paths.includes(REPO_CONFIG_PATH) || !deps.configAt) return false;
  return (await deps.configAt(job)) === c.before;
}

/**
 * Whether an app gets a GitHub Deployment: it applied or pruned something, or it failed.
 * An app the engine found unchanged (or skipped as unchanged) gets none, so the
 * Environments page shows what changed; neither does a held app or one its branch may not
 * deploy (`attempted` false: nothing was tried on its cluster).
 */
export function appChanged(a: AppDeployReport, attempted: boolean): boolean {
  if (!attempted) return false;
  if (!appSucceeded(a)) return true;
  return a.applied !== undefined && wroteAny(a.applied.changes);
}

/**
 * A push that deploys more apps than this for the first time (a bootstrap: a new monorepo,
 * a new cluster) writes no GitHub Deployment for them. Each would cost two of the
 * installation's writes (80 a minute) and tell no one more than the deploy check's list: a
 * 200-app bootstrap spent five minutes of the budget on them. Their commit is recorded
 * (recordFirstDeploys) so rollback still finds it; their next change gets a Deployment as
 * usual. A few new apps keep theirs, so the Environments page shows them at once.
 */
export const BOOTSTRAP_DEPLOYMENTS_MAX = 10;

/** A deploy that only created objects (none configured or pruned): the app's first, in effect. */
export function onlyCreated(a: AppDeployReport): boolean {
  const c = a.applied && countChanges(a.applied.changes);
  return appSucceeded(a) && c !== undefined && c.created > 0 && c.configured === 0 && c.deleted === 0;
}

/** A unit of a `promote: pr` environment whose folder is its own: the unit its promotion reads from (its source environment's). */
type PromotionSources = Map<string, { from: string; branch: string }>;

/**
 * The units moved by promotion pull requests, by name: those of `promote: pr` environments
 * whose folder differs from their source environment's (a shared folder has nothing to
 * promote: the merge moves it, in its wave).
 */
function promotionSources(apps: App[], environments: Environment[] | undefined): PromotionSources {
  const out: PromotionSources = new Map();
  for (const env of environments ?? []) {
    if (!env.promote) continue;
    for (const target of apps.filter((a) => a.unit?.environment === env.name)) {
      const source = apps.find((a) => a.unit?.app === target.unit?.app && a.unit?.environment === env.promote?.from);
      if (source && source.path !== target.path) out.set(target.name, { from: env.promote.from, branch: promotionBranch(target.unit?.app as string, env.name) });
    }
  }
  return out;
}

/** What the waves need to know of promotions: which units they move, the push's changed files (when known), and the environments to promote now. */
interface PromotionScope {
  sources: PromotionSources;
  changedFiles: string[] | undefined;
  due: Environment[];
}

/** One promise per key, resolved once (later calls do nothing); awaited before or after it resolves. */
class Latches<K> {
  private readonly latches = new Map<K, { promise: Promise<void>; resolve: () => void }>();

  private of(key: K): { promise: Promise<void>; resolve: () => void } {
    let l = this.latches.get(key);
    if (!l) {
      let resolve: () => void = () => undefined;
      const promise = new Promise<void>((r) => (resolve = r));
      l = { promise, resolve };
      this.latches.set(key, l);
    }
    return l;
  }

  resolve(key: K): void {
    this.of(key).resolve();
  }

  async all(keys: K[]): Promise<void> {
    await Promise.all(keys.map((k) => this.of(k).promise));
  }
}

interface Rendered {
  app: App;
  out: AppDeployReport;
  objects: RenderedObject[];
}

/**
 * Every app of the push: refusals and locks first (no render), then renders in parallel,
 * then applies in two waves — apps whose render has CRDs or Namespaces, then the rest.
 * One app's failure stops no other app. An error of ours (the cluster went away) fails
 * the job after every app has settled, so it is retried whole; applying the same commit
 * again changes nothing.
 */
async function deployApps(
  job: DeployJob,
  apps: App[],
  dir: string,
  deps: DeployDeps,
  log: Logger,
  timings: Record<string, number>,
  environments?: Environment[],
  report?: DeployReport,
  promotion?: PromotionScope,
): Promise<{ reports: AppDeployReport[]; attempted: Set<string> }> {
  const reports: AppDeployReport[] = [];
  const toRender: { app: App; out: AppDeployReport }[] = [];
  for (const app of apps) {
    const out: AppDeployReport = { app: app.name, cluster: app.cluster, waitMs: app.waitMs, problems: [] };
    if (app.namespace) out.namespace = app.namespace;
    if (app.url) out.url = app.url;
    if (app.unit) out.environment = app.unit.environment;
    reports.push(out);
    // Self-heal re-applies the deployed commit; it must never displace a newer held merge.
    const refused = deps.branchRefusal?.(job, app);
    if (refused?.noPolicy) {
      // Running without a policy is the documented rule, not a failure: say so, neutrally.
      log.info({ app: app.name, branch: job.branch, why: refused.rule }, 'no operator policy: only the default branch deploys; nothing applied');
      out.notDeployed = refused.rule;
      continue;
    }
    if (refused) {
      log.warn({ app: app.name, branch: job.branch }, 'branch may not deploy this app; nothing applied');
      out.problems.push({ message: refused.rule, file: '.github/mergeops.yml', line: 1 });
      continue;
    }
    // A promoted environment moves when its promotion pull request merges: a push that left its
    // own folder alone does not apply it (a shared base it reads waits for that merge too).
    // Applied as before when the push's files are unknown, or it never deployed (its first deploy).
    const promoted = promotion?.sources.get(app.name);
    const files = promotion?.changedFiles;
    if (promoted && files && !files.some((f) => f === app.path || f.startsWith(`${app.path}/`)) && (await deps.lastDeployed?.(job, app.name)) != null) {
      log.info({ app: app.name, from: promoted.from }, 'promoted by pull request; this push did not change its own files, not applied');
      out.awaitsPromotion = promoted;
      continue;
    }
    const held = await deps.holdIfLocked?.(job, app.name, job.reason === 'self-heal' ? 0 : Date.now());
    if (held) {
      log.info({ app: app.name, lockedBy: held.by }, 'app is locked; commit recorded, not applied');
      out.held = held;
      continue;
    }
    toRender.push({ app, out });
  }
  const ours: unknown[] = [];
  // Units whose attempt ended in an error of ours (retried): their report is empty, yet they did not deploy.
  const interrupted = new Set<AppDeployReport>();
  const userProblem = (out: AppDeployReport, err: unknown): void => {
    try {
      out.problems.push(toProblem(err));
    } catch {
      ours.push(err);
      interrupted.add(out);
    }
  };
  let rendered = (
    await mapLimit(toRender, RENDER_CONCURRENCY, async ({ app, out }): Promise<Rendered | null> => {
      try {
        return { app, out, objects: await timed('deploy', 'render', () => renderTarget(app, dir, deps.caps), timings) };
      } catch (err) {
        userProblem(out, err);
        return null;
      }
    })
  ).filter((r): r is Rendered => r !== null);
  rendered = await refuseSharedObjects(rendered, dir, deps, job, userProblem);
  const discovery = jobDiscovery();
  const owners = ownerConfigs(deps.hosts, job.installationId);
  // Each unit's verdict (written, healthy or not) comes before its inventory record, mergeops'
  // own bookkeeping: the environments after it wait for the verdict only.
  const verdicts = new Latches<AppDeployReport>();
  const reportApplied = (out: AppDeployReport, applied: AppApply): void => {
    const { health, skipped: _skipped, cancelled: _cancelled, ...changes } = applied;
    out.applied = changes;
    if (health) out.health = health;
  };
  const applyAll = async (units: Rendered[], ready?: Promise<boolean>): Promise<void> => {
    const first = units.filter((r) => r.objects.some((o) => FOUNDATION_KINDS.has(o.object.kind)));
    const rest = units.filter((r) => !first.includes(r));
    for (const wave of [first, rest]) await mapLimit(wave, DEPLOY_APP_CONCURRENCY, (r) => applyOne(r, ready));
  };
  const applyOne = async ({ app, out, objects }: Rendered, ready?: Promise<boolean>): Promise<void> => {
      const t: AppTarget = { app, dir, key: appKey(job.repoId, `${job.owner}/${job.repo}`, app), commit: job.sha, discovery, owners };
      try {
        const applied = await deps.engine.apply(t, {
          rendered: objects,
          // Healing drift takes back what a hand edit took over even under conflicts: fail;
          // a normal deploy sends what its preview sent (the app's conflicts setting).
          ...(job.reason === 'self-heal' ? { force: true } : {}),
          // A push whose render equals what the app's inventory recorded changes nothing: one
          // GET, and (nothing created, changed or pruned) no Deployment either.
          skipUnchanged: job.reason === 'push' || job.reason === undefined || job.reason === 'continue' || job.reason === 'promote',
          log,
          timings,
          ...(ready ? { ready } : {}),
          onVerdict: (v) => {
            reportApplied(out, v);
            verdicts.resolve(out);
          },
        });
        // The environments before it did not deploy: this unit is theirs to report as not started.
        if (applied.cancelled) return;
        reportApplied(out, applied);
        const counts = countChanges(applied.changes);
        for (const [result, action] of [['created', 'created'], ['configured', 'configured'], ['unchanged', 'unchanged'], ['pruned', 'deleted']] as const) applyResults.inc({ app: appLabel.of(app.name), result }, counts[action]);
      } catch (err) {
        userProblem(out, err);
        return;
      } finally {
        verdicts.resolve(out);
      }
      if (appSucceeded(out)) await deps.recordDeployed(job, app.name);
  };
  const promote = (env: Environment): void => void (job.reason !== 'self-heal' && promotion?.due.push(env));
  const verdictsOf = (units: Rendered[]): Promise<void> => verdicts.all(units.map((r) => r.out));
  if (environments) await deployInWaves({ job, environments, rendered, reports, applyAll, verdicts: verdictsOf, interrupted, deps, log, promote, ...(report ? { report } : {}) });
  else await applyAll(rendered);
  if (ours.length > 0) throw ours[0];
  return { reports, attempted: new Set(toRender.filter((r) => r.out.notStarted === undefined && r.out.waiting === undefined).map((r) => r.app.name)) };
}

interface Waves {
  job: DeployJob;
  environments: Environment[];
  rendered: Rendered[];
  reports: AppDeployReport[];
  /** Applies units; with `ready`, each plans now and writes once it resolves true (nothing when false). */
  applyAll: (units: Rendered[], ready?: Promise<boolean>) => Promise<void>;
  /** Resolves once every unit given has its verdict (applied, health known); their inventory records may still be being written. */
  verdicts: (units: Rendered[]) => Promise<void>;
  /** Units whose attempt ended in an error of ours (the job is retried). */
  interrupted: ReadonlySet<AppDeployReport>;
  deps: DeployDeps;
  log: Logger;
  /** Queues the promotion of a `promote: pr` environment whose source is healthy now. */
  promote: (env: Environment) => void;
  report?: DeployReport;
}

/**
 * Environments in dependency order, each through its gate (environment-gates.ts): it starts
 * once every environment it comes `after` has deployed (applied, healthy within its apps'
 * `wait`; their inventory records, mergeops' bookkeeping, are written meanwhile, and one
 * refused fails its environment in the report, after the ones following it went); when one
 * of them applied something now, its `soak` is a delayed job that goes on later, so this
 * job (and the branch's lease) ends meanwhile; an environment with an approval then waits
 * for a person's promotion, durably. Independent environments run side by side, and one
 * that applies as soon as those before it deployed (no soak, approval or promotion PR)
 * plans while they apply, writing once its gate opens. An environment with a unit that did
 * not deploy (refused, failed, unhealthy, held by a lock) stops every environment after it,
 * whose units are reported as not started, naming it; one that waits has the environments
 * after it wait behind it, and they go on with it. A continuation (`job.environments`) runs
 * the environments it lists; the others deployed earlier.
 */
async function deployInWaves(w: Waves): Promise<void> {
  const { job, environments, rendered, reports, applyAll, interrupted, deps, log } = w;
  /** Environments' applies still writing their inventory records after their verdicts: awaited before the job ends. */
  const records: Promise<void>[] = [];
  const outcome = new Map<string, Promise<Omit<DependencyOutcome, 'name'>>>();
  const first = job.environments?.[0];
  // A continuation's roots (listed, none of what they come after listed) are the environments whose soak it waited out.
  const soakedHere = (env: Environment): boolean => job.reason === 'continue' && !!job.environments?.includes(env.name) && !env.after.some((a) => job.environments?.includes(a));
  const soaks: { env: Environment; untilMs: number }[] = [];
  /** Resolved when an environment's gate is decided (it starts applying, or will not now). */
  const decided = new Map<string, Promise<void>>();
  const run = async (env: Environment): Promise<Omit<DependencyOutcome, 'name'>> => {
    let decide: () => void = () => undefined;
    decided.set(env.name, new Promise<void>((resolve) => (decide = resolve)));
    try {
      return await runGated(env, decide);
    } finally {
      decide();
    }
  };
  const runGated = async (env: Environment, decide: () => void): Promise<Omit<DependencyOutcome, 'name'>> => {
    const listed = !job.environments || job.environments.includes(env.name);
    const units = reports.filter((r) => r.environment === env.name);
    const mine = rendered.filter((r) => r.out.environment === env.name);
    const role = approvalRole(env.approval, deps.operatorApproval?.(job, env) ?? null);
    const promoted = first === env.name && job.reason === 'promote';
    // An environment that applies as soon as those before it deployed (no soak, approval or
    // promotion PR) takes its Leases and makes its dry-run once they start applying, while
    // they apply: its wave then costs only its writes. Nothing is written unless its gate opens.
    let open: (go: boolean) => void = () => undefined;
    let closed = false;
    const ready = new Promise<boolean>((resolve) => (open = (go) => ((closed = !go), resolve(go))));
    const early = listed && mine.length > 0 && env.after.length > 0 && env.soakMs === 0 && (role === null || promoted) && !env.promote
      ? Promise.all(env.after.map((name) => decided.get(name))).then(() => (closed ? undefined : applyAll(mine, ready)))
      : null;
    // Awaited on every path below; this only keeps a failure from counting as unhandled meanwhile.
    early?.catch(() => undefined);
    const before = await Promise.all(env.after.map(async (name) => ({ name, ...(await (outcome.get(name) as Promise<Omit<DependencyOutcome, 'name'>>)) })));
    if (!listed) return { state: 'deployed', applied: false };
    const gate = gateOf(env, before, { role, soaked: soakedHere(env), promoted, nowMs: Date.now() });
    if (early && gate.kind !== 'apply') {
      open(false);
      await early;
    }
    if (env.promote && gate.kind !== 'blocked') {
      // Its source applied something now and is healthy: propose the promotion once the soak is over (a delayed job; nobody waits here).
      if (before.some((d) => d.name === env.promote?.from && d.applied && d.state === 'deployed')) {
        log.info({ environment: env.name, from: env.promote.from, soakMs: env.soakMs }, 'source environment healthy; promotion queued');
        w.promote(env);
      }
      // Nothing of its own to apply now: its units wait for their promotion pull request (the environments after it wait too), or are unchanged.
      if (mine.length === 0) return { state: units.some((u) => u.awaitsPromotion) ? 'waits for its promotion pull request' : 'deployed', applied: false };
    }
    switch (gate.kind) {
      case 'blocked':
        for (const u of units) u.notStarted = gate.why;
        if (units.length) log.warn({ environment: env.name, blockedBy: gate.why }, 'environment not started');
        return { state: 'not started', applied: false };
      case 'behind':
        for (const u of mine) u.out.waiting = { kind: 'after', environment: gate.environment };
        return { state: mine.length ? 'waiting' : 'deployed', applied: false };
      case 'soak': {
        if (!deps.continueLater) {
          log.info({ environment: env.name, soakMs: env.soakMs }, 'waiting out the soak of the environments it comes after');
          await new Promise((r) => setTimeout(r, env.soakMs));
          break;
        }
        if (mine.length === 0) return { state: 'deployed', applied: false };
        const until = new Date(gate.untilMs).toISOString();
        for (const u of mine) u.out.waiting = { kind: 'soak', until };
        soaks.push({ env, untilMs: gate.untilMs });
        log.info({ environment: env.name, until }, 'soak started; a delayed job goes on with this environment, the deploy lease is free meanwhile');
        return { state: 'waiting', applied: false };
      }
      case 'approval': {
        if (mine.length === 0) return { state: 'deployed', applied: false };
        for (const u of mine) u.out.waiting = { kind: 'approval', role: gate.role };
        const waiting: WaitingPromotion = { job: continuation(job, environments, env.name, rendered, 'promote'), role: gate.role, since: new Date().toISOString() };
        const replaced = (await deps.awaitApproval?.(waiting)) ?? null;
        if (replaced && replaced.job.sha !== job.sha && w.report) w.report.replaced = [...(w.report.replaced ?? []), { environment: env.name, sha: replaced.job.sha }];
        log.info({ environment: env.name, role: gate.role, replaced: replaced?.job.sha.slice(0, 7) }, 'environment waits for approval');
        return { state: 'waiting', applied: false };
      }
      case 'apply':
        break;
    }
    if (mine.length) log.info({ environment: env.name, apps: mine.map((r) => r.app.name) }, 'deploying environment');
    if (first === env.name && job.promotedBy) for (const u of units) u.promotedBy = job.promotedBy;
    decide();
    if (early) open(true);
    const applying = early ?? applyAll(mine);
    records.push(applying);
    // Awaited below; this only keeps a failure from counting as unhandled meanwhile.
    applying.catch(() => undefined);
    // The environments after it start on its units' verdicts, while their inventory records are written.
    await Promise.race([applying, w.verdicts(mine)]);
    // An interrupted unit (its job is retried) stops the environments after it like a failed one: production never goes before staging has.
    const state = units.some((u) => !appSucceeded(u) || interrupted.has(u))
      ? 'failed'
      : units.some((u) => u.held)
        ? 'held (locked)'
        : units.some((u) => u.awaitsPromotion)
          ? 'waits for its promotion pull request'
          : 'deployed';
    return { state, applied: mine.length > 0 };
  };
  // `after` names only earlier-resolved or later entries; a promise per environment resolves each once, in dependency order (the config refuses cycles).
  const start = (env: Environment): Promise<Omit<DependencyOutcome, 'name'>> => {
    const existing = outcome.get(env.name);
    if (existing) return existing;
    for (const name of env.after) start(environments.find((e) => e.name === name) as Environment);
    const p = run(env);
    outcome.set(env.name, p);
    return p;
  };
  await Promise.all(environments.map(start));
  await Promise.all(records);
  // Environments whose soaks began together (the same environments before them, the same
  // soak) go on in one delayed job, side by side as without a soak: a job each would take
  // the branch's deploy lease one after the other, prod-us waiting out prod-eu's rollout.
  const groups = new Map<string, { env: Environment; untilMs: number }[]>();
  for (const s of soaks) {
    const key = `${s.env.soakMs}|${[...s.env.after].sort().join(',')}`;
    groups.set(key, [...(groups.get(key) ?? []), s]);
  }
  for (const group of groups.values()) {
    await deps.continueLater?.(continuation(job, environments, group.map((s) => s.env.name), rendered, 'continue'), Math.max(...group.map((s) => s.untilMs)));
  }
}

/**
 * The deploy that goes on with `env` (or several environments whose soaks ended together)
 * and the environments after it: this commit, the units of theirs this job rendered (what
 * the push changed).
 */
function continuation(job: DeployJob, environments: Environment[], env: string | string[], rendered: Rendered[], reason: 'continue' | 'promote'): DeployJob & { environments: string[]; apps: string[] } {
  const starts = typeof env === 'string' ? [env] : env;
  const reached = new Set(starts.flatMap((e) => withDependents(environments, e)));
  // The environments it starts with first (the job id names the first), then those after them in config order.
  const envs = [...starts, ...environments.map((e) => e.name).filter((n) => reached.has(n) && !starts.includes(n))];
  const { changes: _changes, checkRun: _checkRun, promotedBy: _promotedBy, ...rest } = job;
  return { ...rest, reason, environments: envs, apps: rendered.filter((r) => envs.includes(r.out.environment ?? '')).map((r) => r.app.name) };
}

/**
 * One object, one owner: two apps of this push rendering the same object (a shared
 * Namespace, say) would each apply it in parallel, the last writer would own it and the
 * other app be refused later as a takeover. Both apps fail here, before anything is
 * written, the problem naming both files; the other apps go on.
 */
async function refuseSharedObjects(rendered: Rendered[], dir: string, deps: DeployDeps, job: DeployJob, userProblem: (out: AppDeployReport, err: unknown) => void): Promise<Rendered[]> {
  const owners = new Map<string, { r: Rendered; ref: string; source: SourceRef }>();
  const refused = new Set<Rendered>();
  for (const r of rendered) {
    let ids;
    try {
      ids = await deps.engine.identities({ app: r.app, dir, key: { repoId: job.repoId, repo: `${job.owner}/${job.repo}`, app: r.app.name } }, r.objects);
    } catch (err) {
      userProblem(r.out, err);
      refused.add(r);
      continue;
    }
    for (const { id, ref, source } of ids) {
      const k = `${r.app.cluster}\0${id}`;
      const first = owners.get(k);
      if (!first) {
        owners.set(k, { r, ref, source });
        continue;
      }
      if (first.r === r) continue;
      const both = `\`${ref}\` is declared by app "${first.r.app.name}" (${first.source.file}:${first.source.line}) and by app "${r.app.name}" (${source.file}:${source.line}) on cluster "${r.app.cluster}"; an object can belong to one app only, so neither app was applied. Keep it in one of the two (for a shared Namespace, in one app or an app of its own)`;
      r.out.problems.push({ message: both, file: source.file, line: source.line, ref });
      first.r.out.problems.push({ message: both, file: first.source.file, line: first.source.line, ref });
      refused.add(r).add(first.r);
    }
  }
  return rendered.filter((r) => !refused.has(r));
}
