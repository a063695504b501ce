import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { runPreview, type PreviewDeps } from '../flows/preview.js';
import { PREVIEW_CHECK, failCheck } from '../github/checks.js';
import { errorText } from '../errors.js';
import { jobsTotal } from '../metrics.js';
import { PREVIEW_QUEUE, type PreviewJob } from './jobs.js';

export type PreviewWorkerDeps = Omit<PreviewDeps, 'checkRunId'>;

/**
 * How many jobs a worker runs at once, and how long a job's lock lasts without renewal:
 * a killed worker's job is picked up by another worker within about twice `lockMs`.
 */
export interface WorkerLimits {
  concurrency: number;
  lockMs: number;
}

export function startPreviewWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, deps: PreviewWorkerDeps): Worker<PreviewJob> {
  const worker = new Worker<PreviewJob>(PREVIEW_QUEUE, (job) => processPreview(job, deps), {
    connection,
    prefix,
    concurrency: limits.concurrency,
    lockDuration: limits.lockMs,
    stalledInterval: limits.lockMs,
    maxStalledCount: 2,
  });
  worker.on('error', (err) => deps.log.error({ err: errorText(err) }, 'preview worker error'));
  return worker;
}

async function processPreview(job: Job<PreviewJob>, deps: PreviewWorkerDeps): Promise<void> {
  try {
    await runPreview(job.data, {
      ...deps,
      checkRunId: {
        get: () => job.data.checkRunId,
        set: async (id) => {
          await job.updateData({ ...job.data, checkRunId: id });
        },
      },
    });
    jobsTotal.inc({ queue: 'preview', outcome: 'completed' });
  } catch (err) {
    jobsTotal.inc({ queue: 'preview', outcome: 'failed' });
    const message = errorText(err);
    const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    deps.log.error({ job: job.id, attempt: job.attemptsMade + 1, last, err: message }, 'preview failed');
    if (last && job.data.checkRunId !== undefined) {
      const octokit = await deps.github(job.data.installationId);
      await failCheck(
        octokit,
        { owner: job.data.owner, repo: job.data.repo },
        job.data.checkRunId,
        `${PREVIEW_CHECK} failed after ${job.attemptsMade + 1} attempts`,
        `mergeops could not finish this preview: ${message}\n\nPush again or re-run the check to retry.`,
        (e) => deps.log.error({ err: errorText(e) }, 'could not mark the check run failed'),
      );
    }
    throw err;
  }
}
