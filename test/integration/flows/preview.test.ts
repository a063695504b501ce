import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { fieldManager, withInventory } from '../../../src/cluster/inventory.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import { inventoryName, inventoryNamespace } from '../../../src/cluster/inventory-store.js';
import type { KubeObject } from '../../../src/objects.js';
import { deliver, waitFor } from '../../support/github.js';
import { previewJobId } from '../../../src/queue/jobs.js';
import { REPO, prPayload, queueIdle, sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const inv = (app: string) => ({ repoId: 777, repo: 'acme/deploys', app });
const b64 = (s: string) => Buffer.from(s).toString('base64');

function deployment(ns: string, replicas: number): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'web', namespace: ns },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'web' } },
      template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
    },
  };
}
const service = (ns: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: ns },
  spec: { selector: { app: 'web' }, ports: [{ port: 80 }] },
});
const secret = (ns: string, password: string): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'creds', namespace: ns },
  type: 'Opaque',
  data: { user: b64('admin'), password: b64(password) },
});

function repoFiles(ns: string, replicas: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    '.github/mergeops.yml': `apps:\n  - name: shop\n    path: deploy/shop\n    namespace: ${ns}\n`,
    // The namespace is left out on purpose: the app's namespace fills it in.
    'deploy/shop/deployment.yaml': `# the web tier\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: ${replicas}\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n`,
    'deploy/shop/config/more.yml': `---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n---\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  user: admin\n  password: N3w-S3cret-Value\n`,
    ...extra,
  };
}

describe('preview end to end: signed webhook → real Redis + API server → GitHub (nock)', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('shop');
    await namespace(cluster, ns);
    // What the app deployed before the inventory existed: mergeops' marks on each object,
    // and no inventory record (another file's run of app "shop" on this API server may have
    // left one, which would name other objects).
    await cluster.client.request('DELETE', `/api/v1/namespaces/${inventoryNamespace(cluster)}/configmaps/${inventoryName(inv('shop'))}`).catch(() => undefined);
    await put(cluster, withInventory(deployment(ns, 2), inv('shop')), fieldManager(inv('shop')));
    await put(cluster, withInventory(service(ns), inv('shop')), fieldManager(inv('shop')));
    await put(cluster, withInventory(secret(ns, 'Old-S3cret-Value'), inv('shop')), fieldManager(inv('shop')));
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["shop-*"]\n`);
  });

  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const sha1 = sha('one');
  const sha2 = sha('two');
  const delivery1 = crypto.randomUUID();

  it('opened: posts one comment with the exact live diff and runs the check in_progress → success', async () => {
    await h.push(sha1, repoFiles(ns, 3));
    const res = await deliver(h.rt.url as string, 'pull_request', prPayload('opened', 5, sha1, sha('no-base')), { id: delivery1 });
    expect(res.status).toBe(202);

    const { start, check, comment } = await h.waitForPreview(sha1);
    expect(start.body).toMatchObject({ name: 'mergeops / preview', head_sha: sha1, status: 'in_progress' });
    expect(check.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(check.body.output.title).toBe('1 created · 2 changed · 1 deleted in 1 app');

    expect(comment.method).toBe('POST');
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/issues/5/comments'))).toHaveLength(1);
    const body: string = comment.body.body;
    expect(body.startsWith('<!-- mergeops:preview:part=1 -->')).toBe(true);
    expect(body).toContain(`#### ⚠️ <code>shop</code> → <code>default</code> / <code>${ns}</code> · 1 created · 2 changed · 1 deleted\n`);
    // The replicas change, and nothing else of the Deployment (no defaults, no bookkeeping).
    const deploy = section(body, `apps/v1 Deployment ${ns}/web`);
    expect(deploy.split('\n').filter((l) => /^[-+] /.test(l))).toEqual(['-  replicas: 2', '+  replicas: 3']);
    expect(body).toContain(`➕ <b>create</b> <code>v1 ConfigMap ${ns}/settings</code>`);
    expect(section(body, `v1 ConfigMap ${ns}/settings`)).toContain('+  mode: fast');
    expect(body).toContain(`🗑️ **delete** <code>v1 Service ${ns}/web</code>: no longer in Git; prune: true, so the merge deletes it`);
    expect(body).toContain('key changed <code>password</code> (values hidden)');
    for (const text of [body, JSON.stringify(check.body)]) {
      for (const value of ['N3w-S3cret-Value', 'Old-S3cret-Value', b64('N3w-S3cret-Value'), b64('Old-S3cret-Value'), b64('admin')]) {
        expect(text).not.toContain(value);
      }
      for (const noise of ['managedFields', 'resourceVersion', 'uid:', 'creationTimestamp', 'generation:', 'last-applied-configuration']) {
        expect(text).not.toContain(noise);
      }
    }
    // The dry run wrote nothing.
    const live = await cluster.client.request<KubeObject>('GET', `/apis/apps/v1/namespaces/${ns}/deployments/web`);
    expect((live['spec'] as { replicas: number }).replicas).toBe(2);
    // Labels are bookkeeping, written after the check: the PR gets them once they are (and
    // the next push's webhook carries them, so it writes none).
    const labels = await waitFor(() => (h.git.issueLabels.get(5)?.length ?? 0) >= 2 ? h.git.issueLabels.get(5) : undefined, 'the preview labels on #5');
    expect([...(labels ?? [])].sort()).toEqual(['mergeops: deletes', 'mergeops: secrets']);
  });

  it('synchronize: edits the same comment (PATCH), posts no new one', async () => {
    const before = h.calls.length;
    await h.push(sha2, repoFiles(ns, 4));
    expect(await h.open(5, sha2, { action: 'synchronize' })).toBe(202);
    const { comment } = await h.waitForPreview(sha2);
    expect(comment.method).toBe('PATCH');
    expect(comment.path).toMatch(new RegExp(`/issues/comments/${h.lastCommentId()}$`));
    expect(comment.body.body).toContain('+  replicas: 4');
    const after = h.calls.slice(before);
    expect(after.filter((c) => c.method === 'POST' && c.path.includes('/comments'))).toHaveLength(0);
    // check start, head + base tarballs, check finish, comment edit; no comment listing.
    // This PR's base is unknown to GitHub (404) and a failed download is not cached, so
    // it is asked again; the next test has a base that exists.
    expect(after.map((c) => `${c.method} ${c.path.replace(/[0-9a-f]{40}|\d{3,}/g, ':id')}`).sort()).toEqual(
      [
        'POST /repos/acme/deploys/check-runs',
        'GET /repos/acme/deploys/tarball/:id',
        'GET /repos/acme/deploys/tarball/:id',
        'PATCH /repos/acme/deploys/check-runs/:id',
        'PATCH /repos/acme/deploys/issues/comments/:id',
      ].sort(),
    );
  });

  it('a push to a PR whose base did not move costs 4 GitHub calls: the base comes from the worker cache', async () => {
    const base = sha('cached-base');
    const [head1, head2] = [sha('cached-head-1'), sha('cached-head-2')];
    await h.push(base, repoFiles(ns, 2));
    await h.push(head1, repoFiles(ns, 3));
    await h.push(head2, repoFiles(ns, 4));
    const tarballs = (from: number) => h.calls.slice(from).filter((c) => c.path.includes('/tarball/')).map((c) => c.path.split('/').pop());

    const opened = h.calls.length;
    expect(await h.open(12, head1, { baseSha: base })).toBe(202);
    await h.waitForPreview(head1);
    expect(tarballs(opened).sort()).toEqual([base, head1].sort());

    const before = h.calls.length;
    expect(await h.open(12, head2, { baseSha: base, action: 'synchronize' })).toBe(202);
    const { comment } = await h.waitForPreview(head2);
    expect(comment.body.body).toContain('+  replicas: 4');
    expect(h.calls.slice(before).map((c) => `${c.method} ${c.path.replace(/\/\d+$/, '/:id')}`)).toEqual([
      'POST /repos/acme/deploys/check-runs',
      `GET /repos/acme/deploys/tarball/${head2}`,
      'PATCH /repos/acme/deploys/issues/comments/:id',
      'PATCH /repos/acme/deploys/check-runs/:id',
    ]);
  });

  it('the same delivery again, or another event for the same head SHA, does no GitHub call', async () => {
    // The earlier tests saw their previews' last calls, not their jobs finished: the state
    // read below would race a job still being marked completed.
    await queueIdle(h.rt.queues.preview);
    const before = h.calls.length;
    const again = await deliver(h.rt.url as string, 'pull_request', prPayload('opened', 5, sha1, sha('no-base')), { id: delivery1 });
    expect(again).toEqual({ status: 200, body: { ok: true, duplicate: true } });
    const job = await h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 5, headSha: sha2 }));
    expect(await job?.getState()).toBe('completed');
    expect(await h.open(5, sha2, { action: 'synchronize' })).toBe(202);
    // Proved from the queue, not by waiting: the webhook answers after enqueueing, nothing
    // is waiting or running, and the one job of this head is the finished one from before.
    const counts = await h.rt.queues.preview.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'paused');
    expect(Object.values(counts).reduce((a, b) => a + b, 0)).toBe(0);
    const same = await h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 5, headSha: sha2 }));
    expect([same?.timestamp, same?.finishedOn]).toEqual([job?.timestamp, job?.finishedOn]);
    expect(h.calls.slice(before)).toEqual([]);
  });

  it('refuses forged and missing signatures with 401 and enqueues nothing', async () => {
    const counts = async () => h.rt.queues.preview.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
    const before = await counts();
    const payload = prPayload('opened', 6, sha('forged'), sha('no-base'));
    const forged = await deliver(h.rt.url as string, 'pull_request', payload, { signature: `sha256=${'0'.repeat(64)}` });
    const wrongKey = await deliver(h.rt.url as string, 'pull_request', payload, {
      signature: `sha256=${crypto.createHmac('sha256', 'not-the-secret').update(JSON.stringify(payload)).digest('hex')}`,
    });
    const missing = await deliver(h.rt.url as string, 'pull_request', payload, { signature: null });
    expect([forged.status, wrongKey.status, missing.status]).toEqual([401, 401, 401]);
    expect(await counts()).toBe(before);
  });

  it('an invalid manifest fails the check with an annotation at its file and line; the worker serves the next job', async () => {
    const bad = sha('bad');
    const good = sha('good');
    await h.push(bad, repoFiles(ns, 3, { 'deploy/shop/broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\ndata: {}\n' }));
    await h.push(good, repoFiles(ns, 2));
    expect(await h.open(7, bad)).toBe(202);
    const { check, comment } = await h.waitForPreview(bad);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.annotations).toEqual([
      expect.objectContaining({ path: 'deploy/shop/broken.yaml', start_line: 5, annotation_level: 'failure', message: expect.stringMatching(/invalid YAML/) }),
    ]);
    expect(comment.body.body).toContain('invalid YAML');
    expect(comment.body.body).toContain(`([deploy/shop/broken.yaml\\#L5](https://github.com/acme/deploys/blob/${bad}/deploy/shop/broken.yaml#L5))`);

    expect(await h.open(8, good)).toBe(202);
    const next = await h.waitForPreview(good);
    expect(next.check.body.conclusion).toBe('success');
    expect(next.check.body.output.title).toBe('1 created · 1 changed · 1 deleted in 1 app');
  });

  it('an object the API server rejects fails the check with the server message on that object', async () => {
    const s = sha('invalid-object');
    await h.push(s, repoFiles(ns, 2, { 'deploy/shop/z-bad.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n    - port: 99999\n' }));
    await h.open(9, s);
    const { check } = await h.waitForPreview(s);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.annotations[0]).toMatchObject({ path: 'deploy/shop/z-bad.yaml', start_line: 1, title: `v1 Service ${ns}/api` });
    expect(check.body.output.annotations[0].message).toMatch(/Invalid value: 99999/);
  });
});

/** The text of one object's collapsible block in the comment. */
function section(body: string, ref: string): string {
  const start = body.indexOf(`${ref}</code>`);
  if (start < 0) throw new Error(`no block for ${ref}`);
  return body.slice(start, body.indexOf('</details>', start));
}
