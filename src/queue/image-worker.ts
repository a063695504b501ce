import { DelayedError, UnrecoverableError, type ConnectionOptions, type Job, type Worker } from 'bullmq';
import { onRegistryRateLimit, runBump, runSync, type BumpDeps } from '../flows/bump.js';
import { runPromotion } from '../flows/promote.js';
import { RegistryRateLimitError } from '../images/registry/datasource.js';
import type { BumpJob, ImageJob, RepoTarget } from '../flows/jobs.js';
import { runPoll, type PollDeps, type PollOutcome } from '../flows/poll.js';
import type { ImageEvent } from '../images/events.js';
import { startFlowWorker } from './flow-worker.js';
import type { ImageIndex } from './image-index.js';
import { IMAGE_POLL_QUEUE, IMAGE_QUEUE, bumpJobId, pollSchedulerId, shortHash, type PollJob } from './jobs.js';
import type { Queues } from './queues.js';
import type { Leases } from './state.js';

const LEASE_MS = 120_000;

export interface ImageWorkerDeps extends Omit<BumpDeps, 'syncImages'> {
  index: ImageIndex;
  queues: Queues;
  leases: Leases;
  pollIntervalMs: number;
  /** Job lock and stall check, as for the other workers (MERGEOPS_JOB_LOCK_MS). */
  lockMs: number;
}

/** Starts polling an image (or stops, when nobody watches it or polling is off). */
export async function schedulePoll(queues: Queues, image: string, intervalMs: number): Promise<void> {
  const id = pollSchedulerId(image);
  if (intervalMs > 0) await queues.imagePoll.upsertJobScheduler(id, { every: intervalMs }, { name: 'poll', data: { repository: image } });
  else await queues.imagePoll.removeJobScheduler(id);
}

/** Keeps the index and the poll schedulers in step when a repo's `images:` change. */
export function syncImages(deps: Pick<ImageWorkerDeps, 'index' | 'queues' | 'pollIntervalMs'>): BumpDeps['syncImages'] {
  return async (target, rules) => {
    const { added, orphaned } = await deps.index.sync(target, rules);
    for (const image of added) await schedulePoll(deps.queues, image, deps.pollIntervalMs);
    for (const image of orphaned) await schedulePoll(deps.queues, image, 0);
  };
}

/**
 * Fans a registry event out to every repo watching the image. The job id covers the
 * event, so a redelivered notification (or the same build seen twice) is one bump.
 */
export async function enqueueImageEvents(queues: Queues, index: ImageIndex, events: ImageEvent[]): Promise<number> {
  let n = 0;
  for (const e of events) {
    const announced = { ...(e.tag ? { tag: e.tag } : {}), ...(e.digest ? { digest: e.digest } : {}), source: e.source };
    for (const w of await index.watchers(e.repository)) {
      await addBump(queues, w, e.repository, announced, [e.tag ?? '', e.digest ?? '']);
      n++;
    }
  }
  return n;
}

/** One bump job for one watching repo; `idParts` name the trigger, so the same trigger twice is one job. */
async function addBump(queues: Queues, w: RepoTarget, image: string, event: BumpJob['events'][number], idParts: string[]): Promise<void> {
  const job: BumpJob = { installationId: w.installationId, owner: w.owner, repo: w.repo, repoId: w.repoId, defaultBranch: w.defaultBranch, kind: 'bump', repository: image, events: [event] };
  await queues.image.add('bump', job, { jobId: bumpJobId(w, image, ...idParts) });
}

/** The poll flow's view of the watch index and the queues. */
export function pollDeps(deps: Pick<ImageWorkerDeps, 'index' | 'queues' | 'registry' | 'log' | 'pollIntervalMs'>): PollDeps {
  return {
    registry: deps.registry,
    log: deps.log,
    pollIntervalMs: deps.pollIntervalMs,
    watchers: (image) => deps.index.watchers(image),
    pollState: (image) => deps.index.pollState(image),
    setPollState: (image, s) => deps.index.setPollState(image, s),
    stopPolling: (image) => schedulePoll(deps.queues, image, 0),
    enqueueBump: (w, image, fingerprint) => addBump(deps.queues, w, image, { source: 'tag poll' }, [fingerprint]),
    fingerprint: (parts) => shortHash(...parts),
  };
}

export async function startImageWorkers(connection: ConnectionOptions, prefix: string, deps: ImageWorkerDeps): Promise<Worker[]> {
  // Reconcile schedulers with the index: the interval may have changed since the last start.
  for (const image of await deps.index.images()) await schedulePoll(deps.queues, image, deps.pollIntervalMs);
  const bumpDeps: BumpDeps = { ...deps, syncImages: syncImages(deps) };
  const image = startFlowWorker<ImageJob, unknown>(
    { queue: IMAGE_QUEUE, flow: 'image-bump', connection, prefix, limits: { concurrency: 2, lockMs: deps.lockMs }, log: deps.log },
    (job, token) => processImageJob(job, token, deps, bumpDeps),
  );
  const poll = startFlowWorker<PollJob, PollOutcome>(
    { queue: IMAGE_POLL_QUEUE, flow: 'image-poll', connection, prefix, limits: { concurrency: 4, lockMs: deps.lockMs }, log: deps.log },
    async (job) => {
      const outcome = await runPoll(job.data.repository, pollDeps(deps));
      return { outcome, value: outcome };
    },
  );
  return [image, poll];
}

async function processImageJob(job: Job<ImageJob>, token: string | undefined, deps: ImageWorkerDeps, bumpDeps: BumpDeps): Promise<{ outcome: string; value: unknown }> {
  const d = job.data;
  if (d.kind === 'sync') return { outcome: 'synced', value: await runSync(d, bumpDeps) };
  // One bump or promotion at a time per repo: two builds landing together must not race on one branch.
  const lease = await deps.leases.acquireLease(`bump:${d.repoId}`, LEASE_MS);
  if (!lease) {
    await job.moveToDelayed(Date.now() + 1000, token);
    throw new DelayedError();
  }
  try {
    if (d.kind === 'promote') return { outcome: 'completed', value: await runPromotion(d, bumpDeps) };
    return { outcome: 'completed', value: await runBump(d, bumpDeps) };
  } catch (err) {
    if (!(err instanceof RegistryRateLimitError) || d.kind === 'promote') throw err;
    const waits = d.rateLimitWaits ?? 0;
    const next = onRegistryRateLimit(err, waits);
    if ('giveUp' in next) throw new UnrecoverableError(next.giveUp);
    // Delayed, not failed: a wait is not an attempt, and the worker serves other jobs meanwhile.
    deps.log.warn({ repo: `${d.owner}/${d.repo}`, image: d.repository, waitMs: next.waitMs, wait: waits + 1 }, 'registry rate-limited the image bump; waiting as long as its Retry-After asks');
    await job.updateData({ ...d, rateLimitWaits: waits + 1 });
    await job.moveToDelayed(Date.now() + next.waitMs, token);
    throw new DelayedError();
  } finally {
    await lease.release();
  }
}
