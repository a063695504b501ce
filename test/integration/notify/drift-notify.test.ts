import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { NotifyJob } from '../../../src/notify/worker.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const KEY = 'drift-notify-hmac-key';
const GIT_SECRET = 'git-password-5f1c';
const EDITED_SECRET = 'hand-typed-password-93ab';

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
}

async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/drift`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  pool: "10"\n`;
const secret = `apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: ${GIT_SECRET}\n`;

describe('drift notifications: a hand edit found by the drift scan reaches the configured receiver once', () => {
  let h: Harness;
  let cluster: Cluster;
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let notifyQueue: Queue<NotifyJob>;

  beforeAll(async () => {
    cluster = await testCluster();
    rx = await startReceiver();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-drift-notify-'));
    const file = path.join(dir, 'notifications.yaml');
    fs.writeFileSync(file, ['receivers:', '  ops:', '    type: webhook', `    url: ${rx.url}`, `    secret: ${KEY}`, '    events: [drift.detected]', ''].join('\n'));
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["dnt-*"]\n`, { MERGEOPS_NOTIFICATIONS: file });
    notifyQueue = h.rt.queues.all.find((q) => q.name === 'notify') as Queue<NotifyJob>;
  });

  afterAll(async () => {
    await h?.stop();
    await rx?.close();
    cluster?.client.close();
  });

  it('names the app and the objects, is signed, carries no Secret value, and a second scan of the same drift sends nothing more', async () => {
    const ns = uniqueName('dnt');
    await namespace(cluster, ns);
    const s = sha(`drift-notify-${ns}`);
    await h.push(s, { '.github/mergeops.yml': `apps:\n  - name: billing\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n`, 'deploy/cm.yaml': cm, 'deploy/secret.yaml': secret });
    await h.pushEvent(s);
    expect((await h.waitForDeploy(s)).body.conclusion).toBe('success');

    // Hand edits, as `kubectl edit` makes them.
    await cluster.client.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/settings`, { body: { data: { pool: '50' } }, contentType: 'application/merge-patch+json', query: { fieldManager: 'kubectl-edit' } });
    await cluster.client.request('PATCH', `/api/v1/namespaces/${ns}/secrets/db`, { body: { stringData: { password: EDITED_SECRET } }, contentType: 'application/merge-patch+json', query: { fieldManager: 'kubectl-edit' } });
    await h.rt.queues.drift.add('drift-scan', {});

    const [msg] = await waitFor(() => (rx.received.length > 0 ? rx.received : undefined), 'the drift notification');
    if (!msg) throw new Error('unreachable');
    expect(msg.headers['x-mergeops-event']).toBe('drift.detected');
    expect(msg.headers['x-mergeops-signature-256']).toBe(`sha256=${createHmac('sha256', KEY).update(msg.body).digest('hex')}`);
    const body = JSON.parse(msg.body) as { event: string; repo: string; app: string; cluster: string; sha: string; title: string; url: string; objects: { ref: string; message: string }[] };
    expect(body).toMatchObject({ event: 'drift.detected', repo: `${REPO.owner}/${REPO.name}`, app: 'billing', cluster: 'default', sha: s, title: 'drift in billing: 2 objects differ from the deployed commit' });
    expect(body.url).toMatch(new RegExp(`^https://github\\.com/${REPO.owner}/${REPO.name}/runs/\\d+$`));
    const byRef = Object.fromEntries(body.objects.map((o) => [o.ref, o.message]));
    expect(Object.keys(byRef).sort()).toEqual([`v1 ConfigMap ${ns}/settings`, `v1 Secret ${ns}/db`]);
    expect(byRef[`v1 ConfigMap ${ns}/settings`]).toContain('.data.pool: live 50, Git 10');
    expect(byRef[`v1 Secret ${ns}/db`]).toContain('.data.password');
    // No Secret value, in any spelling, anywhere in what left the worker.
    for (const v of [GIT_SECRET, EDITED_SECRET]) {
      expect(msg.body).not.toContain(v);
      expect(msg.body).not.toContain(Buffer.from(v).toString('base64'));
    }

    // The drift is still there at the next scan: still one message (same job), not two.
    const second = await h.rt.queues.drift.add('drift-scan', {});
    await waitFor(async () => ((await second.isCompleted()) ? true : undefined), 'the second drift scan');
    // What the second scan found is what the first did (one app with drift), so it did look, and would have told.
    expect((await h.rt.queues.drift.getJob(second.id ?? ''))?.returnvalue).toBe(1);
    const jobs = await notifyQueue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    expect(jobs.map((j) => [j.data.receiver, j.data.event.kind, j.data.event.app])).toEqual([['ops', 'drift.detected', 'billing']]);
    expect(rx.received).toHaveLength(1);
  });
});
