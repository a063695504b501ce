import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { compiledMain, ROOT } from '../../support/build.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { PRIVATE_KEY, sign, waitFor } from '../../support/github.js';
import { prPayload, sha } from '../../support/harness.js';
import { freePort } from '../../support/global-setup.js';
import { createQueues, type Queues } from '../../../src/queue/queues.js';
import { createRedis } from '../../../src/redis.js';

/**
 * `npm start` on a fresh clone: `node dist/main.js` with no APP_ID, as a newcomer runs it.
 * Setup mode registers the App through GitHub's manifest flow (the fake GitHub converts the
 * code), answers /healthz, registers WEBHOOK_PROXY_URL as the webhook, and the restarted
 * process relays the proxy channel's deliveries to its own webhook route.
 */
let main: string;
let gh: FakeGitHub;
let dir: string;
const children: ChildProcess[] = [];
let stderr = '';

beforeAll(async () => {
  main = await compiledMain();
  gh = await startFakeGitHub();
}, 120_000);
afterAll(async () => {
  await gh?.close();
});
afterEach(async () => {
  for (const c of children.splice(0)) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill('SIGTERM');
      await new Promise((r) => c.once('exit', r));
    }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [main], {
    cwd: dir,
    env: { PATH: process.env['PATH'], HOME: dir, PORT: String(port), HOST: '127.0.0.1', GHE_HOST: gh.host, GHE_PROTOCOL: 'http', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  children.push(child);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => null))?.ok, `main.js on ${url} (output: ${stderr})`, 20_000);
  return url;
}

function freshClone(): void {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-setup-'));
  fs.copyFileSync(path.join(ROOT, 'app.yml'), path.join(dir, 'app.yml'));
}

/** The manifest and form target of the setup page, as the browser would POST them. */
async function setupPage(url: string): Promise<{ manifest: Record<string, any>; action: string; html: string }> {
  const res = await fetch(`${url}/`, { headers: { host: new URL(url).host } });
  expect(res.status).toBe(200);
  const html = await res.text();
  const unescape = (s: string): string => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const manifest = JSON.parse(unescape(/name="manifest" value="([^"]*)"/.exec(html)?.[1] ?? 'null')) as Record<string, any>;
  const action = unescape(/<form action="([^"]*)"/.exec(html)?.[1] ?? '');
  return { manifest, action, html };
}

describe('setup mode (npm start without APP_ID)', () => {
  it('answers /healthz, and /readyz says it is not registered yet', async () => {
    freshClone();
    const url = await start({});
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ ok: true, mode: 'setup' });
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { reason: string }).reason).toMatch(/not registered/);
  });

  it('registers WEBHOOK_PROXY_URL as the webhook, not a URL from app.yml', async () => {
    freshClone();
    // Even an app.yml that names a webhook URL cannot send the deliveries elsewhere.
    fs.appendFileSync(path.join(dir, 'app.yml'), 'hook_attributes:\n  url: https://example.invalid/api/github/webhooks\n');
    const url = await start({ WEBHOOK_PROXY_URL: 'https://smee.io/mergeops-test-channel' });
    const { manifest, action } = await setupPage(url);
    expect(manifest['hook_attributes']).toEqual({ url: 'https://smee.io/mergeops-test-channel', active: true });
    expect(manifest['redirect_url']).toBe(`${url}/setup/done`);
    expect(manifest['default_events']).toContain('pull_request');
    expect(manifest['default_permissions']).toMatchObject({ checks: 'write', contents: 'write' });
    expect(action).toMatch(new RegExp(`^http://${gh.host}/settings/apps/new\\?state=[0-9a-f]{32}$`));
  });

  it('without a proxy, registers its own webhook route and warns that localhost is unreachable for GitHub', async () => {
    freshClone();
    const url = await start({});
    const { manifest, html } = await setupPage(url);
    expect(manifest['hook_attributes']).toEqual({ url: `${url}/api/github/webhooks`, active: true });
    expect(html).toContain('GitHub cannot reach');
    expect(html).toContain('WEBHOOK_PROXY_URL');
  });

  it("completes GitHub's callback: converts the code, writes .env (keeping what was there) and sends the browser to install the App", async () => {
    freshClone();
    fs.writeFileSync(path.join(dir, '.env'), '# mine\nREDIS_URL=redis://127.0.0.1:6399\nWEBHOOK_PROXY_URL=https://smee.io/kept\n');
    gh.manifestCodes.set('code123', { id: 4242, slug: 'mergeops-acme', pem: PRIVATE_KEY, webhook_secret: 'whsec-from-github' });
    const url = await start({});
    const { action } = await setupPage(url);
    const state = new URL(action).searchParams.get('state');

    const forged = await fetch(`${url}/setup/done?code=code123&state=${'0'.repeat(32)}`, { redirect: 'manual' });
    expect(forged.status).toBe(400);
    expect(gh.calls.filter((c) => c.path.startsWith('/app-manifests/'))).toHaveLength(0);

    const done = await fetch(`${url}/setup/done?code=code123&state=${state}`, { redirect: 'manual' });
    expect(done.status).toBe(302);
    expect(done.headers.get('location')).toBe('https://github.com/apps/mergeops-acme/installations/new');
    const env = fs.readFileSync(path.join(dir, '.env'), 'utf8');
    expect(env).toMatch(/^# mine$/m);
    expect(env).toMatch(/^REDIS_URL=redis:\/\/127\.0\.0\.1:6399$/m);
    expect(env).toMatch(/^WEBHOOK_PROXY_URL=https:\/\/smee\.io\/kept$/m);
    expect(env).toMatch(/^APP_ID=4242$/m);
    expect(env).toMatch(/^WEBHOOK_SECRET=whsec-from-github$/m);
    const key = /^PRIVATE_KEY=(.*)$/m.exec(env)?.[1] ?? '';
    expect(key.replace(/\\n/g, '\n')).toBe(PRIVATE_KEY.trim());
    expect(fs.statSync(path.join(dir, '.env')).mode & 0o077).toBe(0);

    // The state was used up: the same callback again is refused.
    expect((await fetch(`${url}/setup/done?code=code123&state=${state}`, { redirect: 'manual' })).status).toBe(400);
  });
});

describe('WEBHOOK_PROXY_URL after setup', () => {
  let channel: http.Server;
  let streams: http.ServerResponse[] = [];
  let queues: Queues;
  let connection: ReturnType<typeof createRedis>;
  const prefix = `mergeops-proxy-${crypto.randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    // A smee.io channel: an event stream whose messages carry a delivery's headers and body.
    channel = http.createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(': ready\n\n');
      streams.push(res);
    });
    await new Promise<void>((r) => channel.listen(0, '127.0.0.1', () => r()));
    connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
    queues = createQueues(connection, prefix);
  });
  afterAll(async () => {
    for (const s of streams) s.end();
    channel?.closeAllConnections();
    await new Promise((r) => channel?.close(r));
    await queues?.close();
    connection?.disconnect();
  });

  it('relays the channel deliveries to /api/github/webhooks, where they are verified and queued', async () => {
    freshClone();
    const source = `http://127.0.0.1:${(channel.address() as net.AddressInfo).port}/mergeops-channel`;
    await start({
      MERGEOPS_MODE: 'web',
      APP_ID: '12345',
      PRIVATE_KEY,
      WEBHOOK_SECRET: 'proxy-secret',
      WEBHOOK_PROXY_URL: source,
      REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'] as string,
      MERGEOPS_REDIS_PREFIX: prefix,
    });
    await waitFor(() => streams.length > 0, 'the proxy client to connect to the channel');
    const payload = prPayload('opened', 7, sha('proxied-head'), sha('proxied-base'));
    const body = JSON.stringify(payload);
    const message = {
      'x-github-event': 'pull_request',
      'x-github-delivery': crypto.randomUUID(),
      'x-hub-signature-256': sign(body, 'proxy-secret'),
      'user-agent': 'GitHub-Hookshot/test',
      body: payload,
      query: {},
      timestamp: Date.now(),
    };
    for (const s of streams) s.write(`data: ${JSON.stringify(message)}\n\n`);
    const jobs = await waitFor(async () => {
      const j = await queues.preview.getJobs(['waiting', 'delayed', 'prioritized']);
      return j.length ? j : undefined;
    }, 'the relayed delivery to be queued as a preview');
    expect(jobs.map((j) => j.data.pr)).toEqual([7]);
    expect(stderr).toContain('relaying webhooks from WEBHOOK_PROXY_URL');
  });
});
