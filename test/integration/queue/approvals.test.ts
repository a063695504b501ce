import { afterAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import type { WaitingPromotion } from '../../../src/flows/jobs.js';
import { ApprovalStore } from '../../../src/queue/approvals.js';
import { createRedis, type RedisClient } from '../../../src/redis.js';

const url = process.env['MERGEOPS_TEST_REDIS_URL'] as string;

describe('ApprovalStore: commits waiting for a promotion, in a real Redis', () => {
  const prefix = `mergeops-approvals-${crypto.randomUUID().slice(0, 8)}`;
  const conns = [createRedis(url, true), createRedis(url, true)];
  afterAll(() => conns.forEach((c) => c.disconnect()));
  const waiting = (sha: string, apps: string[]): WaitingPromotion => ({
    job: { installationId: 1, owner: 'acme', repo: 'shop', repoId: 4_200_000_001, sha, branch: 'main', defaultBranch: 'main', reason: 'promote', environments: ['prod-eu', 'dr'], apps },
    role: 'maintain',
    since: '2026-12-07T10:00:00.000Z',
  });

  it('survives its process: what one connection recorded, another (a restarted worker) promotes, unit by unit, once', async () => {
    const before = new ApprovalStore(conns[0] as RedisClient, prefix);
    expect(await before.wait(waiting('a'.repeat(40), ['web · prod-eu', 'api · prod-eu', 'web · dr']))).toBeNull();
    conns[0]?.disconnect();
    const after = new ApprovalStore(conns[1] as RedisClient, prefix);
    // Another commit's click (its check is older) takes nothing.
    expect(await after.take(4_200_000_001, 'main', 'prod-eu', 'all', 'b'.repeat(40))).toBeNull();
    const web = await after.take(4_200_000_001, 'main', 'prod-eu', ['web · prod-eu', 'web · dr'], null);
    expect(web).toEqual({ ...waiting('a'.repeat(40), ['web · prod-eu', 'web · dr']) });
    // Taking the same units again finds nothing; the rest still waits, whole.
    expect(await after.take(4_200_000_001, 'main', 'prod-eu', ['web · prod-eu'], null)).toBeNull();
    expect(await after.waiting(4_200_000_001, 'main')).toEqual([waiting('a'.repeat(40), ['api · prod-eu'])]);
    // Two promotions at once: exactly one gets the commit.
    const both = await Promise.all([after.take(4_200_000_001, 'main', 'prod-eu', 'all', null), after.take(4_200_000_001, 'main', 'prod-eu', 'all', null)]);
    expect(both.filter((x) => x !== null)).toHaveLength(1);
    expect(await after.waiting(4_200_000_001, 'main')).toEqual([]);
  });

  it('a newer commit replaces the waiting one and is told which it replaced; the same commit again replaces nothing', async () => {
    const store = new ApprovalStore(conns[1] as RedisClient, prefix);
    expect(await store.wait({ ...waiting('c'.repeat(40), ['web · prod-eu']), job: { ...waiting('c'.repeat(40), ['web · prod-eu']).job, branch: 'release' } })).toBeNull();
    const newer = { ...waiting('d'.repeat(40), ['web · prod-eu']), job: { ...waiting('d'.repeat(40), ['web · prod-eu']).job, branch: 'release' } };
    expect((await store.wait(newer))?.job.sha).toBe('c'.repeat(40));
    expect(await store.wait(newer)).toBeNull();
    expect((await store.waiting(4_200_000_001, 'release')).map((w) => w.job.sha)).toEqual(['d'.repeat(40)]);
  });
});
