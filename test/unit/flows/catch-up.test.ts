import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { failedEvents, runCatchUp, type CatchUpDeps, type HookDelivery } from '../../../src/flows/catch-up.js';
import type { DeployedApp } from '../../../src/flows/drift.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const HOUR = 3600_000;
const NOW = Date.parse('2026-12-01T12:00:00Z');
const at = (hoursAgo: number): number => NOW - hoursAgo * HOUR;
let nextId = 1;
const attempt = (guid: string, hoursAgo: number, status: string, event = 'push'): HookDelivery => ({ id: nextId++, guid, deliveredAtMs: at(hoursAgo), status, event, installationId: 1 });

function setup(opts: { deliveries?: HookDelivery[]; lastRun?: number | null } = {}) {
  const host = new FakeRepoHost();
  const redelivered: HookDelivery[] = [];
  const enqueued: { job: DeployJob; at: number }[] = [];
  const asked = new Set<string>();
  const sinces: number[] = [];
  let lastRun = opts.lastRun ?? null;
  const deployed: DeployedApp[] = [];
  const deps: CatchUpDeps = {
    hosts: fakeHosts(host),
    log: pino({ level: 'silent' }),
    lookbackMs: 72 * HOUR,
    intervalMs: HOUR / 12,
    deliveries: async (since) => {
      sinces.push(since);
      return [...(opts.deliveries ?? [])].sort((a, b) => b.deliveredAtMs - a.deliveredAtMs);
    },
    redeliver: async (d) => void redelivered.push(d),
    firstRedelivery: async (guid) => !asked.has(guid) && Boolean(asked.add(guid)),
    swapLastRun: async (now) => {
      const prev = lastRun;
      lastRun = now;
      return prev;
    },
    deployedApps: async () => deployed,
    enqueueDeploy: async (job, seenAt) => {
      enqueued.push({ job, at: seenAt });
      return true;
    },
  };
  return { host, deps, redelivered, enqueued, deployed, sinces };
}

describe('failedEvents: which webhook deliveries to ask GitHub for again', () => {
  it('one per event none of whose attempts succeeded, the newest attempt, oldest event first', () => {
    const list = [attempt('lost', 2, 'failed to connect'), attempt('lost', 1, 'failed to connect'), attempt('made-it', 3, 'failed to connect'), attempt('made-it', 2.5, 'OK'), attempt('fine', 1, 'OK'), attempt('refused', 4, 'Invalid HTTP Response: 500')];
    expect(failedEvents(list, at(10), NOW).map((d) => [d.guid, d.deliveredAtMs])).toEqual([
      ['refused', at(4)],
      ['lost', at(1)],
    ]);
  });

  it('leaves events older than the window alone', () => {
    expect(failedEvents([attempt('old', 80, 'failed to connect')], at(72), NOW)).toEqual([]);
  });

  it('asks again for events that carry state whenever they failed, and for /mergeops comments and check-run buttons only while someone may still wait for the answer', () => {
    const failed = 'failed to connect';
    const list = [
      attempt('push', 5, failed, 'push'),
      attempt('pr', 5, failed, 'pull_request'),
      attempt('install', 5, failed, 'installation_repositories'),
      attempt('package', 5, failed, 'registry_package'),
      attempt('old-command', 5, failed, 'issue_comment'),
      attempt('old-button', 5, failed, 'check_run'),
      attempt('fresh-command', 0.05, failed, 'issue_comment'),
      // First tried 2 h ago, retried by hand a minute ago: the request is still 2 h old.
      attempt('retried-command', 2, failed, 'issue_comment'),
      attempt('retried-command', 1 / 60, failed, 'issue_comment'),
      attempt('other', 1, failed, 'star'),
    ];
    expect(failedEvents(list, at(10), NOW).map((d) => d.guid)).toEqual(['push', 'pr', 'install', 'package', 'fresh-command']);
  });
});

describe('runCatchUp', () => {
  it('asks GitHub to redeliver each failed event once, however many runs see it', async () => {
    const { deps, redelivered } = setup({ deliveries: [attempt('down-push', 0.01, 'failed to connect'), attempt('ok', 0.005, 'OK')] });
    expect((await runCatchUp(deps, NOW)).redelivered).toHaveLength(1);
    expect(redelivered.map((d) => d.guid)).toEqual(['down-push']);
    expect((await runCatchUp(deps, NOW + HOUR / 12)).redelivered).toEqual([]);
  });

  it('lists back the whole lookback on its first run, and to the previous run (less one interval) after', async () => {
    const { deps, sinces } = setup({ lastRun: null });
    await runCatchUp(deps, NOW);
    await runCatchUp(deps, NOW + HOUR);
    expect(sinces).toEqual([NOW - 72 * HOUR, NOW - HOUR / 12]);
  });

  it('a redelivery GitHub refuses does not stop the branch check', async () => {
    const { deps, host, deployed, enqueued } = setup({ deliveries: [attempt('gone', 1, 'failed to connect')] });
    deps.redeliver = async () => {
      throw Object.assign(new Error('Validation Failed'), { status: 422 });
    };
    const old = host.push({ 'a.yaml': 'a' }, 'main');
    deployed.push({ installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha: old, branch: 'main', defaultBranch: 'main', app: 'web' });
    const head = host.push({ 'a.yaml': 'b' }, 'main', [old]);
    expect(await runCatchUp(deps, NOW)).toEqual({ redelivered: [], deployed: [`acme/deploys@main:${head.slice(0, 7)}`] });
    expect(enqueued.map((e) => e.job.sha)).toEqual([head]);
  });

  it('deploys a branch head no app is at, once per branch, asking GitHub what changed since the apps` one commit', async () => {
    const { deps, host, deployed, enqueued } = setup();
    const old = host.push({ 'a.yaml': 'a' }, 'main');
    const base = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha: old, branch: 'main', defaultBranch: 'main' };
    deployed.push({ ...base, app: 'web', reason: 'self-heal', apps: ['web'] }, { ...base, app: 'api' });
    const head = host.push({ 'a.yaml': 'b' }, 'main', [old]);
    const before = Date.now();
    await runCatchUp(deps, NOW);
    expect(enqueued).toHaveLength(1);
    // A whole push of the branch: not the heal's one app, not its reason.
    expect(enqueued[0]?.job).toEqual({ ...base, sha: head, reason: 'push', changes: { before: old } });
    expect(enqueued[0]?.at).toBeGreaterThanOrEqual(before);
  });

  it('leaves a branch alone where an app is at its head, and one whose branch is gone', async () => {
    const { deps, host, deployed, enqueued } = setup();
    const head = host.push({ 'a.yaml': 'a' }, 'main');
    deployed.push({ installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha: head, branch: 'main', defaultBranch: 'main', app: 'web' });
    deployed.push({ installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha: head, branch: 'deleted', defaultBranch: 'main', app: 'old' });
    await runCatchUp(deps, NOW);
    expect(enqueued).toEqual([]);
  });

  it('apps of one branch at different commits: every app deploys (no one commit to compare from)', async () => {
    const { deps, host, deployed, enqueued } = setup();
    const a = host.push({ 'a.yaml': 'a' }, 'main');
    const b = host.push({ 'a.yaml': 'b' }, 'main', [a]);
    const base = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, branch: 'main', defaultBranch: 'main' };
    deployed.push({ ...base, sha: a, app: 'web' }, { ...base, sha: b, app: 'api' });
    const head = host.push({ 'a.yaml': 'c' }, 'main', [b]);
    await runCatchUp(deps, NOW);
    expect(enqueued.map((e) => e.job)).toEqual([{ ...base, sha: head, reason: 'push' }]);
  });
});
