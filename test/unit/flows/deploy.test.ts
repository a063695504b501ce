import { ClusterUnreachableError } from '../../../src/cluster/client.js';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { CheckOutput } from '../../../src/report/check.js';
import { CHECK_NAMES } from '../../../src/check-names.js';
import { BOOTSTRAP_DEPLOYMENTS_MAX, runDeploy, type DeployDeps } from '../../../src/flows/deploy.js';
import { reportDeploy, type DeployReportDeps, type OpenDeployCheck } from '../../../src/flows/deploy-report.js';
import type { DeployJob, DeployReportJob, WaitingPromotion } from '../../../src/flows/jobs.js';
import { checkDeployBranch } from '../../../src/policy/grants.js';
import { FakeCluster } from '../fakes/cluster.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const CONFIG = 'apps:\n  - name: web\n    path: web\n    namespace: shop\n    wait: 30s\n  - name: api\n    path: api\n    namespace: shop\n    wait: 0\n  - name: docs\n    path: docs\n    branch: gh-pages\n';

function setup(files: Record<string, string>, opts: { reason?: DeployJob['reason'] } = {}) {
  const host = new FakeRepoHost();
  const cluster = new FakeCluster();
  const sha = host.push(files, 'main');
  const job: DeployJob = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, sha, branch: 'main', defaultBranch: 'main', ...(opts.reason ? { reason: opts.reason } : {}) };
  const recorded: string[] = [];
  /** The report jobs the deploy handed on, and what the host held when it did. */
  const reports: { job: DeployReportJob; checksThen: number; deploymentsThen: number }[] = [];
  const deps: DeployDeps = {
    hosts: fakeHosts(host),
    engine: cluster,
    log: pino({ level: 'silent' }),
    recordDeployed: async (_job, app) => void recorded.push(app),
    report: async (r) => void reports.push({ job: { ...r, deployJobId: `deploy-${reports.length}`, seq: reports.length + 1 }, checksThen: host.checks.length, deploymentsThen: host.deployments.length }),
  };
  /** Runs the report as the report worker does, with its progress kept across calls (a retry). */
  const report = async (i = -1, more: Partial<DeployReportDeps> = {}) => {
    const r = reports.at(i);
    if (!r) throw new Error('the deploy handed on no report');
    await reportDeploy(r.job, { hosts: fakeHosts(host), log: pino({ level: 'silent' }), progress: { get: () => r.job.progress ?? {}, set: async (p) => void (r.job.progress = p) }, ...more });
  };
  /** The deploy, then its report: what one push shows on GitHub. */
  const deploy = async (j: DeployJob = job) => {
    const out = await runDeploy(j, deps);
    if (out) await report();
    return out;
  };
  return { host, cluster, job, deps, recorded, reports, report, deploy };
}

const ns = (name: string): string => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`;

describe('deploy flow (through the fake host)', () => {
  it('deploys every app of the branch, then reports: one check run created with its conclusion, a Deployment with one final status per changed app, a comment on the merged PR', async () => {
    const { host, cluster, job, deps, recorded, reports, report } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b'), 'docs/cm.yaml': cm('docs', 'c') });
    host.merged.set(job.sha, 41);
    await runDeploy(job, deps);
    // Cluster first: both apps are applied before anything is written to GitHub.
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'web')?.data).toEqual({ value: 'a' });
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'api')?.data).toEqual({ value: 'b' });
    expect(reports).toHaveLength(1);
    expect(reports[0]).toMatchObject({ checksThen: 0, deploymentsThen: 0 });
    expect(host.checks).toEqual([]);
    expect(host.comments).toEqual([]);
    expect(reports[0]?.job.changed).toEqual(['web', 'api']);
    // The report job carries each app's change set (references and actions), never the objects.
    expect(JSON.stringify(reports[0]?.job)).not.toContain('"value"');
    expect(reports[0]?.job.report.apps.map((a) => [a.app, a.applied?.changes])).toEqual([
      ['web', [{ ref: 'v1 ConfigMap shop/web', action: 'created' }]],
      ['api', [{ ref: 'v1 ConfigMap shop/api', action: 'created' }]],
    ]);

    await report();
    expect(host.deployments.map((d) => [d.environment, d.sha, d.statuses.map((s) => s.state)])).toEqual([
      ['web', job.sha, ['success']],
      ['api', job.sha, ['success']],
    ]);
    expect(host.deployments[0]?.statuses[0]?.description).toBe('deployed: 1 created, 0 configured, 0 unchanged, 0 pruned');
    // Every Deployment status links the deploy check run, created once and already completed.
    const check = host.check(CHECK_NAMES.deploy);
    expect(host.checks).toHaveLength(1);
    expect(host.deployments.flatMap((d) => d.statuses.map((s) => s.logUrl))).toEqual(Array(2).fill(host.checkRunUrl(check?.id ?? -1)));
    expect(check).toMatchObject({ headSha: job.sha, status: 'completed', conclusion: 'success' });
    expect(check?.output?.title).toBe('Deployed 2 apps');
    expect(check?.output?.summary).toContain('GitHub Deployments for the 2 changed apps: <code>web</code>, <code>api</code>.');
    expect(host.comments.map((c) => c.issue)).toEqual([41]);
    expect(host.comments[0]?.body).toContain('✅ succeeded');
    // Applied side by side: recorded in the order they finished.
    expect([...recorded].sort()).toEqual(['api', 'web']);
    expect(cluster.get('v1', 'ConfigMap', 'default', 'docs')).toBeUndefined();
    expect(host.openCheckouts).toBe(0);
  });

  it('a bootstrap of more than BOOTSTRAP_DEPLOYMENTS_MAX apps writes them no Deployment: the check lists them, their commit is recorded for rollback; their next change gets Deployments', async () => {
    const names = Array.from({ length: BOOTSTRAP_DEPLOYMENTS_MAX + 1 }, (_, i) => `app-${i}`);
    const config = `apps:\n${names.map((n) => `  - name: ${n}\n    path: ${n}\n    namespace: shop\n    wait: 0\n`).join('')}`;
    const files = (v: string) => ({ '.github/mergeops.yml': config, ...Object.fromEntries(names.map((n) => [`${n}/cm.yaml`, cm(n, v)])) });
    const { host, job, deps, reports, report } = setup(files('a'));
    const firsts: { sha: string; apps: string[] }[] = [];
    deps.recordFirstDeploys = async (j, apps) => void firsts.push({ sha: j.sha, apps });
    await runDeploy(job, deps);
    expect(reports[0]?.job.changed).toEqual([]);
    expect(reports[0]?.job.bootstrapped).toEqual(names);
    expect(firsts).toEqual([{ sha: job.sha, apps: names }]);
    await report();
    expect(host.deployments).toEqual([]);
    expect(host.checks[0]?.output?.summary).toContain(`${names.length} apps deployed for the first time (a bootstrap): no GitHub Deployment each`);
    // Their next change is a change like any other.
    const next = host.push(files('b'), 'main');
    await runDeploy({ ...job, sha: next }, deps);
    await report();
    expect(host.deployments.map((d) => [d.environment, d.statuses.map((x) => x.state)])).toEqual(names.map((n) => [n, ['success']]));
    expect(firsts).toHaveLength(1);
  });

  it('a few new apps keep their Deployments: at BOOTSTRAP_DEPLOYMENTS_MAX nothing is folded', async () => {
    const names = Array.from({ length: BOOTSTRAP_DEPLOYMENTS_MAX }, (_, i) => `app-${i}`);
    const config = `apps:\n${names.map((n) => `  - name: ${n}\n    path: ${n}\n    namespace: shop\n    wait: 0\n`).join('')}`;
    const { host, deps, job, reports, report } = setup({ '.github/mergeops.yml': config, ...Object.fromEntries(names.map((n) => [`${n}/cm.yaml`, cm(n, 'a')])) });
    await runDeploy(job, deps);
    expect(reports[0]?.job.bootstrapped).toBeUndefined();
    await report();
    expect(host.deployments).toHaveLength(names.length);
  });

  it('a push that changes one app of several: exactly one Deployment, the check lists every app', async () => {
    const { host, job, deploy } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    await deploy();
    const before = host.deployments.length;
    const next = { ...job, sha: host.push({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a2'), 'api/cm.yaml': cm('api', 'b') }, 'main') };
    await deploy(next);
    expect(host.deployments.slice(before).map((d) => [d.environment, d.statuses.map((s) => s.state)])).toEqual([['web', ['success']]]);
    const check = host.checks.at(-1);
    expect(check?.output?.summary).toContain('| ✅ | <code>api</code> |');
    expect(check?.output?.summary).toContain('1 app unchanged, held or not deployed from here: no Deployment.');
  });

  it('applies apps rendering Namespaces or CRDs before the others, whatever the config order', async () => {
    const config = 'apps:\n  - name: web\n    path: web\n    namespace: shop\n  - name: api\n    path: api\n    namespace: shop\n  - name: infra\n    path: infra\n';
    const { cluster, job, deps } = setup({ '.github/mergeops.yml': config, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b'), 'infra/ns.yaml': ns('shop') });
    await runDeploy(job, deps);
    // infra's wave first; web and api then apply side by side, in whichever order their plans end.
    const order = cluster.applies.map((a) => a.app);
    expect(order[0]).toBe('infra');
    expect(order.slice(1).sort()).toEqual(['api', 'web']);
  });

  it('prunes what Git dropped', async () => {
    const { host, cluster, job, deploy } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'web/old.yaml': cm('old', 'x') });
    await deploy();
    const next = { ...job, sha: host.push({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') }, 'main') };
    await deploy(next);
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'old')).toBeUndefined();
    expect(host.deployments.filter((d) => d.environment === 'web').at(-1)?.statuses.at(-1)?.description).toBe('deployed: 0 created, 0 configured, 1 unchanged, 1 pruned');
  });

  it('fails the app whose object the server refuses: its Deployment fails, the check fails, the other app deploys, nothing of the failed app is recorded', async () => {
    const { host, cluster, job, recorded, deploy } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    cluster.refuse.set('v1 ConfigMap shop/web', 'admission webhook "policy" denied the request');
    await deploy(job);
    expect(host.deployments.map((d) => [d.environment, d.statuses.at(-1)?.state])).toEqual([
      ['web', 'failure'],
      ['api', 'success'],
    ]);
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.title).toBe('Deploy failed for 1 of 2 apps');
    expect(check?.output?.summary).toContain('admission webhook');
    expect(recorded).toEqual(['api']);
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'api')?.data).toEqual({ value: 'b' });
  });

  it('fails an app whose objects do not become healthy within its wait', async () => {
    const { host, cluster, deploy } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') });
    cluster.unhealthy.set('v1 ConfigMap shop/web', 'not healthy after 30 s: 0/1 replicas ready');
    await deploy();
    expect(host.deployments[0]?.statuses.at(-1)?.state).toBe('failure');
    expect(host.check(CHECK_NAMES.deploy)?.output?.summary).toContain('0/1 replicas ready');
  });

  it('does nothing when no app deploys from the branch: no report, no check run, no Deployment', async () => {
    const { host, job, deps, reports } = setup({ '.github/mergeops.yml': CONFIG });
    expect(await runDeploy({ ...job, branch: 'release' }, deps)).toBeNull();
    expect(reports).toEqual([]);
    expect(host.checks).toEqual([]);
    expect(host.deployments).toEqual([]);
  });

  it('without an operator policy, a branch other than the default deploys nothing, whatever its config says: a neutral check says why', async () => {
    const { host, cluster, job, deps, deploy, recorded } = setup({ '.github/mergeops.yml': CONFIG.replace('path: web\n', 'path: web\n    branch: feature\n'), 'web/cm.yaml': cm('web', 'a') });
    deps.branchRefusal = (j, app) => checkDeployBranch(`${j.owner}/${j.repo}`, j.branch, j.defaultBranch, app.cluster, null);
    await deploy({ ...job, branch: 'feature' });
    expect(cluster.applies).toEqual([]);
    expect(recorded).toEqual([]);
    const check = host.check(CHECK_NAMES.deploy);
    expect(check).toMatchObject({ conclusion: 'neutral' });
    expect(check?.output?.title).toBe('Not deployed from feature: 1 app deploys only from the default branch');
    expect(check?.output?.summary).toContain('not deployed: branch "feature" does not deploy acme/deploys: the operator configured no policy');
    expect(host.deployments).toEqual([]);
  });

  it('reports an invalid config as a failed check and deploys nothing', async () => {
    const { host, deploy } = setup({ '.github/mergeops.yml': 'apps: []\n' });
    await deploy();
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.summary).toContain('invalid config: apps: lists no apps');
    expect(host.deployments).toEqual([]);
  });

  it('a self-heal re-applies forced and comments on no pull request', async () => {
    const { host, cluster, job, deploy } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') }, { reason: 'self-heal' });
    host.merged.set(job.sha, 41);
    await deploy();
    // (api has no manifests in this commit: its render fails, so only web reaches the cluster.)
    expect(cluster.applies.map((a) => [a.app, a.force])).toEqual([['web', true]]);
    expect(host.comments).toEqual([]);
  });

  it('two apps of one push declaring the same object (a shared Namespace) both fail before any write, the problem naming both files; other apps go on', async () => {
    const three = 'apps:\n  - name: web\n    path: web\n    namespace: shop\n  - name: api\n    path: api\n    namespace: shop\n  - name: jobs\n    path: jobs\n    namespace: batch\n';
    const { cluster, job, deps } = setup({ '.github/mergeops.yml': three, 'web/ns.yaml': ns('shop'), 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b'), 'api/ns.yaml': ns('shop'), 'jobs/cm.yaml': cm('settings', 'c') });
    const out = await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['jobs']);
    expect(cluster.get('v1', 'Namespace', undefined, 'shop')).toBeUndefined();
    expect(cluster.get('v1', 'ConfigMap', 'shop', 'web')).toBeUndefined();
    const problems = Object.fromEntries((out?.apps ?? []).map((a) => [a.app, a.problems]));
    for (const app of ['web', 'api']) {
      expect(problems[app]).toHaveLength(1);
      expect(problems[app]?.[0]?.message).toContain('`v1 Namespace shop` is declared by app "web" (web/ns.yaml:1) and by app "api" (api/ns.yaml:1)');
    }
    expect(problems['web']?.[0]).toMatchObject({ file: 'web/ns.yaml', line: 1 });
    expect(problems['api']?.[0]).toMatchObject({ file: 'api/ns.yaml', line: 1 });
    expect(problems['jobs']).toEqual([]);
  });

  it('the same name in two namespaces, or a namespaced kind in two apps\' own namespaces, is no clash', async () => {
    const two = 'apps:\n  - name: web\n    path: web\n    namespace: shop\n  - name: api\n    path: api\n    namespace: batch\n';
    const { cluster, job, deps } = setup({ '.github/mergeops.yml': two, 'web/cm.yaml': cm('settings', 'a'), 'api/cm.yaml': cm('settings', 'b') });
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app).sort()).toEqual(['api', 'web']);
  });

  it('on an error of ours the job fails and nothing is reported on GitHub (the retry reports)', async () => {
    const { host, cluster, job, deps, recorded, reports } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a') });
    cluster.down = new ClusterUnreachableError('default', 'ECONNREFUSED (after 4 attempts)');
    await expect(runDeploy(job, deps)).rejects.toThrow(ClusterUnreachableError);
    expect(reports).toEqual([]);
    expect(host.checks).toEqual([]);
    expect(host.deployments).toEqual([]);
    expect(recorded).toEqual([]);
    expect(host.openCheckouts).toBe(0);
  });

  it('a retried report goes on where it stopped: no second check run, Deployment or status', async () => {
    const { host, job, deps, report } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    host.merged.set(job.sha, 41);
    await runDeploy(job, deps);
    // GitHub fails the second Deployment status; the job is retried.
    const set = host.setDeploymentState.bind(host);
    let calls = 0;
    host.setDeploymentState = async (...args) => {
      if (++calls === 2) throw Object.assign(new Error('Server Error'), { status: 500 });
      return set(...args);
    };
    await expect(report()).rejects.toThrow('Server Error');
    await report();
    expect(host.checks).toHaveLength(1);
    expect(host.deployments.map((d) => [d.environment, d.statuses.map((s) => s.state)])).toEqual([
      ['web', ['success']],
      ['api', ['success']],
    ]);
    expect(host.comments).toHaveLength(1);
  });

  it('a deploy of an earlier version that opened its check run in progress: the report completes that one, creating none', async () => {
    const { host, job, deps, reports, report } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    const open = await host.startCheck(CHECK_NAMES.deploy, job.sha);
    await runDeploy(job, deps);
    (reports[0] as { job: DeployReportJob }).job.progress = { openCheck: open };
    await report();
    expect(host.checks).toHaveLength(1);
    expect(host.checks[0]).toMatchObject({ id: open.id, status: 'completed', conclusion: 'success' });
    expect(host.deployments.flatMap((d) => d.statuses.map((s) => s.logUrl))).toEqual(Array(2).fill(host.checkRunUrl(open.id)));
  });

  it('coalesces a backlog: an environment a newer report covers gets no older status, and the check says so', async () => {
    const { host, job, deps, reports, report } = setup({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') });
    await runDeploy(job, deps);
    const next = { ...job, sha: host.push({ '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a2'), 'api/cm.yaml': cm('api', 'b') }, 'main') };
    await runDeploy(next, deps);
    // Both reports wait; the newer one (web only) is the newest word on web.
    const newerReport = async (j: DeployReportJob, app: string) => reports.find((r) => r.job.seq > j.seq && r.job.changed.includes(app))?.job.sha ?? null;
    await report(0, { newerReport });
    await report(1, { newerReport });
    expect(host.deployments.map((d) => [d.environment, d.sha.slice(0, 7)])).toEqual([
      ['api', job.sha.slice(0, 7)],
      ['web', next.sha.slice(0, 7)],
    ]);
    expect(host.checks).toHaveLength(2);
    expect(host.checks[0]?.output?.summary).toContain(`the Deployment status of <code>web</code> is left to the newer deploy of <code>${next.sha.slice(0, 7)}</code>`);
  });
});

describe('deploy flow: a push deploys the apps it affects', () => {
  const files = { '.github/mergeops.yml': CONFIG, 'web/cm.yaml': cm('web', 'a'), 'api/cm.yaml': cm('api', 'b') };

  /** Two pushes: the first deployed both apps; the second changes `change`. */
  function twoPushes(change: Record<string, string>, lastDeployed: Record<string, string | null> | 'first') {
    const s = setup(files);
    const before = s.job.sha;
    const sha = s.host.push({ ...files, ...change }, 'main', [before]);
    const at = (app: string): string | null => (lastDeployed === 'first' ? before : (lastDeployed[app] ?? null));
    s.deps.lastDeployed = async (_job, app) => at(app);
    const job: DeployJob = { ...s.job, sha, reason: 'push', changes: { before, paths: Object.keys(change) } };
    return { ...s, job, before };
  }
  const applied = (r: Awaited<ReturnType<typeof runDeploy>>) => r?.apps.map((a) => a.app);

  it('applies only the app whose file changed; the other is recorded deployed at the new commit and listed unchanged', async () => {
    const { host, job, recorded, deploy } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    const report = await deploy(job);
    expect(applied(report)).toEqual(['api']);
    expect(host.deployments.map((d) => d.environment)).toEqual(['api']);
    expect(report?.unchanged).toEqual(['web']);
    expect(recorded.sort()).toEqual(['api', 'web']);
    expect(host.check(CHECK_NAMES.deploy)?.output?.title).toBe('Deployed 1 app · 1 unchanged');
    expect(host.compares).toEqual([]);
  });

  it('applies an untouched app whose last deploy was not the push’s parent (it failed, or never ran)', async () => {
    const { job, deps } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, { api: null, web: 'f'.repeat(40) });
    expect(applied(await runDeploy(job, deps))).toEqual(['web', 'api']);
  });

  it('asks the compare API when the job carries no paths, and deploys every app when it fails', async () => {
    const { host, job, deps, before } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    expect(applied(await runDeploy({ ...job, changes: { before } }, deps))).toEqual(['api']);
    expect(host.compares).toEqual([`${before}...${job.sha}`]);
    host.compareError = Object.assign(new Error('Server Error'), { status: 500 });
    expect(applied(await runDeploy({ ...job, changes: { before } }, deps))).toEqual(['web', 'api']);
  });

  it('reads no config to stay quiet when the push starts at a commit whose deploy found one and leaves the config alone', async () => {
    const { host, job, deps, before } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    const seen: string[] = [];
    deps.configAt = async () => before;
    deps.recordConfigAt = async (j) => void seen.push(j.sha);
    expect(applied(await runDeploy(job, deps))).toEqual(['api']);
    expect(host.reads).toEqual([]);
    expect(seen).toEqual([job.sha]);
  });

  it('still probes for the config when the push names it, carries no list, or starts elsewhere; an absent config keeps the push quiet', async () => {
    const { host, job, deps, before } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    deps.configAt = async () => before;
    for (const j of [
      { ...job, changes: { before, paths: ['api/cm.yaml', '.github/mergeops.yml'] } },
      { ...job, changes: { before } },
      { ...job, changes: { untrusted: 'a force-push' } },
    ]) {
      host.reads.length = 0;
      await runDeploy(j, deps);
      // First the probe; a push naming the config then reads its parent's too (which apps it had).
      expect(host.reads[0]).toBe(`.github/mergeops.yml@${job.sha}`);
    }
    deps.configAt = async () => 'e'.repeat(40);
    host.reads.length = 0;
    await runDeploy(job, deps);
    expect(host.reads).toEqual([`.github/mergeops.yml@${job.sha}`]);
    // The config gone (the file list names it): quiet, nothing fetched or reported.
    const gone = host.push({ 'api/cm.yaml': cm('api', 'd') }, 'main', [job.sha]);
    expect(await runDeploy({ ...job, sha: gone, changes: { before: job.sha, paths: ['.github/mergeops.yml', 'api/cm.yaml'] } }, { ...deps, configAt: async () => job.sha })).toBeNull();
  });

  it('a wrong record (the commit has no config after all) deploys nothing and says so in a failed check', async () => {
    const { host, job, deps, reports, report } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
    const bare = host.push({ 'api/cm.yaml': cm('api', 'c') }, 'main', [job.sha]);
    deps.configAt = async () => job.sha;
    const out = await runDeploy({ ...job, sha: bare, changes: { before: job.sha, paths: ['api/cm.yaml'] } }, deps);
    expect(out?.apps).toEqual([]);
    expect(out?.problems[0]?.message).toMatch(/no \.github\/mergeops\.yml/);
    expect(reports).toHaveLength(1);
    await report();
    expect(host.check(CHECK_NAMES.deploy)?.conclusion).toBe('failure');
  });

  it('deploys every app on an untrusted list (a force-push), for a command and for self-heal', async () => {
    for (const j of [
      (job: DeployJob) => ({ ...job, changes: { untrusted: 'a force-push' } }),
      (job: DeployJob) => ({ ...job, reason: 'command' as const }),
      (job: DeployJob) => ({ ...job, reason: 'self-heal' as const }),
    ]) {
      const { job, deps } = twoPushes({ 'api/cm.yaml': cm('api', 'c') }, 'first');
      expect(applied(await runDeploy(j(job), deps))).toEqual(['web', 'api']);
    }
  });
});

describe('deploy flow with environments (waves)', () => {
  const ENVS = `environments:
  - name: staging
    cluster: staging
  - name: prod-eu
    cluster: eu
  - name: prod-us
    cluster: us
    after: [staging]
  - name: dr
    cluster: dr
    after: [prod-eu]
  - name: sandbox
    cluster: staging
    after: []
apps:
  - name: web
    path: web
    namespace: web-{env}
    wait: 30s
`;

  it('applies each environment only after the ones it comes after, fanning out after staging', async () => {
    const { cluster, deps, job, reports } = setup({ '.github/mergeops.yml': ENVS, 'web/cm.yaml': cm('web', 'a') });
    await runDeploy(job, deps);
    const order = cluster.applies.map((a) => a.app);
    const at = (name: string): number => order.indexOf(`web · ${name}`);
    expect(order).toHaveLength(5);
    expect(at('staging')).toBeLessThan(at('prod-eu'));
    expect(at('staging')).toBeLessThan(at('prod-us'));
    expect(at('prod-eu')).toBeLessThan(at('dr'));
    // Pipelined: prod-eu and prod-us (no soak, no approval) made their dry-runs while staging applied.
    const when = (e: string): number => cluster.timeline.indexOf(e);
    expect(when('planned web · prod-eu')).toBeLessThan(when('applied web · staging'));
    expect(when('planned web · prod-us')).toBeLessThan(when('applied web · staging'));
    expect(when('applied web · staging')).toBeLessThan(when('applied web · prod-eu'));
    expect(cluster.get('v1', 'ConfigMap', 'web-dr', 'web')?.data).toEqual({ value: 'a' });
    const report = reports[0]?.job.report;
    expect(report?.environments?.map((e) => e.name)).toEqual(['staging', 'prod-eu', 'prod-us', 'dr', 'sandbox']);
    expect(report?.apps.every((a) => a.notStarted === undefined)).toBe(true);
  });

  it('a failed environment stops every environment after it (named, never silently skipped); others go on', async () => {
    const { cluster, deps, job, reports, report, host } = setup({ '.github/mergeops.yml': ENVS, 'web/cm.yaml': cm('web', 'a') });
    cluster.unhealthy.set('v1 ConfigMap web-staging/web', 'not ready');
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app).sort()).toEqual(['web · sandbox', 'web · staging']);
    // prod-eu and prod-us had made their dry-runs beside staging's apply; nothing of them was written.
    expect(cluster.timeline).toEqual(expect.arrayContaining(['planned web · prod-eu', 'planned web · prod-us']));
    expect(cluster.get('v1', 'ConfigMap', 'web-prod-eu', 'web')).toBeUndefined();
    const apps = reports[0]?.job.report.apps ?? [];
    expect(apps.map((a) => [a.app, a.notStarted])).toEqual([
      ['web · staging', undefined],
      ['web · prod-eu', 'staging failed'],
      ['web · prod-us', 'staging failed'],
      ['web · dr', 'prod-eu not started'],
      ['web · sandbox', undefined],
    ]);
    // Not started is not changed: only the units that were applied get a GitHub Deployment.
    expect(reports[0]?.job.changed).toEqual(['web · staging', 'web · sandbox']);
    await report();
    expect(host.deployments.map((d) => d.environment).sort()).toEqual(['web · sandbox', 'web · staging']);
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('failure');
    expect(check?.output?.summary).toContain('| ⛔ | <code>web · dr</code> | <code>dr</code> / <code>web-dr</code> | not started: prod-eu not started |');
    // Wave by wave: `·` within a wave (sandbox beside staging, prod-eu beside prod-us), `→` between waves.
    expect(check?.output?.summary).toContain(
      '**Environments:** <code>staging</code> (<code>staging</code>) ❌ failed · <code>sandbox</code> (<code>staging</code>) ✅ deployed → <code>prod-eu</code> (<code>eu</code>) ⛔ not started: staging failed · <code>prod-us</code> (<code>us</code>) ⛔ not started: staging failed → <code>dr</code> (<code>dr</code>) ⛔ not started: prod-eu not started',
    );
  });

  it('a lock on one environment holds that environment only; the ones after it say why they did not start', async () => {
    const { cluster, deps, job, reports } = setup({ '.github/mergeops.yml': ENVS, 'web/cm.yaml': cm('web', 'a') });
    deps.holdIfLocked = async (_job, app) => (app === 'web · prod-eu' ? { by: 'alice', at: '2026-12-07T03:00:00Z', reason: 'db migration' } : null);
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app).sort()).toEqual(['web · prod-us', 'web · sandbox', 'web · staging']);
    const apps = reports[0]?.job.report.apps ?? [];
    expect(apps.find((a) => a.app === 'web · prod-eu')?.held?.by).toBe('alice');
    expect(apps.find((a) => a.app === 'web · dr')?.notStarted).toBe('prod-eu held (locked)');
  });

  it('an environment interrupted by an error of ours (retried) stops the environments after it: production never goes before staging', async () => {
    const { cluster, deps, job } = setup({ '.github/mergeops.yml': ENVS, 'web/cm.yaml': cm('web', 'a') });
    const apply = cluster.apply.bind(cluster);
    cluster.apply = async (t, o) => {
      if (t.app.name === 'web · staging') throw new ClusterUnreachableError('staging', 'ECONNRESET (after 4 attempts)');
      return apply(t, o);
    };
    await expect(runDeploy(job, deps)).rejects.toThrow(ClusterUnreachableError);
    // Only the environment that does not come after staging was applied; the job is retried whole.
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · sandbox']);
  });
});

describe('deploy flow with approval gates and soaks (environments)', () => {
  const GATED = `environments:
  - name: staging
    cluster: staging
  - name: prod-eu
    cluster: eu
    soak: 10m
    approval: write
  - name: dr
    cluster: dr
apps:
  - name: web
    path: web
    namespace: web-{env}
`;

  /** A deploy with the worker's seams for soaks and approvals recorded, as the worker and Redis would keep them. */
  function gated(files: Record<string, string>) {
    const s = setup(files);
    const continued: { job: DeployJob; atMs: number }[] = [];
    const waiting = new Map<string, WaitingPromotion>();
    s.deps.continueLater = async (job, atMs) => void continued.push({ job, atMs });
    s.deps.awaitApproval = async (w) => {
      const env = w.job.environments[0] as string;
      const prev = waiting.get(env) ?? null;
      waiting.set(env, w);
      return prev && prev.job.sha !== w.job.sha ? prev : null;
    };
    return { ...s, continued, waiting };
  }

  it('a fan-out soak is one continuation: prod-eu and prod-us soaking after staging go on in one job, side by side (a job each would take the lease one after the other)', async () => {
    const FAN = `environments:\n  - name: staging\n    cluster: staging\n  - name: prod-eu\n    cluster: eu\n    after: [staging]\n    soak: 10m\n  - name: prod-us\n    cluster: us\n    after: [staging]\n    soak: 10m\n  - name: dr\n    cluster: dr\n    after: [prod-eu]\napps:\n  - name: web\n    path: web\n    namespace: web-{env}\n`;
    const { cluster, deps, job, continued } = gated({ '.github/mergeops.yml': FAN, 'web/cm.yaml': cm('web', 'a') });
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging']);
    expect(continued).toHaveLength(1);
    expect(continued[0]?.job).toMatchObject({ reason: 'continue', environments: ['prod-eu', 'prod-us', 'dr'], apps: ['web · prod-eu', 'web · prod-us', 'web · dr'] });
    // The continuation applies both soaked environments at once (neither waits for the other), then dr after prod-eu, with no second soak.
    const started: string[] = [];
    const apply = cluster.apply.bind(cluster);
    let release: () => void = () => undefined;
    const bothStarted = new Promise<void>((r) => (release = r));
    cluster.apply = async (t, o) => {
      started.push(t.app.name);
      if (started.includes('web · prod-eu') && started.includes('web · prod-us')) release();
      // Each production apply returns only once the other one has started: run one after the other, they would never finish.
      if (t.app.name !== 'web · dr') await bothStarted;
      return apply(t, o);
    };
    await runDeploy(continued[0]?.job as DeployJob, deps);
    expect(started).toEqual(['web · prod-eu', 'web · prod-us', 'web · dr']);
    expect(continued).toHaveLength(1);
  });

  it('staging applies; the soak is a delayed continuation (the job ends); after it prod-eu waits for approval; the promotion applies prod-eu, then dr follows', async () => {
    const { cluster, deps, job, reports, continued, waiting } = gated({ '.github/mergeops.yml': GATED, 'web/cm.yaml': cm('web', 'a') });
    const before = Date.now();
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging']);
    // The job did not sleep for the soak: it handed the rest on, due ten minutes on.
    expect(continued).toHaveLength(1);
    expect(continued[0]?.job).toMatchObject({ sha: job.sha, reason: 'continue', environments: ['prod-eu', 'dr'], apps: ['web · prod-eu', 'web · dr'] });
    expect(continued[0]?.atMs).toBeGreaterThanOrEqual(before + 600_000);
    expect(reports[0]?.job.report.apps.map((a) => [a.app, a.waiting?.kind])).toEqual([
      ['web · staging', undefined],
      ['web · prod-eu', 'soak'],
      ['web · dr', 'after'],
    ]);
    // Waiting is neither a Deployment nor a failure.
    expect(reports[0]?.job.changed).toEqual(['web · staging']);

    // The soak is over: prod-eu reaches its gate and waits for a person, durably.
    await runDeploy(continued[0]?.job as DeployJob, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging']);
    expect(waiting.get('prod-eu')).toMatchObject({ role: 'write', job: { sha: job.sha, reason: 'promote', environments: ['prod-eu', 'dr'], apps: ['web · prod-eu', 'web · dr'] } });
    expect(reports[1]?.job.report.apps.map((a) => [a.app, a.waiting])).toEqual([
      ['web · prod-eu', { kind: 'approval', role: 'write' }],
      ['web · dr', { kind: 'after', environment: 'prod-eu' }],
    ]);

    // The promotion: prod-eu applies (no soak again), then dr on its own rule.
    await runDeploy({ ...(waiting.get('prod-eu')?.job as DeployJob), promotedBy: 'writer' }, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging', 'web · prod-eu', 'web · dr']);
    expect(reports[2]?.job.report.apps.map((a) => [a.app, a.promotedBy, a.waiting])).toEqual([
      ['web · prod-eu', 'writer', undefined],
      ['web · dr', undefined, undefined],
    ]);
  });

  it("each (app, environment) Deployment links where the app answers (url: with {env}: environment_url)", async () => {
    const { host, deps, job, report } = gated({ '.github/mergeops.yml': GATED.replace('    soak: 10m\n    approval: write\n', '').replace('namespace: web-{env}\n', 'namespace: web-{env}\n    url: https://{env}.shop.example.com\n'), 'web/cm.yaml': cm('web', 'a') });
    await runDeploy(job, deps);
    await report();
    expect(host.deployments.map((d) => [d.environment, d.statuses.at(-1)?.environmentUrl])).toEqual([
      ['web · staging', 'https://staging.shop.example.com'],
      ['web · prod-eu', 'https://prod-eu.shop.example.com'],
      ['web · dr', 'https://dr.shop.example.com'],
    ]);
  });

  it("an operator's requireApproval holds an environment the repository does not gate (the stricter role wins)", async () => {
    const { cluster, deps, job, waiting } = gated({ '.github/mergeops.yml': GATED.replace('    soak: 10m\n    approval: write\n', '    approval: write\n'), 'web/cm.yaml': cm('web', 'a') });
    deps.operatorApproval = (_job, env) => (env.name === 'dr' ? 'admin' : env.name === 'prod-eu' ? 'maintain' : null);
    await runDeploy(job, deps);
    expect(waiting.get('prod-eu')?.role).toBe('maintain');
    await runDeploy({ ...(waiting.get('prod-eu')?.job as DeployJob), promotedBy: 'lead' }, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging', 'web · prod-eu']);
    expect(waiting.get('dr')?.role).toBe('admin');
  });

  it('a newer commit that passes staging replaces the waiting one, and its report says so; the check stays in progress with the Promote button', async () => {
    const { host, deps, job, reports, waiting, report } = gated({ '.github/mergeops.yml': GATED.replace('    soak: 10m\n', ''), 'web/cm.yaml': cm('web', 'a') });
    host.merged.set(job.sha, 41);
    await runDeploy(job, deps);
    const newer = host.push({ '.github/mergeops.yml': GATED.replace('    soak: 10m\n', ''), 'web/cm.yaml': cm('web', 'b') }, 'main');
    host.merged.set(newer, 42);
    await runDeploy({ ...job, sha: newer }, deps);
    expect(waiting.get('prod-eu')?.job.sha).toBe(newer);
    expect(reports[1]?.job.report.replaced).toEqual([{ environment: 'prod-eu', sha: job.sha }]);
    const open = new Map<string, OpenDeployCheck>();
    const openChecks = { get: async (_r: number, sha: string) => open.get(sha) ?? null, set: async (_r: number, sha: string, o: OpenDeployCheck) => void open.set(sha, o), clear: async (_r: number, sha: string) => void open.delete(sha) };
    await report(0, { openChecks });
    const first = host.checks.at(-1);
    expect(first).toMatchObject({ headSha: job.sha, status: 'in_progress' });
    expect((first?.output as CheckOutput | undefined)?.actions).toEqual([{ label: 'Promote to prod-eu', description: `Apply ${job.sha.slice(0, 7)} to prod-eu (write)`, identifier: 'mergeops-promote-1' }]);
    await report(1, { openChecks });
    // The older commit's check ends (its buttons gone) and its PR hears which PR replaced it.
    expect(host.checks.find((c) => c.headSha === job.sha)).toMatchObject({ status: 'completed', conclusion: 'neutral' });
    expect((host.checks.find((c) => c.headSha === job.sha)?.output as CheckOutput | undefined)?.actions).toEqual([]);
    expect(host.comments.find((c) => c.issue === 41 && c.body.includes('replaced by #42'))).toBeDefined();
    expect(host.checks.find((c) => c.headSha === newer)).toMatchObject({ status: 'in_progress' });
    expect(host.checks.find((c) => c.headSha === newer)?.output?.summary).toContain(`Replaces <code>${job.sha.slice(0, 7)}</code> as the commit waiting for <code>prod-eu</code>`);
  });
});

describe('deploy flow with an environment promoted by pull request', () => {
  const PROMOTED = `environments:
  - name: staging
    cluster: staging
  - name: prod-eu
    cluster: eu
    soak: 10m
    promote: pr
  - name: prod-us
    cluster: us
    after: [prod-eu]
apps:
  - name: web
    path: web/{env}
    namespace: web-{env}
    wait: 0
  - name: api
    path: api
    namespace: api-{env}
    wait: 0
`;
  const base = { 'web/staging/cm.yaml': cm('web', '1'), 'web/prod-eu/cm.yaml': cm('web', '1'), 'web/prod-us/cm.yaml': cm('web', '1'), 'api/cm.yaml': cm('api', '1') };

  /** `soak` stays 10m only where nothing of prod-eu applies (a soak before an apply is waited out for real). */
  function pushAfterDeploy(change: Record<string, string>, soak = '0') {
    const files = { ...base, '.github/mergeops.yml': PROMOTED.replace('soak: 10m', `soak: ${soak}`) };
    const s = setup(files);
    const before = s.job.sha;
    const sha = s.host.push({ ...files, ...change }, 'main', [before]);
    s.deps.lastDeployed = async () => before;
    const promoted: { environment: string; sha: string; delayMs: number }[] = [];
    s.deps.promote = async (job, environment, delayMs) => void promoted.push({ environment, sha: job.sha, delayMs });
    return { ...s, promoted, job: { ...s.job, sha, reason: 'push' as const, changes: { before, paths: Object.keys(change) } } };
  }

  it("a merge that changes staging's files applies staging, not prod-eu, and queues prod-eu's promotion for after its soak", async () => {
    const { cluster, deps, job, promoted, reports } = pushAfterDeploy({ 'web/staging/cm.yaml': cm('web', '2') }, '10m');
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging']);
    expect(promoted).toEqual([{ environment: 'prod-eu', sha: job.sha, delayMs: 600_000 }]);
    // No soak is waited out in the deploy (the promotion job is delayed instead): this test would time out otherwise.
    expect(reports[0]?.job.report.apps.map((a) => a.app)).toEqual(['web · staging']);
  });

  it('a folder every environment shares has nothing to promote: it moves with the merge, in waves, the promoted environment included', async () => {
    const { cluster, deps, job, promoted, reports, report, host } = pushAfterDeploy({ 'web/staging/cm.yaml': cm('web', '2'), 'api/cm.yaml': cm('api', '2') });
    // `web/{env}` is each environment's own; api/ is read by every environment, so api moves with the merge.
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app).sort()).toEqual(['api · prod-eu', 'api · prod-us', 'api · staging', 'web · staging']);
    expect(promoted.map((p) => p.environment)).toEqual(['prod-eu']);
    expect(cluster.get('v1', 'ConfigMap', 'api-prod-us', 'api')?.data).toEqual({ value: '2' });
    expect(reports[0]?.job.report.apps.find((a) => a.app === 'web · prod-eu')).toBeUndefined();
    await report();
    expect(host.check(CHECK_NAMES.deploy)?.conclusion).toBe('success');
  });

  it('a unit of the promoted environment that the push reaches without touching its folder waits for its pull request, named in the check', async () => {
    const { cluster, deps, job, reports, report, host } = pushAfterDeploy({ 'web/staging/cm.yaml': cm('web', '2') });
    // prod-eu's web last deployed elsewhere: the push reaches it, yet its own folder is unchanged.
    deps.lastDeployed = async (_j, app) => (app === 'web · prod-eu' ? 'f'.repeat(40) : (job.changes as { before: string }).before);
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · staging']);
    const apps = reports[0]?.job.report.apps ?? [];
    expect(apps.find((a) => a.app === 'web · prod-eu')?.awaitsPromotion).toEqual({ from: 'staging', branch: 'mergeops/promote/web/prod-eu' });
    expect(reports[0]?.job.changed).toEqual(['web · staging']);
    await report();
    const check = host.check(CHECK_NAMES.deploy);
    expect(check?.conclusion).toBe('success');
    expect(check?.output?.summary).toContain('<code>prod-eu</code> (<code>eu</code>) 🔀 promoted by pull request from <code>staging</code>');
    expect(check?.output?.summary).toContain('| 🔀 | <code>web · prod-eu</code> |');
  });

  it("the promotion pull request's merge (prod-eu's folder changed) applies prod-eu only, and then prod-us's own rule decides for prod-us", async () => {
    const { cluster, deps, job, promoted } = pushAfterDeploy({ 'web/prod-eu/cm.yaml': cm('web', '2') });
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toEqual(['web · prod-eu']);
    expect(cluster.get('v1', 'ConfigMap', 'web-prod-eu', 'web')?.data).toEqual({ value: '2' });
    expect(promoted).toEqual([]);
  });

  it('a first deploy (never deployed) applies the promoted environment with the waves', async () => {
    const { cluster, deps, job } = pushAfterDeploy({ 'web/staging/cm.yaml': cm('web', '2') });
    deps.lastDeployed = async () => null;
    await runDeploy(job, deps);
    expect(cluster.applies.map((a) => a.app)).toContain('web · prod-eu');
  });
});
