import { afterAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { isContentCreating, WritePacer } from '../../../src/github/write-pacer.js';
import { createRedis } from '../../../src/redis.js';

describe('WritePacer: GitHub secondary rate limits per installation, shared in Redis', () => {
  const redis = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
  const prefix = `mergeops-pacer-${crypto.randomUUID().slice(0, 8)}`;
  afterAll(() => redis.disconnect());

  /** A write as the runtime sends one: take the turn, "send", give it back. */
  const write = async (p: WritePacer, installation: number, sendMs = 0): Promise<void> => {
    const release = await p.acquire(installation);
    if (sendMs) await new Promise((r) => setTimeout(r, sendMs));
    await release();
  };

  it('lets the budget through at once, holds the next write, and keeps installations apart', async () => {
    // Two "workers" (two pacers) share the budget of 3 a minute (the window alone: no spacing).
    const a = new WritePacer(redis, prefix, { perMinute: 3, perHour: 500, spacingMs: 0 });
    const b = new WritePacer(redis, prefix, { perMinute: 3, perHour: 500, spacingMs: 0 });
    const started = Date.now();
    await Promise.all([write(a, 1), write(b, 1), write(a, 1)]);
    expect(Date.now() - started).toBeLessThan(1000);
    let fourth = false;
    // Still waiting for its slot when the file's connection closes: that refusal is expected
    // here and must not surface in whichever test file runs next in this worker.
    void write(b, 1).then(
      () => (fourth = true),
      () => undefined,
    );
    await new Promise((r) => setTimeout(r, 500));
    // Proved from state: still waiting, and the window holds exactly the three granted.
    expect(fourth).toBe(false);
    expect(await redis.zcard(`${prefix}:github-writes:1`)).toBe(3);
    // Another installation has its own budget.
    await write(a, 2);
    expect(await redis.zcard(`${prefix}:github-writes:2`)).toBe(1);
  });

  it('spaces an installation\'s writes a second apart (from one answer to the next write), across pacers; other installations are not held', async () => {
    const [a, b] = [new WritePacer(redis, prefix, { perMinute: 80, perHour: 500 }), new WritePacer(redis, prefix, { perMinute: 80, perHour: 500 })];
    const starts: number[] = [];
    const answers: number[] = [];
    const one = async (p: WritePacer, installation: number): Promise<void> => {
      const release = await p.acquire(installation);
      starts.push(Date.now());
      await new Promise((r) => setTimeout(r, 50)); // GitHub answering
      answers.push(Date.now());
      await release();
    };
    await Promise.all([one(a, 17), one(b, 17), one(a, 17)]);
    for (let i = 1; i < starts.length; i++) expect((starts[i] as number) - (answers[i - 1] as number)).toBeGreaterThanOrEqual(990);
    // Installation 18 has its own spacing: its write goes at once while 17's last answer is fresh.
    const t = Date.now();
    await one(a, 18);
    expect((starts.at(-1) as number) - t).toBeLessThan(500);
  });

  it('one write in flight per installation across processes: the next waits until the first is answered', async () => {
    // Separate connections, as separate worker processes have.
    const conns = [createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true), createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true)];
    try {
      // In flight, not spacing, is what this proves: spacing off.
      const pacers = conns.map((c) => new WritePacer(c, prefix, { perMinute: 80, perHour: 500, spacingMs: 0 }));
      let inFlight = 0;
      let most = 0;
      const spans: [number, number][] = [];
      await Promise.all(
        Array.from({ length: 12 }, async (_, i) => {
          const release = await (pacers[i % 2] as WritePacer).acquire(3);
          const start = Date.now();
          most = Math.max(most, ++inFlight);
          await new Promise((r) => setTimeout(r, 20));
          inFlight--;
          spans.push([start, Date.now()]);
          await release();
        }),
      );
      expect(most).toBe(1);
      spans.sort((x, y) => x[0] - y[0]);
      for (let i = 1; i < spans.length; i++) expect((spans[i] as [number, number])[0]).toBeGreaterThanOrEqual((spans[i - 1] as [number, number])[1]);
      // Another installation is not held up by this one's turn.
      const held = await (pacers[0] as WritePacer).acquire(3);
      const t = Date.now();
      await write(pacers[1] as WritePacer, 4);
      expect(Date.now() - t).toBeLessThan(500);
      await held();
    } finally {
      for (const c of conns) c.disconnect();
    }
  });

  it('a retry-after GitHub sent pauses every process\'s writes of that installation until it ends', async () => {
    const a = new WritePacer(redis, prefix, { perMinute: 80, perHour: 500 });
    const b = new WritePacer(redis, prefix, { perMinute: 80, perHour: 500 });
    await a.pause(5, 1200);
    // A shorter wait seen later does not cut the longer one.
    await b.pause(5, 100);
    const t = Date.now();
    await write(b, 5);
    expect(Date.now() - t).toBeGreaterThanOrEqual(1100);
  });

  it('scales its window for tests: 2 a "minute" of 1 s lets the third through about a second later', async () => {
    const p = new WritePacer(redis, prefix, { perMinute: 2, perHour: 500, windowMs: 1000 });
    await write(p, 6);
    await write(p, 6);
    const t = Date.now();
    await write(p, 6);
    // The minute is the window plus a second of margin, as for GitHub's 60 s.
    expect(Date.now() - t).toBeGreaterThanOrEqual(1500);
    expect(Date.now() - t).toBeLessThan(4000);
  });

  it('counts a write when GitHub answered it, not when its slot was taken: a slow request cannot squeeze the next one into its window', async () => {
    // One write a "minute" of 1 s (2 s with the pacer's second of margin).
    const p = new WritePacer(redis, prefix, { perMinute: 1, perHour: 500, windowMs: 1000 });
    const start = Date.now();
    // The first write's slot is taken at once, but GitHub answers 1.5 s later (it may have
    // received it just before answering).
    await write(p, 7, 1500);
    await write(p, 7);
    expect(Date.now() - start).toBeGreaterThanOrEqual(1500 + 2000 - 50);
  });

  it('a long run of writes never puts more than the limit in any window: a wait that came out at 0 ms once let a write through without a slot', async () => {
    const p = new WritePacer(redis, prefix, { perMinute: 80, perHour: 500, windowMs: 1000 });
    const at: number[] = [];
    for (let i = 0; i < 250; i++) {
      const release = await p.acquire(8);
      at.push(Date.now());
      await new Promise((r) => setTimeout(r, 2));
      await release();
    }
    // Counted as GitHub counts them: every window of its (here 1 s) minute, at each arrival.
    const busiest = Math.max(...at.map((t) => at.filter((u) => u > t - 1000 && u <= t).length));
    expect(busiest).toBeLessThanOrEqual(80);
    expect(await redis.zcard(`${prefix}:github-writes:8`)).toBe(250);
  }, 30_000);

  it('counts writes, not reads or the App token calls', () => {
    expect(isContentCreating('POST', '/repos/{owner}/{repo}/check-runs')).toBe(true);
    expect(isContentCreating('PATCH', 'https://api.github.com/repos/a/b/issues/comments/1')).toBe(true);
    expect(isContentCreating('DELETE', '/repos/a/b/issues/comments/1')).toBe(true);
    expect(isContentCreating('GET', '/repos/a/b/pulls')).toBe(false);
    expect(isContentCreating('POST', '/app/installations/{installation_id}/access_tokens')).toBe(false);
    expect(isContentCreating('POST', 'https://ghe.example/api/v3/app/installations/5/access_tokens')).toBe(false);
  });
});
