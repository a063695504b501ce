import { afterAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { isContentCreating, WritePacer } from '../../../src/github/write-pacer.js';
import { createRedis } from '../../../src/queue/redis.js';

describe('WritePacer: GitHub secondary rate limits per installation, shared in Redis', () => {
  const redis = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
  const prefix = `mergeops-pacer-${crypto.randomUUID().slice(0, 8)}`;
  afterAll(() => redis.disconnect());

  it('lets the budget through at once, holds the next write, and keeps installations apart', async () => {
    // Two "workers" (two pacers) share the budget of 3 a minute.
    const a = new WritePacer(redis, prefix, { perMinute: 3, perHour: 500 });
    const b = new WritePacer(redis, prefix, { perMinute: 3, perHour: 500 });
    const started = Date.now();
    await Promise.all([a.acquire(1), b.acquire(1), a.acquire(1)]);
    expect(Date.now() - started).toBeLessThan(1000);
    let fourth = false;
    void b.acquire(1).then(() => (fourth = true));
    await new Promise((r) => setTimeout(r, 500));
    // Proved from state: still waiting, and the window holds exactly the three granted.
    expect(fourth).toBe(false);
    expect(await redis.zcard(`${prefix}:github-writes:1`)).toBe(3);
    // Another installation has its own budget.
    await a.acquire(2);
    expect(await redis.zcard(`${prefix}:github-writes:2`)).toBe(1);
  });

  it('counts writes, not reads or the App token calls', () => {
    expect(isContentCreating('POST', '/repos/{owner}/{repo}/check-runs')).toBe(true);
    expect(isContentCreating('PATCH', 'https://api.github.com/repos/a/b/issues/comments/1')).toBe(true);
    expect(isContentCreating('DELETE', '/repos/a/b/issues/comments/1')).toBe(true);
    expect(isContentCreating('GET', '/repos/a/b/pulls')).toBe(false);
    expect(isContentCreating('POST', '/app/installations/{installation_id}/access_tokens')).toBe(false);
    expect(isContentCreating('POST', 'https://ghe.example/api/v3/app/installations/5/access_tokens')).toBe(false);
  });
});
