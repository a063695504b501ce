import type { ConnectionOptions, Worker } from 'bullmq';
import { runDriftScan, type DriftDeps } from '../flows/drift.js';
import { startFlowWorker } from './flow-worker.js';
import { DRIFT_QUEUE, DRIFT_SCHEDULER_ID } from './jobs.js';
import type { Queues } from './queues.js';

/**
 * The drift watch: one job scheduler in Redis (so N worker replicas still scan once per
 * interval) and a worker that runs the scan, one at a time.
 */
export async function startDriftWorker(connection: ConnectionOptions, prefix: string, queues: Queues, intervalMs: number, lockMs: number, deps: DriftDeps): Promise<Worker> {
  if (intervalMs > 0) await queues.drift.upsertJobScheduler(DRIFT_SCHEDULER_ID, { every: intervalMs }, { name: 'drift-scan', data: {} });
  else await queues.drift.removeJobScheduler(DRIFT_SCHEDULER_ID);
  return startFlowWorker<Record<string, never>, number>(
    { queue: DRIFT_QUEUE, flow: 'drift', connection, prefix, limits: { concurrency: 1, lockMs }, log: deps.log },
    async () => ({ outcome: 'completed', value: (await runDriftScan(deps)).length }),
  );
}
