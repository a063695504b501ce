import { DelayedError, type ConnectionOptions, type Job, type Queue, type Worker } from 'bullmq';
import { CHECK_NAMES } from '../check-names.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { runDeploy, type DeployDeps } from '../flows/deploy.js';
import { reportDeploy, type DeployReportDeps } from '../flows/deploy-report.js';
import { checkDeployClaim } from '../policy/deploy-gate.js';
import type { RepoHost } from '../flows/host.js';
import type { DeployJob, DeployReportJob } from '../flows/jobs.js';
import { DEPLOY_SUMMARY_LIMIT, formatDeployCheck, storedReport } from '../report/deploy.js';
import { shownFailure, startFlowWorker, type WorkerLimits } from './flow-worker.js';
import { DEPLOY_QUEUE, DEPLOY_REPORT_QUEUE, continueJobId, deployReportJobId } from './jobs.js';
import type { DeployReports } from './deploy-reports.js';
import type { DeployState, Leases } from './state.js';

const RETRY_LOCKED_MS = 1000;

export type DeployWorkerDeps = Omit<DeployDeps, 'report' | 'continueLater'>;
export type DeployReportWorkerDeps = Omit<DeployReportDeps, 'progress' | 'newerReport'>;

/**
 * Deploys of one branch never overlap (a Redis lease shared by every worker), and the
 * newest pushed commit wins: a job whose commit is no longer the branch's newest is
 * dropped instead of run, so the cluster never goes back to an older commit — self-heal
 * re-applies included. The job writes nothing to GitHub: once its apps are applied it
 * queues their report and lets the lease go, so the next push's apply never waits for
 * GitHub's pacing of this one's bookkeeping.
 */
export function startDeployWorker(
  connection: ConnectionOptions,
  prefix: string,
  limits: WorkerLimits,
  state: { deploys: DeployState; leases: Leases; reports: DeployReports; reportQueue: Queue<DeployReportJob>; queue: Queue<DeployJob> },
  deps: DeployWorkerDeps,
): Worker<DeployJob> {
  return startFlowWorker<DeployJob, string>(
    {
      queue: DEPLOY_QUEUE,
      flow: 'deploy',
      connection,
      prefix,
      limits,
      log: deps.log,
      onGaveUp: async (job, attempts, err) => {
        const host = await deps.hosts(job.data);
        const title = `${CHECK_NAMES.deploy} failed after ${attempts} attempts`;
        const summary = `mergeops could not finish this deploy: ${shownFailure(err, job.id, deps.log)}\n\nPush again to retry.`;
        // A job of an earlier version may still have its check run open.
        const open = job.data.checkRun;
        // Nothing was reported yet: the failed check is the first word on this commit, for
        // mergeops repositories only.
        if (!open && (await host.readFile(REPO_CONFIG_PATH, job.data.sha)) === null) return;
        await failDeployCheck(host, job.data.sha, open, title, summary);
      },
      onRetry: async (job, next, attempts, err) => {
        // The cluster timed out, reset, shed load or failed: not the user's problem, and not
        // over. The commit's check says so while the queue backs off; the retry's report
        // (or the last attempt's failure) completes this same check run.
        const host = await deps.hosts(job.data);
        const open = job.data.checkRun ?? (await host.startCheck(CHECK_NAMES.deploy, job.data.sha));
        if (!job.data.checkRun) await job.updateData({ ...job.data, checkRun: open });
        await host.progressCheck(open.id, `retrying (${next}/${attempts})`, `The last attempt met a transient failure: ${shownFailure(err, job.id, deps.log)}\n\nmergeops tries again shortly (attempt ${next} of ${attempts}); nothing needs doing unless the last attempt fails too.`);
      },
    },
    (job, token) => processDeploy(job, token, state, deps, limits),
  );
}

async function processDeploy(
  job: Job<DeployJob>,
  token: string | undefined,
  state: { deploys: DeployState; leases: Leases; reports: DeployReports; reportQueue: Queue<DeployReportJob>; queue: Queue<DeployJob> },
  workerDeps: DeployWorkerDeps,
  limits: WorkerLimits,
): Promise<{ outcome: string; value: string }> {
  const queue = state.queue;
  const deps: DeployDeps = {
    ...workerDeps,
    // A soak is a delayed job of its own: this job ends and lets the branch's lease go.
    continueLater: async (next, atMs) => {
      await queue.add('deploy', next, { jobId: continueJobId(next), delay: Math.max(0, atMs - Date.now()), ...(job.opts.attempts !== undefined ? { attempts: job.opts.attempts } : {}), ...(job.opts.backoff !== undefined ? { backoff: job.opts.backoff } : {}) });
    },
    report: async (r) => {
      const deployJobId = job.id ?? `deploy-${r.repoId}-${r.sha}`;
      const jobId = deployReportJobId(deployJobId);
      // A retried deploy whose first attempt already queued its report does not queue another.
      if (await state.reportQueue.getJob(jobId)) return;
      const seq = await state.reports.claim(r.repoId, r.sha, r.changed);
      // The report is the deploy's tail: it keeps the deploy's retry policy (a command's
      // or a test's attempts), and a check run the deploy opened before reports moved here.
      await state.reportQueue.add('report', { ...r, deployJobId, seq, ...(job.data.checkRun ? { progress: { openCheck: job.data.checkRun } } : {}) }, {
        jobId,
        ...(job.opts.attempts !== undefined ? { attempts: job.opts.attempts } : {}),
        ...(job.opts.backoff !== undefined ? { backoff: job.opts.backoff } : {}),
      });
    },
  };
  const d = job.data;
  // A promotion applies the commit that waited for it, which may be older than the branch's
  // newest (a newer merge still on its way through staging): it is checked to be on the
  // branch instead. Every other deploy is of the branch's newest commit, or dropped.
  const promotion = d.reason === 'promote';
  if (!promotion && !(await state.deploys.isLatest(d))) {
    deps.log.info({ sha: d.sha.slice(0, 7), branch: d.branch }, 'a newer commit was pushed to this branch; dropping this deploy');
    return { outcome: 'superseded', value: 'superseded' };
  }
  // As long as a dead worker's job takes to be taken over (about twice its lock), no longer.
  const leaseMs = 2 * limits.lockMs;
  const lease = await state.leases.acquireDeployLock(d, leaseMs);
  if (!lease) {
    // Another worker is deploying this branch: come back shortly, without using an attempt.
    await job.moveToDelayed(Date.now() + RETRY_LOCKED_MS, token);
    throw new DelayedError();
  }
  const keepAlive = setInterval(() => void lease.extend().catch(() => undefined), leaseMs / 3);
  try {
    // Checked again under the lease: a newer commit may have arrived while we waited.
    if (!promotion && !(await state.deploys.isLatest(d))) return { outcome: 'superseded', value: 'superseded' };
    // Redis is not a trust boundary: what the job claims is confirmed with GitHub first.
    const host = await deps.hosts(d);
    const verdict = await checkDeployClaim(d, { repository: () => host.repository(), branchHead: (b) => host.branchHead(b), ...(promotion ? { onBranch: (sha: string, b: string) => host.commitOnBranch(sha, b) } : {}) });
    if (!verdict.deploy) {
      const line = verdict.stale ? 'this commit is no longer the head of its branch; deploying nothing' : 'GitHub does not confirm this deploy job; deploying nothing';
      (verdict.stale ? deps.log.info.bind(deps.log) : deps.log.warn.bind(deps.log))({ job: job.id, repo: `${d.owner}/${d.repo}`, branch: d.branch, sha: d.sha.slice(0, 7), why: verdict.why }, line);
      return { outcome: 'refused', value: 'refused' };
    }
    // GitHub's default branch, not the job's word for it: it decides which branch may deploy.
    await runDeploy({ ...d, defaultBranch: verdict.defaultBranch }, deps);
    return { outcome: 'completed', value: 'deployed' };
  } finally {
    clearInterval(keepAlive);
    await lease.release();
  }
}

/**
 * Reports applied deploys on GitHub (check run, Deployments, comment, notifications), its
 * writes paced per installation with every other worker's. No lease: reports of one branch
 * may run side by side, and the newest status of an environment wins (DeployReports).
 */
export function startDeployReportWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, reports: DeployReports, deps: DeployReportWorkerDeps): Worker<DeployReportJob> {
  return startFlowWorker<DeployReportJob, string>(
    {
      queue: DEPLOY_REPORT_QUEUE,
      flow: 'deploy-report',
      connection,
      prefix,
      limits,
      log: deps.log,
      onGaveUp: async (job, attempts, err) => {
        const host = await deps.hosts(job.data);
        const title = `${CHECK_NAMES.deploy} failed after ${attempts} attempts`;
        const why = shownFailure(err, job.id, deps.log);
        const checkRun = job.data.progress?.checkRun ?? job.data.progress?.openCheck;
        // The cluster has the commit; what failed is telling GitHub. The check says both.
        const summary = `mergeops applied this commit but could not finish reporting it on GitHub: ${why}\n\n${formatDeployCheck(storedReport(job.data.report)).summary}`.slice(0, DEPLOY_SUMMARY_LIMIT);
        await failDeployCheck(host, job.data.sha, checkRun, title, summary);
      },
    },
    async (job) => {
      await reportDeploy(job.data, {
        ...deps,
        progress: {
          get: () => job.data.progress ?? {},
          set: async (progress) => {
            await job.updateData({ ...job.data, progress });
          },
        },
        newerReport: (j, app) => reports.newer(j, app),
      });
      return { outcome: 'completed', value: 'reported' };
    },
  );
}

/** After a deploy's last attempt: fails the check run it opened, or reports a failed one on the commit. */
async function failDeployCheck(host: RepoHost, sha: string, open: { id: number } | undefined, title: string, summary: string): Promise<void> {
  if (open) await host.failCheck(open.id, title, summary);
  else await host.reportCheck(CHECK_NAMES.deploy, sha, { conclusion: 'failure', title, summary, text: '', annotations: [] });
}
