import { Queue, type ConnectionOptions } from 'bullmq';
import { PREVIEW_QUEUE, previewJobId, type PreviewJob } from './jobs.js';

export interface Queues {
  preview: Queue<PreviewJob>;
  close(): Promise<void>;
}

export function createQueues(connection: ConnectionOptions, prefix: string): Queues {
  const preview = new Queue<PreviewJob>(PREVIEW_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 5000 },
      // Kept a week so the job id still dedupes late duplicates of the same head SHA.
      removeOnComplete: { age: 7 * 24 * 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  return {
    preview,
    close: async () => {
      await preview.close();
    },
  };
}

export async function enqueuePreview(queues: Queues, job: PreviewJob): Promise<boolean> {
  const id = previewJobId(job);
  const existing = await queues.preview.getJob(id);
  if (existing) return false;
  await queues.preview.add('preview', job, { jobId: id });
  return true;
}
