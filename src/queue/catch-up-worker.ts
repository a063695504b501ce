import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import { runCatchUp, type CatchUpDeps } from '../flows/catch-up.js';
import { startFlowWorker } from './flow-worker.js';

export const CATCH_UP_QUEUE = 'catch-up';
/** The one repeatable catch-up (N worker replicas still catch up once per interval). */
const CATCH_UP_SCHEDULER_ID = 'catch-up';

export interface CatchUpWorker {
  /** Holds the repeatable catch-up and the one run on start; for the admin UI and metrics. */
  queue: Queue;
  close(): Promise<void>;
}

/**
 * Catch-up after an outage: a job scheduler in Redis runs it every `intervalMs`, and each
 * worker process asks for one run on start — one per interval however many replicas start
 * together (the job id names the interval) — since a scheduler that already existed before
 * the outage would otherwise wait out its next slot.
 */
export async function startCatchUpWorker(connection: ConnectionOptions, prefix: string, lockMs: number, deps: CatchUpDeps): Promise<CatchUpWorker> {
  const queue = new Queue<Record<string, never>>(CATCH_UP_QUEUE, { connection, prefix, defaultJobOptions: { removeOnComplete: 100, removeOnFail: 100 } });
  if (deps.intervalMs <= 0) {
    await queue.removeJobScheduler(CATCH_UP_SCHEDULER_ID);
    return { queue, close: () => queue.close() };
  }
  await queue.upsertJobScheduler(CATCH_UP_SCHEDULER_ID, { every: deps.intervalMs }, { name: 'catch-up', data: {} });
  await queue.add('catch-up', {}, { jobId: `catch-up-start-${Math.floor(Date.now() / deps.intervalMs)}` });
  const worker: Worker = startFlowWorker<Record<string, never>, number>({ queue: CATCH_UP_QUEUE, flow: 'catch-up', connection, prefix, limits: { concurrency: 1, lockMs }, log: deps.log }, async () => {
    const outcome = await runCatchUp(deps);
    return { outcome: 'completed', value: outcome.redelivered.length + outcome.deployed.length };
  });
  return {
    queue,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}
