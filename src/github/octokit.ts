import { ProbotOctokit } from 'probot';

/** Longest wait a worker sits out in place; longer ones fail the job, which is retried later. */
export const MAX_RETRY_AFTER_S = 60;
const MAX_RATE_LIMIT_RETRIES = 3;
/** GitHub's advice when a secondary limit names no Retry-After: wait at least a minute. */
const DEFAULT_SECONDARY_WAIT_S = 60;

/** The plain Octokit a plugin receives (the core type is not a dependency of ours). */
type PluginHost = Parameters<Parameters<typeof ProbotOctokit.plugin>[0]>[0];

interface RequestErrorLike {
  status?: number;
  message?: string;
  response?: { headers?: Record<string, string | number | undefined> };
}

/**
 * Seconds GitHub asks us to wait before sending this request again, or null when the
 * error is not a rate limit. GitHub signals secondary limits with 403 or 429 and either a
 * `retry-after` header or its "secondary rate limit" message.
 */
export function retryAfterSeconds(err: unknown): number | null {
  const e = err as RequestErrorLike;
  if (e.status !== 403 && e.status !== 429) return null;
  const header = Number(e.response?.headers?.['retry-after']);
  if (Number.isFinite(header) && header >= 0) return header;
  return /secondary rate limit/i.test(e.message ?? '') ? DEFAULT_SECONDARY_WAIT_S : null;
}

/**
 * Probot's own throttle settings only log a secondary rate limit and let the request fail
 * (its onSecondaryRateLimit returns nothing), so a job would be retried on BullMQ's
 * 5/10 s backoff, sooner than GitHub asked. This wraps every request and, when GitHub
 * names a wait, sits it out and sends the same request again. A 403/429 means GitHub did
 * not act on the request, so resending a POST cannot post twice.
 */
function honourRetryAfter(octokit: PluginHost): void {
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(options);
      } catch (err) {
        const wait = retryAfterSeconds(err);
        if (wait === null || wait > MAX_RETRY_AFTER_S || attempt >= MAX_RATE_LIMIT_RETRIES) throw err;
        octokit.log.warn(`GitHub rate limit on ${options.method} ${options.url}; retrying in ${wait} s as it asked`);
        await new Promise((r) => setTimeout(r, wait * 1000));
      }
    }
  });
}

/** The Octokit every installation client is made from: Probot's, plus Retry-After honoured. */
export const MergeopsOctokit = ProbotOctokit.plugin(honourRetryAfter);

/** A limiter of plugin-throttling's shape that lets every request through at once. */
const NO_SPACING = { key: () => ({ schedule: <T>(_options: unknown, job: (...args: unknown[]) => T, ...args: unknown[]): Promise<T> => Promise.resolve().then(() => job(...args)) }) };

/**
 * The Octokit class for this process. With mergeops' write pacer on (src/github/write-pacer.ts,
 * MERGEOPS_GITHUB_WRITES_PER_MINUTE > 0) the pacer spaces an installation's writes a second
 * apart in Redis, across every worker, people's writes first; Octokit's own spacing (one write
 * a second and one notifying POST every 3 s per process, first come first served, inside the
 * pacer's turn) would only make a person wait behind bookkeeping again, so its write and
 * notification limiters let requests through. Without the pacer, Octokit's spacing stays.
 * Its rate-limit retries stay either way.
 */
export function octokitClass(pacedByMergeops: boolean): typeof MergeopsOctokit {
  if (!pacedByMergeops) return MergeopsOctokit;
  // A function default: Probot passes its own throttle options per instance, and replaces a
  // class-level `throttle` with them (the limiters must be added to what it passes).
  return MergeopsOctokit.defaults((options: Record<string, unknown>) => ({
    ...options,
    throttle: { ...(options['throttle'] as object | undefined), write: NO_SPACING, notifications: NO_SPACING },
  }));
}
