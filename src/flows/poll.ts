import type { Logger } from 'pino';
import { RegistryRateLimitError, type ImageDatasource } from '../images/registry/datasource.js';
import type { RepoTarget } from './jobs.js';

/** The longest the poller waits after repeated 429s. */
const MAX_BACKOFF_MS = 3600_000;

/** A repo watching an image, and which fixed tags it tracks by digest (for the poller). */
export interface Watcher extends RepoTarget {
  digestTags: string[];
}

export interface PollState {
  fingerprint?: string;
  failures: number;
  /** Epoch ms before which the poller leaves the registry alone (after a 429). */
  until: number;
}

export interface PollDeps {
  registry: ImageDatasource;
  log: Logger;
  pollIntervalMs: number;
  watchers(image: string): Promise<Watcher[]>;
  pollState(image: string): Promise<PollState>;
  setPollState(image: string, s: PollState): Promise<void>;
  /** Nobody watches the image any more: its poll scheduler goes. */
  stopPolling(image: string): Promise<void>;
  /** Asks one watching repo to bump; the same fingerprint twice is one bump. */
  enqueueBump(w: Watcher, image: string, fingerprint: string): Promise<void>;
  /** A short stable hash of the tag list, the digests of tracked tags included. */
  fingerprint(parts: string[]): string;
}

export type PollOutcome = 'backing-off' | 'unwatched' | 'rate-limited' | 'unchanged' | 'changed';

/**
 * One poll of one image: list tags (and the digests of tags tracked by digest), and when
 * that differs from the last poll, ask every watching repo to bump. A 429 doubles the
 * wait (at least the registry's Retry-After) instead of hammering it every interval.
 */
export async function runPoll(image: string, deps: PollDeps): Promise<PollOutcome> {
  const log: Logger = deps.log.child({ image, flow: 'image-poll' });
  const state = await deps.pollState(image);
  if (Date.now() < state.until) return 'backing-off';
  const watchers = await deps.watchers(image);
  if (watchers.length === 0) {
    await deps.stopPolling(image);
    return 'unwatched';
  }
  let fingerprint: string;
  try {
    const tags = (await deps.registry.listTags(image)).sort();
    const digestTags = [...new Set(watchers.flatMap((w) => w.digestTags))].sort();
    const digests = await Promise.all(digestTags.map(async (t) => `${t}@${(await deps.registry.digest(image, t)) ?? ''}`));
    fingerprint = deps.fingerprint([...tags, '|', ...digests]);
  } catch (err) {
    if (!(err instanceof RegistryRateLimitError)) throw err;
    const failures = state.failures + 1;
    const wait = Math.min(MAX_BACKOFF_MS, Math.max(err.retryAfterMs, deps.pollIntervalMs * 2 ** (failures - 1)));
    await deps.setPollState(image, { ...state, failures, until: Date.now() + wait });
    log.warn({ failures, waitMs: wait }, 'registry rate-limited the tag poll; backing off');
    return 'rate-limited';
  }
  if (fingerprint === state.fingerprint) {
    if (state.failures > 0) await deps.setPollState(image, { fingerprint, failures: 0, until: 0 });
    return 'unchanged';
  }
  await deps.setPollState(image, { fingerprint, failures: 0, until: 0 });
  for (const w of watchers) await deps.enqueueBump(w, image, fingerprint);
  log.info({ repos: watchers.length }, 'new tags; image bump enqueued');
  return 'changed';
}
