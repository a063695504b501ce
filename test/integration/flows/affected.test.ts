import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { RepoFiles } from '../../support/github.js';
import { sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, testCluster } from '../../support/kube.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';

/**
 * Monorepo previews cost what the pull request touches: the real API server sits behind a
 * proxy that records every request, and each app has its own namespace, so a request is
 * attributable to the app it is for: the app its `mergeops.dev/app` label selector names
 * (a LIST may look in any granted namespace), else the app whose namespace or inventory
 * its path names. Unaffected apps must cause none.
 */
const run = Math.random().toString(36).slice(2, 7);
const APPS = ['web', 'api', 'jobs', 'ka', 'kb'].map((a) => `${a}-${run}`) as [string, string, string, string, string];
const [WEB, API, JOBS, KA, KB] = APPS;
/**
 * The app a request is for: the app its label selector names, else the app whose namespace
 * it reaches. A label discovery by the repository's selector (apps without an inventory
 * share one per job, in every granted namespace) is the job's, not any one app's.
 */
function appOf(r: ProxiedRequest): string | undefined {
  const selected = /mergeops\.dev\/app=([^,&]+)/.exec(r.url)?.[1];
  if (selected) return selected;
  if (/labelSelector=[^&]*mergeops\.dev\/repo-id=/.test(r.url)) return undefined;
  return APPS.find((a) => r.url.includes(a));
}

const CLUSTERS = `clusters:
  default:
    kubeconfig: $KUBECONFIG
    grants:
      - repos: ["acme/deploys"]
        namespaces: ["*-${run}"]
`;

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

function config(extra: Partial<Record<string, string>> = {}): string {
  return `apps:\n${APPS.map((a) => `  - name: ${a}\n    path: deploy/${a}\n    namespace: ${a}\n${extra[a] ?? ''}`).join('')}`;
}

/** Three plain apps and two kustomize overlays sharing one base. */
function repo(over: RepoFiles = {}): RepoFiles {
  return {
    '.github/mergeops.yml': config(),
    [`deploy/${WEB}/cm.yaml`]: cm('web', '1'),
    [`deploy/${API}/cm.yaml`]: cm('api', '1'),
    [`deploy/${JOBS}/cm.yaml`]: cm('jobs', '1'),
    'bases/shared/kustomization.yaml': 'resources: [cm.yaml]\n',
    'bases/shared/cm.yaml': cm('shared', '1'),
    [`deploy/${KA}/kustomization.yaml`]: 'resources: [../../bases/shared]\n',
    [`deploy/${KB}/kustomization.yaml`]: 'resources: [../../bases/shared]\n',
    'docs/README.md': 'notes\n',
    ...over,
  };
}

describe('preview of a monorepo PR: only affected apps reach the API server', () => {
  let h: Harness;
  let proxy: FaultProxy;
  let cluster: Cluster;
  const base = sha(`affected-base-${run}`);

  beforeAll(async () => {
    cluster = await testCluster();
    for (const a of APPS) await namespace(cluster, a);
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(CLUSTERS.replace('$KUBECONFIG', proxy.kubeconfig));
    await h.push(base, repo());
  });

  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    cluster?.client.close();
  });

  let pr = 40;
  /** Opens a PR with `files` at its head on `baseSha`; the comment and each app's API server requests. */
  async function preview(files: RepoFiles, baseSha = base): Promise<{ body: string; byApp: Map<string, ProxiedRequest[]> }> {
    const head = sha(`affected-head-${run}-${pr}`);
    await h.push(head, files);
    const from = proxy.requests.length;
    expect(await h.open(++pr, head, { baseSha })).toBe(202);
    const { comment } = await h.waitForPreview(head);
    const seen = proxy.requests.slice(from);
    const byApp = new Map(APPS.map((a) => [a, seen.filter((r) => appOf(r) === a)]));
    return { body: comment.body.body as string, byApp };
  }

  it('a PR touching one app of five plans only that app; the comment says the four others are unchanged', async () => {
    const { body, byApp } = await preview(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2') }));
    expect(byApp.get(API)?.length).toBeGreaterThan(0);
    for (const other of [WEB, JOBS, KA, KB]) expect(byApp.get(other)).toEqual([]);
    expect(body).toContain('1 of 5 apps change');
    expect(body).toContain('**4 apps unchanged**: no file their render reads changed; not planned, so drift in them is not checked here.');
    expect(body).toContain(`<code>${API}</code>`);
    expect(body).not.toContain(`| <code>${WEB}</code>`);
  });

  it('a PR changing a kustomize base affects both apps built on it, and no other', async () => {
    const { body, byApp } = await preview(repo({ 'bases/shared/cm.yaml': cm('shared', '2') }));
    for (const a of [KA, KB]) expect(byApp.get(a)?.length).toBeGreaterThan(0);
    for (const other of [WEB, API, JOBS]) expect(byApp.get(other)).toEqual([]);
    expect(body).toContain('2 of 5 apps change');
    expect(body).toContain('**3 apps unchanged**');
  });

  it('a change to one app’s entry in .github/mergeops.yml affects that app alone', async () => {
    const { byApp } = await preview(repo({ '.github/mergeops.yml': config({ [JOBS]: '    prune: false\n' }) }));
    expect(byApp.get(JOBS)?.length).toBeGreaterThan(0);
    for (const other of [WEB, API, KA, KB]) expect(byApp.get(other)).toEqual([]);
  });

  it('a PR changing only files no app reads plans nothing and says merging changes nothing', async () => {
    const { body, byApp } = await preview(repo({ 'docs/README.md': 'more notes\n' }));
    for (const a of APPS) expect(byApp.get(a)).toEqual([]);
    expect(body).toContain('**5 apps unchanged**');
    expect(body).toContain('changes nothing any app renders');
  });

  it('without a readable base revision every app is planned, and the comment says why', async () => {
    const { body, byApp } = await preview(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '3') }), sha('no-such-base'));
    for (const a of APPS) expect(byApp.get(a)?.length).toBeGreaterThan(0);
    expect(body).not.toContain('apps unchanged');
    expect(body).toContain('every app rendered (the changed files were not trusted): the base revision could not be read');
  });
});

describe('deploy of a monorepo push: only affected apps are applied', () => {
  let h: Harness;
  let proxy: FaultProxy;
  let cluster: Cluster;
  let n = 0;
  let head = '';

  beforeAll(async () => {
    cluster = await testCluster();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(CLUSTERS.replace('$KUBECONFIG', proxy.kubeconfig));
  });

  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    cluster?.client.close();
  });

  /** Pushes `files` onto main after the previous push; the apps that got a GitHub Deployment, and each app's API server requests. */
  async function push(files: RepoFiles, opts: { first?: boolean; forced?: boolean; commits?: number } = {}) {
    const s = sha(`affected-push-${run}-${++n}`);
    await h.push(s, files);
    const from = proxy.requests.length;
    const calls = h.calls.length;
    expect(await h.pushEvent(s, opts.first ? {} : { before: head, ...(opts.forced ? { forced: true } : {}), ...(opts.commits ? { commits: opts.commits } : {}) })).toBe(202);
    const check = await h.waitForDeploy(s);
    head = s;
    const seen = proxy.requests.slice(from);
    const summary = String(check.body.output.summary);
    return {
      check,
      // Applied: a row in the check's table (a GitHub Deployment only for apps whose objects changed).
      applied: APPS.filter((a) => summary.includes(`| <code>${a}</code> |`)).sort(),
      deployed: h.git.deployments.filter((d) => d.sha === s).map((d) => d.environment).sort(),
      byApp: new Map(APPS.map((a) => [a, seen.filter((r) => appOf(r) === a)])),
      compares: h.calls.slice(calls).filter((c) => c.path.includes('/compare/')),
    };
  }

  it('the first push (GitHub: the branch was created) deploys every app', async () => {
    const { applied, deployed, check } = await push(repo(), { first: true });
    expect(check.body.conclusion).toBe('success');
    expect(applied).toEqual([...APPS].sort());
    expect(deployed).toEqual([...APPS].sort());
  });

  it('a merge touching one app deploys only that app: one GitHub Deployment, no API server request for the others', async () => {
    const { applied, deployed, byApp, check, compares } = await push(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2') }));
    expect(applied).toEqual([API]);
    expect(deployed).toEqual([API]);
    for (const other of [WEB, JOBS, KA, KB]) expect(byApp.get(other)).toEqual([]);
    expect(byApp.get(API)?.length).toBeGreaterThan(0);
    // The payload's file list was enough: GitHub was not asked what changed.
    expect(compares).toEqual([]);
    expect(check.body.output.title).toBe('Deployed 1 app · 4 unchanged');
    expect(check.body.output.summary).toContain('**4 apps unchanged** by this push');
    const live = await cluster.client.request<{ data: { value: string } }>('GET', `/api/v1/namespaces/${API}/configmaps/api`);
    expect(live.data.value).toBe('2');
  });

  it('a change to a shared kustomize base deploys both apps built on it', async () => {
    const { applied, deployed } = await push(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2'), 'bases/shared/cm.yaml': cm('shared', '2') }));
    expect(applied).toEqual([KA, KB].sort());
    expect(deployed).toEqual([KA, KB].sort());
  });

  it('a change to one app’s config entry deploys that app', async () => {
    const { applied } = await push(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2'), 'bases/shared/cm.yaml': cm('shared', '2'), '.github/mergeops.yml': config({ [JOBS]: '    prune: false\n' }) }));
    // Applied, though none of its objects changed (so no GitHub Deployment).
    expect(applied).toEqual([JOBS]);
  });

  it('a push of many commits is asked of the compare API (before...after), and still deploys only what changed', async () => {
    const { applied, deployed, compares } = await push(repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2'), 'bases/shared/cm.yaml': cm('shared', '2'), '.github/mergeops.yml': config({ [JOBS]: '    prune: false\n' }), [`deploy/${WEB}/cm.yaml`]: cm('web', '2') }), { commits: 25 });
    expect(compares).toHaveLength(1);
    expect(applied).toEqual([WEB]);
    expect(compares[0]?.path).toMatch(/\/compare\/[0-9a-f]{40}\.\.\.[0-9a-f]{40}\?per_page=1$/);
    expect(deployed).toEqual([WEB]);
  });

  const latest = () => repo({ [`deploy/${API}/cm.yaml`]: cm('api', '2'), 'bases/shared/cm.yaml': cm('shared', '2'), '.github/mergeops.yml': config({ [JOBS]: '    prune: false\n' }), [`deploy/${WEB}/cm.yaml`]: cm('web', '2') });

  it('a force-push deploys every app (its before is not an ancestor: the file list proves nothing)', async () => {
    const { applied, check } = await push({ ...latest(), [`deploy/${API}/cm.yaml`]: cm('api', '3') }, { forced: true });
    expect(applied).toEqual([...APPS].sort());
    expect(check.body.conclusion).toBe('success');
  });

  it('a change GitHub lists only in part (300 files of the compare API) deploys every app', async () => {
    const docs = Object.fromEntries(Array.from({ length: 301 }, (_, i) => [`docs/page-${i}.md`, `page ${i}\n`]));
    const { applied, compares } = await push({ ...latest(), [`deploy/${API}/cm.yaml`]: cm('api', '4'), ...docs }, { commits: 25 });
    expect(compares).toHaveLength(1);
    expect(applied).toEqual([...APPS].sort());
  });
});
