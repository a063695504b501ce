import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { ClusterTargets } from '../../../src/config/clusters.js';
import type { Permission } from '../../../src/config/command-permissions.js';
import type { CommandHost, DeploymentRecord, PullInfo } from '../../../src/commands/host.js';
import { FakeRepoHost } from '../fakes/repo-host.js';
import type { CommandJob } from '../../../src/commands/jobs.js';
import { ALL_APPS, type Lock, type PendingDeploy } from '../../../src/commands/locks.js';
import type { RateDecision } from '../../../src/commands/rate-limit.js';
import { LOCK_REPREVIEW_LIMIT, neutralise, runCommand, type CommandDeps } from '../../../src/commands/run.js';
import type { DeployJob, PreviewJob, WaitingPromotion } from '../../../src/flows/jobs.js';
import { runDashboardActions, type DashboardActionDeps, type DashboardActionJob } from '../../../src/commands/dashboard.js';
import type { BoxRef } from '../../../src/report/dashboard.js';

const TARGETS: ClusterTargets = new Map([['default', { name: 'default', inCluster: true, grants: [{ repos: ['acme/*'], namespaces: ['shop'], clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false }] }]]);

const CONFIG_TEXT = 'apps:\n  - name: web\n    path: deploy/web\n    namespace: shop\n  - name: api\n    path: deploy/api\n    namespace: shop\n';

/** The flows' in-memory GitHub, plus what only commands ask of it. */
class FakeHost extends FakeRepoHost implements CommandHost {
  reactions: string[] = [];
  get roles(): Map<string, Permission> {
    return this.permissions;
  }
  pullInfo = new Map<number, PullInfo>();
  history: DeploymentRecord[] = [];
  posted: { name: string; sha: string; conclusion: string }[] = [];
  permissionAsked = 0;
  constructor() {
    super({ installationId: 1, owner: 'acme', repo: 'shop', repoId: 9 });
    this.setConfig(CONFIG_TEXT);
  }
  /** `.github/mergeops.yml` on main (null: none). */
  setConfig(text: string | null): void {
    this.push(text === null ? { 'README.md': 'hi' } : { '.github/mergeops.yml': text }, 'main');
  }
  get replies(): { issue: number; body: string }[] {
    return this.comments;
  }
  react = async (_id: number, r: string) => void this.reactions.push(r);
  override async permission(login: string): Promise<Permission> {
    this.permissionAsked++;
    return super.permission(login);
  }
  pull = async (n: number) => this.pullInfo.get(n) ?? null;
  openPulls = async (base: string, limit: number) => [...this.pullInfo.values()].filter((p) => p.state === 'open' && p.baseRef === base).slice(0, limit);
  deploymentHistory = async () => this.history;
  deploymentsOf = async () => [];
  resolveCommit = async () => null;
  commitChanges = async (): Promise<never> => {
    throw new Error('not in these tests');
  };
  allowsAutoMerge = async () => true;
  postCheck = async (name: string, sha: string, out: { conclusion: string }) => void this.posted.push({ name, sha, conclusion: out.conclusion });
}

/** In-memory lock book with the same rules as the Redis one. */
class FakeLocks {
  locks = new Map<string, Lock>();
  pending: PendingDeploy[] = [];
  lock = async (r: { repo: string }, apps: string[] | 'all', by: string, reason: string) => {
    const out = { locked: [] as Lock[], already: [] as Lock[] };
    for (const app of apps === 'all' ? [ALL_APPS] : apps) {
      const held = this.locks.get(app);
      if (held) out.already.push(held);
      else {
        const l = { app, repo: r.repo, by, at: '2026-01-01T00:00:00.000Z', reason };
        this.locks.set(app, l);
        out.locked.push(l);
      }
    }
    return out;
  };
  unlock = async (_repoId: number, apps: string[] | 'all') => {
    if (apps === 'all') {
      const unlocked = [...this.locks.values()];
      this.locks.clear();
      return { unlocked, notLocked: [], pending: this.pending.splice(0) };
    }
    const all = this.locks.get(ALL_APPS);
    const unlocked = apps.flatMap((a) => {
      const l = this.locks.get(a);
      this.locks.delete(a);
      return l ? [l] : [];
    });
    return { unlocked, notLocked: apps.filter((a) => !unlocked.some((l) => l.app === a)), pending: all ? [] : this.pending.filter((p) => apps.includes(p.app)), ...(all ? { heldByAll: all } : {}) };
  };
  lockOf = async (_repoId: number, app: string) => this.locks.get(app) ?? this.locks.get(ALL_APPS) ?? null;
  list = async () => [...this.locks.values()];
}

function setup(opts: { rate?: RateDecision[]; latest?: boolean | ((sha: string) => boolean); deployed?: Record<string, string> } = {}) {
  const host = new FakeHost();
  const locks = new FakeLocks();
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk, _enc, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const previews: { job: PreviewJob; id: string }[] = [];
  const deploys: { job: DeployJob; id: string }[] = [];
  const rate = [...(opts.rate ?? [])];
  const deps: CommandDeps = {
    host,
    locks,
    rate: { take: async () => rate.shift() ?? { allowed: true } },
    clusters: TARGETS,
    enqueuePreview: async (job, id) => void previews.push({ job, id }),
    enqueueDeploy: async (job, id) => void deploys.push({ job, id }),
    isLatestDeploy: async (j) => (typeof opts.latest === 'function' ? opts.latest(j.sha) : (opts.latest ?? true)),
    ...(opts.deployed ? { deployedSha: async (_j: unknown, app: string) => opts.deployed?.[app] ?? null } : {}),
    log: pino({ level: 'info' }, sink),
    now: () => 42,
  };
  return { host, locks, lines, previews, deploys, deps };
}

const job = (line: string, actor = 'alice', issue = 7, isPullRequest = true): CommandJob => ({
  installationId: 1,
  owner: 'acme',
  repo: 'shop',
  repoId: 9,
  defaultBranch: 'main',
  actor,
  source: { kind: 'comment', issue, isPullRequest, commentId: 500, line },
});

const openPull = (over: Partial<PullInfo> = {}): PullInfo => ({ number: 7, state: 'open', merged: false, headSha: 'a'.repeat(40), baseRef: 'main', baseSha: 'b'.repeat(40), author: 'bob', fromFork: false, ...over });

describe('runCommand against in-memory GitHub, locks and queues', () => {
  it('preview: enqueues the PR head on a fresh job id, and leaves an audit line naming who ran it', async () => {
    const t = setup();
    t.host.roles.set('alice', 'write');
    t.host.pullInfo.set(7, openPull());
    const out = await runCommand(job('/mergeops preview'), t.deps);
    expect(out).toMatchObject({ command: 'preview', ok: true });
    expect(t.previews).toEqual([{ job: expect.objectContaining({ pr: 7, headSha: 'a'.repeat(40), baseRef: 'main', fromFork: false }), id: `preview-9-7-${'a'.repeat(40)}-command-500` }]);
    expect(t.previews[0]?.job.apps).toBeUndefined();
    expect(t.host.reactions).toEqual(['eyes', 'rocket']);
    expect(t.lines.find((l) => l['audit'] === 'command')).toMatchObject({ actor: 'alice', repo: 'acme/shop', command: 'preview', outcome: 'done', apps: ['web', 'api'], permission: 'write' });
  });

  it('preview of an app that deploys from another branch than the PR base is refused, not run empty', async () => {
    const t = setup();
    t.host.roles.set('alice', 'write');
    t.host.pullInfo.set(7, openPull({ baseRef: 'release' }));
    await runCommand(job('/mergeops preview web'), t.deps);
    expect(t.host.replies[0]?.body).toContain(":x: `web` deploys from `main`, not from `release`, this pull request's base");
    expect(t.previews).toEqual([]);
  });

  it('a fork PR author without write runs only help, even with triage', async () => {
    const t = setup();
    t.host.roles.set('bob', 'triage');
    t.host.pullInfo.set(7, openPull({ fromFork: true, author: 'bob' }));
    const out = await runCommand(job('/mergeops preview', 'bob'), t.deps);
    expect(out.ok).toBe(false);
    expect(t.host.replies[0]?.body).toContain('opened this pull request from a fork without write access');
    expect(t.previews).toEqual([]);
    expect((await runCommand(job('/mergeops help', 'bob'), t.deps)).ok).toBe(true);
  });

  it('the first rate-limited command gets one reply, later ones are dropped without a word', async () => {
    const t = setup({ rate: [{ allowed: false, notify: true, retryInS: 30 }, { allowed: false, notify: false, retryInS: 29 }] });
    await runCommand(job('/mergeops help'), t.deps);
    await runCommand(job('/mergeops help'), t.deps);
    expect(t.host.replies.map((r) => r.body)).toEqual([expect.stringContaining('Too many `help` commands on this pull request; try again in 30 s.')]);
    expect(t.lines.filter((l) => l['outcome'] === 'rate-limited')).toHaveLength(2);
  });

  it('an invalid config on the default branch is the answer, with what to do', async () => {
    const t = setup();
    t.host.setConfig('apps:\n  - name: web\n');
    await runCommand(job('/mergeops lock web'), t.deps);
    expect(t.host.replies[0]?.body).toContain('.github/mergeops.yml on `main` is invalid: apps[0].path: is required\n\nFix it on `main` first');
    expect(t.host.permissionAsked).toBe(0);
  });

  it('lock re-previews at most LOCK_REPREVIEW_LIMIT open PRs into the locked app\'s branch, and says so; PRs into other branches are left alone', async () => {
    const t = setup();
    t.host.roles.set('alice', 'write');
    for (let n = 100; n < 100 + LOCK_REPREVIEW_LIMIT + 5; n++) t.host.pullInfo.set(n, openPull({ number: n, headSha: String(n).padStart(40, '0') }));
    t.host.pullInfo.set(99, openPull({ number: 99, baseRef: 'release' }));
    await runCommand(job('/mergeops lock web', 'alice', 3, false), t.deps);
    expect(t.previews).toHaveLength(LOCK_REPREVIEW_LIMIT);
    expect(t.previews.map((p) => p.job.baseRef)).toEqual(Array(LOCK_REPREVIEW_LIMIT).fill('main'));
    expect(t.previews[0]).toEqual({ job: expect.objectContaining({ pr: 100, headSha: '100'.padStart(40, '0') }), id: `preview-9-100-${'100'.padStart(40, '0')}-lock-500` });
    expect(t.previews[0]?.job.apps).toBeUndefined();
    expect(t.host.replies[0]?.body).toContain(`open into \`main\` (the ${LOCK_REPREVIEW_LIMIT} most recently updated; older ones on their next push), so their comments show the lock.`);
    // A lock that was already held changes no preview.
    t.previews.length = 0;
    await runCommand(job('/mergeops lock web', 'alice', 3, false), t.deps);
    expect(t.previews).toEqual([]);
  });

  it('lock all is repo-wide: unlocking one app is refused naming the lock, deploy of a locked app is refused', async () => {
    const t = setup();
    t.host.roles.set('alice', 'admin');
    await runCommand(job('/mergeops lock all release @team', 'alice', 3, false), t.deps);
    expect(t.host.replies[0]?.body).toContain('Locked every app of this repository');
    expect(t.host.posted).toEqual([{ name: 'mergeops / locks', sha: await t.host.branchHead('main'), conclusion: 'neutral' }]);
    expect(t.locks.locks.get(ALL_APPS)?.reason).toBe('release @\u200bteam');
    await runCommand(job('/mergeops unlock web', 'alice', 3, false), t.deps);
    expect(t.host.replies[1]?.body).toContain(':x: every app is :lock: locked by @alice: release');
    await runCommand(job('/mergeops deploy web', 'alice', 3, false), t.deps);
    expect(t.host.replies[2]?.body).toContain(':x: `web` is :lock: locked by @alice');
    expect(t.deploys).toEqual([]);
  });

  it('unlock applies the held commits, one deploy job per commit with its apps', async () => {
    const t = setup();
    t.host.roles.set('alice', 'write');
    await runCommand(job('/mergeops lock web api', 'alice', 3, false), t.deps);
    const held = (app: string): PendingDeploy => ({ app, installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, sha: 'c'.repeat(40), branch: 'main', defaultBranch: 'main', pushedAtMs: 1 });
    t.locks.pending.push(held('web'), held('api'));
    await runCommand(job('/mergeops unlock web api', 'alice', 3, false), t.deps);
    expect(t.deploys).toEqual([{ job: expect.objectContaining({ sha: 'c'.repeat(40), reason: 'unlock', apps: ['web', 'api'] }), id: `deploy-unlock-9-${'c'.repeat(40)}-42` }]);
    expect(t.host.replies[1]?.body).toContain(`Applying ccccccc, merged while locked, to \`web\`, \`api\``);
  });

  it('deploy re-applies the newest successful deploy, refuses when a newer commit has not deployed', async () => {
    const t = setup({ latest: false });
    t.host.roles.set('alice', 'write');
    t.host.history = [
      { id: 3, sha: 'f'.repeat(40), state: 'failure', createdAt: '' },
      { id: 2, sha: 'e'.repeat(40), state: 'success', createdAt: '' },
    ];
    await runCommand(job('/mergeops deploy web', 'alice', 3, false), t.deps);
    expect(t.host.replies[0]?.body).toContain(':x: `web` was last deployed at eeeeeee, but a newer commit on `main` has not deployed successfully');
    expect(t.deploys).toEqual([]);
    const ok = setup();
    ok.host.roles.set('alice', 'write');
    ok.host.history = t.host.history;
    await runCommand(job('/mergeops deploy web', 'alice', 3, false), ok.deps);
    expect(ok.deploys).toEqual([{ job: expect.objectContaining({ sha: 'e'.repeat(40), branch: 'main', reason: 'command', apps: ['web'] }), id: `deploy-command-9-${'e'.repeat(40)}-42` }]);
  });

  it('deploy after a push that changed only another app: the commit comes from mergeops\' own record (no Deployment for the unchanged app), and it is not refused', async () => {
    const head = 'd'.repeat(40);
    // web last got a Deployment at eeeeeee; the newest push (ddddddd) changed only api, so
    // GitHub has no Deployment of web at it, but mergeops recorded web as deployed there.
    const t = setup({ latest: (sha) => sha === head, deployed: { web: head } });
    t.host.roles.set('alice', 'write');
    t.host.history = [{ id: 2, sha: 'e'.repeat(40), state: 'success', createdAt: '' }];
    await runCommand(job('/mergeops deploy web', 'alice', 3, false), t.deps);
    expect(t.host.replies[0]?.body).not.toContain(':x:');
    expect(t.deploys).toEqual([{ job: expect.objectContaining({ sha: head, branch: 'main', reason: 'command', apps: ['web'] }), id: `deploy-command-9-${head}-42` }]);
  });

  it('an app on a cluster the operator did not configure is refused with the reason', async () => {
    const t = setup();
    t.host.roles.set('alice', 'admin');
    t.host.setConfig('apps:\n  - name: web\n    path: deploy/web\n    cluster: prod\n');
    await runCommand(job('/mergeops lock web', 'alice', 3, false), t.deps);
    expect(t.host.replies[0]?.body).toContain(':x: `web` targets cluster `prod`, which the operator has not configured');
    expect(t.locks.locks.size).toBe(0);
  });

  it('a lock reason cannot ping people or break the locks table', () => {
    expect(neutralise('ask @ops | <b>now</b> `x`')).toBe("ask @\u200bops    b now /b  'x'");
  });
});

describe('runDashboardActions: ticked dashboard boxes run as their commands, once', () => {
  const LOCK_AT = '2026-01-01T00:00:00.000Z';
  const action = (boxes: BoxRef[], actor: string, delivery = 'd1'): DashboardActionJob => ({ kind: 'action', installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, defaultBranch: 'main', actor, issue: 90, boxes, delivery });
  const unlockWeb: BoxRef = { kind: 'unlock', target: 'web', version: String(Date.parse(LOCK_AT)) };
  function withDashboard(t: ReturnType<typeof setup>) {
    const acted = new Set<string>();
    const said: string[] = [];
    const deps: DashboardActionDeps = {
      ...t.deps,
      enabled: () => true,
      actedOn: async (_r, id) => acted.has(id),
      firstAction: async (_r, id) => {
        if (acted.has(id)) return false;
        acted.add(id);
        return true;
      },
      recordAction: async (_r, line) => void said.push(line),
    };
    return { deps, said, acted };
  }

  it('unlock by a reader is refused with the command rule and leaves the box to act on; by a writer it unlocks and applies the held commit; a second tick does nothing', async () => {
    const t = setup();
    const d = withDashboard(t);
    t.host.roles.set('reader', 'read');
    t.host.roles.set('writer', 'write');
    await t.locks.lock({ repo: 'acme/shop' }, ['web'], 'alice', 'db migration');
    t.locks.pending.push({ app: 'web', installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, sha: 'c'.repeat(40), branch: 'main', defaultBranch: 'main', pushedAtMs: 1 });

    expect(await runDashboardActions(action([unlockWeb], 'reader'), d.deps)).toEqual({ acted: 0, refused: 1, ignored: 0 });
    expect(d.said[0]).toContain('@reader ticked unlock <code>web</code>: ❌ `unlock` needs write access to this repository; @reader has read access');
    expect(t.locks.locks.has('web')).toBe(true);
    expect(d.acted.size).toBe(0);

    expect(await runDashboardActions(action([unlockWeb], 'writer', 'd2'), d.deps)).toEqual({ acted: 1, refused: 0, ignored: 0 });
    expect(t.locks.locks.has('web')).toBe(false);
    expect(t.deploys.map((x) => [x.job.sha, x.job.apps, x.job.reason])).toEqual([['c'.repeat(40), ['web'], 'unlock']]);
    expect(d.said[1]).toContain('@writer ticked unlock <code>web</code>: ✅ Unlocked `web`.');
    expect(t.lines.some((l) => l['audit'] === 'command' && l['actor'] === 'writer' && l['outcome'] === 'done' && l['via'] === 'dashboard')).toBe(true);

    const asked = t.host.permissionAsked;
    expect(await runDashboardActions(action([unlockWeb], 'writer', 'd3'), d.deps)).toEqual({ acted: 0, refused: 0, ignored: 1 });
    expect(t.deploys).toHaveLength(1);
    expect(d.said).toHaveLength(2);
    expect(t.host.permissionAsked).toBe(asked);
  });

  it('a box drawn for an older lock does not lift a newer one; re-run and re-deploy need write as deploy does', async () => {
    const t = setup({ deployed: { api: 'a'.repeat(40) } });
    const d = withDashboard(t);
    t.host.roles.set('writer', 'write');
    t.host.roles.set('triager', 'triage');
    await t.locks.lock({ repo: 'acme/shop' }, ['web'], 'alice', 'x');
    const stale = { ...unlockWeb, version: '1' };
    expect(await runDashboardActions(action([stale], 'writer'), d.deps)).toEqual({ acted: 0, refused: 1, ignored: 0 });
    expect(t.locks.locks.has('web')).toBe(true);
    expect(d.said[0]).toContain('that lock is not held any more');

    const rerun: BoxRef = { kind: 'rerun', target: 'b'.repeat(40), version: 'api' };
    expect(await runDashboardActions(action([rerun], 'triager', 'd2'), d.deps)).toEqual({ acted: 0, refused: 1, ignored: 0 });
    expect(d.said[1]).toContain('`deploy` needs write access');
    expect(await runDashboardActions(action([rerun, { kind: 'redeploy', target: 'api', version: 'a'.repeat(40) }], 'writer', 'd3'), d.deps)).toEqual({ acted: 2, refused: 0, ignored: 0 });
    expect(t.deploys.map((x) => [x.job.sha, x.job.apps, x.job.reason])).toEqual([
      ['b'.repeat(40), ['api'], 'command'],
      ['a'.repeat(40), ['api'], 'command'],
    ]);
  });
});

describe('promote: the approval gate of an environment', () => {
  const ENV_CONFIG = 'environments:\n  - name: staging\n    cluster: default\n  - name: prod-eu\n    cluster: default\n    approval: write\napps:\n  - name: web\n    path: deploy/{env}\n    namespace: shop\n  - name: api\n    path: api/{env}\n    namespace: shop\n';
  const SHA = 'c'.repeat(40);
  const waitingJob = (apps: string[]): WaitingPromotion => ({
    job: { installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, sha: SHA, branch: 'main', defaultBranch: 'main', reason: 'promote', environments: ['prod-eu'], apps },
    role: 'write',
    since: '2026-01-01T10:00:00.000Z',
  });

  /** The Redis store's rules in memory: one waiting commit per environment, taken unit by unit. */
  function withWaiting(t: ReturnType<typeof setup>, w: WaitingPromotion | null, extra: Partial<CommandDeps> = {}) {
    const store = { current: w };
    t.host.setConfig(ENV_CONFIG);
    t.deps.approvals = {
      take: async (_repoId, _branch, env, units, sha) => {
        const cur = store.current;
        if (!cur || cur.job.environments[0] !== env || (sha !== null && cur.job.sha !== sha)) return null;
        const taken = cur.job.apps.filter((a) => units === 'all' || units.includes(a));
        if (!taken.length) return null;
        const left = cur.job.apps.filter((a) => !taken.includes(a));
        store.current = left.length ? { ...cur, job: { ...cur.job, apps: left } } : null;
        return { ...cur, job: { ...cur.job, apps: taken } };
      },
    };
    Object.assign(t.deps, extra);
    return store;
  }

  it('the dashboard\'s Promote box: a reader is refused by the approval role, a writer promotes every unit waiting there once, a second tick does nothing', async () => {
    const t = setup();
    withWaiting(t, waitingJob(['web · prod-eu', 'api · prod-eu']));
    t.host.roles.set('reader', 'read');
    t.host.roles.set('writer', 'write');
    const acted = new Set<string>();
    const said: string[] = [];
    const deps: DashboardActionDeps = {
      ...t.deps,
      enabled: () => true,
      actedOn: async (_r, id) => acted.has(id),
      firstAction: async (_r, id) => !acted.has(id) && acted.add(id).size > 0,
      recordAction: async (_r, line) => void said.push(line),
    };
    const box: BoxRef = { kind: 'approve', target: 'prod-eu', version: SHA };
    const tick = (actor: string, delivery: string): DashboardActionJob => ({ kind: 'action', installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, defaultBranch: 'main', actor, issue: 90, boxes: [box], delivery });
    expect(await runDashboardActions(tick('reader', 'd1'), deps)).toEqual({ acted: 0, refused: 1, ignored: 0 });
    expect(said[0]).toContain('@reader ticked promote <code>ccccccc</code> to <code>prod-eu</code>: ❌ `promote` needs write access to this repository; @reader has read access (promoting `prod-eu` needs write)');
    expect(t.deploys).toEqual([]);
    expect(await runDashboardActions(tick('writer', 'd2'), deps)).toEqual({ acted: 1, refused: 0, ignored: 0 });
    expect(t.deploys.map((d) => [d.job.sha, d.job.reason, d.job.apps])).toEqual([[SHA, 'promote', ['web · prod-eu', 'api · prod-eu']]]);
    expect(said[1]).toContain(`✅ Promoting ${SHA.slice(0, 7)}`);
    expect(await runDashboardActions(tick('writer', 'd3'), deps)).toEqual({ acted: 0, refused: 0, ignored: 1 });
    expect(t.deploys).toHaveLength(1);
  });

  it("a reader is refused (readably, naming the role), a writer's promote enqueues the waiting commit's promotion for that app only", async () => {
    const t = setup();
    const store = withWaiting(t, waitingJob(['web · prod-eu', 'api · prod-eu']));
    t.host.roles.set('reader', 'read');
    t.host.roles.set('writer', 'write');
    expect((await runCommand(job('/mergeops promote web prod-eu', 'reader'), t.deps)).ok).toBe(false);
    expect(t.host.replies.at(-1)?.body).toContain(':x: `promote` needs write access to this repository; @reader has read access (promoting `prod-eu` needs write: its approval)');
    expect(t.deploys).toEqual([]);
    const out = await runCommand(job('/mergeops promote web prod-eu', 'writer'), t.deps);
    expect(out.ok).toBe(true);
    expect(t.deploys).toEqual([{ job: expect.objectContaining({ sha: SHA, reason: 'promote', promotedBy: 'writer', environments: ['prod-eu'], apps: ['web · prod-eu'] }), id: `deploy-promote-9-${SHA}-prod-eu-42` }]);
    expect(t.host.replies.at(-1)?.body).toContain(`:white_check_mark: Promoting ${SHA.slice(0, 7)} (waiting since 2026-01-01 10:00 UTC) to \`prod-eu\` for \`web · prod-eu\``);
    // api keeps waiting; a second promote of web finds nothing.
    expect(store.current?.job.apps).toEqual(['api · prod-eu']);
    await runCommand(job('/mergeops promote web prod-eu', 'writer'), t.deps);
    expect(t.host.replies.at(-1)?.body).toContain(':x: nothing waits for `prod-eu` in `web`');
    expect(t.lines.filter((l) => l['command'] === 'promote').map((l) => l['outcome'])).toEqual(['refused', 'done', 'refused']);
  });

  it("the operator's grant raises who may promote (commands: promote, requireApproval:), never lowers it", async () => {
    const t = setup();
    withWaiting(t, waitingJob(['web · prod-eu']), {
      clusters: new Map([['default', { name: 'default', inCluster: true, grants: [{ repos: ['acme/*'], namespaces: ['shop'], clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false, commands: { promote: 'maintain' } }] }]]),
    });
    t.host.roles.set('writer', 'write');
    t.host.roles.set('lead', 'admin');
    await runCommand(job('/mergeops promote all prod-eu', 'writer'), t.deps);
    expect(t.host.replies.at(-1)?.body).toContain("`promote` needs maintain access to this repository; @writer has write access (promoting `prod-eu` needs maintain: the operator's raise of promote)");
    t.deps.operatorApproval = () => 'admin';
    t.host.roles.set('writer', 'maintain');
    await runCommand(job('/mergeops promote all prod-eu', 'writer'), t.deps);
    expect(t.host.replies.at(-1)?.body).toContain("needs admin access to this repository; @writer has maintain access (promoting `prod-eu` needs admin: its approval (the operator's requireApproval))");
    expect((await runCommand(job('/mergeops promote all prod-eu', 'lead'), t.deps)).ok).toBe(true);
    expect(t.deploys).toHaveLength(1);
  });

  it('refuses readably: an unknown environment, one without approval, an app not deployed there, a bad usage', async () => {
    const t = setup();
    withWaiting(t, waitingJob(['web · prod-eu']));
    t.host.roles.set('writer', 'write');
    const reply = async (line: string) => (await runCommand(job(line, 'writer'), t.deps), t.host.replies.at(-1)?.body ?? '');
    expect(await reply('/mergeops promote web prod')).toContain('no environment named `prod` in this repository\'s .github/mergeops.yml (environments: `staging`, `prod-eu`)');
    expect(await reply('/mergeops promote web staging')).toContain('`staging` asks for no approval: it deploys on its own once the environments before it are healthy');
    expect(await reply('/mergeops promote docs prod-eu')).toContain('no app named `docs` deploys to `prod-eu` (apps there: `web`, `api`)');
    expect(await reply('/mergeops promote prod-eu')).toContain('Usage: `/mergeops promote <app|all> <environment>`');
    expect(t.deploys).toEqual([]);
  });

  it('the Promote button promotes that check\'s commit (all its waiting units) and answers on its merged PR; a replaced commit is refused', async () => {
    const t = setup();
    withWaiting(t, waitingJob(['web · prod-eu', 'api · prod-eu']));
    t.host.roles.set('writer', 'write');
    t.host.merged.set(SHA, 31);
    const click = (sha: string): CommandJob => ({ installationId: 1, owner: 'acme', repo: 'shop', repoId: 9, defaultBranch: 'main', actor: 'writer', source: { kind: 'button', sha, checkRunId: 5, identifier: 'mergeops-promote-1' } });
    const old = 'd'.repeat(40);
    t.host.merged.set(old, 30);
    expect((await runCommand(click(old), t.deps)).ok).toBe(false);
    expect(t.host.replies.find((r) => r.issue === 30)?.body).toContain(`@writer clicked **Promote to prod-eu** on the deploy of ${old.slice(0, 7)}.\n\n${old.slice(0, 7)} no longer waits for \`prod-eu\``);
    expect((await runCommand(click(SHA), t.deps)).ok).toBe(true);
    expect(t.deploys.map((d) => d.job.apps)).toEqual([['web · prod-eu', 'api · prod-eu']]);
    expect(t.host.replies.find((r) => r.issue === 31)?.body).toContain(':white_check_mark: @writer clicked **Promote to prod-eu**');
  });
});
