import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { KubeObject } from '../../../src/objects.js';
import { waitFor } from '../../support/github.js';
import { nextEventTime, sha, startHarness, type Harness, REPO } from '../../support/harness.js';
import { get, namespace, put, rollOut, testCluster, uniqueName } from '../../support/kube.js';

const config = (ns: string, extra = '') => `apps:\n  - name: store\n    path: deploy/shop\n    namespace: ${ns}\n    wait: 3s\n${extra}`;
const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const deployment = (replicas: number) =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n`;

describe('deploy on merge against the real API server', () => {
  let h: Harness;
  /** The deploy job of `s` once BullMQ has it completed. */
  const finished = async (s: string) =>
    waitFor(async () => {
      const j = await h.rt.queues.deploy.getJob(`deploy-${REPO.id}-main-${s}`);
      return j && (await j.getState()) === 'completed' ? j : undefined;
    }, `deploy job of ${s} to complete`);
  /** Deploy jobs waiting, delayed or running: 0 means nothing more will happen on its own. */
  const pending = async (): Promise<number> => Object.values(await h.rt.queues.deploy.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused')).reduce((a, b) => a + b, 0);
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await testCluster();
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["dep-*"]\n        clusterKinds: [Namespace, apiextensions.k8s.io/CustomResourceDefinition]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });


  it('a merged PR deploys: objects created, rollout waited for, Deployment success, counts in the check, PR comment; a second run of the same commit writes nothing', async () => {
    const ns = uniqueName('dep-a');
    await namespace(cluster, ns);
    const s = sha(`merge-${ns}`);
    await h.push(s, { '.github/mergeops.yml': config(ns), 'deploy/shop/app.yaml': `${deployment(2)}---\n${cm('a', '1')}---\n${cm('b', '1')}` });
    const stop = { done: false };
    const controller = rollOut(cluster, ns, 'web', stop);
    const delivery = crypto.randomUUID();
    expect(await h.pushEvent(s, { mergedPr: 31, id: delivery })).toBe(202);
    const check = await h.waitForDeploy(s);
    stop.done = true;
    await controller;

    expect(check.body.conclusion).toBe('success');
    expect(check.body.output.summary).toContain(`| ✅ | <code>store</code> | <code>default</code> / <code>${ns}</code> | deployed: 3 created, 0 configured, 0 unchanged, 0 pruned |`);
    // One Deployment, one final status: reported after the apply, so no in_progress first.
    const statusCalls = h.calls.filter((c) => c.path.match(/deployments\/\d+\/statuses/));
    expect(statusCalls.map((c) => c.body.state)).toEqual(['success']);
    const created = h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s);
    expect(created?.body).toMatchObject({ environment: 'store', auto_merge: false, required_contexts: [] });
    const comment = await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/issues/31/comments')), 'PR comment');
    expect(comment.body.body).toContain('mergeops deploy of');
    expect(comment.body.body).toContain('✅ succeeded');
    const live = (await get(cluster, 'v1', 'ConfigMap', ns, 'a')) as KubeObject;
    expect(live.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/app': 'store', 'mergeops.dev/repo-id': String(REPO.id) });
    expect(live.metadata.annotations).toMatchObject({ 'mergeops.dev/repo': 'acme/deploys' });

    // The same delivery again, and a new delivery of the same push: no second deploy.
    // The check completes before the job does (the PR comment comes after it), and the report
    // job may still be writing: counted calls start once both are done.
    const job = await finished(s);
    await h.deployReported(s);
    const before = h.calls.length;
    expect(await h.pushEvent(s, { mergedPr: 31, id: delivery })).toBe(200);
    expect(await h.pushEvent(s, { mergedPr: 31 })).toBe(202);
    // Proved from the queue, not by waiting: the webhook answers after enqueueing, and
    // nothing was queued; the one job of this commit is the finished one from before.
    expect(await pending()).toBe(0);
    const again = await h.rt.queues.deploy.getJob(`deploy-${REPO.id}-main-${s}`);
    expect([again?.timestamp, again?.finishedOn, again?.attemptsMade]).toEqual([job?.timestamp, job?.finishedOn, job?.attemptsMade]);
    expect(h.calls.slice(before)).toEqual([]);

    // A deliberate re-run of the same commit: every object unchanged, not one write.
    const versions = async () =>
      Promise.all([get(cluster, 'apps/v1', 'Deployment', ns, 'web'), get(cluster, 'v1', 'ConfigMap', ns, 'a'), get(cluster, 'v1', 'ConfigMap', ns, 'b')]).then((os) =>
        os.map((o) => o?.metadata['resourceVersion']),
      );
    const rvBefore = await versions();
    await h.rt.queues.deploy.add('deploy', { installationId: 424242, owner: 'acme', repo: 'deploys', repoId: REPO.id, sha: s, branch: 'main', defaultBranch: 'main', reason: 'self-heal' }, { jobId: `rerun-${ns}` });
    const rerunChecks = () => h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.status === 'completed' && String(c.body.output?.summary).includes('0 created, 0 configured, 3 unchanged, 0 pruned'));
    await waitFor(() => rerunChecks().length > 0 || undefined, 're-run check');
    expect(await versions()).toEqual(rvBefore);
    // Nothing changed, so no Deployment: the check says so instead.
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments'))).toHaveLength(1);
    expect(rerunChecks()[0]?.body.output.summary).toContain('1 app unchanged, held or not deployed from here: no Deployment.');
  });

  it('prunes what Git dropped, never what mergeops did not create, and not at all on an empty render', async () => {
    const ns = uniqueName('dep-b');
    await namespace(cluster, ns);
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'hand-made', namespace: ns }, data: { x: '1' } });
    const s1 = sha(`prune1-${ns}`);
    const s2 = sha(`prune2-${ns}`);
    const s3 = sha(`prune3-${ns}`);
    await h.push(s1, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', '1'), 'deploy/shop/b.yaml': cm('b', '1') });
    await h.push(s2, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', '1') });
    await h.push(s3, { '.github/mergeops.yml': config(ns), 'deploy/shop/README.md': 'nothing here yet\n' });

    await h.pushEvent(s1);
    expect((await h.waitForDeploy(s1)).body.conclusion).toBe('success');
    await h.pushEvent(s2);
    const c2 = await h.waitForDeploy(s2);
    expect(c2.body.output.summary).toContain('deployed: 0 created, 0 configured, 1 unchanged, 1 pruned');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'b')).toBeNull();
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'hand-made')).not.toBeNull();

    await h.pushEvent(s3);
    const c3 = await h.waitForDeploy(s3);
    expect(c3.body.conclusion).toBe('failure');
    expect(c3.body.output.summary).toContain('prune skipped: the render is empty; refusing to prune all 1 objects (set pruneEmpty: true on the app to allow it)');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'a')).not.toBeNull();
  });

  it('applies a CRD and a custom resource of it in one deploy', async () => {
    const ns = uniqueName('dep-c');
    const s = sha(`crd-${ns}`);
    const group = `${ns}.example.com`;
    const crd = `apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: widgets.${group}\nspec:\n  group: ${group}\n  scope: Namespaced\n  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}\n  versions:\n    - name: v1\n      served: true\n      storage: true\n      schema:\n        openAPIV3Schema:\n          type: object\n          properties:\n            spec:\n              type: object\n              properties:\n                size: {type: integer}\n`;
    const nsObj = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n`;
    const widget = `apiVersion: ${group}/v1\nkind: Widget\nmetadata:\n  name: w1\nspec:\n  size: 3\n`;
    await h.push(s, { '.github/mergeops.yml': config(ns), 'deploy/shop/0-crd.yaml': crd, 'deploy/shop/1-ns.yaml': nsObj, 'deploy/shop/2-widget.yaml': widget });
    await h.pushEvent(s);
    const check = await h.waitForDeploy(s);
    expect(check.body.output.summary).toContain('deployed: 3 created');
    expect(check.body.conclusion).toBe('success');
    const w = await cluster.client.request<KubeObject>('GET', `/apis/${group}/v1/namespaces/${ns}/widgets/w1`);
    expect((w['spec'] as { size: number }).size).toBe(3);
  });

  it('a Deployment that never becomes ready fails after the wait, with the reason', async () => {
    const ns = uniqueName('dep-d');
    await namespace(cluster, ns);
    const s = sha(`stuck-${ns}`);
    await h.push(s, { '.github/mergeops.yml': config(ns), 'deploy/shop/app.yaml': deployment(1) });
    await h.pushEvent(s, { mergedPr: 32 });
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.summary).toContain(`<code>apps/v1 Deployment ${ns}/web</code>: not healthy after 3 s: controller has not observed generation 1 yet`);
    const states = h.calls.filter((c) => c.path.match(/deployments\/\d+\/statuses/)).map((c) => c.body.state);
    expect(states.at(-1)).toBe('failure');
    const comment = await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/issues/32/comments')), 'PR comment');
    // The merged PR's comment names the cause in the server's words, the fix, the check run and the next step.
    const body: string = comment.body.body;
    expect(body).toContain('❌ failed');
    expect(body).toContain(`- ❌ <code>apps/v1 Deployment ${ns}/web</code>: not healthy after 3 s: controller has not observed generation 1 yet`);
    expect(body).toContain(`**Fix:** it did not become healthy within the app's <code>wait</code> (3 s): look at its pods and events (<code>kubectl -n ${ns} describe deployment web</code>`);
    // Created completed: the id is the one the stand-in gave the POST.
    const checkId = check.checkRunId;
    expect(body).toContain(`[the mergeops / deploy check run](https://github.com/acme/deploys/runs/${checkId})`);
    expect(body).toContain('**Next:** fix it in a new pull request');
  });

  it('a health failure, then a push that changes only another app: the failing app is applied again and reported failing, never as unchanged or deployed', async () => {
    const ns = uniqueName('dep-h');
    await namespace(cluster, ns);
    const two = `apps:\n  - name: flaky\n    path: deploy/flaky\n    namespace: ${ns}\n    wait: 2s\n  - name: other\n    path: deploy/other\n    namespace: ${ns}\n    wait: 2s\n`;
    const [s0, s1, s2] = ['good', 'unhealthy', 'unrelated'].map((t) => sha(`health-then-push-${t}-${ns}`)) as [string, string, string];
    await h.push(s0, { '.github/mergeops.yml': two, 'deploy/flaky/cm.yaml': cm('flaky', '1'), 'deploy/other/cm.yaml': cm('other', '1') });
    // flaky gains a Deployment that never becomes ready (no controllers run here).
    await h.push(s1, { '.github/mergeops.yml': two, 'deploy/flaky/cm.yaml': cm('flaky', '1'), 'deploy/flaky/app.yaml': deployment(1), 'deploy/other/cm.yaml': cm('other', '1') });
    // Only other's file changes.
    await h.push(s2, { '.github/mergeops.yml': two, 'deploy/flaky/cm.yaml': cm('flaky', '1'), 'deploy/flaky/app.yaml': deployment(1), 'deploy/other/cm.yaml': cm('other', '2') });
    await h.pushEvent(s0);
    expect((await h.waitForDeploy(s0)).body.conclusion).toBe('success');
    await h.pushEvent(s1, { before: s0 });
    const failed = await h.waitForDeploy(s1);
    expect(failed.body.conclusion).toBe('failure');
    expect(failed.body.output.summary).toContain(`<code>apps/v1 Deployment ${ns}/web</code>: not healthy after 2 s`);

    await h.pushEvent(s2, { before: s1 });
    const next = await h.waitForDeploy(s2);
    // flaky was applied again (its health waited for again) and is still the failure.
    expect(next.body.conclusion).toBe('failure');
    expect(next.body.output.summary).toContain(`<code>apps/v1 Deployment ${ns}/web</code>: not healthy after 2 s`);
    expect(next.body.output.summary).not.toMatch(/unchanged[^\n]*flaky/);
    const statuses = (env: string, at: string) => h.git.deployments.filter((d) => d.environment === env && d.sha === at).map((d) => d.statuses.at(-1)?.state);
    expect(statuses('flaky', s2)).toEqual(['failure']);
    expect(statuses('other', s2)).toEqual(['success']);
    expect((await get(cluster, 'v1', 'ConfigMap', ns, 'other'))?.['data']).toEqual({ value: '2' });
  });

  it('two quick pushes: the newer commit is what the cluster ends with', async () => {
    const ns = uniqueName('dep-e');
    await namespace(cluster, ns);
    const older = sha(`older-${ns}`);
    const newer = sha(`newer-${ns}`);
    await h.push(older, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', 'older') });
    await h.push(newer, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', 'newer') });
    const [tOld, tNew] = [nextEventTime(), nextEventTime()];
    await Promise.all([h.pushEvent(older, { pushedAt: tOld }), h.pushEvent(newer, { pushedAt: tNew })]);
    await h.waitForDeploy(newer);
    // A possibly-running older deploy must not win: wait until the queue holds nothing
    // waiting or running, then read the result.
    await waitFor(async () => ((await pending()) === 0 ? true : undefined), 'the deploy queue to drain');
    const live = (await get(cluster, 'v1', 'ConfigMap', ns, 'a')) as KubeObject;
    expect((live['data'] as { value: string }).value).toBe('newer');
  });

  it('an older push delivered after a newer one (out of order, or redelivered) is not deployed', async () => {
    const ns = uniqueName('dep-g');
    await namespace(cluster, ns);
    const [older, newer] = [sha(`late-old-${ns}`), sha(`late-new-${ns}`)];
    const [tOld, tNew] = [nextEventTime(), nextEventTime()];
    await h.push(older, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', 'older') });
    await h.push(newer, { '.github/mergeops.yml': config(ns), 'deploy/shop/a.yaml': cm('a', 'newer') });
    expect(await h.pushEvent(newer, { pushedAt: tNew })).toBe(202);
    await h.waitForDeploy(newer);
    await finished(newer);
    expect(await h.pushEvent(older, { pushedAt: tOld })).toBe(202);
    // Refused at intake: the webhook has answered, and no job of it is queued or running.
    expect(await pending()).toBe(0);
    expect(h.calls.some((c) => c.body?.head_sha === older)).toBe(false);
    expect(await h.rt.queues.deploy.getJob(`deploy-${REPO.id}-main-${older}`)).toBeUndefined();
    const live = (await get(cluster, 'v1', 'ConfigMap', ns, 'a')) as KubeObject;
    expect((live['data'] as { value: string }).value).toBe('newer');
  });
});
