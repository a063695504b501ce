import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import { deployEvents, type NotifyEvent } from '../notify/events.js';
import { appLine, appSucceeded, deployActions, formatDeployCheck, formatDeployComment, mergeReports, storedReport, type Coalesced, type DeployReport } from '../report/deploy.js';
import type { CheckOutput } from '../report/check.js';
import type { RepoHost } from './host.js';
import type { RepoHosts } from './host.js';
import { dashboardDeploy } from './dashboard.js';
import type { DashboardDeploy } from '../report/dashboard.js';
import type { DeployJob, DeployReportJob, DeployReportProgress } from './jobs.js';

/** A commit's deploy check run left in progress while an environment waits (soak, approval), and the report it shows. */
export interface OpenDeployCheck {
  check: { id: number; url?: string };
  report: DeployReport;
}

export interface OpenDeployCheckStore {
  get(repoId: number, sha: string): Promise<OpenDeployCheck | null>;
  set(repoId: number, sha: string, open: OpenDeployCheck): Promise<void>;
  clear(repoId: number, sha: string): Promise<void>;
}

export interface DeployReportDeps {
  /**
   * Deploy checks left in progress while environments wait: a continuation finishes the
   * same check run with the whole timeline. Without it every report is a check run of its own.
   */
  openChecks?: OpenDeployCheckStore;
  hosts: RepoHosts;
  log: Logger;
  /** Operator notifications (deploy failed/succeeded, drift healed); queued, never throws. */
  notify?(events: NotifyEvent[]): Promise<void>;
  /** After a held deploy on the default branch: the `mergeops / locks` check on that commit. */
  reportLocks?(job: DeployJob): Promise<void>;
  /** What this job already did; saved after every write, so a retry never writes twice. */
  progress: { get(): DeployReportProgress; set(p: DeployReportProgress): Promise<void> };
  /**
   * The commit of a newer report of `app`'s environment (queued or done), or null: under a
   * backlog the newest status wins, and an older one is not written at all.
   */
  newerReport?(job: DeployReportJob, app: string): Promise<string | null>;
  /** The deploy dashboard's record of this deploy (its PR and check); it coalesces its own edit. */
  dashboard?(job: DeployReportJob, deploy: DashboardDeploy): Promise<void>;
}

/**
 * The GitHub side of one applied deploy, after the cluster: one check run created with its
 * final conclusion (and the Roll back button when an app failed), a Deployment with one
 * final status for each changed app whose environment no newer report covers, the locks
 * check after a held deploy, the comment on the merged PR, then notifications. Every write
 * is recorded in the job before the next, so a retried job goes on where it stopped.
 */
export async function reportDeploy(queued: DeployReportJob, deps: DeployReportDeps): Promise<void> {
  const job = { ...queued, report: storedReport(queued.report) };
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, branch: job.branch, sha: job.sha.slice(0, 7), flow: 'deploy-report' });
  const host = await deps.hosts(job);
  // A continuation (after a soak or a promotion) shows the whole timeline on the commit's one check run.
  const open = (await deps.openChecks?.get(job.repoId, job.sha)) ?? null;
  const report = mergeReports(open?.report ?? null, job.report);
  const waiting = report.apps.some((a) => a.waiting);
  let progress = { ...deps.progress.get() };
  const save = async (p: DeployReportProgress): Promise<void> => {
    progress = p;
    await deps.progress.set(p);
  };
  const coalesced: Coalesced[] = [];
  const deploying: string[] = [];
  for (const app of job.changed) {
    const newer = progress.deployments?.[app] === undefined ? await deps.newerReport?.(job, app) : null;
    if (newer) coalesced.push({ app, by: newer });
    else deploying.push(app);
  }
  if (coalesced.length) log.info({ coalesced: coalesced.map((c) => `${c.app} → ${c.by.slice(0, 7)}`) }, 'newer deploys report these environments; their older statuses are not written');

  let check = progress.checkRun;
  if (!check) {
    // A failed app offers the "Roll back" button, an environment waiting for approval "Promote to …".
    const output: CheckOutput = { ...formatDeployCheck(report, { deployments: deploying, coalesced, ...(job.bootstrapped ? { bootstrapped: job.bootstrapped } : {}) }), actions: deployActions(report) };
    const earlier = open?.check ?? progress.openCheck;
    if (waiting) {
      // In progress while it waits: the commit is not deployed everywhere yet, and the buttons stay on it.
      check = await host.holdCheck(CHECK_NAMES.deploy, job.sha, output, earlier?.id);
      await deps.openChecks?.set(job.repoId, job.sha, { check, report });
    } else {
      if (earlier) await host.finishCheck(earlier.id, output);
      check = earlier ?? (await host.reportCheck(CHECK_NAMES.deploy, job.sha, output));
      if (open) await deps.openChecks?.clear(job.repoId, job.sha);
    }
    await save({ ...progress, checkRun: check });
  }
  for (const r of job.report.replaced ?? []) {
    if (progress.replacedNoted?.includes(r.sha)) continue;
    await noteReplaced(host, deps, job, r, check);
    await save({ ...progress, replacedNoted: [...(progress.replacedNoted ?? []), r.sha] });
  }
  const url = check.url ?? host.checkRunUrl(check.id);

  for (const app of deploying) {
    const a = report.apps.find((x) => x.app === app);
    if (!a) continue;
    let id = progress.deployments?.[app];
    if (id === undefined) {
      id = await host.createDeployment(job.sha, app, `mergeops deploy of ${job.sha.slice(0, 7)}`);
      await save({ ...progress, deployments: { ...progress.deployments, [app]: id } });
    }
    if (!progress.statuses?.includes(app)) {
      await host.setDeploymentState(id, appSucceeded(a) ? 'success' : 'failure', appLine(a), url, a.url);
      await save({ ...progress, statuses: [...(progress.statuses ?? []), app] });
    }
  }

  if (job.report.apps.some((a) => a.held) && job.branch === job.defaultBranch) await deps.reportLocks?.(job);
  let pr: number | null = null;
  if (job.reason !== 'self-heal') {
    pr = await host.mergedPullRequest(job.sha);
    if (pr !== null && !progress.commented) {
      // The whole timeline of the commit, as its check shows it (a continuation's own report lacks the earlier environments).
      await host.comment(pr, formatDeployComment(report, url));
      await save({ ...progress, commented: true });
    }
  }
  await deps.notify?.(deployEvents(job.report, { url, ...(pr !== null ? { pullRequest: pr } : {}), healing: job.reason === 'self-heal' }));
  if (deps.dashboard) {
    const entry = dashboardDeploy(job.report, job, new Date().toISOString(), pr, url);
    if (entry) await deps.dashboard(job, entry);
  }
  log.info({ deployments: deploying.length, coalesced: coalesced.length }, 'deploy reported');
}

/**
 * A newer commit replaced `r.sha` as the one waiting for `r.environment`: the older
 * commit's check no longer offers its promotion (its units there are "replaced", and the
 * check completes once nothing of it waits), and its merged PR is told which PR's commit
 * is promoted instead.
 */
async function noteReplaced(host: RepoHost, deps: DeployReportDeps, job: DeployReportJob, r: { environment: string; sha: string }, check: { id: number; url?: string }): Promise<void> {
  const newPr = await host.mergedPullRequest(job.sha);
  const by = `${job.sha.slice(0, 7)}${newPr !== null ? ` (#${newPr})` : ''}`;
  const old = await deps.openChecks?.get(job.repoId, r.sha);
  if (old) {
    // The environment, and those waiting behind it: the newer commit goes on with all of them.
    const gone = new Set([r.environment]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const a of old.report.apps) {
        if (a.waiting?.kind === 'after' && gone.has(a.waiting.environment) && a.environment && !gone.has(a.environment)) {
          gone.add(a.environment);
          grew = true;
        }
      }
    }
    const report: DeployReport = {
      ...old.report,
      apps: old.report.apps.map((a) => {
        if (!gone.has(a.environment ?? '') || a.waiting === undefined) return a;
        const { waiting: _waiting, ...rest } = a;
        return { ...rest, notDeployed: `replaced by ${by}, the newer commit waiting for ${r.environment}` };
      }),
    };
    const output: CheckOutput = { ...formatDeployCheck(report), actions: deployActions(report) };
    if (report.apps.some((a) => a.waiting)) {
      await host.holdCheck(CHECK_NAMES.deploy, r.sha, output, old.check.id);
      await deps.openChecks?.set(job.repoId, r.sha, { check: old.check, report });
    } else {
      await host.finishCheck(old.check.id, { ...output, title: `Replaced by ${by} for ${r.environment}; ${output.title}` });
      await deps.openChecks?.clear(job.repoId, r.sha);
    }
  }
  const oldPr = await host.mergedPullRequest(r.sha);
  if (oldPr !== null && oldPr !== newPr) {
    const link = check.url ?? host.checkRunUrl(check.id);
    await host.comment(oldPr, `### mergeops: ${'`'}${r.sha.slice(0, 7)}${'`'} replaced by ${newPr !== null ? `#${newPr}` : by} for ${'`'}${r.environment}${'`'}\n\n${'`'}${r.sha.slice(0, 7)}${'`'} no longer waits for ${'`'}${r.environment}${'`'}: ${by} passed the environments before it since, and the newest verified commit is the one promoted ([its deploy check](${link}) has the Promote button).\n`);
  }
}
