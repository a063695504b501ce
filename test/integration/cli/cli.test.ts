import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { repoFromRemote, runCli } from '../../../src/cli.js';
import type { ObjectDiff } from '../../../src/diff/types.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const dirs: string[] = [];
function checkout(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-cli-'));
  dirs.push(dir);
  write(dir, files);
  return dir;
}
function write(dir: string, files: Record<string, string>): void {
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), env: { ...process.env, ...env } });
  return { code, stdout, stderr };
}

const kubeconfig = (): string => process.env['MERGEOPS_TEST_KUBECONFIG'] as string;
const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const config = (ns: string, extra = '') =>
  `apps:\n  - name: cli-app\n    path: deploy/cli\n    namespace: ${ns}\n    wait: 5s\n${extra}  - name: other\n    path: deploy/other\n`;

afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('mergeops CLI against the real API server', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await testCluster();
  });
  afterAll(() => cluster?.client.close());

  it('render → diff → apply --yes → diff (no changes) → prune, with kubectl-diff exit codes', async () => {
    const ns = uniqueName('cli');
    await namespace(cluster, ns);
    // Someone made `settings` by hand: mergeops takes it over only when the app adopts it.
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: ns }, data: { value: '1' } });
    const adopt = `    adopt: [ConfigMap/${ns}/settings]\n`;
    const dir = checkout({
      '.github/mergeops.yml': config(ns),
      'deploy/cli/settings.yaml': cm('settings', '2'),
      'deploy/cli/extra.yaml': cm('extra', 'x'),
      'deploy/other/a.yaml': cm('a', '1'),
    });
    const common = ['--dir', dir, '--kubeconfig', kubeconfig(), '--repo-id', '990', '--repo', 'acme/cli'];

    const rendered = await cli(['render', 'cli-app', '--dir', dir]);
    expect(rendered).toMatchObject({ code: 0, stderr: '' });
    expect(rendered.stdout).toBe(`---\napiVersion: v1\ndata:\n  value: x\nkind: ConfigMap\nmetadata:\n  name: extra\n---\napiVersion: v1\ndata:\n  value: '2'\nkind: ConfigMap\nmetadata:\n  name: settings\n`);
    const asJson = await cli(['render', 'cli-app', '--dir', dir, '-o', 'json']);
    expect(asJson.code).toBe(0);
    expect((JSON.parse(asJson.stdout) as { metadata: { name: string } }[]).map((o) => o.metadata.name)).toEqual(['extra', 'settings']);

    const refused = await cli(['diff', 'cli-app', ...common]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`error: v1 ConfigMap ${ns}/settings: would take over \`v1 ConfigMap ${ns}/settings\`, which this app does not manage; its live content is not shown.`);
    expect(refused.stdout).not.toContain("value: '1'");

    write(dir, { '.github/mergeops.yml': config(ns, adopt) });
    const d1 = await cli(['diff', 'cli-app', ...common, '-o', 'markdown']);
    expect(d1.stderr).toBe('');
    // Drift as the preview shows it: the hand-made value, who set it, and Git's.
    expect(d1.stdout).toContain('the merge reverts <code>.data.value</code>: live <code>1</code> (set by <code>test-human</code>) → Git <code>2</code>');
    expect(d1.code).toBe(2);
    expect(d1.stdout).toContain('<!-- mergeops:preview:part=1 -->');
    expect(d1.stdout).toContain(`| ⚠️ | <code>cli-app</code> | <code>default</code> / <code>${ns}</code> | 1 | 1 | 0 | 🔄 drift (1 object) |`);
    expect(d1.stdout).toContain(`<summary>➕ <b>create</b> <code>v1 ConfigMap ${ns}/extra</code> · <code>deploy/cli/extra.yaml#L1</code></summary>`);
    expect(d1.stdout).toContain(`<summary>✏️ <b>change</b> <code>v1 ConfigMap ${ns}/settings</code>: <code>data.value</code> <code>1</code> → <code>2</code>`);
    expect(d1.stdout).toContain("-  value: '1'");
    expect(d1.stdout).toContain("+  value: '2'");
    expect(d1.stdout).toContain('+    mergeops.dev/repo-id: \'990\'');
    // The terminal form: unified diffs like kubectl diff, no markdown (plain: not a TTY).
    const text = await cli(['diff', 'cli-app', ...common]);
    expect(text.code).toBe(2);
    expect(text.stdout).toContain(`diff -u -N live/v1.ConfigMap.${ns}.settings merged/v1.ConfigMap.${ns}.settings\n`);
    expect(text.stdout).toContain(`diff -u -N /dev/null merged/v1.ConfigMap.${ns}.extra\n`);
    expect(text.stdout).toContain("\n-  value: '1'\n+  value: '2'\n");
    expect(text.stdout).not.toMatch(/<details>|<code>|\u001b\[/);
    // A dry run: nothing written.
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'extra')).toBeNull();

    const noFlag = await cli(['apply', 'cli-app', ...common]);
    expect(noFlag.code).toBe(1);
    expect(noFlag.stdout).toBe('');
    expect(noFlag.stderr).toMatch(/^mergeops: apply needs --dry-run .* or --yes .*: mergeops apply cli-app --yes\n$/);

    // apply --dry-run predicts the deploy: with conflicts: fail the hand-made field is a conflict.
    write(dir, { '.github/mergeops.yml': config(ns, `${adopt}    conflicts: fail\n`) });
    const conflict = await cli(['apply', 'cli-app', '--dry-run', ...common]);
    expect(conflict.code).toBe(1);
    expect(conflict.stderr).toContain(`error: v1 ConfigMap ${ns}/settings: `);
    expect(conflict.stderr).toContain('conflict with "test-human"');
    expect(conflict.stderr).toContain('the app sets conflicts: fail');
    expect(conflict.stderr.trim().split('\n').at(-1)).toMatch(/^mergeops: 1 object of app "cli-app" failed the dry-run \(listed above\); fix it and run again$/);

    write(dir, { '.github/mergeops.yml': config(ns, adopt) });
    const dry = await cli(['apply', 'cli-app', '--dry-run', ...common, '-o', 'markdown']);
    expect(dry).toEqual({ code: 2, stdout: d1.stdout, stderr: '' });

    const applied = await cli(['apply', 'cli-app', '--yes', ...common]);
    expect(applied.code).toBe(2);
    expect(applied.stdout).toBe(
      `app "cli-app" → cluster "default": deployed: 1 created, 1 configured, 0 unchanged, 0 pruned\n  created    v1 ConfigMap ${ns}/extra\n  configured v1 ConfigMap ${ns}/settings\n  all 2 objects healthy\n`,
    );
    // ConfigMaps have no readiness: healthy once applied, nothing to wait for, no waiting line.
    expect(applied.stderr).toBe('');
    const settings = await get(cluster, 'v1', 'ConfigMap', ns, 'settings');
    expect(settings?.['data']).toEqual({ value: '2' });
    expect(settings?.metadata.labels).toMatchObject({ 'mergeops.dev/app': 'cli-app', 'mergeops.dev/repo-id': '990' });
    expect(settings?.metadata.annotations).toMatchObject({ 'mergeops.dev/repo': 'acme/cli' });
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'extra')).not.toBeNull();

    const d2 = await cli(['diff', 'cli-app', ...common, '-o', 'markdown']);
    expect(d2).toMatchObject({ code: 0, stderr: '' });
    expect(d2.stdout).toContain(`| ➖ | <code>cli-app</code> | <code>default</code> / <code>${ns}</code> | 0 | 0 | 0 | no changes |`);
    expect(d2.stdout).toContain(`➖ **No changes:** <code>cli-app</code> → <code>default</code> / <code>${ns}</code>`);
    const again = await cli(['apply', 'cli-app', '--yes', ...common]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('deployed: 0 created, 0 configured, 2 unchanged, 0 pruned');

    // Git drops `extra`: a deletion, seen only with the repo id that deployed it.
    fs.rmSync(path.join(dir, 'deploy/cli/extra.yaml'));
    const d3 = await cli(['diff', 'cli-app', ...common, '-o', 'json']);
    expect(d3.code).toBe(2);
    const diffs = JSON.parse(d3.stdout) as ObjectDiff[];
    expect(diffs.map((d) => [d.ref, d.action])).toEqual([
      [`v1 ConfigMap ${ns}/extra`, 'delete'],
      [`v1 ConfigMap ${ns}/settings`, 'unchanged'],
    ]);
    // `settings` is now this app's (repo id 990): another repo id may not take it, adopt: or not,
    // until its owner releases it.
    const otherRepo = await cli(['diff', 'cli-app', '--dir', dir, '--kubeconfig', kubeconfig(), '--repo-id', '991', '--repo', 'acme/cli', '-o', 'json']);
    expect(otherRepo.code).toBe(1);
    expect(otherRepo.stderr).toContain(`which belongs to app "cli-app" of acme/cli, another mergeops app`);
    // A local apply deletes only when asked.
    const kept = await cli(['apply', 'cli-app', '--yes', ...common]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toContain('deployed: 0 created, 0 configured, 1 unchanged, 0 pruned');
    expect(kept.stderr).toContain(`mergeops: not pruned: v1 ConfigMap ${ns}/extra (Git no longer has it; pass --prune to delete`);
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'extra')).not.toBeNull();
    const pruned = await cli(['apply', 'cli-app', '--yes', '--prune', ...common]);
    expect(pruned.code).toBe(2);
    expect(pruned.stdout).toContain(`deployed: 0 created, 0 configured, 1 unchanged, 1 pruned\n  pruned     v1 ConfigMap ${ns}/extra\n`);
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'extra')).toBeNull();
  });

  it('reports objects the API server rejects with their file:line and exits 1', async () => {
    const ns = uniqueName('cli-bad');
    await namespace(cluster, ns);
    const dir = checkout({
      '.github/mergeops.yml': `apps:\n  - name: cli-bad\n    path: k8s\n    namespace: ${ns}\n`,
      'k8s/cm.yaml': `${cm('fine', '1')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: Not_Valid\n`,
    });
    const r = await cli(['diff', 'cli-bad', '--dir', dir, '--kubeconfig', kubeconfig(), '--repo-id', '990', '--repo', 'acme/cli', '-o', 'markdown']);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('· failed (1 problem)');
    expect(r.stderr).toMatch(new RegExp(`^error: v1 ConfigMap ${ns}/Not_Valid: .*\\(k8s/cm\\.yaml:8\\)\\n`));
  });

  it('an unreachable cluster, or a context the kubeconfig lacks, is one line saying what to do', async () => {
    const dir = checkout({ '.github/mergeops.yml': 'apps:\n  - name: cli-x\n    path: k8s\n', 'k8s/cm.yaml': cm('a', '1') });
    const dead = path.join(dir, 'dead.kubeconfig');
    fs.writeFileSync(
      dead,
      'apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {server: "https://127.0.0.1:1"}\nusers:\n- name: u\n  user: {token: x}\ncontexts:\n- name: dead\n  context: {cluster: dead, user: u}\ncurrent-context: dead\n',
    );
    const r = await cli(['diff', 'cli-x', '--dir', dir, '--kubeconfig', dead, '--repo', 'acme/cli', '--repo-id', '0'], { DEBUG: '' });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      `mergeops: cannot reach the API server of context "dead" of ${dead}: ECONNREFUSED (after 4 attempts); check that it is up and that --kubeconfig/--context (or KUBECONFIG) point at the right cluster\n`,
    );

    const ctx = await cli(['diff', 'cli-x', '--dir', dir, '--kubeconfig', kubeconfig(), '--context', 'nope', '--repo', 'acme/cli', '--repo-id', '0']);
    expect(ctx.code).toBe(1);
    expect(ctx.stderr).toBe(`mergeops: context "nope" is not in ${kubeconfig()} (contexts: envtest); pass one of them with --context\n`);

    const noConfig = await cli(['diff', 'cli-x', '--dir', dir, '--repo', 'acme/cli', '--repo-id', '0'], { KUBECONFIG: '', HOME: dir, KUBERNETES_SERVICE_HOST: '' });
    expect(noConfig.code).toBe(1);
    expect(noConfig.stderr).toMatch(/^mergeops: no kubeconfig found .*; pass --kubeconfig <path> or set KUBECONFIG\n$/);
  });
});

describe('mergeops CLI and the operator\'s inventory namespace', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await testCluster();
  });
  afterAll(() => cluster?.client.close());

  // The workers keep inventories and deploy Leases where the clusters file says; a local
  // apply that took its Lease in mergeops-system instead would not take turns with them.
  it('apply records the inventory (and takes the Lease) in the clusters file\'s inventoryNamespace, or --inventory-namespace', async () => {
    const ns = uniqueName('cli-inv');
    const [fromFile, fromFlag] = [uniqueName('inv-file'), uniqueName('inv-flag')];
    for (const n of [ns, fromFile, fromFlag]) await namespace(cluster, n);
    const dir = checkout({ '.github/mergeops.yml': config(ns), 'deploy/cli/a.yaml': cm('a', '1'), 'deploy/other/a.yaml': cm('a', '1') });
    const clusters = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(clusters, `clusters:\n  default:\n    kubeconfig: ${kubeconfig()}\n    inventoryNamespace: ${fromFile}\n    grants: []\n`);
    const common = ['--dir', dir, '--kubeconfig', kubeconfig(), '--repo-id', '991', '--repo', 'acme/cli-inv'];
    const inventories = async (n: string): Promise<string[]> =>
      ((await cluster.client.request<{ items: { metadata: { name: string } }[] }>('GET', `/api/v1/namespaces/${n}/configmaps`, { query: { labelSelector: 'mergeops.dev/inventory-of-app=cli-app' } })).items).map((i) => i.metadata.name);
    // A worker's Lease on the app, held in the operator's namespace and lapsing in a
    // second: the CLI waits it out, takes it there, and gives it back (deletes it) when done.
    const workerHolds = async (n: string): Promise<void> => {
      const now = new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z'); // MicroTime
      await cluster.client.request('POST', `/apis/coordination.k8s.io/v1/namespaces/${n}/leases`, {
        body: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'mergeops-991-cli-app', namespace: n }, spec: { holderIdentity: 'deploy/worker-1/42/test', leaseDurationSeconds: 1, acquireTime: now, renewTime: now } },
      });
    };
    const leaseGone = async (n: string): Promise<boolean> =>
      cluster.client.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${n}/leases/mergeops-991-cli-app`).then(() => false, () => true);

    await workerHolds(fromFile);
    const first = await cli(['apply', 'cli-app', '--yes', '--clusters', clusters, ...common]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(2);
    expect(await inventories(fromFile)).toHaveLength(1);
    expect(await leaseGone(fromFile)).toBe(true);

    fs.writeFileSync(path.join(dir, 'deploy/cli/a.yaml'), cm('a', '2'));
    await workerHolds(fromFlag);
    expect((await cli(['apply', 'cli-app', '--yes', '--inventory-namespace', fromFlag, ...common])).code).toBe(2);
    expect(await inventories(fromFlag)).toHaveLength(1);
    expect(await leaseGone(fromFlag)).toBe(true);
    // Nothing of this app's went to the default namespace.
    expect(await inventories('mergeops-system').catch(() => [])).not.toContain('mergeops-991-cli-app');

    const bad = await cli(['apply', 'cli-app', '--yes', '--inventory-namespace', 'Not_A_Namespace', ...common]);
    expect(bad).toEqual({ code: 1, stdout: '', stderr: 'mergeops: --inventory-namespace must be a namespace name (lowercase letters, digits and "-", at most 63 characters), not "Not_A_Namespace"\n' });
  });
});

describe('mergeops CLI without a cluster', () => {
  it('names the apps that exist when the app is unknown or missing', async () => {
    const dir = checkout({ '.github/mergeops.yml': config('x'), 'deploy/cli/a.yaml': cm('a', '1') });
    const r = await cli(['render', 'nope', '--dir', dir]);
    expect(r).toEqual({ code: 1, stdout: '', stderr: 'mergeops: no app named "nope" in .github/mergeops.yml; apps: cli-app, other\n' });
    const missing = await cli(['diff', '--dir', dir]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('mergeops: missing the app name: mergeops diff <app> (apps in .github/mergeops.yml: cli-app, other)\n');
  });

  it('a render error names file:line', async () => {
    const dir = checkout({
      '.github/mergeops.yml': config('x'),
      'deploy/cli/a.yaml': cm('a', '1'),
      'deploy/cli/b.yaml': `${cm('b', '1')}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c: d\ndata: {}\n`,
    });
    const r = await cli(['render', 'cli-app', '--dir', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('mergeops: rendering app "cli-app" failed at deploy/cli/b.yaml:11: invalid YAML: bad indentation of a mapping entry; fix it and run again\n');
  });

  it('a bad config, a missing config and bad arguments are one line each; --help prints usage', async () => {
    const bad = checkout({ '.github/mergeops.yml': 'apps:\n  - name: Bad\n    path: x\n' });
    const r = await cli(['render', 'Bad', '--dir', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^mergeops: \.github\/mergeops\.yml: invalid config: apps\[0\]\.name: .*; fix it and run again\n$/);

    const empty = checkout({ 'README.md': 'hi\n' });
    expect((await cli(['render', 'x', '--dir', empty])).stderr).toBe(`mergeops: no .github/mergeops.yml in ${empty}; run mergeops from your checkout's root or pass --dir\n`);

    expect(await cli(['render', 'x', '--bogus'])).toEqual({ code: 1, stdout: '', stderr: "mergeops: Unknown option '--bogus'; run `mergeops --help` for usage\n" });
    expect((await cli([])).stderr).toBe('mergeops: missing a command (render, diff, apply, validate, apps); run `mergeops --help` for usage\n');
    expect((await cli(['deploy', 'x'])).stderr).toBe('mergeops: unknown command "deploy" (commands: render, diff, apply, validate, apps); run `mergeops --help` for usage\n');
    expect((await cli(['render', 'x', '--yes'])).stderr).toBe('mergeops: --yes does not apply to `mergeops render`; run `mergeops --help` for usage\n');
    expect((await cli(['diff', 'x', '-o', 'yaml'])).stderr).toBe('mergeops: --output must be text or markdown or json for diff, not "yaml"\n');
    expect((await cli(['apply', 'x', '--dry-run', '--prune'])).stderr).toBe('mergeops: --prune goes with --yes: apply --dry-run already shows what pruning would delete\n');
    expect((await cli(['apply', 'x', '--yes', '--dry-run'])).stderr).toBe('mergeops: pass either --dry-run or --yes to apply, not both\n');
    expect((await cli(['diff', 'x', '--repo-id', '-1'])).stderr).toMatch(/^mergeops: Option '--repo-id[^']*' argument is ambiguous; run `mergeops --help` for usage\n$/);
    expect((await cli(['diff', 'x', '--repo-id', 'abc'])).stderr).toBe('mergeops: --repo-id must be a GitHub repository id (a whole number), not "abc"\n');
    expect((await cli(['diff', 'x', '--repo', 'nope'])).stderr).toBe('mergeops: --repo must look like owner/name, not "nope"\n');

    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage:\n {2}mergeops render +<app>/);
    const v = await cli(['--version']);
    expect(v).toEqual({ code: 0, stdout: `mergeops ${(JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version}\n`, stderr: '' });
    expect((await cli(['apply', '--help'])).code).toBe(0);
  });

  it('derives owner/name from the usual Git remote URLs', () => {
    expect(repoFromRemote('https://github.com/acme/deploys.git')).toBe('acme/deploys');
    expect(repoFromRemote('https://x-access-token:abc@github.com/acme/deploys')).toBe('acme/deploys');
    expect(repoFromRemote('git@github.com:acme/deploys.git\n')).toBe('acme/deploys');
    expect(repoFromRemote('ssh://git@github.example.com:2222/acme/deploys/')).toBe('acme/deploys');
    expect(repoFromRemote('/srv/git/deploys')).toBeNull();
    expect(repoFromRemote('file:///srv/git/acme/deploys.git')).toBeNull();
    expect(repoFromRemote('deploys')).toBeNull();
  });
});

describe('mergeops validate, apps, --repo-id, empty apps (offline)', () => {
  const clustersFile = (dir: string): string => {
    const f = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(f, 'clusters:\n  default:\n    inCluster: true\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["shop"]\n');
    return f;
  };

  it('validate: 0 for a valid checkout, 1 naming each problem (render, grants), with no cluster and no GitHub', async () => {
    const dir = checkout({
      '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy/shop\n    namespace: shop\n  - name: ops\n    path: deploy/ops\n    namespace: kube-system\n',
      'deploy/shop/a.yaml': cm('a', '1'),
      'deploy/ops/b.yaml': cm('b', '1'),
    });
    const onlyShop = await cli(['validate', 'shop', '--dir', dir, '--clusters', clustersFile(dir), '--repo', 'acme/shop'], { KUBECONFIG: '/nonexistent' });
    expect(onlyShop).toEqual({ code: 0, stdout: '✓ shop: 1 object renders, within acme/shop\'s grants on "default"\n', stderr: '' });
    const all = await cli(['validate', '--dir', dir, '--clusters', clustersFile(dir), '--repo', 'acme/shop']);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain('✓ shop: 1 object renders');
    expect(all.stdout).toContain('✗ ops: 1 problem\n    v1 ConfigMap kube-system/b: not allowed: namespace "kube-system" is not granted to acme/shop on cluster "default"');
    expect(all.stdout).toContain('(deploy/ops/b.yaml:1)');
    expect(all.stderr).toBe('mergeops: 1 of 2 apps invalid (listed above)\n');
    // Without the clusters file it says grants were not checked.
    const noGrants = await cli(['validate', 'shop', '--dir', dir], { MERGEOPS_CLUSTERS: '' });
    expect(noGrants.code).toBe(0);
    expect(noGrants.stderr).toContain('grants not checked: pass --clusters');
  });

  it('validate: an unknown config key suggests the nearest one; a render error names file:line', async () => {
    const typo = checkout({ '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy\n    namespce: shop\n' });
    const r = await cli(['validate', '--dir', typo]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('unknown key "namespce"; did you mean "namespace"?');
    const broken = checkout({ '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy\n', 'deploy/a.yaml': 'a: [\n' });
    const b = await cli(['validate', '--dir', broken, '--clusters', clustersFile(broken)]);
    expect(b.code).toBe(1);
    expect(b.stdout).toMatch(/^✗ shop: 1 problem\n {4}rendering app "shop" failed at deploy\/a\.yaml:\d+: /);
  });

  it('apps lists name, path, renderer, cluster, namespace and branch', async () => {
    const dir = checkout({
      '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy/shop\n    namespace: shop\n  - name: web\n    path: charts/web\n    branch: release\n',
      'deploy/shop/a.yaml': cm('a', '1'),
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 0.1.0\n',
    });
    const r = await cli(['apps', '--dir', dir]);
    expect(r).toEqual({
      code: 0,
      stderr: '',
      stdout: ['NAME   PATH          RENDERER   CLUSTER   NAMESPACE   BRANCH', 'shop   deploy/shop   plain      default   shop        main', 'web    charts/web    helm       default               release', ''].join('\n'),
    });
    const json = JSON.parse((await cli(['apps', '--dir', dir, '-o', 'json'])).stdout) as { name: string; renderer: string }[];
    expect(json.map((a) => [a.name, a.renderer])).toEqual([['shop', 'plain'], ['web', 'helm']]);
  });

  it('diff without --repo-id stops and says how to get it, from the Git remote; once given it is remembered', async () => {
    const dir = checkout({ '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy\n', 'deploy/a.yaml': cm('a', '1') });
    const git = (...a: string[]) => execFileSync('git', ['-C', dir, ...a], { stdio: 'ignore' });
    git('init', '-q');
    git('remote', 'add', 'origin', 'git@github.com:acme/shop.git');
    const r = await cli(['diff', 'shop', '--dir', dir, '--kubeconfig', '/nonexistent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "mergeops: which GitHub repository id do acme/shop's objects carry? mergeops finds what the GitHub App deployed (and would delete) by the label mergeops.dev/repo-id; pass --repo-id $(gh api repos/acme/shop --jq .id) once (remembered in .git/mergeops-repo-id), or --repo-id 0 for objects only this CLI applied\n",
    );
    // Given once (the run stops later, at the kubeconfig), then remembered for this repository.
    await cli(['diff', 'shop', '--dir', dir, '--kubeconfig', '/nonexistent', '--repo-id', '4242']);
    expect(JSON.parse(fs.readFileSync(path.join(dir, '.git/mergeops-repo-id'), 'utf8'))).toEqual({ 'acme/shop': 4242 });
    const again = await cli(['diff', 'shop', '--dir', dir, '--kubeconfig', '/nonexistent']);
    expect(again.stderr).toMatch(/^mergeops: kubeconfig \/nonexistent does not exist/);
  });

  it('an app folder with no YAML says so instead of rendering nothing in silence', async () => {
    const dir = checkout({ '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: deploy\n', 'deploy/README.md': 'manifests go here\n' });
    const r = await cli(['render', 'shop', '--dir', dir]);
    expect(r).toEqual({ code: 0, stdout: '', stderr: 'mergeops: warning: app "shop" renders no objects: deploy has no .yaml or .yml files (plain apps render every one under it)\n' });
    const missing = checkout({ '.github/mergeops.yml': 'apps:\n  - name: shop\n    path: k8s\n' });
    expect((await cli(['render', 'shop', '--dir', missing])).stderr).toBe('mergeops: rendering app "shop" failed at k8s: app path "k8s" is not a folder in this revision; fix it and run again\n');
  });
});
