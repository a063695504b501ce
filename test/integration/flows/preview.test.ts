import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import nock from 'nock';
import { pino } from 'pino';
import { loadSettings } from '../../../src/config/settings.js';
import { withInventory } from '../../../src/cluster/inventory.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { KubeObject } from '../../../src/render/types.js';
import { startRuntime, type Runtime } from '../../../src/runtime.js';
import {
  GITHUB,
  INSTALLATION_ID,
  WEBHOOK_SECRET,
  deliver,
  githubOnlyThroughNock,
  makeTarball,
  testProbot,
  tokenInterceptor,
  waitFor,
} from '../../support/github.js';
import { namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];

/** A real `pull_request` payload from GitHub's examples, pointed at our fixture repo. */
function prPayload(action: 'opened' | 'synchronize', pr: number, sha: string): Record<string, unknown> {
  const base = examples.find((e) => e.name === 'pull_request')?.examples.find((x) => x['action'] === 'opened');
  const p = structuredClone(base) as Record<string, any>; // eslint-style escape: fixture JSON is untyped
  p['action'] = action;
  p['number'] = pr;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  for (const repo of [p['repository'], p['pull_request']['head']['repo'], p['pull_request']['base']['repo']]) {
    repo.name = 'deploys';
    repo.full_name = 'acme/deploys';
    repo.owner.login = 'acme';
    repo.id = 777;
    repo.default_branch = 'main';
  }
  p['pull_request']['number'] = pr;
  p['pull_request']['head']['sha'] = sha;
  p['pull_request']['base']['ref'] = 'main';
  return p;
}

const OWNER_REPO = '/repos/acme/deploys';
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

interface Recorded {
  method: string;
  path: string;
  body: any; // request bodies are JSON of many shapes; tests read the fields they assert
}

describe('preview end to end: signed webhook → real Redis + API server → GitHub (nock)', () => {
  let rt: Runtime;
  let cluster: Cluster;
  let ns: string;
  const calls: Recorded[] = [];
  const tarballs = new Map<string, Buffer>();
  let nextCheckId = 1000;
  let nextCommentId = 9000;

  beforeAll(async () => {
    githubOnlyThroughNock();
    cluster = await testCluster();
    ns = uniqueName('shop');
    await namespace(cluster, ns);
    // What the app deployed before: mergeops' inventory marks on each object.
    await put(cluster, withInventory(deployment(ns, 2), inv('shop')));
    await put(cluster, withInventory(service(ns), inv('shop')));
    await put(cluster, withInventory(secret(ns, 'Old-S3cret-Value'), inv('shop')));

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-it-'));
    const clustersFile = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(clustersFile, `clusters:\n  default:\n    kubeconfig: ${process.env['MERGEOPS_TEST_KUBECONFIG']}\n`);
    const settings = loadSettings({
      REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'],
      MERGEOPS_REDIS_PREFIX: `mergeops-test-${crypto.randomUUID().slice(0, 8)}`,
      MERGEOPS_CLUSTERS: clustersFile,
      PORT: '0',
      HOST: '127.0.0.1',
      MERGEOPS_WORKER_CONCURRENCY: '2',
    });
    rt = await startRuntime({ ...settings, webhookSecret: WEBHOOK_SECRET }, testProbot(), pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }));

    tokenInterceptor();
    nock(GITHUB)
      .persist()
      .get(/\/repos\/acme\/deploys\/tarball\/[0-9a-f]+$/)
      .reply((uri) => {
        calls.push({ method: 'GET', path: uri, body: null });
        const sha = uri.split('/').pop() as string;
        const t = tarballs.get(sha);
        return t ? [200, t, { 'content-type': 'application/x-gzip' }] : [404, { message: 'Not Found' }];
      })
      .post(`${OWNER_REPO}/check-runs`)
      .reply((uri, body) => {
        calls.push({ method: 'POST', path: uri, body });
        return [201, { id: ++nextCheckId }];
      })
      .patch(/\/repos\/acme\/deploys\/check-runs\/\d+$/)
      .reply((uri, body) => {
        calls.push({ method: 'PATCH', path: uri, body });
        return [200, { id: Number(uri.split('/').pop()) }];
      })
      .get(/\/repos\/acme\/deploys\/issues\/\d+\/comments/)
      .reply((uri) => {
        calls.push({ method: 'GET', path: uri, body: null });
        return [200, []];
      })
      .post(/\/repos\/acme\/deploys\/issues\/\d+\/comments$/)
      .reply((uri, body) => {
        calls.push({ method: 'POST', path: uri, body });
        return [201, { id: ++nextCommentId, body: (body as { body: string }).body, user: { type: 'Bot', login: 'mergeops[bot]' } }];
      })
      .patch(/\/repos\/acme\/deploys\/issues\/comments\/\d+$/)
      .reply((uri, body) => {
        calls.push({ method: 'PATCH', path: uri, body });
        return [200, { id: Number(uri.split('/').pop()) }];
      });
  });

  afterAll(async () => {
    await rt?.stop();
    cluster?.client.close();
    nock.cleanAll();
    nock.enableNetConnect();
  });

  /** Waits for the completed check run of `sha` and the comment write that follows it. */
  async function waitForPreview(sha: string, commentWrites: number): Promise<{ check: Recorded; start: Recorded }> {
    const start = await waitFor(() => calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === sha), `check run start for ${sha}`);
    const idx = calls.indexOf(start);
    const check = await waitFor(
      () => calls.slice(idx).find((c) => c.method === 'PATCH' && c.path.includes('/check-runs/') && c.body.status === 'completed'),
      `check run completion for ${sha}`,
    );
    await waitFor(() => calls.filter((c) => c.path.includes('/comments') && c.method !== 'GET').length >= commentWrites || undefined, 'comment write');
    return { check, start };
  }

  const sha1 = crypto.createHash('sha1').update('one').digest('hex');
  const sha2 = crypto.createHash('sha1').update('two').digest('hex');
  const delivery1 = crypto.randomUUID();

  it('opened: posts one comment with the exact live diff and runs the check in_progress → success', async () => {
    tarballs.set(sha1, await makeTarball(repoFiles(ns, 3), `acme-deploys-${sha1.slice(0, 7)}`));
    const res = await deliver(rt.url as string, 'pull_request', prPayload('opened', 5, sha1), { id: delivery1 });
    expect(res.status).toBe(202);

    const { check, start } = await waitForPreview(sha1, 1);
    expect(start.body).toMatchObject({ name: 'mergeops / preview', head_sha: sha1, status: 'in_progress' });
    expect(check.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(check.body.output.title).toBe('+1 created ~2 changed -1 deleted in 1 app');

    const posts = calls.filter((c) => c.method === 'POST' && c.path.endsWith('/issues/5/comments'));
    expect(posts).toHaveLength(1);
    const body: string = posts[0]?.body.body;
    expect(body.startsWith('<!-- mergeops:preview:part=1 -->')).toBe(true);
    expect(body).toContain(`#### \`shop\` → cluster \`default\` · +1 created ~2 changed -1 deleted`);
    // The replicas change, and nothing else of the Deployment (no defaults, no bookkeeping).
    const deploy = section(body, `apps/v1 Deployment ${ns}/web`);
    expect(deploy).toContain('-  replicas: 2');
    expect(deploy).toContain('+  replicas: 3');
    expect(deploy.split('\n').filter((l) => /^[-+] /.test(l))).toEqual(['-  replicas: 2', '+  replicas: 3']);
    expect(body).toContain(`<code>+ v1 ConfigMap ${ns}/settings</code>`);
    expect(section(body, `v1 ConfigMap ${ns}/settings`)).toContain('+  mode: fast');
    expect(body).toContain(`<code>- v1 Service ${ns}/web</code>`);
    expect(body).toContain('Secret keys changed `password`');
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
  });

  it('synchronize: edits the same comment (PATCH), posts no new one', async () => {
    const before = calls.length;
    tarballs.set(sha2, await makeTarball(repoFiles(ns, 4), `acme-deploys-${sha2.slice(0, 7)}`));
    const res = await deliver(rt.url as string, 'pull_request', prPayload('synchronize', 5, sha2));
    expect(res.status).toBe(202);
    await waitForPreview(sha2, 2);
    const after = calls.slice(before);
    expect(after.filter((c) => c.method === 'POST' && c.path.includes('/comments'))).toHaveLength(0);
    const patches = after.filter((c) => c.method === 'PATCH' && c.path.includes('/issues/comments/'));
    expect(patches).toHaveLength(1);
    expect(patches[0]?.path).toMatch(new RegExp(`/issues/comments/${nextCommentId}$`));
    expect(patches[0]?.body.body).toContain('+  replicas: 4');
    // check start + tarball + check finish + comment edit: four calls per push.
    expect(after.map((c) => `${c.method} ${c.path.replace(/\d{3,}|[0-9a-f]{40}/g, ':id')}`)).toEqual([
      'POST /repos/acme/deploys/check-runs',
      'GET /repos/acme/deploys/tarball/:id',
      'PATCH /repos/acme/deploys/check-runs/:id',
      'PATCH /repos/acme/deploys/issues/comments/:id',
    ]);
  });

  it('the same delivery again, or another event for the same head SHA, does no GitHub call', async () => {
    const before = calls.length;
    const again = await deliver(rt.url as string, 'pull_request', prPayload('opened', 5, sha1), { id: delivery1 });
    expect(again).toEqual({ status: 200, body: { ok: true, duplicate: true } });
    const sameSha = await deliver(rt.url as string, 'pull_request', prPayload('synchronize', 5, sha2));
    expect(sameSha.status).toBe(202);
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls.slice(before)).toEqual([]);
  });

  it('refuses forged and missing signatures with 401 and enqueues nothing', async () => {
    const counts = async () => rt.queues.preview.getJobCountByTypes('waiting', 'active', 'completed', 'failed', 'delayed');
    const before = await counts();
    const sha3 = crypto.createHash('sha1').update('forged').digest('hex');
    const forged = await deliver(rt.url as string, 'pull_request', prPayload('opened', 6, sha3), { signature: `sha256=${'0'.repeat(64)}` });
    const wrongKey = await deliver(rt.url as string, 'pull_request', prPayload('opened', 6, sha3), {
      signature: `sha256=${crypto.createHmac('sha256', 'not-the-secret').update('x').digest('hex')}`,
    });
    const missing = await deliver(rt.url as string, 'pull_request', prPayload('opened', 6, sha3), { signature: null });
    expect([forged.status, wrongKey.status, missing.status]).toEqual([401, 401, 401]);
    expect(await counts()).toBe(before);
  });

  it('an invalid manifest fails the check with an annotation at its file and line; the worker serves the next job', async () => {
    const bad = crypto.createHash('sha1').update('bad').digest('hex');
    const good = crypto.createHash('sha1').update('good').digest('hex');
    tarballs.set(bad, await makeTarball(repoFiles(ns, 3, { 'deploy/shop/broken.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\ndata: {}\n' })));
    tarballs.set(good, await makeTarball(repoFiles(ns, 2)));
    expect((await deliver(rt.url as string, 'pull_request', prPayload('opened', 7, bad))).status).toBe(202);
    const { check } = await waitForPreview(bad, 3);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.annotations).toEqual([
      expect.objectContaining({ path: 'deploy/shop/broken.yaml', start_line: 5, annotation_level: 'failure', message: expect.stringMatching(/invalid YAML/) }),
    ]);
    const comment = calls.filter((c) => c.method === 'POST' && c.path.endsWith('/issues/7/comments'))[0]?.body.body as string;
    expect(comment).toContain('invalid YAML');
    expect(comment).toContain('deploy/shop/broken.yaml:5');

    expect((await deliver(rt.url as string, 'pull_request', prPayload('opened', 8, good))).status).toBe(202);
    const next = await waitForPreview(good, 4);
    expect(next.check.body.conclusion).toBe('success');
    expect(next.check.body.output.title).toBe('+1 created ~1 changed -1 deleted in 1 app');
  });

  it('an object the API server rejects fails the check with the server message on that object', async () => {
    const sha = crypto.createHash('sha1').update('invalid-object').digest('hex');
    tarballs.set(sha, await makeTarball(repoFiles(ns, 2, { 'deploy/shop/z-bad.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: api\nspec:\n  ports:\n    - port: 99999\n' })));
    await deliver(rt.url as string, 'pull_request', prPayload('opened', 9, sha));
    const { check } = await waitForPreview(sha, 5);
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
