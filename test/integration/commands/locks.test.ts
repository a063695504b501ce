import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { Redis } from 'ioredis';
import { ALL_APPS, LockStore, exposeLocks, type PendingDeploy } from '../../../src/commands/locks.js';
import { CommandRateLimiter } from '../../../src/commands/rate-limit.js';
import { registry } from '../../../src/metrics.js';

/** Real Redis; `npm run test:unit` users can point MERGEOPS_TEST_REDIS_URL at one too. */
const url = process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

describe('lock store and command rate limit on a real Redis', () => {
  let redis: Redis;
  const prefix = `mergeops-test-${crypto.randomUUID().slice(0, 8)}`;
  const repo = { repoId: 41, repo: 'acme/deploys' };
  const pending = (app: string, sha: string, pushedAtMs: number): PendingDeploy => ({ app, installationId: 1, owner: 'acme', repo: 'deploys', repoId: 41, sha, branch: 'main', defaultBranch: 'main', pushedAtMs });

  beforeAll(() => {
    redis = new Redis(url);
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  it('a lock keeps who/when/why, survives a new store on a new connection, and a second lock keeps the first', async () => {
    const store = new LockStore(redis, `${prefix}-a`);
    const at = new Date('2026-01-02T03:04:05Z');
    const first = await store.lock(repo, ['web'], 'alice', 'db migration', at);
    expect(first).toEqual({ locked: [{ app: 'web', repo: 'acme/deploys', by: 'alice', at: at.toISOString(), reason: 'db migration' }], already: [] });
    const again = await store.lock(repo, ['web', 'api'], 'bob', 'mine');
    expect(again.locked.map((l) => l.app)).toEqual(['api']);
    expect(again.already).toEqual([expect.objectContaining({ app: 'web', by: 'alice', reason: 'db migration' })]);

    // As after a restart: a fresh connection and store see the same locks.
    const other = new Redis(url);
    try {
      const fresh = new LockStore(other, `${prefix}-a`);
      expect(await fresh.lockOf(41, 'web')).toMatchObject({ by: 'alice', reason: 'db migration' });
      expect((await fresh.list(41)).map((l) => l.app)).toEqual(['api', 'web']);
      expect(await fresh.lockOf(41, 'store')).toBeNull();
    } finally {
      other.disconnect();
    }
  });

  it('holds deploys of a locked app, keeps the newest push, and hands it to the unlock exactly once', async () => {
    const store = new LockStore(redis, `${prefix}-b`);
    expect(await store.holdIfLocked(pending('web', 'aaa', 1))).toBeNull();
    expect(await store.pending(41)).toEqual([]);
    await store.lock(repo, ['web'], 'alice', 'freeze');
    expect(await store.holdIfLocked(pending('web', 'bbb', 200))).toMatchObject({ by: 'alice' });
    // An older push that deploys late does not replace the newer one.
    expect(await store.holdIfLocked(pending('web', 'ccc', 100))).toMatchObject({ by: 'alice' });
    expect((await store.pending(41)).map((p) => p.sha)).toEqual(['bbb']);
    const unlocked = await store.unlock(41, ['web', 'api']);
    expect(unlocked.unlocked.map((l) => l.app)).toEqual(['web']);
    expect(unlocked.notLocked).toEqual(['api']);
    expect(unlocked.pending.map((p) => p.sha)).toEqual(['bbb']);
    expect((await store.unlock(41, ['web'])).pending).toEqual([]);
    expect(await store.holdIfLocked(pending('web', 'ddd', 300))).toBeNull();
  });

  it('a repo-wide lock covers every app, names itself when one app is unlocked, and unlock all releases everything held', async () => {
    const store = new LockStore(redis, `${prefix}-c`);
    await store.lock(repo, 'all', 'carol', 'release');
    expect(await store.lockOf(41, 'anything')).toMatchObject({ app: ALL_APPS, by: 'carol' });
    await store.holdIfLocked(pending('web', 'w1', 1));
    await store.holdIfLocked(pending('api', 'a1', 1));
    const one = await store.unlock(41, ['web']);
    expect(one.heldByAll).toMatchObject({ app: ALL_APPS, by: 'carol' });
    expect(one.pending).toEqual([]);
    const all = await store.unlock(41, 'all');
    expect(all.unlocked.map((l) => l.app)).toEqual([ALL_APPS]);
    expect(all.pending.map((p) => p.sha).sort()).toEqual(['a1', 'w1']);
    expect(await store.list(41)).toEqual([]);
  });

  it('/metrics shows current locks per repo and app, and forgets them when unlocked', async () => {
    const store = new LockStore(redis, `${prefix}-d`);
    const unexpose = exposeLocks(store);
    try {
      await store.lock(repo, ['web'], 'alice', '');
      await store.lock({ repoId: 42, repo: 'acme/other' }, 'all', 'bob', '');
      let text = await registry.metrics();
      expect(text).toContain('mergeops_locks{repo="acme/deploys",app="web"} 1');
      expect(text).toContain('mergeops_locks{repo="acme/other",app="all"} 1');
      await store.unlock(41, 'all');
      text = await registry.metrics();
      expect(text).not.toContain('repo="acme/deploys"');
      expect(await redis.smembers(`${prefix}-d:locked-repos`)).toEqual(['42']);
    } finally {
      unexpose();
    }
  });

  it('rate limit: a window of N per PR and command, one notice for the first refusal, none after', async () => {
    const limiter = new CommandRateLimiter(redis, `${prefix}-e`, { max: 2, windowS: 60 });
    expect(await limiter.take(41, 7, 'preview')).toEqual({ allowed: true });
    expect(await limiter.take(41, 7, 'preview')).toEqual({ allowed: true });
    expect(await limiter.take(41, 7, 'preview')).toEqual({ allowed: false, notify: true, retryInS: expect.any(Number) });
    expect(await limiter.take(41, 7, 'preview')).toMatchObject({ allowed: false, notify: false });
    // Another PR and another command have their own windows.
    expect(await limiter.take(41, 8, 'preview')).toEqual({ allowed: true });
    expect(await limiter.take(41, 7, 'lock')).toEqual({ allowed: true });
    expect(await redis.ttl(`${prefix}-e:command-rate:41:7:preview`)).toBeGreaterThan(0);
  });
});
