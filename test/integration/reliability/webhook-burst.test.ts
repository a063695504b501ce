import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { deliver } from '../../support/github.js';
import { REPO, prPayload, sha, startHarness, type Harness } from '../../support/harness.js';

const DELIVERIES = 1000;
const DUPLICATES = 100;
const PRS = 300;
const PUSHES_PER_PR = 3;
const CONCURRENCY = 50;
/** GitHub gives up on a delivery after 10 s. */
const GITHUB_DEADLINE_MS = 10_000;

/** A seeded shuffle, so a failing order can be replayed. */
function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * 1,000 signed deliveries in a few seconds against the receiver (web mode: the jobs
 * stay queued, so the queue is what the receiver did): 900 distinct events — 300 PRs,
 * three pushes each — plus 100 redeliveries of them, all shuffled so that older pushes
 * often arrive after newer ones.
 */
describe('webhook burst: 1,000 deliveries, 10% duplicates, out of order', () => {
  let h: Harness;
  let redis: Redis;

  beforeAll(async () => {
    h = await startHarness('clusters: {}\n', { MERGEOPS_MODE: 'web' });
    redis = new Redis(process.env['MERGEOPS_TEST_REDIS_URL'] as string);
  });
  afterAll(async () => {
    await h?.stop();
    redis?.disconnect();
  });

  it(`every distinct delivery is handled once, duplicates are no-ops, the newest push of each PR wins, every answer inside ${GITHUB_DEADLINE_MS / 1000} s`, async () => {
    const seed = Date.now() % 100_000;
    // Built in event order (each payload's updated_at is later than the previous one's).
    const events = [];
    for (let push = 0; push < PUSHES_PER_PR; push++) {
      for (let pr = 1; pr <= PRS; pr++) {
        const head = sha(`burst-${seed}-${pr}-${push}`);
        events.push({ id: crypto.randomUUID(), pr, head, push, payload: prPayload(push === 0 ? 'opened' : 'synchronize', pr, head, sha('burst-base')) });
      }
    }
    const redeliveries = shuffle(events, seed).slice(0, DUPLICATES);
    const order = shuffle([...events, ...redeliveries], seed + 1);
    expect(order).toHaveLength(DELIVERIES);

    const results: { id: string; status: number; duplicate: boolean; ms: number }[] = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < order.length) {
          const e = order[next++] as (typeof order)[number];
          const t = Date.now();
          const res = await deliver(h.rt.url as string, 'pull_request', e.payload, { id: e.id });
          results.push({ id: e.id, status: res.status, duplicate: (res.body as { duplicate?: boolean } | null)?.duplicate === true, ms: Date.now() - t });
        }
      }),
    );
    const wall = Date.now() - started;
    const times = results.map((r) => r.ms).sort((a, b) => a - b);
    const p99 = times[Math.floor(times.length * 0.99)] as number;
    const max = times[times.length - 1] as number;

    expect(results).toHaveLength(DELIVERIES);
    expect(max).toBeLessThan(GITHUB_DEADLINE_MS);
    // Each distinct delivery id got exactly one 202; each redelivery a 200 "duplicate".
    const accepted = results.filter((r) => r.status === 202);
    expect(accepted).toHaveLength(DELIVERIES - DUPLICATES);
    expect(new Set(accepted.map((r) => r.id)).size).toBe(DELIVERIES - DUPLICATES);
    expect(results.filter((r) => r.status === 200 && r.duplicate)).toHaveLength(DUPLICATES);

    // One preview job per distinct (PR, head) — 900 — none twice.
    const jobs = await h.rt.queues.preview.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed'], 0, 2 * DELIVERIES);
    expect(jobs).toHaveLength(PRS * PUSHES_PER_PR);
    expect(new Set(jobs.map((j) => j.id)).size).toBe(PRS * PUSHES_PER_PR);

    // Out of order did not matter: each PR's recorded head is its last push.
    const heads = await redis.mget(Array.from({ length: PRS }, (_, i) => `${h.prefix}:head:${REPO.id}:${i + 1}`));
    const wrong = heads.map((v, i) => ({ pr: i + 1, v })).filter(({ pr, v }) => !v?.endsWith(`:${sha(`burst-${seed}-${pr}-${PUSHES_PER_PR - 1}`)}`));
    expect(wrong).toEqual([]);
    process.stdout.write(`webhook burst: ${DELIVERIES} deliveries in ${wall} ms, p99 ${p99} ms, max ${max} ms\n`);
  });
});
