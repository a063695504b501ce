import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { pino } from 'pino';
import { loadSettings } from '../../../src/config/settings.js';
import { startRuntime } from '../../../src/runtime.js';
import { testProbot, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const files = (ns: string) => ({
  '.github/mergeops.yml': `apps:\n  - name: ops\n    path: k8s\n    namespace: ${ns}\n`,
  'k8s/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ops\ndata:\n  a: "1"\n',
});

function metric(text: string, name: string, labels: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && labels.split(',').every((kv) => l.includes(kv)));
  return line ? Number(line.split(' ').pop()) : 0;
}

describe('operations: metrics, queue dashboard, graceful shutdown', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('ops');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["ops-*"]\n`, {
      MERGEOPS_ADMIN_USER: 'ops',
      MERGEOPS_ADMIN_PASSWORD: 'correct horse',
      TEST_TARBALL_DELAY_MS: '800',
    });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('/metrics moves after a preview job: webhooks, jobs, stage timings, queue depth', async () => {
    const scrape = async () => (await fetch(`${h.rt.url}/metrics`)).text();
    const before = await scrape();
    const s = sha(`ops-${ns}`);
    await h.push(s, files(ns));
    expect(await h.open(41, s)).toBe(202);
    await h.waitForPreview(s);
    await new Promise((r) => setTimeout(r, 200));
    const after = await scrape();
    expect(metric(after, 'mergeops_webhooks_received_total', 'event="pull_request",outcome="accepted"')).toBe(metric(before, 'mergeops_webhooks_received_total', 'event="pull_request",outcome="accepted"') + 1);
    expect(metric(after, 'mergeops_jobs_total', 'queue="preview",outcome="completed"')).toBe(metric(before, 'mergeops_jobs_total', 'queue="preview",outcome="completed"') + 1);
    for (const stage of ['fetch', 'render', 'diff', 'report']) {
      expect(metric(after, 'mergeops_stage_duration_seconds_count', `flow="preview",stage="${stage}"`)).toBeGreaterThan(metric(before, 'mergeops_stage_duration_seconds_count', `flow="preview",stage="${stage}"`));
    }
    expect(after).toMatch(/mergeops_queue_jobs\{queue="preview",state="waiting"\} 0/);
    expect(after).toContain('mergeops_github_rate_limit_remaining{installation="424242"} 4990');
  });

  it('/admin/queues needs the operator credentials', async () => {
    expect((await fetch(`${h.rt.url}/admin/queues`)).status).toBe(401);
    const wrong = await fetch(`${h.rt.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:nope').toString('base64')}` } });
    expect(wrong.status).toBe(401);
    const ok = await fetch(`${h.rt.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:correct horse').toString('base64')}` } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toContain('<html');
    const api = await fetch(`${h.rt.url}/admin/queues/api/queues`, { headers: { authorization: `Basic ${Buffer.from('ops:correct horse').toString('base64')}` } });
    expect(((await api.json()) as { queues: { name: string }[] }).queues.map((q) => q.name).sort()).toEqual(['catch-up', 'command', 'dashboard', 'deploy', 'deploy-report', 'drift', 'image-bump', 'image-poll', 'notify', 'preview', 'preview-env']);
  });

  it('a worker-mode process serves probes and its own metrics, but no webhooks', async () => {
    const settings = loadSettings({ REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'], MERGEOPS_REDIS_PREFIX: `mergeops-test-worker-${Date.now()}`, PORT: '0', HOST: '127.0.0.1', MERGEOPS_MODE: 'worker', MERGEOPS_DRIFT_INTERVAL_MS: '0', MERGEOPS_CATCH_UP_INTERVAL_MS: '0' });
    const worker = await startRuntime(settings, testProbot(), pino({ level: 'silent' }));
    try {
      expect((await fetch(`${worker.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${worker.url}/readyz`)).status).toBe(200);
      expect(await (await fetch(`${worker.url}/metrics`)).text()).toContain('mergeops_jobs_total');
      expect((await fetch(`${worker.url}/api/github/webhooks`, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } })).status).toBe(404);
    } finally {
      await worker.stop();
    }
  });

  it('stopping (what SIGTERM does) while a job runs lets it finish: nothing is lost', async () => {
    const s = sha(`ops-stop-${ns}`);
    await h.push(s, files(ns));
    expect(await h.open(42, s)).toBe(202);
    // The tarball answer is delayed, so the job is mid-flight when the stop begins.
    await waitFor(async () => ((await h.rt.queues.preview.getJob(`preview-${REPO.id}-42-${s}`))?.getState().then((st) => st === 'active')) || undefined, 'the job to start');
    await h.stop();
    const check = h.calls.find((c) => c.method === 'PATCH' && c.body.status === 'completed' && c.path.endsWith('/check-runs/' + (1000 + h.calls.filter((x) => x.method === 'POST' && x.path.endsWith('/check-runs')).length)));
    expect(check?.body.conclusion).toBe('success');
    expect(h.calls.some((c) => c.method === 'POST' && c.path.endsWith('/issues/42/comments'))).toBe(true);
  });
});
