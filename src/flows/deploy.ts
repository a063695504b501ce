import type { Logger } from 'pino';
import type { App } from '../config/repo-config.js';
import { applyApp, waitHealthy } from '../cluster/apply.js';
import { CLUSTER_CONCURRENCY, type ClusterPool } from '../cluster/connect.js';
import { checkRunUrl, finishCheck, startCheck, webUrl } from '../github/checks.js';
import { hasFile } from '../github/labels.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { createDeployment, mergedPullRequest, setDeploymentState } from '../github/deployments.js';
import { fetchRevision } from '../github/tarball.js';
import type { Octokit, RepoRef } from '../github/types.js';
import type { DeployJob } from '../queue/jobs.js';
import { render } from '../render/index.js';
import { ROLLBACK_ACTION, appLine, appSucceeded, formatDeployCheck, formatDeployComment, type AppDeployReport, type DeployReport, type HeldBy } from '../report/deploy.js';
import type { ExtractLimits } from '../source/extract.js';
import { deployEvents, type NotifyEvent } from '../notify/events.js';
import { readConfig } from './common.js';
import { toProblem } from '../errors.js';
import { applyResults, timed } from '../metrics.js';

export const DEPLOY_CHECK = 'mergeops / deploy';

export interface DeployDeps {
  github(installationId: number): Promise<Octokit>;
  clusters: ClusterPool;
  limits: ExtractLimits;
  log: Logger;
  recordDeployed(job: DeployJob, app: string): Promise<void>;
  /** Health polling interval; tests shorten it. */
  healthPollMs?: number;
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
}

/**
 * The deploy flow for one pushed commit: fetch → config → for each app on this branch:
 * GitHub Deployment in_progress → render → dry-run all → apply changed → prune → wait
 * for health → Deployment success/failure; then one check run and a comment on the
 * merged PR. The caller holds the branch's deploy lease.
 */
export async function runDeploy(job: DeployJob, deps: DeployDeps): Promise<DeployReport | null> {
  const started = Date.now();
  const repo: RepoRef = { owner: job.owner, repo: job.repo };
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, branch: job.branch, sha: job.sha.slice(0, 7), flow: 'deploy' });
  const octokit = await deps.github(job.installationId);
  const report: DeployReport = { repo: `${job.owner}/${job.repo}`, sha: job.sha, branch: job.branch, apps: [], problems: [], serverUrl: webUrl(octokit) };
  const timings: Record<string, number> = {};

  // A repository without a config is not ours to deploy or report on: no check, no comment.
  if (!deps.checkRun.get() && !(await hasFile(octokit, repo, REPO_CONFIG_PATH, job.sha))) {
    log.info(`no ${REPO_CONFIG_PATH} in this commit; not a mergeops repository, staying quiet`);
    return null;
  }
  let checkout;
  try {
    checkout = await timed('deploy', 'fetch', () => fetchRevision(octokit, repo, job.sha, deps.limits), timings);
  } catch (err) {
    const problem = toProblem(err);
    report.problems.push(problem);
  }
  try {
    let apps: App[] = [];
    if (checkout) {
      const config = await readConfig(checkout.dir, job.defaultBranch);
      if ('problem' in config) report.problems.push(config.problem);
      // A command's deploy (`/mergeops deploy web`, an unlock) names its apps.
      else apps = config.apps.filter((a) => a.branch === job.branch && (!job.apps || job.apps.includes(a.name)));
      if (!('problem' in config) && apps.length === 0) {
        log.info('no app deploys from this branch');
        return null;
      }
    }
    let check = deps.checkRun.get();
    if (!check) {
      const started = await startCheck(octokit, repo, DEPLOY_CHECK, job.sha);
      check = started.url ? { id: started.id, url: started.url } : { id: started.id };
      await deps.checkRun.set(check);
    }
    for (const app of apps) report.apps.push(await deployApp(job, app, checkout?.dir as string, octokit, check.url, deps, log, timings));
    // A failed app offers the "Roll back" button; its click opens the revert PR.
    const failedApp = report.apps.some((a) => !a.held && !appSucceeded(a));
    await finishCheck(octokit, repo, check.id, { ...formatDeployCheck(report), ...(failedApp ? { actions: [ROLLBACK_ACTION] } : {}) });
    if (report.apps.some((a) => a.held) && job.branch === job.defaultBranch) await deps.reportLocks?.(job);
    const url = check.url ?? checkRunUrl(octokit, repo, check.id);
    let pr: number | null = null;
    if (job.reason !== 'self-heal') {
      pr = await mergedPullRequest(octokit, repo, job.sha);
      if (pr !== null) await octokit.rest.issues.createComment({ ...repo, issue_number: pr, body: formatDeployComment(report, url) });
    }
    await deps.notify?.(deployEvents(report, { url, ...(pr !== null ? { pullRequest: pr } : {}), healing: job.reason === 'self-heal' }));
    log.info({ apps: report.apps.map((a) => `${a.app}: ${appLine(a)}`), ms: Date.now() - started, timings }, 'deploy done');
    return report;
  } finally {
    await checkout?.remove();
  }
}

async function deployApp(
  job: DeployJob,
  app: App,
  dir: string,
  octokit: Octokit,
  checkUrl: string | undefined,
  deps: DeployDeps,
  log: Logger,
  timings: Record<string, number>,
): Promise<AppDeployReport> {
  const repo: RepoRef = { owner: job.owner, repo: job.repo };
  const out: AppDeployReport = { app: app.name, cluster: app.cluster, waitMs: app.waitMs, problems: [] };
  if (app.namespace) out.namespace = app.namespace;
  // Self-heal re-applies the deployed commit; it must never displace a newer held merge.
  const held = await deps.holdIfLocked?.(job, app.name, job.reason === 'self-heal' ? 0 : Date.now());
  if (held) {
    log.info({ app: app.name, lockedBy: held.by }, 'app is locked; commit recorded, not applied');
    out.held = held;
    return out;
  }
  const deploymentId = await createDeployment(octokit, repo, job.sha, app.name, `mergeops deploy of ${job.sha.slice(0, 7)}`);
  await setDeploymentState(octokit, repo, deploymentId, 'in_progress', 'applying', checkUrl);
  try {
    const rendered = await timed('deploy', 'render', () => render(app, dir), timings);
    log.info({ app: app.name, objects: rendered.length }, 'rendered');
    const cluster = await deps.clusters.get(app.cluster);
    out.result = await timed('deploy', 'apply', () => applyApp(cluster, app, rendered, { repoId: job.repoId, repo: `${job.owner}/${job.repo}`, app: app.name }, {
      // Healing drift takes back what a hand edit took over even under conflicts: fail;
      // a normal deploy sends what its preview sent (the app's conflicts setting).
      ...(job.reason === 'self-heal' ? { force: true } : {}),
      prune: app.prune,
      pruneEmpty: app.pruneEmpty,
      concurrency: CLUSTER_CONCURRENCY,
      log,
    }), timings);
    for (const result of ['created', 'configured', 'unchanged', 'pruned'] as const) applyResults.inc({ app: app.name, result }, out.result[result].length);
    log.info({ app: app.name, created: out.result.created.length, configured: out.result.configured.length, unchanged: out.result.unchanged.length, pruned: out.result.pruned.length, errors: out.result.errors.length }, 'applied');
    if (out.result.errors.length === 0 && app.waitMs > 0) {
      const objects = out.result.objects;
      out.health = await timed('deploy', 'health', () => waitHealthy(cluster, objects, app.waitMs, log, deps.healthPollMs), timings);
    }
  } catch (err) {
    try {
      out.problems.push(toProblem(err));
    } catch {
      // Ours, not the user's: the job is retried, but the Deployment must not spin forever.
      await setDeploymentState(octokit, repo, deploymentId, 'error', 'mergeops hit an internal error; retrying', checkUrl).catch(() => undefined);
      throw err;
    }
  }
  const ok = appSucceeded(out);
  if (ok) await deps.recordDeployed(job, app.name);
  await setDeploymentState(octokit, repo, deploymentId, ok ? 'success' : 'failure', appLine(out), checkUrl);
  return out;
}
