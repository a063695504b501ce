import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { parseRepoConfig, type App } from '../../../src/config/repo-config.js';
import { CHECK_NAMES } from '../../../src/check-names.js';
import { driftAppKey, runDriftScan, type DeployedApp, type DriftDeps } from '../../../src/flows/drift.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const CONFIG = 'apps:\n  - name: healed\n    path: healed\n    namespace: ns\n    selfHeal: true\n  - name: watched\n    path: watched\n    namespace: ns\n';

async function setup() {
  const host = new FakeRepoHost();
  const cluster = new FakeCluster();
  const sha = host.push({ '.github/mergeops.yml': CONFIG, 'healed/cm.yaml': cm('healed', 'git'), 'watched/cm.yaml': cm('watched', 'git') }, 'main');
  const base: DeployJob = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha, branch: 'main', defaultBranch: 'main' };
  const deployed: DeployedApp[] = [{ ...base, app: 'healed' }, { ...base, app: 'watched' }];
  const heals: DeployJob[] = [];
  let latest = true;
  const deps: DriftDeps = {
    hosts: fakeHosts(host),
    engine: cluster,
    log: pino({ level: 'silent' }),
    deployedApps: async () => deployed,
    isLatestDeploy: async () => latest,
    enqueueHeal: async (j) => void heals.push(j),
  };
  // Deploy both apps into the fake cluster the way the deploy flow would.
  const c = await host.revision(sha);
  for (const app of ['healed', 'watched']) {
    await cluster.apply({ app: appOf(CONFIG, app), dir: c.dir, key: { repoId: 777, repo: 'acme/deploys', app } }, { force: false });
  }
  await c.remove();
  const handEdit = (name: string) => cluster.handEdit({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name }, ['data', 'value'], 'hand-edited');
  return { host, cluster, deps, heals, sha, handEdit, stale: () => void (latest = false) };
}

describe('drift scan (through the fake host)', () => {
  it('reports hand edits as a neutral drift check on the deployed commit and heals apps with selfHeal', async () => {
    const { host, deps, heals, sha, handEdit } = await setup();
    handEdit('healed');
    handEdit('watched');
    const findings = await runDriftScan(deps);
    expect(findings.map((f) => [f.app, f.healed])).toEqual([
      ['healed', true],
      ['watched', false],
    ]);
    const drift = host.checks.filter((c) => c.name === CHECK_NAMES.drift);
    expect(drift.map((c) => [c.headSha, c.conclusion, c.output?.title])).toEqual([
      [sha, 'neutral', 'Drift in healed: 1 object differs from this commit; re-applying (selfHeal)'],
      [sha, 'neutral', 'Drift in watched: 1 object differs from this commit'],
    ]);
    const summary = drift[1]?.output?.summary ?? '';
    expect(summary.startsWith('- `v1 ConfigMap ns/watched`: ')).toBe(true);
    for (const part of ['data.value', 'hand-edited', 'Git']) expect(summary).toContain(part);
    // The heal re-applies the selfHeal app alone; watched keeps its hand edit.
    expect(heals).toEqual([expect.objectContaining({ app: 'healed', apps: ['healed'], sha, reason: 'self-heal' })]);
    expect(host.openCheckouts).toBe(0);
  });

  it('writes no check run when nothing drifted', async () => {
    const { host, deps, heals } = await setup();
    expect(await runDriftScan(deps)).toEqual([]);
    expect(host.checks).toEqual([]);
    expect(heals).toEqual([]);
  });

  it('does not heal an app whose commit is no longer the newest on its branch', async () => {
    const { deps, heals, handEdit, stale } = await setup();
    handEdit('healed');
    stale();
    expect((await runDriftScan(deps)).map((f) => f.healed)).toEqual([false]);
    expect(heals).toEqual([]);
  });

  it("keeps scanning other commits when one repo's commit cannot be read", async () => {
    const { deps, handEdit, sha } = await setup();
    handEdit('watched');
    const gone: DeployedApp = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha: '0'.repeat(40), branch: 'old', defaultBranch: 'main', app: 'watched' };
    const first = deps.deployedApps;
    const findings = await runDriftScan({ ...deps, deployedApps: async () => [gone, ...(await first())] });
    expect(findings.map((f) => [f.app, f.sha])).toEqual([['watched', sha]]);
  });

  it('alerts a kept drift once however many compares see it, and again once it changed or went and came back', async () => {
    const { host, deps, handEdit, cluster } = await setup();
    const alerted = new Map<string, string>();
    deps.alerts = {
      first: async (d, fp) => alerted.get(`${d.repoId}/${d.app}`) !== fp && Boolean(alerted.set(`${d.repoId}/${d.app}`, fp)),
      clear: async (d) => void alerted.delete(`${d.repoId}/${d.app}`),
    };
    const driftChecks = (): number => host.checks.filter((c) => c.name === CHECK_NAMES.drift).length;
    handEdit('watched');
    await runDriftScan(deps, new Set(['777/watched']));
    await runDriftScan(deps, new Set(['777/watched']));
    expect(driftChecks()).toBe(1);
    cluster.handEdit({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'watched' }, ['data', 'value'], 'edited-again');
    await runDriftScan(deps, new Set(['777/watched']));
    expect(driftChecks()).toBe(2);
    cluster.handEdit({ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'ns', name: 'watched' }, ['data', 'value'], 'git');
    await runDriftScan(deps, new Set(['777/watched']));
    handEdit('watched');
    await runDriftScan(deps, new Set(['777/watched']));
    expect(driftChecks()).toBe(3);
  });

  it('a check limited to some apps compares only those', async () => {
    const { deps, handEdit, heals } = await setup();
    handEdit('healed');
    handEdit('watched');
    expect((await runDriftScan(deps, new Set(['777/watched']))).map((f) => f.app)).toEqual(['watched']);
    expect(heals).toEqual([]);
  });
});

function appOf(config: string, name: string): App {
  const app = parseRepoConfig(config, 'main').apps.find((a) => a.name === name);
  if (!app) throw new Error(`no app ${name}`);
  return app;
}

describe('driftAppKey', () => {
  it('names one environment of an app alike from a deploy record (web · staging) and from a watch (the label web.staging)', () => {
    expect(driftAppKey({ repoId: 7, app: 'web · staging' })).toBe(driftAppKey({ repoId: 7, app: 'web.staging' }));
    expect(driftAppKey({ repoId: 7, app: 'web' })).toBe('7/web');
  });
});
