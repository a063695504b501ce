import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { BUMP_RATE_LIMIT_WAITS } from '../../../src/flows/bump.js';
import type { ImageJob } from '../../../src/flows/jobs.js';
import { startHttpFaultProxy, type HttpFaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { INSTALLATION_ID, deliver, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';
import { webhookExample } from '../../support/webhook-schemas.js';
import type { Job } from 'bullmq';

const WEBHOOK_TOKEN = 'registry-rate-limit-secret';
/** Longer than BullMQ's first retry backoff (5 s), so a retry that ignores it shows on the wire. */
const RETRY_AFTER_S = 7;
// Distribution's own 429 body.
const TOO_MANY = JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'too many requests' }] });

describe('a registry answering 429 during an image bump (fault proxy in front of a real registry)', () => {
  let h: Harness;
  let reg: TestRegistry;
  let proxy: HttpFaultProxy;
  const logs: Record<string, unknown>[] = [];
  const main = sha('rate-limit-main');

  const announce = async (name: string, tag: string): Promise<void> => {
    // As the registry would send it, naming the host mergeops pulls from (the proxy).
    const envelope = { events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: name, tag, url: `http://${proxy.host}/v2/${name}/manifests/${tag}` }, request: { host: proxy.host } }] };
    const res = await fetch(`${h.rt.url}/registry/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: JSON.stringify(envelope) });
    expect(await res.json()).toMatchObject({ events: 1, enqueued: 1 });
  };
  const bumpJob = (name: string, tag: string) => async (): Promise<Job<ImageJob> | undefined> =>
    (await h.rt.queues.image.getJobs(['completed', 'failed'])).find((j) => j.data.kind === 'bump' && j.data.repository === `${proxy.host}/${name}` && j.data.events[0]?.tag === tag);
  const wire = (name: string): ProxiedRequest[] => proxy.requests.filter((r) => r.path.startsWith(`/v2/${name}/`));

  beforeAll(async () => {
    reg = await startRegistry();
    proxy = await startHttpFaultProxy(new URL(`http://${reg.host}`), { faultBody: () => TOO_MANY });
    for (const t of ['1.0.0', '1.1.0']) await reg.pushImage('acme/web', t);
    for (const t of ['1.0.0', '1.2.0']) await reg.pushImage('acme/stuck', t);
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (logs.push(JSON.parse(chunk.toString()) as Record<string, unknown>), done()) });
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n`, { MERGEOPS_IMAGE_POLL_INTERVAL_MS: '0', MERGEOPS_REGISTRY_WEBHOOK_SECRET: WEBHOOK_TOKEN }, { log: pino({ level: 'info' }, sink) });
    const deploy = (image: string) => `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: x\nspec:\n  selector:\n    matchLabels: {app: x}\n  template:\n    metadata:\n      labels: {app: x}\n    spec:\n      containers:\n        - name: x\n          image: ${image}\n`;
    await h.push(main, {
      '.github/mergeops.yml': [
        'apps:',
        '  - { name: rl-web, path: web, namespace: rl, wait: 0 }',
        '  - { name: rl-stuck, path: stuck, namespace: rl, wait: 0 }',
        'images:',
        `  - { repository: ${proxy.host}/acme/web, policy: { semver: "^1" }, apps: [rl-web] }`,
        `  - { repository: ${proxy.host}/acme/stuck, policy: { semver: "^1" }, apps: [rl-stuck] }`,
        '',
      ].join('\n'),
      'web/deploy.yaml': deploy(`${proxy.host}/acme/web:1.0.0`),
      'stuck/deploy.yaml': deploy(`${proxy.host}/acme/stuck:1.0.0`),
    });
    h.git.refs.set('main', main);
    const install = webhookExample('installation_repositories', 'added');
    install['installation'].id = INSTALLATION_ID;
    install['repositories_added'] = [{ id: REPO.id, node_id: 'R_1', name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, private: true }];
    expect((await deliver(h.rt.url as string, 'installation_repositories', install)).status).toBe(202);
    await waitFor(async () => ((await h.rt.queues.image.getCompleted()).some((j) => j.data.kind === 'sync') ? true : undefined), 'config sync', 20_000);
  });

  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    await reg?.stop();
  });

  it(`waits out Retry-After (${RETRY_AFTER_S} s) before asking the registry again, then opens the PR`, async () => {
    // The registry limits this client for RETRY_AFTER_S from its first request: every
    // request in that time is answered 429 again, as Docker Hub does.
    let until = 0;
    proxy.rule = (r) => {
      if (!r.path.startsWith('/v2/acme/web/')) return undefined;
      if (until === 0) until = r.at + RETRY_AFTER_S * 1000;
      return r.at < until ? { status: 429, retryAfter: Math.ceil((until - r.at) / 1000) } : undefined;
    };
    await announce('acme/web', '1.1.0');
    const pr = await waitFor(() => h.git.pulls.find((p) => p.title === `Bump ${proxy.host}/acme/web from 1.0.0 to 1.1.0`), 'the bump PR after the wait', 30_000);
    expect(pr.state).toBe('open');

    // On the wire: one refused request, then nothing until Retry-After had passed — no resend,
    // no tag-by-tag fallback, no BullMQ retry 5 s in.
    const sent = wire('acme/web');
    expect(sent[0]?.injected).toBe(429);
    expect(sent.filter((r) => r.injected === 429)).toHaveLength(1);
    expect((sent[1]?.at ?? 0) - (sent[0]?.at ?? 0)).toBeGreaterThanOrEqual(RETRY_AFTER_S * 1000 - 20);
    // A wait is not a failed attempt: the one attempt made is the one that succeeded.
    const job = await waitFor(bumpJob('acme/web', '1.1.0'), 'the bump job to finish');
    expect(await job.isCompleted()).toBe(true);
    expect(job.attemptsMade).toBe(1);
    expect(job.stacktrace ?? []).toEqual([]);
    expect(job.data.kind === 'bump' && job.data.rateLimitWaits).toBe(1);
    expect(logs.some((l) => l['msg'] === 'registry rate-limited the image bump; waiting as long as its Retry-After asks' && l['waitMs'] === RETRY_AFTER_S * 1000)).toBe(true);
  }, 60_000);

  it('past its budget of waits it fails with a readable reason, and the worker keeps serving other bumps meanwhile', async () => {
    proxy.rule = (r) => (r.path.startsWith('/v2/acme/stuck/') ? { status: 429, retryAfter: 1 } : undefined);
    await announce('acme/stuck', '1.2.0');
    // While that one waits, another image's new build goes through.
    await reg.pushImage('acme/web', '1.3.0');
    await announce('acme/web', '1.3.0');
    const web = await waitFor(bumpJob('acme/web', '1.3.0'), 'the other bump');
    expect(await web.isCompleted()).toBe(true);
    expect(h.git.pulls.find((p) => p.title === `Bump ${proxy.host}/acme/web from 1.0.0 to 1.3.0`)).toBeDefined();

    const stuck = await waitFor(bumpJob('acme/stuck', '1.2.0'), 'the rate-limited bump to give up', 30_000);
    expect(await stuck.isFailed()).toBe(true);
    expect((web.finishedOn ?? 0) < (stuck.finishedOn ?? 0)).toBe(true);
    const reason = `${proxy.host} kept answering 429 Too Many Requests: waited ${BUMP_RATE_LIMIT_WAITS} times as its Retry-After asked, giving up on this bump; the next poll or registry event tries again`;
    expect(stuck.failedReason).toBe(reason);
    // Given up at once, not retried three more times by BullMQ.
    expect(wire('acme/stuck').filter((r) => r.injected === 429)).toHaveLength(BUMP_RATE_LIMIT_WAITS + 1);
    const at = wire('acme/stuck').map((r) => r.at);
    for (let i = 1; i < at.length; i++) expect((at[i] as number) - (at[i - 1] as number)).toBeGreaterThanOrEqual(1000 - 20);
    expect(logs.some((l) => l['msg'] === 'image-bump failed' && l['err'] === reason)).toBe(true);
    expect(h.git.pulls.filter((p) => p.title.includes('acme/stuck'))).toEqual([]);
  }, 60_000);
});
