import type { Logger } from 'pino';
import { CHECK_NAMES, environmentPreviewCheck } from '../check-names.js';
import type { RepoCaps } from '../config/caps.js';
import type { App } from '../config/repo-config.js';
import { diffPlan } from '../diff/diff.js';
import { detectDrift } from '../diff/drift.js';
import { analyzeRollout } from '../diff/rollout.js';
import { affectedApps, scanInputs, type AffectedDecision, type ChangedFiles } from '../engine/affected.js';
import { desiredHash } from '../engine/desired-hash.js';
import { appKey, jobDiscovery, renderTarget, type AppEngine, type AppTarget } from '../engine/engine.js';
import { appsOn, configBase, openRevision, type Revision } from '../engine/revision.js';
import type { RenderedObject } from '../objects.js';
import { forkPreviewApps } from '../policy/fork.js';
import { ownerConfigs } from './owner-configs.js';
import { errorText, toProblem } from '../errors.js';
import { timed } from '../metrics.js';
import { formatCheck, formatEnvironmentCheck } from '../report/check.js';
import { formatComment } from '../report/comment.js';
import { previewLabels } from '../report/labels.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import type { AppReport, PreviewReport, UnchangedApp } from '../report/types.js';
import { changedBetween } from '../source/tree-diff.js';
import { mapLimit } from '../util/pool.js';
import type { CommentIdStore, RepoHost, RepoHosts } from './host.js';
import type { PreviewJob } from './jobs.js';
import { atLeast } from '../config/command-permissions.js';
import { configAppName } from '../config/repo-config.js';
import { previewNamespaceName } from '../engine/preview-env.js';
import type { PreviewEnvReport } from '../report/types.js';
import { bringUp, environmentsOf, previewClusters, reportEnvironment, wantedEnvironments, type PreviewEnvDeps, type WantedEnvironment } from './preview-env.js';

export interface PreviewDeps {
  hosts: RepoHosts;
  engine: AppEngine;
  log: Logger;
  /** The operator's caps on a repository's config (apps, `wait:`). */
  caps?: RepoCaps;
  /** False once a newer head SHA was pushed: an older job must not overwrite the comment. */
  isLatestHead(job: PreviewJob): Promise<boolean>;
  commentIds(job: PreviewJob): CommentIdStore;
  /** Check run ids survive retries of the same job, so a retry does not open a second one. */
  checkRunId: { get(): number | undefined; set(id: number): Promise<void> };
  /** The same for each environment's own check run (`previewCheck: true`); absent: written anew on a retry. */
  environmentCheckRunIds?: { get(environment: string): number | undefined; set(environment: string, id: number): Promise<void> };
  /** The deploy freeze on an app, shown in its preview ("🔒 locked by @user: reason"). */
  lockOf?(job: PreviewJob, app: string): Promise<{ by: string; reason: string; at: string } | null>;
  /** False: leave out the rollout analysis (MERGEOPS_ROLLOUT_ANALYSIS=off); on by default. */
  rolloutAnalysis?: boolean;
  /** True once the work was called off (its merge group left the queue): stop, report cancelled. */
  cancelled?(job: PreviewJob): Promise<boolean>;
  /** Per-PR preview environments; absent: none are started (the CLI, tests of the plain preview). */
  previewEnvs?: PreviewEnvDeps & { clusterNames: string[] };
}

/** Environments to bring up after the comment, and the head checkout they render from (closed by runPreview). */
interface EnvWork {
  wants: WantedEnvironment[];
  dir: string;
  close?: () => Promise<void>;
}

/** Environments of one PR brought up at once: each is a render and a health wait. */
const ENV_CONCURRENCY = 2;

/** Apps planned at once, each rendered by a helm or kustomize process (the chart sizes worker memory by it). */
export const APP_CONCURRENCY = 4;

/** The preview flow: fetch → config → render → plan (dry-run) → diff → report. */
export async function runPreview(job: PreviewJob, deps: PreviewDeps): Promise<PreviewReport> {
  const started = Date.now();
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, pr: job.pr, sha: job.headSha.slice(0, 7) });
  const host = await deps.hosts(job);
  if (deps.checkRunId.get() === undefined && (await deps.cancelled?.(job))) {
    log.info('called off before it started (the merge group left the queue)');
    return { repo: `${job.owner}/${job.repo}`, sha: job.headSha, apps: [], problems: [] };
  }
  let checkRunId = deps.checkRunId.get();
  // Installed on "All repositories": a repository that never had a config gets nothing from
  // us, no check and no comment (a contents read instead of an archive download). A PR that
  // has our comment already is known to be ours: no probe on later pushes.
  const known = checkRunId !== undefined || (!job.mergeGroup && (await deps.commentIds(job).get()) !== null);
  if (!known && (await host.readFile(REPO_CONFIG_PATH, job.headSha)) === null && (await host.readFile(REPO_CONFIG_PATH, job.baseSha)) === null) {
    log.info(`no ${REPO_CONFIG_PATH} at the head or the base; not a mergeops repository, staying quiet`);
    return { repo: `${job.owner}/${job.repo}`, sha: job.headSha, apps: [], problems: [] };
  }
  if (checkRunId === undefined) {
    checkRunId = (await host.startCheck(CHECK_NAMES.preview, job.headSha)).id;
    await deps.checkRunId.set(checkRunId);
  }

  const timings: Record<string, number> = {};
  const envWork: EnvWork = { wants: [], dir: '' };
  try {
    return await previewAndEnvironments(job, host, deps, log, timings, envWork, checkRunId, started);
  } finally {
    await envWork.close?.();
  }
}

async function previewAndEnvironments(job: PreviewJob, host: RepoHost, deps: PreviewDeps, log: Logger, timings: Record<string, number>, envWork: EnvWork, checkRunId: number, started: number): Promise<PreviewReport> {
  const report = await buildReport(job, host, deps, log, timings, envWork);
  const envs = deps.previewEnvs;
  if (envs && envWork.wants.length) report.previewEnvironments = envWork.wants.map((w) => startingLine(job, w));
  if (await deps.cancelled?.(job)) {
    log.info('called off (the merge group left the queue); check cancelled');
    await host.cancelCheck(checkRunId, 'The merge group left the queue before its preview finished.');
    return report;
  }
  report.checkRunUrl = host.checkRunUrl(checkRunId);
  report.serverUrl = host.webUrl();
  if (job.riskAcceptedBy) {
    // The gate asks for a second look by someone who could merge: read and triage do not count.
    const level = await host.permission(job.riskAcceptedBy);
    if (atLeast(level, 'write')) report.riskAcceptedBy = job.riskAcceptedBy;
    else log.info({ actor: job.riskAcceptedBy, level }, '"Accept risk" pressed without write access; the gate stays');
  }
  await timed('preview', 'report', async () => {
    // What people wait for first, the comment then the check (both paced as theirs); the
    // labels after, as bookkeeping, so a deploy's backlog of GitHub writes never holds the
    // check back. A merge group has no pull request to comment on: its check is the whole report.
    let labels: string[] | null = null;
    if (job.mergeGroup) {
      log.info({ ref: job.mergeGroup.headRef }, 'merge group preview; check only');
    } else if (await deps.isLatestHead(job)) {
      await host.upsertPreviewComments(job.pr, formatComment(report), deps.commentIds(job));
      labels = previewLabels(report);
    } else {
      log.info('a newer commit was pushed meanwhile; leaving the comment to its job');
    }
    await host.finishCheck(checkRunId, formatCheck(report));
    await reportEnvironmentChecks(job, report, host, deps);
    if (labels) {
      const changed = await host.syncLabels(job.pr, labels, job.labels);
      if (changed.add.length || changed.remove.length) log.info(changed, 'labels updated');
    }
  }, timings);
  if (envs && envWork.wants.length) {
    // The cluster first: every environment is up (or has failed) before GitHub hears of any.
    const lines = await timed('preview', 'environments', () => mapLimit(envWork.wants, ENV_CONCURRENCY, (w) => bringUp(job, w, envWork.dir, envs)), timings);
    report.previewEnvironments = lines;
    if (await deps.isLatestHead(job)) await host.upsertPreviewComments(job.pr, formatComment(report), deps.commentIds(job));
    for (const line of lines) await reportEnvironment(job, line, host, envs, report.checkRunUrl);
  }
  log.info(
    { apps: report.apps.length, problems: report.problems.length + report.apps.reduce((n, a) => n + a.problems.length, 0), ms: Date.now() - started, timings },
    'preview done',
  );
  return report;
}

/**
 * One check run per environment that asks for it (`previewCheck: true`), written completed
 * (one request each; the config bounds how many) after the overall check, which people read
 * first. A retry updates the runs its first attempt wrote.
 */
async function reportEnvironmentChecks(job: PreviewJob, report: PreviewReport, host: RepoHost, deps: PreviewDeps): Promise<void> {
  for (const env of report.environments ?? []) {
    if (!env.previewCheck) continue;
    const output = formatEnvironmentCheck(report, env.name);
    const id = deps.environmentCheckRunIds?.get(env.name);
    if (id !== undefined) {
      await host.finishCheck(id, output);
      continue;
    }
    const created = await host.reportCheck(environmentPreviewCheck(env.name), job.headSha, output);
    await deps.environmentCheckRunIds?.set(env.name, created.id);
  }
}

/** The 🌐 line of the first comment, before the environment is applied. */
function startingLine(job: PreviewJob, w: WantedEnvironment): PreviewEnvReport {
  const app = configAppName(w.app);
  let namespace = '';
  try {
    namespace = previewNamespaceName(w.spec, job.pr, app);
  } catch {
    // bringUp reports the bad template.
  }
  return { app, state: 'starting', namespace, cluster: w.spec.cluster };
}

async function buildReport(job: PreviewJob, host: RepoHost, deps: PreviewDeps, log: Logger, timings: Record<string, number>, envWork?: EnvWork): Promise<PreviewReport> {
  const report: PreviewReport = {
    repo: `${job.owner}/${job.repo}`,
    sha: job.headSha,
    apps: [],
    problems: [],
    baseSha: job.baseSha,
    baseRef: job.baseRef,
    at: new Date().toISOString(),
    repoId: job.repoId,
  };
  // Both revisions build on the organisation's defaults, read once (from the cache when unchanged).
  const configs = configBase(host);
  // The base revision says which apps are deployed (only those can have drifted); without it the preview still works.
  const base = openRevision(() => host.cachedRevision(job.baseSha), job.defaultBranch, undefined, configs).catch((err: unknown) => {
    log.warn({ err: errorText(err) }, 'base revision unavailable; drift not checked');
    return null;
  });
  let head;
  try {
    head = await timed('preview', 'fetch', () => openRevision(() => host.revision(job.headSha), job.defaultBranch, deps.caps, configs), timings);
  } catch (err) {
    await (await base)?.close();
    throw err;
  }
  const baseRev = await base;
  let keepHead = false;
  try {
    if (!head.ok) {
      report.problems.push(head.problem);
      return report;
    }
    if (head.config.defaultsFrom) report.defaultsFrom = head.config.defaultsFrom;
    const baseApps = new Set(baseRev?.ok ? baseRev.config.apps.map((a) => a.name) : []);
    let config = head.config;
    if (job.fromFork) {
      // Where and how an app deploys is the base branch's to say, never a fork's.
      if (!baseRev?.ok) {
        report.problems.push({ message: `the base branch's ${REPO_CONFIG_PATH} could not be read; a pull request from a fork previews only at the base branch's targets, so nothing was previewed` });
        return report;
      }
      const forked = forkPreviewApps(head.config.apps, baseRev.config.apps);
      report.problems.push(...forked.problems);
      config = { ...head.config, apps: forked.apps };
    }
    if (config.environments) report.environments = config.environments;
    if (envWork && deps.previewEnvs && baseRev?.ok) {
      const baseApps = appsOn(baseRev.config, job.baseRef);
      if (baseApps.some((a) => a.previewEnvironment)) {
        const running = await environmentsOf(await previewClusters(deps.previewEnvs.clusters, deps.previewEnvs.clusterNames), job.repoId, job.pr);
        envWork.wants = wantedEnvironments(job, appsOn(config, job.baseRef), baseApps, running);
        if (envWork.wants.length) {
          // The head checkout stays open for the environments, applied after the comment.
          envWork.dir = head.dir;
          const h = head;
          envWork.close = () => h.close();
          keepHead = true;
        }
      }
    }
    const candidates = appsOn(config, job.baseRef).filter((a) => !job.apps || job.apps.includes(a.name));
    const dir = head.dir;
    const started = Date.now();
    // Cost follows the change: an app no changed file can reach is neither rendered nor planned.
    const scope = await timed('preview', 'affected', () => decideAffected(job, dir, baseRev, candidates, log), timings);
    if (scope.fallback !== undefined && candidates.length > 0) report.allRendered = scope.fallback;
    const unchanged: UnchangedApp[] = scope.unaffected.map((a) => unchangedApp(a, 'files'));
    const baseEntries = new Map(baseRev?.ok ? appsOn(baseRev.config, job.baseRef).map((a) => [a.name, a]) : []);
    log.info({ apps: scope.affected.map((a) => a.name), unaffected: unchanged.length }, 'rendering apps');
    // Only an app the base branch has can have been deployed, so only it can have drifted.
    const discovery = jobDiscovery();
    const owners = ownerConfigs(deps.hosts, job.installationId);
    const planned = await mapLimit(scope.affected, APP_CONCURRENCY, async (app) => {
      const t: AppTarget = { app, dir, key: appKey(job.repoId, `${job.owner}/${job.repo}`, app), discovery, owners };
      const baseApp = baseEntries.get(app.name);
      // Apps a command names are planned as asked (to see their drift, say).
      const render = baseRev?.ok && baseApp && !job.apps ? await renderAgainstBase(t, baseApp, baseRev.dir, deps) : {};
      if (render.same) return unchangedApp(app, 'render');
      const r = await previewApp(t, baseApps.has(app.name), deps.engine, log, render.rendered, deps.rolloutAnalysis ?? true);
      const lock = await deps.lockOf?.(job, app.name);
      if (lock) r.lock = lock;
      return r;
    });
    report.apps = planned.filter((r): r is AppReport => 'diffs' in r);
    unchanged.push(...planned.filter((r): r is UnchangedApp => !('diffs' in r)));
    if (unchanged.length) report.unchanged = unchanged;
    // Apps render and diff in parallel, so per-stage sums would overstate the wall time.
    timings['apps'] = Date.now() - started;
    return report;
  } finally {
    if (!keepHead) await head.close();
    await baseRev?.close();
  }
}

/**
 * Which of the candidate apps the pull request affects, from the files that differ between
 * the base and head checkouts (both are on disk already: no GitHub request, no 300-file
 * limit) and the render inputs at the head and the base. Apps named by a command
 * (`/mergeops preview web`) are previewed as asked. Without the base revision every app is
 * affected, and the decision says why.
 */
async function decideAffected(job: PreviewJob, dir: string, baseRev: Revision | null, apps: App[], log: Logger): Promise<AffectedDecision> {
  if (job.apps) return { affected: apps, unaffected: [], why: new Map() };
  let changed: ChangedFiles = { complete: false, reason: 'the base revision could not be read' };
  if (baseRev?.ok) {
    changed = await changedBetween(baseRev.dir, dir).then(
      (paths): ChangedFiles => ({ complete: true, paths }),
      (err: unknown): ChangedFiles => {
        log.warn({ err: errorText(err) }, 'could not compare the base and head checkouts; every app is affected');
        return { complete: false, reason: 'the base and head checkouts could not be compared' };
      },
    );
  }
  const baseApps = baseRev?.ok ? appsOn(baseRev.config, job.baseRef) : null;
  if (!changed.complete || !baseApps || !baseRev?.ok) {
    const d = affectedApps({ apps, baseApps, changed, inputs: new Map() });
    log.info({ reason: d.fallback }, 'changed files unknown; every app is affected');
    return d;
  }
  const inputs = await scanInputs(apps, dir);
  const baseInputs = await scanInputs(apps.filter((a) => baseApps.some((b) => b.name === a.name)), baseRev.dir);
  const d = affectedApps({ apps, baseApps, changed, inputs, baseInputs });
  log.info({ files: changed.paths.length, affected: [...d.why].map(([app, why]) => `${app}: ${why}`), unaffected: d.unaffected.map((a) => a.name) }, 'affected apps decided');
  return d;
}

/**
 * Renders the app at the head and at the base: equal desired hashes mean merging cannot
 * change what it asks of its cluster, so it need not be planned. A render that fails is
 * left to the plan, which reports it.
 */
async function renderAgainstBase(t: AppTarget, baseApp: App, baseDir: string, deps: PreviewDeps): Promise<{ same?: boolean; rendered?: RenderedObject[] }> {
  let rendered: RenderedObject[];
  try {
    rendered = await timed('preview', 'render', () => renderTarget(t.app, t.dir, deps.caps));
  } catch {
    return {};
  }
  try {
    const before = await timed('preview', 'render', () => renderTarget(baseApp, baseDir, deps.caps));
    return { same: desiredHash(t.app, rendered) === desiredHash(baseApp, before), rendered };
  } catch {
    return { rendered };
  }
}

function unchangedApp(app: App, why: UnchangedApp['why']): UnchangedApp {
  return { app: app.name, cluster: app.cluster, ...(app.namespace ? { namespace: app.namespace } : {}), ...(app.unit ? { environment: app.unit.environment } : {}), why };
}

/**
 * Plans the app exactly as its deploy will (same requests, as a dry run). The plan's own
 * field records say what the merge reverts of others' changes (drift) and what it keeps.
 */
async function previewApp(t: AppTarget, deployedBefore: boolean, engine: AppEngine, log: Logger, rendered: RenderedObject[] | undefined, rollout: boolean): Promise<AppReport> {
  const app: App = t.app;
  const out: AppReport = { app: app.name, cluster: app.cluster, diffs: [], problems: [], drift: [], warnings: [], merge: { prune: app.prune, waitMs: app.waitMs, force: app.conflicts === 'overwrite' } };
  if (app.namespace) out.namespace = app.namespace;
  if (app.unit) out.environment = app.unit.environment;
  if (app.review) out.review = app.review;
  try {
    const { plan, problems, warnings, facts } = await engine.plan(t, { log, rollout, ...(rendered ? { rendered } : {}) });
    out.diffs = diffPlan(plan.objects, plan.orphans, plan.ours);
    if (rollout && problems.length === 0) {
      out.rollout = analyzeRollout({ objects: plan.objects, orphans: plan.orphans, app, ...(facts ? { facts } : {}) });
      if (facts?.unread?.length) log.warn({ app: app.name, unread: facts.unread }, 'rollout facts not readable; their checks skipped');
    }
    log.info({ app: app.name, changes: out.diffs.filter((d) => d.action !== 'unchanged').length, problems: problems.length, warnings: warnings.length }, 'diffed');
    out.problems.push(...problems);
    out.warnings = warnings;
    if (deployedBefore && problems.length === 0) out.drift = detectDrift(plan.objects, plan.ours);
  } catch (err) {
    out.problems.push(toProblem(err));
  }
  return out;
}
