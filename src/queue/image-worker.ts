import { DelayedError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { runBump, runSync, type BumpDeps } from '../flows/bump.js';
import { jobsTotal } from '../metrics.js';
import type { ImageEvent } from '../images/events.js';
import { RegistryRateLimitError } from '../images/registry/datasource.js';
import { errorText } from '../errors.js';
import { imageId, type ImageIndex } from './image-index.js';
import { IMAGE_POLL_QUEUE, IMAGE_QUEUE, type BumpJob, type ImageJob, type PollJob, type RepoTarget } from './jobs.js';
import type { Queues } from './queues.js';
import type { SharedState } from './state.js';

const LEASE_MS = 120_000;
/** The longest the poller waits after repeated 429s. */
const MAX_BACKOFF_MS = 3600_000;

export interface ImageWorkerDeps extends Omit<BumpDeps, 'syncImages'> {
  index: ImageIndex;
  queues: Queues;
  state: SharedState;
  pollIntervalMs: number;
  /** Job lock and stall check, as for the other workers (MERGEOPS_JOB_LOCK_MS). */
  lockMs: number;
}

/** Starts polling an image (or stops, when nobody watches it or polling is off). */
export async function schedulePoll(queues: Queues, image: string, intervalMs: number): Promise<void> {
  const id = `poll-${imageId(image)}`;
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
  await queues.image.add('bump', job, { jobId: `bump-${w.repoId}-${imageId(image, ...idParts)}` });
}

export async function startImageWorkers(connection: ConnectionOptions, prefix: string, deps: ImageWorkerDeps): Promise<Worker[]> {
  // Reconcile schedulers with the index: the interval may have changed since the last start.
  for (const image of await deps.index.images()) await schedulePoll(deps.queues, image, deps.pollIntervalMs);
  const bumpDeps: BumpDeps = { ...deps, syncImages: syncImages(deps) };
  const image = new Worker<ImageJob>(IMAGE_QUEUE, (job, token) => processImageJob(job, token, deps, bumpDeps), { connection, prefix, concurrency: 2, lockDuration: deps.lockMs, stalledInterval: deps.lockMs, maxStalledCount: 2 });
  const poll = new Worker<PollJob>(IMAGE_POLL_QUEUE, (job) => poll1(job.data.repository, deps), { connection, prefix, concurrency: 4 });
  for (const w of [image, poll]) w.on('error', (err) => deps.log.error({ err: errorText(err) }, 'image worker error'));
  return [image, poll];
}

async function processImageJob(job: Job<ImageJob>, token: string | undefined, deps: ImageWorkerDeps, bumpDeps: BumpDeps): Promise<unknown> {
  const d = job.data;
  if (d.kind === 'sync') return runSync(d, bumpDeps);
  // One bump at a time per repo: two builds landing together must not race on one branch.
  const lease = await deps.state.acquireLease(`bump:${d.repoId}`, LEASE_MS);
  if (!lease) {
    await job.moveToDelayed(Date.now() + 1000, token);
    throw new DelayedError();
  }
  try {
    const outcomes = await runBump(d, bumpDeps);
    jobsTotal.inc({ queue: 'image-bump', outcome: 'completed' });
    return outcomes;
  } catch (err) {
    jobsTotal.inc({ queue: 'image-bump', outcome: 'failed' });
    deps.log.error({ job: job.id, image: d.repository, attempt: job.attemptsMade + 1, err: errorText(err) }, 'image bump failed');
    throw err;
  } finally {
    await lease.release();
  }
}

/**
 * One poll of one image: list tags (and the digests of tags tracked by digest), and when
 * that differs from the last poll, ask every watching repo to bump. A 429 doubles the
 * wait (at least the registry's Retry-After) instead of hammering it every interval.
 */
export async function poll1(image: string, deps: Pick<ImageWorkerDeps, 'index' | 'queues' | 'registry' | 'log' | 'pollIntervalMs'>): Promise<string> {
  const log: Logger = deps.log.child({ image, flow: 'image-poll' });
  const state = await deps.index.pollState(image);
  if (Date.now() < state.until) return 'backing-off';
  const watchers = await deps.index.watchers(image);
  if (watchers.length === 0) {
    await schedulePoll(deps.queues, image, 0);
    return 'unwatched';
  }
  let fingerprint: string;
  try {
    const tags = (await deps.registry.listTags(image)).sort();
    const digestTags = [...new Set(watchers.flatMap((w) => w.digestTags))].sort();
    const digests = await Promise.all(digestTags.map(async (t) => `${t}@${(await deps.registry.digest(image, t)) ?? ''}`));
    fingerprint = imageId(...tags, '|', ...digests);
  } catch (err) {
    if (!(err instanceof RegistryRateLimitError)) throw err;
    const failures = state.failures + 1;
    const wait = Math.min(MAX_BACKOFF_MS, Math.max(err.retryAfterMs, deps.pollIntervalMs * 2 ** (failures - 1)));
    await deps.index.setPollState(image, { ...state, failures, until: Date.now() + wait });
    log.warn({ failures, waitMs: wait }, 'registry rate-limited the tag poll; backing off');
    return 'rate-limited';
  }
  if (fingerprint === state.fingerprint) {
    if (state.failures > 0) await deps.index.setPollState(image, { fingerprint, failures: 0, until: 0 });
    return 'unchanged';
  }
  await deps.index.setPollState(image, { fingerprint, failures: 0, until: 0 });
  for (const w of watchers) await addBump(deps.queues, w, image, { source: 'tag poll' }, [fingerprint]);
  log.info({ repos: watchers.length }, 'new tags; image bump enqueued');
  return 'changed';
}

