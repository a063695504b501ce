import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import type { PreviewEnvJob } from '../flows/jobs.js';
import type { RepoHosts } from '../flows/host.js';
import { environmentsOf, previewClusters, sweepEnvironments, tearDown, type PreviewEnvDeps } from '../flows/preview-env.js';
import { startFlowWorker } from './flow-worker.js';

export const PREVIEW_ENV_QUEUE = 'preview-env';
/** The one repeatable sweep (N worker replicas still sweep once per interval). */
const SWEEP_SCHEDULER_ID = 'preview-env-sweep';

export interface PreviewEnvWorkerDeps extends Pick<PreviewEnvDeps, 'clusters' | 'log'> {
  hosts: RepoHosts;
  clusterNames: string[];
  sweepMs: number;
}

export interface PreviewEnvWorker {
  queue: Queue<PreviewEnvJob>;
  close(): Promise<void>;
}

/** A teardown of one PR's environments; the same event twice is one job. */
export function previewEnvDownJobId(j: Extract<PreviewEnvJob, { kind: 'down' }>, eventId: string): string {
  return `preview-env-down-${j.repoId}-${j.pr}-${eventId.replace(/[^A-Za-z0-9-]/g, '')}`;
}

export function createPreviewEnvQueue(connection: ConnectionOptions, prefix: string): Queue<PreviewEnvJob> {
  return new Queue<PreviewEnvJob>(PREVIEW_ENV_QUEUE, { connection, prefix, defaultJobOptions: { attempts: 5, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 24 * 3600, count: 1000 }, removeOnFail: { age: 7 * 24 * 3600 } } });
}

/**
 * Teardowns (close, label removed, `/mergeops env down`) and the sweep: a job scheduler in
 * Redis runs it every `sweepMs`, and each worker process asks for one on start, so
 * environments whose PR closed while mergeops was down go without waiting a whole interval.
 */
export async function startPreviewEnvWorker(connection: ConnectionOptions, prefix: string, lockMs: number, queue: Queue<PreviewEnvJob>, deps: PreviewEnvWorkerDeps): Promise<PreviewEnvWorker> {
  if (deps.sweepMs > 0) {
    await queue.upsertJobScheduler(SWEEP_SCHEDULER_ID, { every: deps.sweepMs }, { name: 'sweep', data: { kind: 'sweep' } });
    await queue.add('sweep', { kind: 'sweep' }, { jobId: `preview-env-sweep-start-${Math.floor(Date.now() / deps.sweepMs)}` });
  } else {
    await queue.removeJobScheduler(SWEEP_SCHEDULER_ID);
  }
  const worker: Worker = startFlowWorker<PreviewEnvJob, number>({ queue: PREVIEW_ENV_QUEUE, flow: 'preview-env', connection, prefix, limits: { concurrency: 1, lockMs }, log: deps.log }, async (job) => {
    const data = job.data;
    if (data.kind === 'sweep') {
      const removed = await sweepEnvironments({
        ...deps,
        host: (r) => deps.hosts({ installationId: r.installationId, owner: r.repo.split('/')[0] ?? '', repo: r.repo.split('/')[1] ?? '', repoId: r.repoId }),
      });
      return { outcome: 'completed', value: removed.length };
    }
    const all = await environmentsOf(await previewClusters(deps.clusters, deps.clusterNames), data.repoId, data.pr, data.apps);
    // Removing the label ends what the label started; a command's environment ends by command or with the PR.
    const records = data.reason === 'label removed' ? all.filter((r) => r.startedBy === 'label') : all;
    if (records.length) await tearDown(records, data.reason, deps, await deps.hosts(data));
    return { outcome: 'completed', value: records.length };
  });
  return {
    queue,
    close: async () => {
      await worker.close();
    },
  };
}
