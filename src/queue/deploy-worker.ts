import { DelayedError, type ConnectionOptions, type Job, type Worker } from 'bullmq';
import { CHECK_NAMES } from '../check-names.js';
import { runDeploy, type DeployDeps } from '../flows/deploy.js';
import { checkDeployClaim } from '../policy/deploy-gate.js';
import type { DeployJob } from '../flows/jobs.js';
import { shownFailure, startFlowWorker, type WorkerLimits } from './flow-worker.js';
import { DEPLOY_QUEUE } from './jobs.js';
import type { DeployState, Leases } from './state.js';

const LEASE_MS = 60_000;
const RETRY_LOCKED_MS = 1000;

export type DeployWorkerDeps = Omit<DeployDeps, 'checkRun'>;

/**
 * Deploys of one branch never overlap (a Redis lease shared by every worker), and the
 * newest pushed commit wins: a job whose commit is no longer the branch's newest is
 * dropped instead of run, so the cluster never goes back to an older commit — self-heal
 * re-applies included.
 */
export function startDeployWorker(
  connection: ConnectionOptions,
  prefix: string,
  limits: WorkerLimits,
  state: { deploys: DeployState; leases: Leases },
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
        const checkRun = job.data.checkRun;
        if (!checkRun) return;
        const host = await deps.hosts(job.data);
        await host.failCheck(checkRun.id, `${CHECK_NAMES.deploy} failed after ${attempts} attempts`, `mergeops could not finish this deploy: ${shownFailure(err, job.id, deps.log)}\n\nPush again to retry.`);
      },
    },
    (job, token) => processDeploy(job, token, state, deps),
  );
}

async function processDeploy(job: Job<DeployJob>, token: string | undefined, state: { deploys: DeployState; leases: Leases }, workerDeps: DeployWorkerDeps): Promise<{ outcome: string; value: string }> {
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
  if (!(await state.deploys.isLatest(d))) {
    deps.log.info({ sha: d.sha.slice(0, 7), branch: d.branch }, 'a newer commit was pushed to this branch; dropping this deploy');
    return { outcome: 'superseded', value: 'superseded' };
  }
  const lease = await state.leases.acquireDeployLock(d, LEASE_MS);
  if (!lease) {
    // Another worker is deploying this branch: come back shortly, without using an attempt.
    await job.moveToDelayed(Date.now() + RETRY_LOCKED_MS, token);
    throw new DelayedError();
  }
  const keepAlive = setInterval(() => void lease.extend().catch(() => undefined), LEASE_MS / 3);
  try {
    // Checked again under the lease: a newer commit may have arrived while we waited.
    if (!(await state.deploys.isLatest(d))) return { outcome: 'superseded', value: 'superseded' };
    // Redis is not a trust boundary: what the job claims is confirmed with GitHub first.
    const host = await deps.hosts(d);
    const verdict = await checkDeployClaim(d, { repository: () => host.repository(), branchHead: (b) => host.branchHead(b) });
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
