import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import http from 'node:http';
import { Queue, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_RATE_LIMIT, type Receiver } from '../../../src/notify/config.js';
import type { NotifyEvent } from '../../../src/notify/events.js';
import { createNotifyQueue, notifyJobId, startNotifyWorker, type NotifyJob } from '../../../src/notify/worker.js';
import { waitFor } from '../../support/github.js';

interface Arrival {
  path: string;
  delivery: string;
  at: number;
}

/** A real HTTP receiver on loopback that notes when each message arrived. */
async function startReceiver(): Promise<{ url: string; arrivals: Arrival[]; close(): Promise<void> }> {
  const arrivals: Arrival[] = [];
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push({ path: req.url ?? '', delivery: String(req.headers['x-mergeops-delivery'] ?? ''), at: Date.now() });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, arrivals, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const WINDOW_MS = 1000;
const MAX = 2;
// Each arrival is measured at the receiver, some ms after its slot was taken in Redis (more
// on a loaded machine). A fixed window let 3 through in about 150 ms; this stays far from it.
const SLACK_MS = 250;

function receiver(name: string, url: string, rateLimit = DEFAULT_RATE_LIMIT): Receiver {
  return { name, type: 'webhook', url, secret: 'rate-limit-test-key', events: new Set(['deploy.failed']), repos: [], apps: [], rateLimit };
}

function event(app: string, n: number): NotifyEvent {
  return { kind: 'deploy.failed', repo: 'acme/deploys', app, cluster: 'default', sha: crypto.createHash('sha1').update(`${app}-${n}`).digest('hex'), title: `deploy of ${app} failed (${n})`, objects: [], at: new Date().toISOString() };
}

describe('per-receiver notification rate limit (real Redis, real HTTP receiver)', () => {
  let redis: Redis;
  let queue: Queue<NotifyJob>;
  let worker: Worker<NotifyJob>;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  const prefix = `mergeops-test-notify-${crypto.randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    const url = process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
    redis = new Redis(url, { maxRetriesPerRequest: null });
    rx = await startReceiver();
    queue = createNotifyQueue(redis, prefix);
    worker = startNotifyWorker(redis, { receivers: [receiver('paced', `${rx.url}/paced`, { max: MAX, windowMs: WINDOW_MS }), receiver('other', `${rx.url}/other`)], redis, prefix, log: pino({ level: 'silent' }) }, 16);
  });

  afterAll(async () => {
    await worker?.close();
    await queue?.obliterate({ force: true }).catch(() => undefined);
    await queue?.close();
    await rx?.close();
    redis?.disconnect();
  });

  it('a burst to one receiver arrives at most max per window (in any window, not per fixed slot), none lost, and another receiver is not held up', async () => {
    const add = (name: string, e: NotifyEvent) => queue.add(e.kind, { receiver: name, event: e }, { jobId: notifyJobId(name, e) });
    // One message first, then the burst half a window later: a fixed window would let one
    // more through at once and two more at its boundary, three within half a window.
    await add('paced', event('web', 0));
    await waitFor(() => rx.arrivals.find((a) => a.path === '/paced'), 'the first paced message');
    await new Promise((r) => setTimeout(r, WINDOW_MS / 2));
    const burst = Array.from({ length: 6 }, (_, i) => event('web', i + 1));
    await Promise.all(burst.map((e) => add('paced', e)));
    const others = [event('api', 1), event('api', 2), event('api', 3)];
    await Promise.all(others.map((e) => add('other', e)));
    const othersAdded = Date.now();

    const paced = await waitFor(() => {
      const got = rx.arrivals.filter((a) => a.path === '/paced');
      return got.length >= 7 ? got : undefined;
    }, 'all seven paced messages', 20_000);

    // None lost, none doubled: each job delivered exactly once, and every job completed.
    expect(paced.map((a) => a.delivery).sort()).toEqual([event('web', 0), ...burst].map((e) => notifyJobId('paced', e)).sort());
    // (A job completes a moment after its message arrived.)
    await waitFor(async () => ((await queue.getJobCounts('completed')).completed === 10 ? true : undefined), 'all ten jobs to complete');
    expect(await queue.getJobCounts('failed', 'waiting', 'delayed', 'active')).toMatchObject({ failed: 0, waiting: 0, delayed: 0, active: 0 });

    // Spaced per the limit: any MAX + 1 consecutive arrivals span at least a window.
    const at = paced.map((a) => a.at).sort((a, b) => a - b);
    for (let i = 0; i + MAX < at.length; i++) expect((at[i + MAX] as number) - (at[i] as number)).toBeGreaterThanOrEqual(WINDOW_MS - SLACK_MS);
    // ...and not slower than it needs to be: seven messages at two a second take about three windows.
    expect((at[6] as number) - (at[0] as number)).toBeLessThan(WINDOW_MS * 3 + 1500);

    // The other receiver has its own limit: its messages went out at once, none waited for a
    // window while the burst to the first one was still waiting.
    const other = rx.arrivals.filter((a) => a.path === '/other');
    expect(other).toHaveLength(3);
    for (const o of other) expect(o.at - othersAdded).toBeLessThan(WINDOW_MS * 0.8);
    expect(Math.max(...other.map((o) => o.at))).toBeLessThan(at[at.length - 1] as number);
  });
});
