import type { RedisClient } from '../redis.js';

export interface RateLimit {
  /** Commands of one name per PR per window. */
  max: number;
  windowS: number;
}

export const DEFAULT_COMMAND_RATE: RateLimit = { max: 5, windowS: 600 };

/**
 * `allowed`: run it. `notify`: the first refusal in a window, which gets one reply; later
 * ones are dropped without a word, so a comment flood costs GitHub one reply, not one each.
 */
export type RateDecision = { allowed: true } | { allowed: false; notify: boolean; retryInS: number };

/**
 * A fixed window per PR and command in Redis (shared by every web replica, gone after the
 * window), so a loop of bots or an impatient human cannot turn comments into cluster work.
 */
export class CommandRateLimiter {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly limit: RateLimit = DEFAULT_COMMAND_RATE,
  ) {}

  async take(repoId: number, issue: number, command: string): Promise<RateDecision> {
    const key = `${this.prefix}:command-rate:${repoId}:${issue}:${command}`;
    const script = `local n = redis.call('incr', KEYS[1])
if n == 1 then redis.call('expire', KEYS[1], ARGV[1]) end
return {n, redis.call('ttl', KEYS[1])}`;
    const [n, ttl] = (await this.redis.eval(script, 1, key, String(Math.max(1, this.limit.windowS)))) as [number, number];
    if (n <= this.limit.max) return { allowed: true };
    return { allowed: false, notify: n === this.limit.max + 1, retryInS: Math.max(ttl, 1) };
  }
}
