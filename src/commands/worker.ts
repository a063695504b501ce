import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { jobsTotal } from '../metrics.js';
import { redactSecrets } from '../util/redact.js';
import type { WorkerLimits } from '../queue/flow-worker.js';
import type { CommandHost } from './host.js';
import { COMMAND_QUEUE, commandJobId, type CommandJob } from './jobs.js';
import { runCommand, type CommandDeps } from './run.js';

export function createCommandQueue(connection: ConnectionOptions, prefix: string): Queue<CommandJob> {
  return new Queue<CommandJob>(COMMAND_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      // A command is a person waiting; two retries cover a GitHub blip, not an outage.
      attempts: 3,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: 3 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}

/** The comment id is the job id: a redelivered `issue_comment` runs the command once. */
export async function enqueueCommand(queue: Queue<CommandJob>, job: CommandJob): Promise<boolean> {
  const id = commandJobId(job);
  if (await queue.getJob(id)) return false;
  await queue.add(job.source.kind, job, { jobId: id });
  return true;
}

export type CommandWorkerDeps = Omit<CommandDeps, 'host'> & { host(job: CommandJob): Promise<CommandHost> };

export function startCommandWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, deps: CommandWorkerDeps): Worker<CommandJob> {
  const worker = new Worker<CommandJob>(
    COMMAND_QUEUE,
    async (job) => {
      const host = await deps.host(job.data);
      try {
        const out = await runCommand(job.data, { ...deps, host });
        jobsTotal.inc({ queue: COMMAND_QUEUE, outcome: 'completed' });
        return out.ok ? 'ok' : 'refused';
      } catch (err) {
        jobsTotal.inc({ queue: COMMAND_QUEUE, outcome: 'failed' });
        const last = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        deps.log.error({ job: job.id, attempt: job.attemptsMade + 1, last, err: redactSecrets(err instanceof Error ? err.message : String(err)) }, 'command failed');
        const src = job.data.source;
        if (last && src.kind === 'comment') {
          // The user saw 👀; they must not be left waiting for an answer that never comes.
          await host
            .reply(src.issue, `> ${src.line.slice(0, 200)}\n\n:x: mergeops could not finish this command (an error on our side, logged for the operator). Try again in a minute.`)
            .catch((e: unknown) => deps.log.error({ err: redactSecrets(String(e)) }, 'could not report the failed command'));
        }
        throw err;
      }
    },
    { connection, prefix, concurrency: limits.concurrency, lockDuration: limits.lockMs, stalledInterval: limits.lockMs, maxStalledCount: 2 },
  );
  worker.on('error', (err) => deps.log.error({ err: redactSecrets(String(err)) }, 'command worker error'));
  return worker;
}
