import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import type { RepoCaps } from '../config/caps.js';
import type { App } from '../config/repo-config.js';
import type { AppEngine, AppTarget } from '../engine/engine.js';
import { appsOn, openRevision } from '../engine/revision.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { deployEvents, type NotifyEvent } from '../notify/events.js';
import { toProblem } from '../errors.js';
import { appLabel, applyResults, timed } from '../metrics.js';
import { ROLLBACK_ACTION, appLine, appSucceeded, formatDeployCheck, formatDeployComment, type AppDeployReport, type DeployReport, type HeldBy } from '../report/deploy.js';
import type { RepoHost, RepoHosts } from './host.js';
import type { DeployJob } from './jobs.js';
import { pushScope } from './deploy-affected.js';

export interface DeployDeps {
  hosts: RepoHosts;
  engine: AppEngine;
  log: Logger;
  recordDeployed(job: DeployJob, app: string): Promise<void>;
  /** Operator notifications (deploy failed/succeeded, drift healed); queued, never throws. */
  notify?(events: NotifyEvent[]): Promise<void>;
  /** The check run survives retries of the same job, so a retry does not open a second one. */
  checkRun: { get(): { id: number; url?: string } | undefined; set(c: { id: number; url?: string }): Promise<void> };
  /**
   * Deploy freezes: when `app` is locked, records this commit for its unlock (the newest
   * push wins; `pushedAtMs` 0 never replaces one) and answers who holds it.
   */
  holdIfLocked?(job: DeployJob, app: string, pushedAtMs: number): Promise<HeldBy | null>;
  /** After a held deploy on the default branch: the `mergeops / locks` check on that commit. */
  reportLocks?(job: DeployJob): Promise<void>;
  /**
   * Why this job's branch may not deploy `app` (the operator's grant `branches:`, default
   * the repository's default branch), or null. The config that says where and how an app
   * deploys is read from the pushed commit, so only allowed branches may have a say.
   */
  branchRefusal?(job: DeployJob, app: App): string | null;
  /** The operator's caps on a repository's config (apps, `wait:`). */
  caps?: RepoCaps;
  /** The commit `app` last deployed successfully (null: never): a push skips an app only when it is the push's parent. */
  lastDeployed?(job: DeployJob, app: string): Promise<string | null>;
}

/**
 * The deploy flow for one pushed commit: fetch → config → for each app on this branch:
 * GitHub Deployment in_progress → render → dry-run all → apply changed → prune → wait
 * for health → Deployment success/failure; then one check run and a comment on the
 * merged PR. The caller holds the branch's deploy lease.
 */
export async function runDeploy(job: DeployJob, deps: DeployDeps): Promise<DeployReport | null> {
  const started = Date.now();
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, branch: job.branch, sha: job.sha.slice(0, 7), flow: 'deploy' });
  const host = await deps.hosts(job);
  const report: DeployReport = { repo: `${job.owner}/${job.repo}`, sha: job.sha, branch: job.branch, apps: [], problems: [], serverUrl: host.webUrl() };
  const timings: Record<string, number> = {};

  // A repository without a config is not ours to deploy or report on: no check, no comment.
  if (!deps.checkRun.get() && (await host.readFile(REPO_CONFIG_PATH, job.sha)) === null) {
    log.info(`no ${REPO_CONFIG_PATH} in this commit; not a mergeops repository, staying quiet`);
    return null;
  }
  const revision = await timed('deploy', 'fetch', () => openRevision(() => host.revision(job.sha), job.defaultBranch, deps.caps), timings);
  try {
    let apps: App[] = [];
    if (revision.ok) {
      // A command's deploy (`/mergeops deploy web`, an unlock) names its apps.
      apps = appsOn(revision.config, job.branch).filter((a) => !job.apps || job.apps.includes(a.name));
      if (apps.length === 0) {
        log.info('no app deploys from this branch');
        return null;
      }
    } else {
      report.problems.push(revision.problem);
    }
    // Cost follows the change: a push deploys only the apps it affects (commands, unlocks
    // and self-heal name their own). Skipped apps stay recorded as deployed, now at this commit.
    if (revision.ok && (job.reason ?? 'push') === 'push' && !job.apps) {
      const scope = await pushScope(job, host, revision.dir, apps, (app) => deps.lastDeployed?.(job, app) ?? Promise.resolve(null), log);
      apps = scope.apps;
      if (scope.unchanged.length) report.unchanged = scope.unchanged.map((a) => a.name);
      for (const app of scope.unchanged) await deps.recordDeployed(job, app.name);
    }
    let check = deps.checkRun.get();
    if (!check) {
      check = await host.startCheck(CHECK_NAMES.deploy, job.sha);
      await deps.checkRun.set(check);
    }
    for (const app of apps) {
      const t: AppTarget = { app, dir: revision.ok ? revision.dir : '', key: { repoId: job.repoId, repo: `${job.owner}/${job.repo}`, app: app.name }, commit: job.sha };
      report.apps.push(await deployApp(job, t, host, check.url, deps, log, timings));
    }
    // A failed app offers the "Roll back" button; its click opens the revert PR.
    const failedApp = report.apps.some((a) => !a.held && !appSucceeded(a));
    await host.finishCheck(check.id, { ...formatDeployCheck(report), ...(failedApp ? { actions: [ROLLBACK_ACTION] } : {}) });
    if (report.apps.some((a) => a.held) && job.branch === job.defaultBranch) await deps.reportLocks?.(job);
    const url = check.url ?? host.checkRunUrl(check.id);
    let pr: number | null = null;
    if (job.reason !== 'self-heal') {
      pr = await host.mergedPullRequest(job.sha);
      if (pr !== null) await host.comment(pr, formatDeployComment(report, url));
    }
    await deps.notify?.(deployEvents(report, { url, ...(pr !== null ? { pullRequest: pr } : {}), healing: job.reason === 'self-heal' }));
    log.info({ apps: report.apps.map((a) => `${a.app}: ${appLine(a)}`), ms: Date.now() - started, timings }, 'deploy done');
    return report;
  } finally {
    await revision.close();
  }
}

async function deployApp(job: DeployJob, t: AppTarget, host: RepoHost, checkUrl: string | undefined, deps: DeployDeps, log: Logger, timings: Record<string, number>): Promise<AppDeployReport> {
  const { app } = t;
  const out: AppDeployReport = { app: app.name, cluster: app.cluster, waitMs: app.waitMs, problems: [] };
  if (app.namespace) out.namespace = app.namespace;
  // Self-heal re-applies the deployed commit; it must never displace a newer held merge.
  const refused = deps.branchRefusal?.(job, app);
  if (refused) {
    log.warn({ app: app.name, branch: job.branch }, 'branch may not deploy this app; nothing applied');
    out.problems.push({ message: refused, file: '.github/mergeops.yml', line: 1 });
    return out;
  }
  const held = await deps.holdIfLocked?.(job, app.name, job.reason === 'self-heal' ? 0 : Date.now());
  if (held) {
    log.info({ app: app.name, lockedBy: held.by }, 'app is locked; commit recorded, not applied');
    out.held = held;
    return out;
  }
  const deploymentId = await host.createDeployment(job.sha, app.name, `mergeops deploy of ${job.sha.slice(0, 7)}`);
  await host.setDeploymentState(deploymentId, 'in_progress', 'applying', checkUrl);
  try {
    const applied = await deps.engine.apply(t, {
      // Healing drift takes back what a hand edit took over even under conflicts: fail;
      // a normal deploy sends what its preview sent (the app's conflicts setting).
      ...(job.reason === 'self-heal' ? { force: true } : {}),
      // A push whose render equals what the app's inventory recorded changes nothing: one GET.
      skipUnchanged: job.reason === 'push' || job.reason === undefined,
      log,
      timings,
    });
    out.result = applied.result;
    if (applied.health) out.health = applied.health;
    for (const result of ['created', 'configured', 'unchanged', 'pruned'] as const) applyResults.inc({ app: appLabel.of(app.name), result }, applied.result[result].length);
  } catch (err) {
    try {
      out.problems.push(toProblem(err));
    } catch {
      // Ours, not the user's: the job is retried, but the Deployment must not spin forever.
      await host.setDeploymentState(deploymentId, 'error', 'mergeops hit an internal error; retrying', checkUrl).catch(() => undefined);
      throw err;
    }
  }
  const ok = appSucceeded(out);
  if (ok) await deps.recordDeployed(job, app.name);
  await host.setDeploymentState(deploymentId, ok ? 'success' : 'failure', appLine(out), checkUrl);
  return out;
}
