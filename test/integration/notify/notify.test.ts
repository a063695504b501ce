import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHmac, timingSafeEqual } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { NotifyJob } from '../../../src/notify/worker.js';
import { waitFor } from '../../support/github.js';
import { sha, startHarness, type Harness, REPO } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const SECRET = 'notify-test-hmac-key';

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Whether the signature header is the HMAC-SHA256 of the raw body with SECRET. */
  signed: boolean;
  answered: number;
}

/**
 * A real HTTP receiver on loopback. `/hook` checks every request's signature and answers
 * 500 to the first one, then 200; `/down` always answers 500; `/slack` answers 200 "ok"
 * like Slack; `/elsewhere` must never be called.
 */
async function startReceiver(): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const want = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-mergeops-signature-256'] ?? ''));
      const signed = got.length === want.length && timingSafeEqual(got, want);
      const p = req.url ?? '';
      const hookCalls = received.filter((r) => r.path === '/hook').length;
      const status = p === '/down' || (p === '/hook' && hookCalls === 0) ? 500 : p === '/hook' && !signed ? 401 : 200;
      received.push({ path: p, headers: req.headers, body, signed, answered: status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'boom');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address() as { port: number };
  return { url: `http://127.0.0.1:${addr.port}`, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const stuck = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n`;
const cm = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  a: "1"\n`;

describe('notifications reach a real receiver, signed, retried on 500, never failing a deploy', () => {
  let h: Harness;
  let cluster: Cluster;
  let receiver: Awaited<ReturnType<typeof startReceiver>>;
  let notifyQueue: Queue<NotifyJob>;

  beforeAll(async () => {
    cluster = await testCluster();
    receiver = await startReceiver();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-notify-'));
    fs.writeFileSync(path.join(dir, 'hmac'), `${SECRET}\n`);
    const file = path.join(dir, 'notifications.yaml');
    fs.writeFileSync(
      file,
      [
        'receivers:',
        '  audit:',
        '    type: webhook',
        `    url: ${receiver.url}/hook`,
        `    secretFile: ${path.join(dir, 'hmac')}`,
        '    events: [deploy.failed]',
        '  chat:',
        '    type: slack',
        `    url: ${receiver.url}/slack`,
        '    apps: [web-*]',
        '  broken:',
        '    type: webhook',
        `    url: ${receiver.url}/down`,
        `    secret: ${SECRET}`,
        '    events: [deploy.succeeded]',
        '  elsewhere:',
        '    type: webhook',
        `    url: ${receiver.url}/elsewhere`,
        `    secret: ${SECRET}`,
        '    repos: ["someone-else/*"]',
        '',
      ].join('\n'),
    );
    h = await startHarness(
      `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["ntf-*"]\n`,
      { MERGEOPS_NOTIFICATIONS: file },
    );
    notifyQueue = h.rt.queues.all.find((q) => q.name === 'notify') as Queue<NotifyJob>;
  });

  afterAll(async () => {
    await h?.stop();
    await receiver?.close();
    cluster?.client.close();
  });

  it('a failed deploy: the webhook gets the signed event, answers 500, gets it again; Slack gets its message; other repos\' receivers nothing', async () => {
    const ns = uniqueName('ntf-a');
    await namespace(cluster, ns);
    const s = sha(`notify-fail-${ns}`);
    await h.push(s, { '.github/mergeops.yml': `apps:\n  - name: web-shop\n    path: deploy\n    namespace: ${ns}\n    wait: 1s\n`, 'deploy/app.yaml': stuck });
    await h.pushEvent(s, { mergedPr: 41 });
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('failure');

    const hooks = await waitFor(() => {
      const got = receiver.received.filter((r) => r.path === '/hook');
      return got.length >= 2 ? got : undefined;
    }, 'the webhook retried after its 500', 20_000);
    expect(hooks.map((r) => r.answered)).toEqual([500, 200]);
    expect(hooks.every((r) => r.signed)).toBe(true);
    // Same delivery both times, so a receiver can drop a duplicate.
    expect(hooks[0]?.headers['x-mergeops-delivery']).toBe(hooks[1]?.headers['x-mergeops-delivery']);
    expect(hooks[0]?.headers['x-mergeops-event']).toBe('deploy.failed');
    expect(hooks[0]?.headers['content-type']).toBe('application/json');
    const body = JSON.parse(hooks[1]?.body ?? '{}') as Record<string, unknown>;
    expect(body).toMatchObject({
      version: 1,
      event: 'deploy.failed',
      repo: `${REPO.owner}/${REPO.name}`,
      app: 'web-shop',
      cluster: 'default',
      sha: s,
      branch: 'main',
      pullRequest: 41,
      url: `https://github.com/${REPO.owner}/${REPO.name}/runs/${check.checkRunId ?? check.path.split('/').pop()}`,
      objects: [{ ref: `apps/v1 Deployment ${ns}/web`, message: 'not healthy after 1 s: controller has not observed generation 1 yet' }],
    });
    expect(Date.parse(String(body['at']))).toBeGreaterThan(Date.now() - 60_000);

    const slack = await waitFor(() => receiver.received.find((r) => r.path === '/slack'), 'the Slack message');
    const msg = JSON.parse(slack.body) as { text: string; blocks: { type: string }[] };
    expect(msg.text).toBe(`❌ deploy of web-shop failed: 1 problem (not healthy after 1 s: controller has not observed generation 1 yet) (${REPO.owner}/${REPO.name})`);
    expect(msg.blocks.map((b) => b.type)).toEqual(['section', 'section', 'actions']);
    expect(slack.headers['x-mergeops-signature-256']).toBeUndefined();

    // Routing, proven from state: no job was ever queued for the other repository's receiver.
    const jobs = await notifyQueue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    expect(jobs.filter((j) => j.data.receiver === 'elsewhere')).toEqual([]);
    expect(jobs.filter((j) => j.data.receiver === 'audit').map((j) => j.data.event.kind)).toEqual(['deploy.failed']);
    expect(receiver.received.filter((r) => r.path === '/elsewhere')).toEqual([]);
  });

  it('a receiver that keeps answering 500 is retried in the background and the deploy still succeeds', async () => {
    const ns = uniqueName('ntf-b');
    await namespace(cluster, ns);
    const s = sha(`notify-ok-${ns}`);
    await h.push(s, { '.github/mergeops.yml': `apps:\n  - name: cfg\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n`, 'deploy/cm.yaml': cm });
    await h.pushEvent(s, { mergedPr: 42 });
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('success');
    await waitFor(() => (receiver.received.filter((r) => r.path === '/down' && r.body.includes(s)).length >= 2 ? true : undefined), 'a second try at the broken receiver', 20_000);
    const job = (await notifyQueue.getJobs(['waiting', 'active', 'delayed'])).find((j) => j.data.receiver === 'broken' && j.data.event.sha === s);
    expect(job?.data.event.kind).toBe('deploy.succeeded');
    expect(job?.attemptsMade).toBeGreaterThanOrEqual(1);
    // The app is not routed to Slack (apps: [web-*]).
    expect(receiver.received.filter((r) => r.path === '/slack' && r.body.includes('cfg'))).toEqual([]);
  });
});
