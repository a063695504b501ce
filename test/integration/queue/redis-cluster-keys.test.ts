import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Queue } from 'bullmq';
import { loadSettings } from '../../../src/config/settings.js';
import { LockStore } from '../../../src/commands/locks.js';
import { CommandRateLimiter } from '../../../src/commands/rate-limit.js';
import type { ImageRule } from '../../../src/config/repo-config.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { ONBOARDING_QUEUE } from '../../../src/flows/onboard.js';
import { WritePacer } from '../../../src/github/write-pacer.js';
import { createNotifyQueue } from '../../../src/notify/worker.js';
import { createCommandQueue } from '../../../src/queue/command-worker.js';
import { DeployReports } from '../../../src/queue/deploy-reports.js';
import { ImageIndex } from '../../../src/queue/image-index.js';
import { createQueues } from '../../../src/queue/queues.js';
import { CATCH_UP_QUEUE } from '../../../src/queue/catch-up-worker.js';
import { CatchUpState, DeployState, Deliveries, DriftAlertState, Leases, PreviewState, WatchOwnership } from '../../../src/queue/state.js';
import { createRedis, hashTag, type RedisClient } from '../../../src/redis.js';
import { ApprovalStore, OpenDeployChecks } from '../../../src/queue/approvals.js';
import { DashboardState } from '../../../src/queue/dashboard-state.js';
import { createDashboardQueue } from '../../../src/queue/dashboard-worker.js';
import { startRedisCluster, type RedisClusterNodes } from '../../support/redis-ha.js';

/**
 * Every key family mergeops writes, written for real on a three-node Redis Cluster through
 * the settings an operator gives (REDIS_CLUSTER_NODES): each multi-key script and
 * transaction runs (a key in another slot would be refused with CROSSSLOT), and afterwards
 * every key on every node carries the prefix's hash tag. A family built without the prefix
 * fails the last assertion; one whose script spans slots fails where it runs.
 */
describe('Redis Cluster: every key family is hash-tagged into the prefix slot', () => {
  let nodes: RedisClusterNodes;
  let redis: RedisClient;
  let worker: RedisClient;
  let prefix: string;

  beforeAll(async () => {
    nodes = await startRedisCluster();
    const settings = loadSettings({ ...nodes.env, MERGEOPS_REDIS_PREFIX: 'keys-test' });
    prefix = settings.redisPrefix;
    redis = createRedis(settings.redis);
    worker = createRedis(settings.redis, true);
  }, 90_000);
  afterAll(async () => {
    redis?.disconnect();
    worker?.disconnect();
    await nodes?.stop();
  });

  it('writes each family through its own code, then finds no key outside the {keys-test} slot', async () => {
    expect(prefix).toBe('{keys-test}');
    const job: DeployJob = { installationId: 7, owner: 'acme', repo: 'web', repoId: 42, sha: 'a'.repeat(40), branch: 'main', defaultBranch: 'main' };

    const deliveries = new Deliveries(redis, prefix);
    expect(await deliveries.firstDelivery('d-1')).toBe(true);
    expect(await deliveries.firstDelivery('d-1')).toBe(false);

    const previews = new PreviewState(redis, prefix);
    expect(await previews.setHead({ repoId: 42, pr: 3, headSha: 'b'.repeat(40) }, Date.now())).toBe(true);
    await previews.commentIds({ repoId: 42, pr: 3 }).set([9001]);
    await previews.cancelMergeGroup({ repoId: 42, headSha: 'c'.repeat(40) });

    const deploys = new DeployState(worker, prefix);
    expect(await deploys.setLatest(job, Date.now())).toBe(true);
    await deploys.recordDeployed(job, 'web');
    await deploys.recordConfigAt(job);
    expect(await deploys.deployedSha(job, 'web')).toBe(job.sha);

    const leases = new Leases(worker, prefix);
    const lease = await leases.acquireDeployLock(job, 60_000);
    expect(lease).not.toBeNull();
    await lease?.extend();
    expect(await leases.acquireLease('bump:42', 60_000)).not.toBeNull();

    // Locks: LOCK (2 keys), HOLD (2 keys), UNLOCK (3 keys) are one script each.
    const locks = new LockStore(worker, prefix);
    expect((await locks.lock({ repoId: 42, repo: 'acme/web' }, ['web', 'api'], 'octocat', 'release freeze')).locked).toHaveLength(2);
    expect(await locks.holdIfLocked({ ...job, app: 'web', pushedAtMs: Date.now() })).not.toBeNull();
    const unlocked = await locks.unlock(42, ['api']);
    expect(unlocked.unlocked.map((l) => l.app)).toEqual(['api']);
    expect((await locks.all()).map((l) => l.app)).toEqual(['web']);

    // The write pacer's ACQUIRE (3 keys), RELEASE (2 keys) and PAUSE.
    const pacer = new WritePacer(worker, prefix, { perMinute: 80, perHour: 500 });
    const release = await pacer.acquire(7);
    await release();
    await pacer.pause(7, 1);

    // Deploy reports: CLAIM takes a global sequence and a repo's hash together.
    const reports = new DeployReports(worker, prefix);
    expect(await reports.claim(42, job.sha, ['web'])).toBeGreaterThan(0);

    // Commits waiting for a promotion (WAIT and TAKE are one script each) and their checks left in progress.
    const approvals = new ApprovalStore(worker, prefix);
    const waiting = { job: { ...job, reason: 'promote' as const, environments: ['prod'], apps: ['web · prod'] }, role: 'write' as const, since: new Date().toISOString() };
    expect(await approvals.wait(waiting)).toBeNull();
    expect((await approvals.take(42, 'main', 'prod', 'all', job.sha))?.job.apps).toEqual(['web · prod']);
    await new OpenDeployChecks(worker, prefix).set(42, job.sha, { check: { id: 1 }, report: { repo: 'acme/web', sha: job.sha, apps: [], problems: [] } });

    // The deploy dashboard: a deploy's MULTI over the units' hash and the deploys list, box claims, coalescing and the render lock.
    const dashboard = new DashboardState(worker, prefix);
    await dashboard.setIssue(42, 900);
    await dashboard.recordDeploy(42, { sha: job.sha, branch: 'main', at: new Date().toISOString(), units: [{ unit: 'web', state: 'healthy' }] });
    await dashboard.recordAction(42, 'a line');
    expect(await dashboard.recordDrift(42, 'web', { objects: 1, fields: ['x'], at: new Date().toISOString() })).toBe(true);
    expect(await dashboard.firstAction(42, 'unlock web 1')).toBe(true);
    expect(await dashboard.markDue(42, 60_000)).toBe(true);
    await (await dashboard.renderLock(42, 60_000))?.();

    // The image index: one MULTI over the repo's set, each image's watchers and the index of all.
    const index = new ImageIndex(worker, prefix);
    // Only the fields sync reads; the rest of a rule does not reach Redis.
    const rule = { repository: 'ghcr.io/acme/web', policy: { kind: 'semver', range: '>=1', prerelease: false } } as ImageRule;
    expect((await index.sync({ installationId: 7, owner: 'acme', repo: 'web', repoId: 42, defaultBranch: 'main' }, [rule])).added).toEqual(['ghcr.io/acme/web']);
    await index.setPollState('ghcr.io/acme/web', { failures: 1, until: Date.now() });

    expect((await new CommandRateLimiter(redis, prefix).take(42, 3, 'deploy')).allowed).toBe(true);

    // Catch-up after an outage, drift alerts, and the drift watches' owner per cluster.
    const catchUp = new CatchUpState(worker, prefix);
    expect(await catchUp.swapLastRun(Date.now())).toBeNull();
    expect(await catchUp.firstRedelivery('guid-1')).toBe(true);
    expect(await new DriftAlertState(worker, prefix).first({ ...job, app: 'web' }, 'fp-1')).toBe(true);
    const watches = new WatchOwnership(worker, prefix);
    expect(await watches.hold('prod', 60_000)).toBe(true);

    // Every BullMQ queue, one job each (BullMQ's scripts touch a queue's keys together).
    const queues = createQueues(worker, prefix);
    const more = [createCommandQueue(worker, prefix), createNotifyQueue(worker, prefix), createDashboardQueue(worker, prefix), new Queue(ONBOARDING_QUEUE, { connection: worker, prefix }), new Queue(CATCH_UP_QUEUE, { connection: worker, prefix })];
    try {
      for (const q of [...queues.all, ...more]) await q.add('probe', {}, { jobId: `probe-${q.name}` });
      for (const q of [...queues.all, ...more]) expect(await q.getWaitingCount()).toBe(1);
    } finally {
      await queues.close();
      for (const q of more) await q.close();
    }

    const keys = await nodes.keys();
    const families = new Set(keys.map(({ key }) => key.split(':')[1]));
    // What was written: every family above, and each BullMQ queue (named after the prefix).
    expect([...families].sort()).toEqual(
      [
        'catch-up', 'command', 'deploy', 'deploy-report', 'drift', 'image-bump', 'image-poll', 'notify', 'onboarding', 'preview',
        'comments', 'drift-alerted', 'command-rate', 'delivery', 'deploy-config', 'deploy-latest', 'deploy-lock', 'deploy-report-envs', 'deploy-report-seq', 'deployed',
        'github-writes', 'head', 'images', 'lease', 'lock-pending', 'locked-repos', 'locks', 'merge-group-cancelled',
        'deploy-open-check',
        'dashboard', 'dashboard-issue', 'dashboard-units', 'dashboard-deploys', 'dashboard-actions', 'dashboard-drift', 'dashboard-box', 'dashboard-due',
      ].sort(),
    );
    const untagged = keys.filter(({ key }) => hashTag(key) !== 'keys-test');
    expect(untagged).toEqual([]);
    // One slot, so one node holds them all.
    expect(new Set(keys.map((k) => k.port)).size).toBe(1);
  }, 60_000);
});
