import { afterAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { WritePacer, personReserve, priorityOf, type WritePriority } from '../../../src/github/write-pacer.js';
import { createRedis } from '../../../src/redis.js';

/**
 * The pacer's priorities on a real Redis, with separate connections standing for separate
 * worker processes: a person's write goes before bookkeeping, bookkeeping leaves people a
 * reserve of each window, and bookkeeping is never starved.
 */
describe('WritePacer priorities: people before bookkeeping, across processes', () => {
  const url = process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  const conns = [createRedis(url, true), createRedis(url, true), createRedis(url, true)];
  const prefix = `mergeops-prio-${crypto.randomUUID().slice(0, 8)}`;
  afterAll(() => conns.forEach((c) => c.disconnect()));
  const pacer = (i: number, limits = { perMinute: 80, perHour: 500 }, maxDeferMs?: number): WritePacer => new WritePacer(conns[i] as (typeof conns)[number], prefix, limits, maxDeferMs);
  const until = async (cond: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> => {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('a person\'s write waiting behind the turn goes before every bookkeeping write that waited longer, in another process', async () => {
    const installation = 11;
    const holder = await pacer(0).acquire(installation, 'bookkeeping');
    const order: string[] = [];
    const write = async (p: WritePacer, priority: WritePriority, name: string): Promise<void> => {
      const release = await p.acquire(installation, priority);
      order.push(name);
      await new Promise((r) => setTimeout(r, 5));
      await release();
    };
    const bookkeeping = Array.from({ length: 5 }, (_, i) => write(pacer(1), 'bookkeeping', `deployment-${i}`));
    // Bookkeeping has been waiting a while when the person's write arrives.
    await new Promise((r) => setTimeout(r, 100));
    const person = write(pacer(2), 'person', 'preview-comment');
    // The person is entered among the waiting before the turn comes free.
    await until(async () => (await conns[0]?.zcard(`${prefix}:github-writes:${installation}:waiting`)) === 1, 'the person to be waiting');
    await holder();
    await Promise.all([person, ...bookkeeping]);
    expect(order[0]).toBe('preview-comment');
    expect(order.slice(1).sort()).toEqual(['deployment-0', 'deployment-1', 'deployment-2', 'deployment-3', 'deployment-4']);
    // Granted: no longer among the waiting.
    expect(await conns[0]?.zcard(`${prefix}:github-writes:${installation}:waiting`)).toBe(0);
  });

  it('bookkeeping stops short of the people\'s reserve: after it filled its share, a person\'s write still goes at once', async () => {
    const installation = 12;
    // A "minute" of 1 s (2 s with the pacer's second of margin), so the held write ends in the test.
    const limits = { perMinute: 16, perHour: 500, windowMs: 1000 };
    expect(personReserve(limits).perMinute).toBe(2);
    const p = pacer(0, limits);
    // Bookkeeping drains when nobody waits: its 14 go one after another without a pause.
    const started = Date.now();
    for (let i = 0; i < 14; i++) await (await p.acquire(installation, 'bookkeeping'))();
    expect(Date.now() - started).toBeLessThan(2000);
    let fifteenth = false;
    const held = p.acquire(installation, 'bookkeeping').then(async (release) => {
      fifteenth = true;
      await release();
    });
    const t = Date.now();
    await (await pacer(1, limits).acquire(installation, 'person'))();
    await (await pacer(2, limits).acquire(installation, 'person'))();
    expect(Date.now() - t).toBeLessThan(1000);
    // Proved from state: the bookkeeping write is still held, the window has 14 + 2.
    expect(fifteenth).toBe(false);
    expect(await conns[0]?.zcard(`${prefix}:github-writes:${installation}`)).toBe(16);
    // And it goes once the window has room for it again.
    await held;
    expect(fifteenth).toBe(true);
  });

  it('bookkeeping is never starved: under a stream of people\'s writes it goes once held back for long enough', async () => {
    const installation = 13;
    let streaming = true;
    let personWrites = 0;
    // Two processes keep a person's write waiting at every moment.
    const stream = [1, 2].map(async (i) => {
      const p = pacer(i);
      while (streaming) {
        const release = await p.acquire(installation, 'person');
        personWrites++;
        await new Promise((r) => setTimeout(r, 20));
        await release();
      }
    });
    await until(() => personWrites >= 3, 'the stream to run');
    const release = await pacer(0, undefined, 300).acquire(installation, 'bookkeeping');
    const during = streaming;
    await release();
    streaming = false;
    await Promise.all(stream);
    // It went while people's writes were still coming.
    expect(during).toBe(true);
  });

  it('a person\'s process that stopped asking holds bookkeeping back no longer than its grace', async () => {
    const installation = 14;
    // What a worker killed mid-wait leaves behind: its entry, due to lapse 400 ms from now.
    await conns[0]?.zadd(`${prefix}:github-writes:${installation}:waiting`, Date.now() + 400, 'gone');
    const started = Date.now();
    await (await pacer(1).acquire(installation, 'bookkeeping'))();
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(350);
    expect(waited).toBeLessThan(3000);
  });

  it('a request may name its own priority; otherwise its client\'s holds', () => {
    expect(priorityOf({ request: { priority: 'bookkeeping' } }, 'person')).toBe('bookkeeping');
    expect(priorityOf({}, 'bookkeeping')).toBe('bookkeeping');
    expect(priorityOf({ request: { priority: 'urgent' } }, 'person')).toBe('person');
  });
});
