import { Queue, type ConnectionOptions } from 'bullmq';
import type { DeployJob, DeployReportJob, ImageJob, PreviewJob, PromoteJob, SyncJob } from '../flows/jobs.js';
import { DEPLOY_QUEUE, DEPLOY_REPORT_QUEUE, DRIFT_QUEUE, IMAGE_POLL_QUEUE, IMAGE_QUEUE, PREVIEW_QUEUE, deployJobId, healJobId, previewJobId, promoteJobId, syncJobId, type DriftJob, type PollJob } from './jobs.js';

export interface Queues {
  preview: Queue<PreviewJob>;
  deploy: Queue<DeployJob>;
  /** Deploys' GitHub bookkeeping (check run, Deployments, comment), after their apply. */
  deployReport: Queue<DeployReportJob>;
  /** Drift checks: the repeatable full compare (interval trigger), or what the watches ask for. */
  drift: Queue<DriftJob>;
  /** Image bumps and config syncs. */
  image: Queue<ImageJob>;
  /** Holds one repeatable tag poll per watched image. */
  imagePoll: Queue<PollJob>;
  /** Every queue, for the admin UI and queue-depth metrics. */
  all: Queue[];
  close(): Promise<void>;
}

const JOB_DEFAULTS = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 5000 },
  // Kept a week so the job id still dedupes late duplicates of the same commit.
  removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const preview = new Queue<PreviewJob>(PREVIEW_QUEUE, { connection, prefix, defaultJobOptions: JOB_DEFAULTS });
  const deploy = new Queue<DeployJob>(DEPLOY_QUEUE, { connection, prefix, defaultJobOptions: JOB_DEFAULTS });
  const deployReport = new Queue<DeployReportJob>(DEPLOY_REPORT_QUEUE, { connection, prefix, defaultJobOptions: JOB_DEFAULTS });
  const drift = new Queue<DriftJob>(DRIFT_QUEUE, { connection, prefix, defaultJobOptions: { removeOnComplete: 100, removeOnFail: 100 } });
  const image = new Queue<ImageJob>(IMAGE_QUEUE, { connection, prefix, defaultJobOptions: JOB_DEFAULTS });
  const imagePoll = new Queue<PollJob>(IMAGE_POLL_QUEUE, { connection, prefix, defaultJobOptions: { removeOnComplete: 100, removeOnFail: 100 } });
  return {
    preview,
    deploy,
    deployReport,
    drift,
    image,
    imagePoll,
    all: [preview, deploy, deployReport, drift, image, imagePoll] as Queue[],
    close: async () => {
      await Promise.all([preview.close(), deploy.close(), deployReport.close(), drift.close(), image.close(), imagePoll.close()]);
    },
  };
}

export async function enqueueDeploy(queues: Queues, job: DeployJob): Promise<boolean> {
  const id = deployJobId(job);
  if (await queues.deploy.getJob(id)) return false;
  await queues.deploy.add('deploy', job, { jobId: id });
  return true;
}

export async function enqueuePreview(queues: Queues, job: PreviewJob): Promise<boolean> {
  const id = previewJobId(job);
  const existing = await queues.preview.getJob(id);
  if (existing) return false;
  await queues.preview.add('preview', job, { jobId: id });
  return true;
}

/** Re-applies a deployed commit; a fresh id each time, as every heal is a new decision. */
export async function enqueueHeal(queues: Queues, job: DeployJob & { app?: string }): Promise<void> {
  await queues.deploy.add('deploy', job, { jobId: healJobId(job) });
}

/** Re-reads a repo's `images:`; the same commit twice is one job. */
export async function enqueueSync(queues: Queues, job: SyncJob): Promise<void> {
  await queues.image.add('sync', job, { jobId: syncJobId(job) });
}

/**
 * Proposes a promotion once the source environment's soak is over: a delayed job, so no
 * worker (nor the deploy's lease) waits out the soak; the same commit twice is one job.
 */
export async function enqueuePromotion(queues: Queues, job: PromoteJob, delayMs: number): Promise<void> {
  await queues.image.add('promote', job, { jobId: promoteJobId(job), ...(delayMs > 0 ? { delay: delayMs } : {}) });
}
