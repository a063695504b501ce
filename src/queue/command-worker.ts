import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import type { CommandHost } from '../commands/host.js';
import { COMMAND_QUEUE, commandJobId, type CommandJob } from '../commands/jobs.js';
import { runCommand, type CommandDeps } from '../commands/run.js';
import { startFlowWorker, type WorkerLimits } from './flow-worker.js';

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

export type CommandWorkerDeps = Omit<CommandDeps, 'host'> & {
  host(job: CommandJob): Promise<CommandHost>;
  /** After a command that changed what the dashboard shows (a lock, an unlock, a promotion). */
  changed?(job: CommandJob): Promise<void>;
};

export function startCommandWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, deps: CommandWorkerDeps): Worker<CommandJob> {
  return startFlowWorker<CommandJob, string>(
    {
      queue: COMMAND_QUEUE,
      flow: COMMAND_QUEUE,
      connection,
      prefix,
      limits,
      log: deps.log,
      onGaveUp: async (job) => {
        const src = job.data.source;
        if (src.kind !== 'comment') return;
        // The user saw 👀; they must not be left waiting for an answer that never comes.
        const host = await deps.host(job.data);
        await host.comment(src.issue, `> ${src.line.slice(0, 200)}\n\n:x: mergeops could not finish this command (an error on our side, logged for the operator). Try again in a minute.`);
      },
    },
    async (job) => {
      const host = await deps.host(job.data);
      const out = await runCommand(job.data, { ...deps, host });
      if (out.ok && (out.command === 'lock' || out.command === 'unlock' || out.command === 'promote')) await deps.changed?.(job.data);
      return { outcome: 'completed', value: out.ok ? 'ok' : 'refused' };
    },
  );
}
