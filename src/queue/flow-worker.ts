import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { errorText, isTransient, publicFailure } from '../errors.js';
import { jobsTotal } from '../metrics.js';

/**
 * How many jobs a worker runs at once, and how long a job's lock lasts without renewal:
 * a killed worker's job is picked up by another worker within about twice `lockMs`.
 */
export interface WorkerLimits {
  concurrency: number;
  lockMs: number;
}

export interface FlowWorkerOptions<T> {
  queue: string;
  /** The queue label of `mergeops_jobs_total` and the name in log lines. */
  flow: string;
  connection: ConnectionOptions;
  prefix: string;
  limits: WorkerLimits;
  log: Logger;
  /**
   * Runs after a job's last attempt failed, before the failure is recorded: a flow closes
   * what it opened on GitHub (its check run) so nothing spins forever. Best effort: an
   * error here is only logged, the job is failing already. What it shows of `err` on a
   * public check run goes through publicFailure.
   */
  onGaveUp?(job: Job<T>, attempts: number, err: unknown): Promise<void>;
  /**
   * Runs after an attempt failed transiently (isTransient) with attempts left, before the
   * queue's backoff: a flow says on GitHub that it is retrying (n/N). Best effort.
   */
  onRetry?(job: Job<T>, next: number, attempts: number, err: unknown): Promise<void>;
}

/** What a processor may return: the outcome label of `mergeops_jobs_total`, and the job's return value. */
export interface FlowResult<R> {
  outcome: string;
  value: R;
}

/**
 * The one way a flow runs from a queue: the Worker with the job lock and stall settings,
 * the jobs metric, a redacted error log line per failed attempt, and the last-attempt
 * block. A processor that moved its job to delayed throws DelayedError, which is neither
 * a failure nor an attempt.
 */
export function startFlowWorker<T, R>(opts: FlowWorkerOptions<T>, process: (job: Job<T>, token: string | undefined) => Promise<FlowResult<R>>): Worker<T, R> {
  const worker = new Worker<T, R>(
    opts.queue,
    async (job, token) => {
      try {
        const { outcome, value } = await process(job, token);
        jobsTotal.inc({ queue: opts.flow, outcome });
        return value;
      } catch (err) {
        if (err instanceof DelayedError) throw err;
        jobsTotal.inc({ queue: opts.flow, outcome: 'failed' });
        const message = errorText(err);
        const attempts = job.attemptsMade + 1;
        const last = attempts >= (job.opts.attempts ?? 1);
        opts.log.error({ job: job.id, attempt: attempts, last, err: message }, `${opts.flow} failed`);
        if (last && opts.onGaveUp) {
          await opts.onGaveUp(job, attempts, err).catch((e: unknown) => opts.log.error({ err: errorText(e) }, `could not close the ${opts.flow} on GitHub after its last attempt`));
        }
        if (!last && opts.onRetry && isTransient(err)) {
          await opts.onRetry(job, attempts + 1, job.opts.attempts ?? 1, err).catch((e: unknown) => opts.log.warn({ err: errorText(e) }, `could not say on GitHub that the ${opts.flow} is retrying`));
        }
        throw err;
      }
    },
    {
      connection: opts.connection,
      prefix: opts.prefix,
      concurrency: opts.limits.concurrency,
      lockDuration: opts.limits.lockMs,
      stalledInterval: opts.limits.lockMs,
      maxStalledCount: 2,
    },
  );
  worker.on('error', (err) => opts.log.error({ err: errorText(err) }, `${opts.flow} worker error`));
  return worker;
}

/**
 * The text a failed job's public check run shows: a user error's own, or for ours only an
 * id, with the detail logged under it (publicFailure).
 */
export function shownFailure(err: unknown, jobId: string | undefined, log: Logger): string {
  return publicFailure(err, (errorId, detail) => log.error({ job: jobId, errorId, err: detail }, 'job gave up; this is the detail behind the id in its check run'));
}
