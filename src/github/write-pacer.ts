import crypto from 'node:crypto';
import type { Redis } from 'ioredis';

/** GitHub: "no more than 80 content-generating requests per minute" (and 500 an hour). */
export const WRITES_PER_MINUTE = 80;
export const WRITES_PER_HOUR = 500;

// One sliding-window log per installation, in Redis so every worker process shares it:
// entries older than an hour go, a slot is taken when both windows have room, else the
// script answers how long until the oldest entry that blocks leaves its window. The minute
// is 61 s: a request reaches GitHub a little after its slot is taken, and GitHub's own clock
// decides.
const ACQUIRE = `
local key, now, id = KEYS[1], tonumber(ARGV[1]), ARGV[2]
local perMin, perHour = tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - 3600000)
local lastMinute = redis.call('ZCOUNT', key, now - 61000, '+inf')
if lastMinute >= perMin then
  local oldest = redis.call('ZRANGEBYSCORE', key, now - 61000, '+inf', 'WITHSCORES', 'LIMIT', lastMinute - perMin, 1)
  return tonumber(oldest[2]) + 61000 - now
end
if redis.call('ZCARD', key) >= perHour then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tonumber(oldest[2]) + 3600000 - now
end
redis.call('ZADD', key, now, id)
redis.call('PEXPIRE', key, 3600000)
return 0
`;

/**
 * Paces content-creating requests (POST, PATCH, PUT, DELETE) per installation under
 * GitHub's secondary rate limits, across all workers, so a burst of previews waits its turn
 * instead of collecting 403s. Reads are not paced.
 */
export class WritePacer {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly limits = { perMinute: WRITES_PER_MINUTE, perHour: WRITES_PER_HOUR },
  ) {}

  /** Resolves once this installation may send one more content-creating request. */
  async acquire(installationId: number): Promise<void> {
    const key = `${this.prefix}:github-writes:${installationId}`;
    for (;;) {
      // A random member: workers in containers all run as pid 1, and two slots taken in the
      // same millisecond under one name would count as one (ZADD only moves its score).
      const id = crypto.randomUUID();
      const wait = Number(await this.redis.eval(ACQUIRE, 1, key, String(Date.now()), id, String(this.limits.perMinute), String(this.limits.perHour)));
      if (wait <= 0) return;
      await new Promise((r) => setTimeout(r, Math.min(wait, 61_000) + 5));
    }
  }
}

/** GitHub counts these as content-creating; the App's own token calls are not. */
export function isContentCreating(method: string, url: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && !/^\/app(\/|$)|\/app\/installations\//.test(url.replace(/^https?:\/\/[^/]+(\/api\/v3)?/, ''));
}
