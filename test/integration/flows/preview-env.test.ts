import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { PREVIEW_ENV_LABEL } from '../../../src/engine/preview-env.js';
import { deliver, INSTALLATION_ID, waitFor, GITHUB } from '../../support/github.js';
import { startEnvTest, type EnvTest } from '../../support/global-setup.js';
import { REPO, nextEventTime, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';
import type { KubeObject } from '../../../src/objects.js';
import { comment, commandsApi, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { webhookExample } from '../../support/webhook-schemas.js';

const cm = (name: string, v: string, ns?: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}data:\n  v: "${v}"\n`;
const clusterRole = 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: pe-sneaky\nrules:\n  - apiGroups: ["*"]\n    resources: ["*"]\n    verbs: ["*"]\n';
const secret = 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  TOKEN: from-the-fork\n';

/** A `pull_request` event of `action` as GitHub sends it, for our repository (a fork's head with `fork`). */
function prEvent(action: 'labeled' | 'unlabeled' | 'closed', pr: number, headSha: string, baseSha: string, labels: string[], opts: { label?: string; fork?: boolean } = {}): Record<string, any> {
  const p = webhookExample('pull_request', action); // fixture JSON is untyped
  p['number'] = pr;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  for (const repo of [p['repository'], p['pull_request']['head']['repo'], p['pull_request']['base']['repo']]) {
    Object.assign(repo, { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
    repo.owner.login = REPO.owner;
  }
  if (opts.fork) Object.assign(p['pull_request']['head']['repo'], { full_name: `someone/${REPO.name}`, id: 4242, fork: true });
  Object.assign(p['pull_request'], { number: pr, state: action === 'closed' ? 'closed' : 'open', updated_at: new Date(nextEventTime() * 1000).toISOString() });
  p['pull_request']['head']['sha'] = headSha;
  Object.assign(p['pull_request']['base'], { ref: 'main', sha: baseSha });
  const label = (name: string, i: number) => ({ id: i + 1, node_id: `LA_${i + 1}`, url: `${GITHUB}/repos/${REPO.owner}/${REPO.name}/labels/${encodeURIComponent(name)}`, name, color: 'ededed', default: false, description: null });
  p['pull_request'].labels = labels.map(label);
  if (opts.label) p['label'] = label(opts.label, 99);
  return p;
}

/** One request the API server's audit log recorded (the fields read here). */
interface AuditEvent {
  stage: string;
  verb: string;
  requestURI: string;
  user: { username: string };
  impersonatedUser?: { username: string };
  objectRef?: { resource?: string; namespace?: string; name?: string; apiGroup?: string };
  responseStatus?: { code?: number };
  /** At level Request (namespaces): the body sent, so a POST names the namespace it creates. */
  requestObject?: { metadata?: { name?: string } };
}

/**
 * Issue #28 end to end, on a real API server of its own whose every request is audited:
 * labelling a PR brings its preview environment up (namespace, quota, the PR's render moved
 * into it, applied as the namespace's ServiceAccount), a push updates it with prune, closing
 * or the TTL removes it, the caps refuse readably, a fork's PR gets none, and the audit log
 * shows nothing written outside the preview namespace but mergeops' own bookkeeping.
 */
describe('preview environments through the app', () => {
  let env: EnvTest;
  let preview: Cluster;
  let own: Cluster;
  let h: Harness;
  let dir: string;
  const audit = (): AuditEvent[] =>
    fs
      .readFileSync(path.join(dir, 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as AuditEvent);
  /** What GitHub says of each PR now (the sweep and commands ask). */
  const prs = new Map<number, { open: boolean; labels: string[]; head?: string; fork?: boolean; author?: string }>();
  let gh: CommandStandIn;
  const app = uniqueName('pe');
  const main1 = sha(`${app}-main1`);
  const config = (ttl = '72h') =>
    [
      'apps:',
      '  - name: web',
      '    path: deploy/web',
      `    namespace: ${app}`,
      '    wait: 0',
      '    previewEnvironment:',
      '      cluster: preview',
      `      namespace: "pr-{number}-${app}"`,
      '      url: "https://pr-{number}.web.preview.example.com"',
      `      ttl: ${ttl}`,
      '      wait: 10s',
      '      set:',
      '        - kind: ConfigMap',
      '          name: a',
      '          path: data.host',
      '          value: "pr-{number}.web.preview.example.com"',
      '',
    ].join('\n');
  const nsOf = (pr: number) => `pr-${pr}-${app}`;
  /** The newest body of the preview comment of a head commit (comments name their commit). */
  const lastComment = (sha7: string) => h.calls.filter((c) => c.path.includes('/comments') && c.method !== 'GET' && !c.status && String(c.body?.body).includes(sha7)).at(-1)?.body.body as string | undefined;
  const label = async (pr: number, head: string, base: string, opts: { fork?: boolean } = {}) => {
    prs.set(pr, { open: true, labels: [PREVIEW_ENV_LABEL] });
    h.git.issueLabels.set(pr, [PREVIEW_ENV_LABEL]);
    const res = await deliver(h.rt.url as string, 'pull_request', prEvent('labeled', pr, head, base, [PREVIEW_ENV_LABEL], { label: PREVIEW_ENV_LABEL, ...opts }));
    expect(res.status).toBe(202);
  };
  const envLine = (pr: number, head: string, state: string) =>
    waitFor(() => {
      const body = lastComment(head.slice(0, 7));
      return body?.includes(`🌐 Preview environment: ${state}`) ? body : undefined;
    }, `the 🌐 ${state} line on #${pr}`, 60_000);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-pe-audit-'));
    fs.writeFileSync(path.join(dir, 'policy.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Request\n    resources: [{group: "", resources: [namespaces]}]\n  - level: Metadata\n');
    env = await startEnvTest({ apiServerArgs: [`--audit-policy-file=${path.join(dir, 'policy.yaml')}`, `--audit-log-path=${path.join(dir, 'audit.log')}`, '--audit-log-format=json', '--audit-log-mode=blocking'] });
    preview = await testCluster('preview', env.kubeconfig);
    // The operator's role for preview environments. (The built-in edit role aggregates its rules
    // through kube-controller-manager, which does not run here.)
    await put(preview, {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRole',
      metadata: { name: 'pe-preview-writer' },
      rules: [
        { apiGroups: [''], resources: ['configmaps', 'secrets', 'services', 'serviceaccounts'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
        { apiGroups: ['apps'], resources: ['deployments', 'statefulsets'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] },
      ],
    } as KubeObject);
    // The app's plain preview plans against the run's own cluster, in its own namespace.
    own = await testCluster();
    await namespace(own, app);
    h = await startHarness(
      [
        'clusters:',
        '  default:',
        '    kubeconfig: $KUBECONFIG',
        '    grants:',
        `      - repos: ["${REPO.owner}/*"]`,
        `        namespaces: ["${app}"]`,
        '  preview:',
        `    kubeconfig: ${env.kubeconfig}`,
        '    grants:',
        `      - repos: ["${REPO.owner}/*"]`,
        '        previewNamespaces: ["pr-*"]',
        '        preview:',
        '          role: pe-preview-writer',
        '          maxPerRepository: 2',
        '          resourceQuota: {hard: {configmaps: "20"}}',
        '          limitRange: {limits: [{type: Container, default: {cpu: 200m, memory: 128Mi}}]}',
      ].join('\n'),
      { MERGEOPS_PREVIEW_ENV_SWEEP_MS: '1000' },
    );
    // GitHub's "get a pull request", as the sweep asks it.
    h.serve([
      {
        method: 'GET',
        path: new RegExp(`^/repos/${REPO.owner}/${REPO.name}/pulls/\\d+$`),
        handle: (req) => {
          const n = Number(req.uri.split('/').pop());
          const pr = prs.get(n);
          if (!pr) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/pulls/pulls#get-a-pull-request', status: '404' }];
          const full = `${REPO.owner}/${REPO.name}`;
          return [
            200,
            {
              number: n,
              state: pr.open ? 'open' : 'closed',
              merged: false,
              merged_at: null,
              node_id: `PR_${n}`,
              html_url: `https://github.com/${full}/pull/${n}`,
              user: { login: pr.author ?? 'octocat' },
              labels: pr.labels.map((name, i) => ({ id: i + 1, name })),
              head: { sha: pr.head ?? '', ref: 'feature', repo: { full_name: pr.fork ? `someone/${REPO.name}` : full } },
              base: { sha: main1, ref: 'main', repo: { full_name: full } },
            },
          ];
        },
      },
    ]);
    // Reactions and the collaborator permission API, for /mergeops env (the route above answers for pull requests).
    gh = commandsApi(h);
    gh.roles.set('writer', 'write');
    await h.push(main1, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', '1') });
    h.git.refs.set('main', main1);
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    preview?.client.close();
    own?.client.close();
    await env?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('label → the environment is ready, its URL in the comment and on a transient GitHub Deployment; cluster-scoped objects refused and listed', async () => {
    const head = sha(`${app}-pr7-1`);
    await h.push(head, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', '2'), 'deploy/web/b.yaml': cm('b', '1', 'kube-system'), 'deploy/web/role.yaml': clusterRole });
    await label(7, head, main1);
    const body = await envLine(7, head, 'ready · https://pr-7.web.preview.example.com');
    expect(body).toContain('Not in the environment: <code>rbac.authorization.k8s.io/v1 ClusterRole pe-sneaky</code> (cluster-scoped');
    const ns = nsOf(7);
    const nsObj = await get(preview, 'v1', 'Namespace', undefined, ns);
    expect(nsObj?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/preview-environment': 'true', 'mergeops.dev/pr': '7' });
    // Every namespaced object moved into the environment, even one that named kube-system; `set:` wrote the host.
    expect((await get(preview, 'v1', 'ConfigMap', ns, 'a'))?.['data']).toEqual({ v: '2', host: 'pr-7.web.preview.example.com' });
    expect(await get(preview, 'v1', 'ConfigMap', ns, 'b')).not.toBeNull();
    expect(await get(preview, 'v1', 'ConfigMap', 'kube-system', 'b')).toBeNull();
    expect(await get(preview, 'rbac.authorization.k8s.io/v1', 'ClusterRole', undefined, 'pe-sneaky')).toBeNull();
    expect((await get(preview, 'v1', 'ResourceQuota', ns, 'mergeops-preview'))?.['spec']).toEqual({ hard: { configmaps: '20' } });
    expect(await get(preview, 'v1', 'LimitRange', ns, 'mergeops-preview')).not.toBeNull();
    // GitHub: a transient Deployment of the head, its success status carrying the URL.
    const created = await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.environment === 'preview/pr-7-web'), 'the preview Deployment');
    expect(created.body).toMatchObject({ ref: head, transient_environment: true, production_environment: false });
    const d = h.git.deployments.find((x) => x.environment === 'preview/pr-7-web');
    const status = await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith(`/deployments/${d?.id}/statuses`) && c.body.state === 'success'), 'its success status');
    expect(status.body.environment_url).toBe('https://pr-7.web.preview.example.com');
    await waitFor(async () => ((await get(preview, 'v1', 'Namespace', undefined, ns))?.metadata.annotations?.['mergeops.dev/deployment-id'] === String(d?.id) ? true : undefined), 'the Deployment id on the namespace');
  }, 90_000);

  it('push → the environment is updated: changed objects applied, dropped ones pruned, inside the namespace', async () => {
    const head = sha(`${app}-pr7-2`);
    await h.push(head, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', '3'), 'deploy/web/c.yaml': cm('c', '1') });
    const before = (await get(preview, 'v1', 'Namespace', undefined, nsOf(7)))?.metadata.annotations?.['mergeops.dev/expires-at'];
    expect(await h.open(7, head, { baseSha: main1, action: 'synchronize' })).toBe(202);
    await envLine(7, head, 'ready');
    const ns = nsOf(7);
    expect((await get(preview, 'v1', 'ConfigMap', ns, 'a'))?.['data']).toMatchObject({ v: '3' });
    expect(await get(preview, 'v1', 'ConfigMap', ns, 'c')).not.toBeNull();
    await waitFor(async () => ((await get(preview, 'v1', 'ConfigMap', ns, 'b')) === null ? true : undefined), 'b pruned');
    const nsObj = await get(preview, 'v1', 'Namespace', undefined, ns);
    expect(nsObj?.metadata.annotations?.['mergeops.dev/head-sha']).toBe(head);
    // The TTL counts from the last push.
    expect(Date.parse(nsObj?.metadata.annotations?.['mergeops.dev/expires-at'] ?? '')).toBeGreaterThan(Date.parse(before ?? ''));
  }, 90_000);

  it("nothing is written outside the preview namespace: the audit log of the API server, and the ServiceAccount's own rights", async () => {
    const ns = nsOf(7);
    const sa = `system:serviceaccount:${ns}:mergeops-preview`;
    const writes = audit().filter((e) => e.stage === 'ResponseComplete' && ['create', 'update', 'patch', 'delete', 'deletecollection'].includes(e.verb) && !e.requestURI.includes('dryRun=All') && (e.responseStatus?.code ?? 500) < 400);
    const asPreview = writes.filter((e) => e.impersonatedUser?.username === sa);
    // The PR's objects went in as the namespace's ServiceAccount, and only into its namespace.
    expect(asPreview.length).toBeGreaterThan(0);
    expect(asPreview.filter((e) => e.objectRef?.namespace !== ns)).toEqual([]);
    // No other identity was impersonated; mergeops itself wrote only the environment's namespace, its guards and its own records.
    expect(writes.filter((e) => e.impersonatedUser && e.impersonatedUser.username !== sa && !e.impersonatedUser.username.startsWith('system:serviceaccount:pr-'))).toEqual([]);
    // (The test's own setup, the operator's ClusterRole, is written with kubectl's manager name.)
    const own = writes.filter((e) => !e.impersonatedUser && !e.user.username.startsWith('system:') && !e.requestURI.includes('fieldManager=test-human'));
    expect(own.length).toBeGreaterThan(0);
    const outside = own.filter((e) => {
      const o = e.objectRef ?? {};
      const name = o.name ?? e.requestObject?.metadata?.name ?? '';
      // The environment's namespace, and mergeops' own inventory namespace (created on first use).
      if (o.namespace === undefined) return !(o.resource === 'namespaces' && (name.startsWith('pr-') || name === 'mergeops-system'));
      return !o.namespace.startsWith('pr-') && o.namespace !== 'mergeops-system';
    });
    expect(outside).toEqual([]);
    // The API server is the wall: the ServiceAccount may write its namespace and nothing else.
    const can = async (attrs: Record<string, string>): Promise<boolean> =>
      (
        await preview.client.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
          body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: sa, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], resourceAttributes: { group: '', ...attrs } } },
        })
      ).status.allowed;
    expect(await can({ verb: 'create', resource: 'configmaps', namespace: ns })).toBe(true);
    expect(await can({ verb: 'create', resource: 'configmaps', namespace: 'kube-system' })).toBe(false);
    expect(await can({ verb: 'create', resource: 'namespaces' })).toBe(false);
    expect(await can({ verb: 'update', resource: 'resourcequotas', namespace: ns })).toBe(false);
    expect(await can({ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'clusterroles' })).toBe(false);
  });

  it('the caps refuse a third environment of the repository readably, naming the ones in use', async () => {
    const head8 = sha(`${app}-pr8`);
    await h.push(head8, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', '8') });
    await label(8, head8, main1);
    await envLine(8, head8, 'ready');
    const head9 = sha(`${app}-pr9`);
    await h.push(head9, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', '9') });
    await label(9, head9, main1);
    const body = await envLine(9, head9, '⛔ not started');
    expect(body).toContain('2 of 2 preview environments in use: #7, #8');
    expect(await get(preview, 'v1', 'Namespace', undefined, nsOf(9))).toBeNull();
  }, 90_000);

  it("a fork's pull request gets no environment from the label", async () => {
    const head = sha(`${app}-fork10`);
    await h.push(head, { '.github/mergeops.yml': config(), 'deploy/web/a.yaml': cm('a', 'fork'), 'deploy/web/s.yaml': secret });
    prs.set(10, { open: true, labels: [PREVIEW_ENV_LABEL], head, fork: true, author: 'someone' });
    const res = await deliver(h.rt.url as string, 'pull_request', prEvent('labeled', 10, head, main1, [PREVIEW_ENV_LABEL], { label: PREVIEW_ENV_LABEL, fork: true }));
    expect(res.status).toBe(202);
    const { comment } = await h.waitForPreview(head);
    expect(comment.body.body).not.toContain('🌐');
    await waitFor(async () => (Object.values(await h.rt.queues.preview.getJobCounts('waiting', 'active', 'delayed')).every((n) => n === 0) ? true : undefined), 'the preview queue idle');
    expect(await get(preview, 'v1', 'Namespace', undefined, nsOf(10))).toBeNull();
  }, 90_000);

  it('close → the namespace is deleted and the Deployment marked inactive; a PR closed without an event is swept', async () => {
    for (const pr of [7, 8]) expect((await get(preview, 'v1', 'Namespace', undefined, nsOf(pr)))?.metadata['deletionTimestamp']).toBeUndefined();
    prs.set(7, { open: false, labels: [PREVIEW_ENV_LABEL] });
    const res = await deliver(h.rt.url as string, 'pull_request', prEvent('closed', 7, sha(`${app}-pr7-2`), main1, [PREVIEW_ENV_LABEL]));
    expect(res.status).toBe(202);
    // No namespace controller runs here: a deleted namespace stays Terminating, which is the API server's "gone".
    await waitFor(async () => {
      const ns = await get(preview, 'v1', 'Namespace', undefined, nsOf(7));
      return ns === null || ns.metadata['deletionTimestamp'] ? true : undefined;
    }, 'the namespace of #7 deleted', 30_000);
    const d7 = h.git.deployments.filter((x) => x.environment === 'preview/pr-7-web');
    await waitFor(() => (d7.some((d) => d.statuses.some((s) => s.state === 'inactive')) ? true : undefined), "#7's Deployment inactive");
    // #8 closes while no webhook arrives (an outage): the sweep finds it closed.
    prs.set(8, { open: false, labels: [PREVIEW_ENV_LABEL] });
    await waitFor(async () => {
      const ns = await get(preview, 'v1', 'Namespace', undefined, nsOf(8));
      return ns === null || ns.metadata['deletionTimestamp'] ? true : undefined;
    }, 'the namespace of #8 swept', 30_000);
  }, 90_000);

  it("/mergeops env: the fork's author may not; a writer starts the fork's head without its Secrets, extends it, and takes it down", async () => {
    const since = h.calls.length;
    await comment(h, '/mergeops env up', { issue: 10, login: 'someone' });
    expect((await waitForReply(h, 10, since, 'fork without write access')).body.body).toContain('only `/mergeops help`');
    const head = prs.get(10)?.head as string;
    await comment(h, '/mergeops env up', { issue: 10, login: 'writer' });
    await waitForReply(h, 10, since, "This is a fork's head: its Secrets are not applied");
    const body = await envLine(10, head, 'ready · https://pr-10.web.preview.example.com');
    expect(body).toContain("<code>v1 Secret creds</code> (a Secret from a fork's head");
    const ns = nsOf(10);
    expect((await get(preview, 'v1', 'ConfigMap', ns, 'a'))?.['data']).toMatchObject({ v: 'fork' });
    expect(await get(preview, 'v1', 'Secret', ns, 'creds')).toBeNull();
    const before = Date.parse((await get(preview, 'v1', 'Namespace', undefined, ns))?.metadata.annotations?.['mergeops.dev/expires-at'] ?? '');
    await comment(h, '/mergeops env extend 24h', { issue: 10, login: 'writer' });
    await waitForReply(h, 10, since, 'Extended: `web`');
    const after = Date.parse((await get(preview, 'v1', 'Namespace', undefined, ns))?.metadata.annotations?.['mergeops.dev/expires-at'] ?? '');
    expect(after - before).toBe(24 * 3600_000);
    await comment(h, '/mergeops env down', { issue: 10, login: 'writer' });
    await waitFor(async () => {
      const now = await get(preview, 'v1', 'Namespace', undefined, ns);
      return now === null || now.metadata['deletionTimestamp'] ? true : undefined;
    }, 'the namespace of #10 deleted', 30_000);
  }, 90_000);

  it('TTL → an environment nobody pushed to within its ttl is removed by the sweep', async () => {
    const main2 = sha(`${app}-main2`);
    await h.push(main2, { '.github/mergeops.yml': config('5s'), 'deploy/web/a.yaml': cm('a', '1') });
    const head = sha(`${app}-pr11`);
    await h.push(head, { '.github/mergeops.yml': config('5s'), 'deploy/web/a.yaml': cm('a', '11') });
    await label(11, head, main2);
    await envLine(11, head, 'ready');
    await waitFor(async () => {
      const now = await get(preview, 'v1', 'Namespace', undefined, nsOf(11));
      return now === null || now.metadata['deletionTimestamp'] ? true : undefined;
    }, 'the namespace of #11 expired', 30_000);
    const d = h.git.deployments.filter((x) => x.environment === 'preview/pr-11-web');
    await waitFor(() => (d.some((x) => x.statuses.some((s) => s.state === 'inactive')) ? true : undefined), "#11's Deployment inactive");
  }, 90_000);
});
