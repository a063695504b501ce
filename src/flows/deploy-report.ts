import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import { deployEvents, type NotifyEvent } from '../notify/events.js';
import { ROLLBACK_ACTION, appLine, appSucceeded, formatDeployCheck, formatDeployComment, type Coalesced } from '../report/deploy.js';
import type { RepoHosts } from './host.js';
import type { DeployJob, DeployReportJob, DeployReportProgress } from './jobs.js';

export interface DeployReportDeps {
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
}

/**
 * The GitHub side of one applied deploy, after the cluster: one check run created with its
 * final conclusion (and the Roll back button when an app failed), a Deployment with one
 * final status for each changed app whose environment no newer report covers, the locks
 * check after a held deploy, the comment on the merged PR, then notifications. Every write
 * is recorded in the job before the next, so a retried job goes on where it stopped.
 */
export async function reportDeploy(job: DeployReportJob, deps: DeployReportDeps): Promise<void> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, branch: job.branch, sha: job.sha.slice(0, 7), flow: 'deploy-report' });
  const host = await deps.hosts(job);
  const { report } = job;
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
    // A failed app offers the "Roll back" button; its click opens the revert PR.
    const failedApp = report.apps.some((a) => !a.held && !appSucceeded(a));
    const output = { ...formatDeployCheck(report, { deployments: deploying, coalesced, ...(job.bootstrapped ? { bootstrapped: job.bootstrapped } : {}) }), ...(failedApp ? { actions: [ROLLBACK_ACTION] } : {}) };
    if (progress.openCheck) await host.finishCheck(progress.openCheck.id, output);
    check = progress.openCheck ?? (await host.reportCheck(CHECK_NAMES.deploy, job.sha, output));
    await save({ ...progress, checkRun: check });
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
      await host.setDeploymentState(id, appSucceeded(a) ? 'success' : 'failure', appLine(a), url);
      await save({ ...progress, statuses: [...(progress.statuses ?? []), app] });
    }
  }

  if (report.apps.some((a) => a.held) && job.branch === job.defaultBranch) await deps.reportLocks?.(job);
  let pr: number | null = null;
  if (job.reason !== 'self-heal') {
    pr = await host.mergedPullRequest(job.sha);
    if (pr !== null && !progress.commented) {
      await host.comment(pr, formatDeployComment(report, url));
      await save({ ...progress, commented: true });
    }
  }
  await deps.notify?.(deployEvents(report, { url, ...(pr !== null ? { pullRequest: pr } : {}), healing: job.reason === 'self-heal' }));
  log.info({ deployments: deploying.length, coalesced: coalesced.length }, 'deploy reported');
}
