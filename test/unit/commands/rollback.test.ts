import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { CommandHost, DeploymentRecord } from '../../../src/commands/host.js';
import { rollbackApp } from '../../../src/commands/rollback.js';
import type { TreeChange } from '../../../src/commands/rollback-plan.js';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { FakeRepoHost, type Files } from '../fakes/repo-host.js';

const CONFIG = 'apps:\n  - name: web\n    path: deploy/web\n';
const app = parseRepoConfig(CONFIG, 'main').apps[0] as NonNullable<ReturnType<typeof parseRepoConfig>['apps'][0]>;

/** The flows' fake plus the few command calls rollback makes. */
class RollbackHost extends FakeRepoHost implements CommandHost {
  history: DeploymentRecord[] = [];
  allowAutoMerge = false;
  react = async () => undefined;
  pull = async () => null;
  openPulls = async () => [];
  deploymentHistory = async () => this.history;
  deploymentsOf = async () => [];
  resolveCommit = async (ref: string) => [...this.commits.keys()].find((s) => s.startsWith(ref)) ?? null;
  commitChanges = async (baseSha: string, changes: TreeChange[]): Promise<string> => {
    const files: Files = { ...(this.commits.get(baseSha)?.files ?? {}) };
    for (const c of changes) {
      if (c.content === null) delete files[c.path];
      else files[c.path] = c.content.toString('utf8');
    }
    return this.push(files, undefined, [baseSha]);
  };
  allowsAutoMerge = async () => this.allowAutoMerge;
  postCheck = async () => undefined;
}

function setup() {
  const host = new RollbackHost();
  const previews: { pr: number; head: string }[] = [];
  const deps = { host, log: pino({ level: 'silent' }), history: 20, enqueuePreview: async (pr: number, head: string) => void previews.push({ pr, head }) };
  const v1 = host.push({ '.github/mergeops.yml': CONFIG, 'deploy/web/a.yaml': 'a: 1\n', 'README.md': 'one' });
  const v2 = host.push({ '.github/mergeops.yml': CONFIG, 'deploy/web/a.yaml': 'a: 2\n', 'deploy/web/new.yaml': 'n: 2\n', 'README.md': 'two' });
  const v3 = host.push({ '.github/mergeops.yml': CONFIG, 'deploy/web/a.yaml': 'a: 2\n', 'deploy/web/new.yaml': 'n: 2\n', 'README.md': 'three' }, 'main');
  const deployed = (sha: string, state: string, id: number): DeploymentRecord => ({ id, sha, state, createdAt: '' });
  return { host, deps, previews, v1, v2, v3, deployed };
}

describe('rollbackApp on the in-memory GitHub', () => {
  it('skips an earlier deploy whose app files equal today (a README-only commit) and restores the one before, on top of main', async () => {
    const t = setup();
    t.host.history = [t.deployed(t.v3, 'success', 3), t.deployed(t.v2, 'success', 2), t.deployed(t.v1, 'success', 1)];
    const r = await rollbackApp(app, { actor: 'alice', via: 'a test' }, t.deps);
    expect(r).toMatchObject({ ok: true, message: expect.stringContaining(`back to ${t.v1.slice(0, 7)} (2 files). Auto-merge is off: the repository does not allow auto-merge`) });
    const pr = t.host.pulls[0];
    expect(pr).toMatchObject({ base: 'main', head: `mergeops/rollback-web-${t.v1.slice(0, 7)}`, labels: ['mergeops', 'rollback'] });
    const head = t.host.branches.get(pr?.head ?? '') as string;
    expect(t.host.commits.get(head)).toEqual({ files: { '.github/mergeops.yml': CONFIG, 'deploy/web/a.yaml': 'a: 1\n', 'README.md': 'three' }, parents: [t.v3] });
    expect(t.previews).toEqual([{ pr: pr?.number, head }]);
    expect(t.host.openCheckouts).toBe(0);
  });

  it('the button rolls back from a failed deploy to the newest success before it', async () => {
    const t = setup();
    t.host.history = [t.deployed(t.v3, 'failure', 3), t.deployed(t.v1, 'success', 1)];
    const r = await rollbackApp(app, { from: t.v3, actor: 'alice', via: 'the button' }, t.deps);
    expect(r).toMatchObject({ ok: true, message: expect.stringContaining(`back to ${t.v1.slice(0, 7)}`) });
  });

  it('answers with what to do when there is no earlier successful deploy, or the named commit does not exist', async () => {
    const t = setup();
    t.host.history = [t.deployed(t.v3, 'success', 3)];
    expect(await rollbackApp(app, { actor: 'alice', via: 'x' }, t.deps)).toEqual({ ok: false, message: expect.stringContaining('name the commit: `/mergeops rollback web to <sha>`') });
    expect(await rollbackApp(app, { to: 'deadbee', actor: 'alice', via: 'x' }, t.deps)).toEqual({ ok: false, message: 'there is no commit deadbee in this repository' });
    expect(t.host.pulls).toEqual([]);
    expect(t.host.openCheckouts).toBe(0);
  });

  it('a bootstrap wrote no Deployment for the first deploy: its recorded commit is still the one rolled back to', async () => {
    const t = setup();
    // v1 was deployed by a bootstrap (no Deployment), v2 changed the app and got one.
    t.host.history = [t.deployed(t.v2, 'success', 2)];
    const record = (first: string | null) => ({ repoId: 1, store: { deployedSha: async () => t.v3, firstDeploySha: async () => first } });
    const r = await rollbackApp(app, { actor: 'alice', via: 'x' }, { ...t.deps, record: record(t.v1) });
    expect(r).toMatchObject({ ok: true, message: expect.stringContaining(`back to ${t.v1.slice(0, 7)}`) });
    // Without that record there is nothing to go back to.
    expect(await rollbackApp(app, { actor: 'alice', via: 'x' }, { ...t.deps, record: record(null) })).toMatchObject({ ok: false });
  });

  it('an open rollback PR to the same commit is named instead of opening a second', async () => {
    const t = setup();
    t.host.allowAutoMerge = true;
    const first = await rollbackApp(app, { to: t.v1, actor: 'alice', via: 'x' }, t.deps);
    expect(first.message).toContain('Auto-merge is on');
    const again = await rollbackApp(app, { to: t.v1.slice(0, 7), actor: 'bob', via: 'x' }, t.deps);
    expect(again).toMatchObject({ ok: true, message: expect.stringContaining('is open already') });
    expect(t.host.pulls).toHaveLength(1);
  });
});

describe('rollbackApp for one environment of an app', () => {
  const ENV_CONFIG = 'environments:\n  - name: staging\n    cluster: s\n  - name: prod\n    cluster: p\napps:\n  - name: web\n    path: deploy/web/{env}\n';
  const units = parseRepoConfig(ENV_CONFIG, 'main').apps;
  const prod = units.find((a) => a.name === 'web · prod') as (typeof units)[0];
  const siblings = units.filter((a) => a !== prod);
  const overlay = 'resources:\n  - ../base\n';
  const files = (prodTag: string, baseValue: string): Files => ({
    '.github/mergeops.yml': ENV_CONFIG,
    'deploy/web/base/kustomization.yaml': 'resources:\n  - cm.yaml\n',
    'deploy/web/base/cm.yaml': `kind: ConfigMap\ndata: {v: "${baseValue}"}\n`,
    'deploy/web/staging/kustomization.yaml': overlay,
    'deploy/web/prod/kustomization.yaml': `${overlay}images:\n  - name: web\n    newTag: "${prodTag}"\n`,
  });

  it("restores only prod's own folder; a shared base that differs is left alone and named in the pull request", async () => {
    const t = setup();
    const v1 = t.host.push(files('1.0', 'a'));
    const v2 = t.host.push(files('2.0', 'b'), 'main');
    t.host.history = [t.deployed(v2, 'success', 2), t.deployed(v1, 'success', 1)];
    const r = await rollbackApp(prod, { actor: 'alice', via: 'a test', siblings }, t.deps);
    expect(r).toMatchObject({ ok: true, message: expect.stringContaining(`rolling \`web · prod\` back to ${v1.slice(0, 7)} (1 file)`) });
    const pr = t.host.pulls[0];
    expect(pr?.head).toBe(`mergeops/rollback-web.prod-${v1.slice(0, 7)}`);
    expect(pr?.body).toContain('- restore `deploy/web/prod/kustomization.yaml`');
    expect(pr?.body).toContain('Left as they are, because `staging` reads them too');
    expect(pr?.body).toContain('- `deploy/web/base/cm.yaml`');
    const head = t.host.branches.get(pr?.head ?? '') as string;
    expect(t.host.commits.get(head)?.files).toEqual({ ...files('2.0', 'b'), 'deploy/web/prod/kustomization.yaml': files('1.0', 'a')['deploy/web/prod/kustomization.yaml'] });
  });

  it('refuses readably when only files shared with the other environments differ', async () => {
    const t = setup();
    const v1 = t.host.push(files('2.0', 'a'));
    const v2 = t.host.push(files('2.0', 'b'), 'main');
    t.host.history = [t.deployed(v2, 'success', 2), t.deployed(v1, 'success', 1)];
    const r = await rollbackApp(prod, { actor: 'alice', via: 'a test', siblings }, t.deps);
    expect(r).toEqual({
      ok: false,
      message: `what differs between now and ${v1.slice(0, 7)} (the previous deploy of \`web · prod\`) is shared with \`staging\` (\`deploy/web/base/cm.yaml\`); restoring it here would roll those back too, so no pull request was opened. Roll back each environment that reads it, or revert the change that altered it`,
    });
    expect(t.host.pulls).toEqual([]);
    expect(t.host.openCheckouts).toBe(0);
  });
});
