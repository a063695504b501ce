import { Worker, type ConnectionOptions } from 'bullmq';
import { runDriftScan, type DriftDeps } from '../flows/drift.js';
import { errorText } from '../errors.js';
import { DRIFT_QUEUE } from './jobs.js';
import type { Queues } from './queues.js';

/**
 * The drift watch: one job scheduler in Redis (so N worker replicas still scan once per
 * interval) and a worker that runs the scan.
 */
export async function startDriftWorker(connection: ConnectionOptions, prefix: string, queues: Queues, intervalMs: number, deps: DriftDeps): Promise<Worker> {
  if (intervalMs > 0) await queues.drift.upsertJobScheduler('drift-scan', { every: intervalMs }, { name: 'drift-scan', data: {} });
  else await queues.drift.removeJobScheduler('drift-scan');
  const worker = new Worker(DRIFT_QUEUE, async () => (await runDriftScan(deps)).length, { connection, prefix, concurrency: 1 });
  worker.on('error', (err) => deps.log.error({ err: errorText(err) }, 'drift worker error'));
  return worker;
}
