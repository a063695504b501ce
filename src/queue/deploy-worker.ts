import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { DEPLOY_CHECK, runDeploy, type DeployDeps } from '../flows/deploy.js';
import { failCheck } from '../github/checks.js';
import { errorText } from '../errors.js';
import { jobsTotal } from '../metrics.js';
import { DEPLOY_QUEUE, type DeployJob } from './jobs.js';
import type { SharedState } from './state.js';
import type { WorkerLimits } from './worker.js';

const LEASE_MS = 60_000;
const RETRY_LOCKED_MS = 1000;

/**
 * Deploys of one branch never overlap (a Redis lease shared by every worker), and the
 * newest pushed commit wins: a job whose commit is no longer the branch's newest is
 * dropped instead of run, so the cluster never goes back to an older commit — self-heal
 * re-applies included.
 */
export type DeployWorkerDeps = Omit<DeployDeps, 'checkRun'>;

export function startDeployWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, state: SharedState, deps: DeployWorkerDeps): Worker<DeployJob> {
  const worker = new Worker<DeployJob>(DEPLOY_QUEUE, (job, token) => processDeploy(job, token, state, deps), {
    connection,
    prefix,
    concurrency: limits.concurrency,
    lockDuration: limits.lockMs,
    stalledInterval: limits.lockMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => deps.log.error({ err: errorText(err) }, 'deploy worker error'));
  return worker;
}

async function processDeploy(job: Job<DeployJob>, token: string | undefined, state: SharedState, workerDeps: DeployWorkerDeps): Promise<string> {
  const deps: DeployDeps = {
    ...workerDeps,
    checkRun: {
      get: () => job.data.checkRun,
      set: async (checkRun) => {
        await job.updateData({ ...job.data, checkRun });
      },
    },
  };
  const d = job.data;
  if (!(await state.isLatestDeploy(d))) {
    deps.log.info({ sha: d.sha.slice(0, 7), branch: d.branch }, 'a newer commit was pushed to this branch; dropping this deploy');
    jobsTotal.inc({ queue: 'deploy', outcome: 'superseded' });
    return 'superseded';
  }
  const lease = await state.acquireDeployLock(d, LEASE_MS);
  if (!lease) {
    // Another worker is deploying this branch: come back shortly, without using an attempt.
    await job.moveToDelayed(Date.now() + RETRY_LOCKED_MS, token);
    throw new DelayedError();
  }
  const keepAlive = setInterval(() => void lease.extend().catch(() => undefined), LEASE_MS / 3);
  try {
    // Checked again under the lease: a newer commit may have arrived while we waited.
    if (!(await state.isLatestDeploy(d))) {
      jobsTotal.inc({ queue: 'deploy', outcome: 'superseded' });
      return 'superseded';
    }
    await runDeploy(d, deps);
    jobsTotal.inc({ queue: 'deploy', outcome: 'completed' });
    return 'deployed';
  } catch (err) {
    jobsTotal.inc({ queue: 'deploy', outcome: 'failed' });
    const message = errorText(err);
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    deps.log.error({ job: job.id, attempt: job.attemptsMade + 1, last, err: message }, 'deploy failed');
    const checkRun = job.data.checkRun;
    if (last && checkRun) {
      const octokit = await deps.github(d.installationId);
      await failCheck(
        octokit,
        { owner: d.owner, repo: d.repo },
        checkRun.id,
        `${DEPLOY_CHECK} failed after ${job.attemptsMade + 1} attempts`,
        `mergeops could not finish this deploy: ${message}\n\nPush again to retry.`,
        (e) => deps.log.error({ err: errorText(e) }, 'could not mark the deploy check run failed'),
      );
    }
    throw err;
  } finally {
    clearInterval(keepAlive);
    await lease.release();
  }
}
