import type { ConnectionOptions, Worker } from 'bullmq';
import { CHECK_NAMES } from '../check-names.js';
import { runPreview, type PreviewDeps } from '../flows/preview.js';
import type { PreviewJob } from '../flows/jobs.js';
import { shownFailure, startFlowWorker, type WorkerLimits } from './flow-worker.js';
import { PREVIEW_QUEUE } from './jobs.js';

export type PreviewWorkerDeps = Omit<PreviewDeps, 'checkRunId' | 'environmentCheckRunIds'>;

export function startPreviewWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, deps: PreviewWorkerDeps): Worker<PreviewJob> {
  return startFlowWorker<PreviewJob, void>(
    {
      queue: PREVIEW_QUEUE,
      flow: 'preview',
      connection,
      prefix,
      limits,
      log: deps.log,
      onGaveUp: async (job, attempts, err) => {
        if (job.data.checkRunId === undefined) return;
        const host = await deps.hosts(job.data);
        await host.failCheck(job.data.checkRunId, `${CHECK_NAMES.preview} failed after ${attempts} attempts`, `mergeops could not finish this preview: ${shownFailure(err, job.id, deps.log)}\n\nPush again or re-run the check to retry.`);
      },
    },
    async (job) => {
      await runPreview(job.data, {
        ...deps,
        checkRunId: {
          get: () => job.data.checkRunId,
          set: async (id) => {
            await job.updateData({ ...job.data, checkRunId: id });
          },
        },
        environmentCheckRunIds: {
          get: (environment) => job.data.environmentCheckRunIds?.[environment],
          set: async (environment, id) => {
            await job.updateData({ ...job.data, environmentCheckRunIds: { ...job.data.environmentCheckRunIds, [environment]: id } });
          },
        },
      });
      return { outcome: 'completed', value: undefined };
    },
  );
}
