import crypto from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { ImageRule } from '../../../src/config/repo-config.js';
import { RegistryRateLimitError, type ImageDatasource } from '../../../src/images/registry/datasource.js';
import { ImageIndex } from '../../../src/queue/image-index.js';
import { runPoll } from '../../../src/flows/poll.js';
import { pollDeps, syncImages } from '../../../src/queue/image-worker.js';
import { createQueues, type Queues } from '../../../src/queue/queues.js';
import { createRedis } from '../../../src/redis.js';

const rule = (repository: string, policy: ImageRule['policy'] = { kind: 'semver', range: '*', prerelease: false }): ImageRule => ({
  repository,
  policy,
  pinDigest: false,
  apps: ['web'],
  pullRequest: { labels: [], automerge: false },
});
const target = (repoId: number) => ({ installationId: 1, owner: 'acme', repo: `r${repoId}`, repoId, defaultBranch: 'main' });

/** A registry whose answers the test scripts: tags, or a 429 with Retry-After. */
class ScriptedRegistry implements ImageDatasource {
  tags: string[] = [];
  limited: number | null = null;
  digests = new Map<string, string>();
  async listTags(): Promise<string[]> {
    if (this.limited !== null) throw new RegistryRateLimitError('registry.example', this.limited);
    return this.tags;
  }
  async digest(_repo: string, tag: string): Promise<string | null> {
    return this.digests.get(tag) ?? null;
  }
  async buildInfo(): Promise<object> {
    return {};
  }
}

describe('image watch index and tag polling (real Redis)', () => {
  const prefix = `mergeops-test-poll-${crypto.randomUUID().slice(0, 8)}`;
  const redis = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
  const connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379', true);
  let queues: Queues;
  let index: ImageIndex;
  const registry = new ScriptedRegistry();
  const IMAGE = 'registry.example/acme/web';
  const deps = () => ({ index, queues, registry, log: pino({ level: 'silent' }), pollIntervalMs: 60_000 });

  beforeAll(() => {
    queues = createQueues(connection, prefix);
    index = new ImageIndex(redis, prefix);
  });
  afterAll(async () => {
    await queues.close();
    redis.disconnect();
    connection.disconnect();
  });

  it('schedules one poll per watched image and removes it when the last repo stops watching', async () => {
    const sync = syncImages(deps());
    await sync(target(1), [rule(IMAGE), rule('registry.example/acme/api', { kind: 'digest', tag: 'stable' })]);
    await sync(target(2), [rule('registry.example/acme/web')]);
    expect((await index.images()).sort()).toEqual(['registry.example/acme/api', IMAGE]);
    expect((await index.watchers(IMAGE)).map((w) => w.repoId).sort()).toEqual([1, 2]);
    expect((await index.watchers('registry.example/acme/api'))[0]?.digestTags).toEqual(['stable']);
    expect((await queues.imagePoll.getJobSchedulers()).map((s) => s.template?.data?.repository).sort()).toEqual(['registry.example/acme/api', IMAGE]);

    await sync(target(1), [rule(IMAGE)]);
    expect(await index.images()).toEqual([IMAGE]);
    expect((await queues.imagePoll.getJobSchedulers()).map((s) => s.template?.data?.repository)).toEqual([IMAGE]);
  });

  it('enqueues bumps only when the tag list changes', async () => {
    registry.tags = ['1.0.0', '1.1.0'];
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('changed');
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('unchanged');
    const bumps = (await queues.image.getJobs(['waiting', 'delayed'])).filter((j) => j.data.kind === 'bump');
    expect(bumps.map((j) => j.data.repoId).sort()).toEqual([1, 2]);
    registry.tags = ['1.0.0', '1.1.0', '1.2.0'];
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('changed');
    expect((await queues.image.getJobs(['waiting', 'delayed'])).filter((j) => j.data.kind === 'bump')).toHaveLength(4);
  });

  it('backs off on 429: at least Retry-After, doubling with each refusal', async () => {
    registry.limited = 90_000;
    const t0 = Date.now();
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('rate-limited');
    const first = await index.pollState(IMAGE);
    expect(first.failures).toBe(1);
    expect(first.until - t0).toBeGreaterThanOrEqual(90_000);
    // Inside the window the registry is not asked at all.
    registry.limited = null;
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('backing-off');

    registry.limited = 1000;
    await index.setPollState(IMAGE, { ...first, until: 0 });
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('rate-limited');
    const second = await index.pollState(IMAGE);
    expect(second.failures).toBe(2);
    // Retry-After is short, so the doubled interval (2 × 60 s) decides.
    expect(second.until - Date.now()).toBeGreaterThan(110_000);

    registry.limited = null;
    await index.setPollState(IMAGE, { ...second, until: 0 });
    expect(await runPoll(IMAGE, pollDeps(deps()))).toBe('unchanged');
    expect((await index.pollState(IMAGE)).failures).toBe(0);
  });
});
