import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import nock from 'nock';
import { Probot, ProbotOctokit } from 'probot';
import { pino, type Logger } from 'pino';

import { assertWebhookPayload } from './webhook-schemas.js';

export { makeTarball, type RepoFiles } from './tarball.js';

export const WEBHOOK_SECRET = 'test-webhook-secret';
export const APP_ID = 12345;
export const INSTALLATION_ID = 424242;
export const GITHUB = 'https://api.github.com';

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
export const PRIVATE_KEY = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();

/** `log` receives Probot's and Octokit's own lines too (the secret scan reads them). */
export function testProbot(log?: Logger): Probot {
  return new Probot({
    appId: APP_ID,
    privateKey: PRIVATE_KEY,
    secret: WEBHOOK_SECRET,
    log: log?.child({ name: 'probot' }) ?? pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' }),
    // Retries would hide the exact call sequence the tests assert. Throttling is switched
    // off per instance: Probot replaces a class-level `throttle` with its own options, which
    // kept the one-write-per-second limiter on and cost every preview ~2 s of waiting.
    Octokit: ProbotOctokit.defaults((options: Record<string, unknown>) => ({
      ...options,
      retry: { enabled: false },
      throttle: { ...(options['throttle'] as object | undefined), enabled: false },
    })),
  });
}

export function sign(body: string, secret = WEBHOOK_SECRET): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function deliver(
  baseUrl: string,
  event: string,
  payload: unknown,
  opts: { id?: string; signature?: string | null } = {},
): Promise<{ status: number; body: unknown }> {
  // Only payloads GitHub could send: a test of a payload GitHub never sends proves nothing.
  assertWebhookPayload(event, payload);
  const body = JSON.stringify(payload);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': opts.id ?? crypto.randomUUID(),
    'user-agent': 'GitHub-Hookshot/test',
  };
  const signature = opts.signature === undefined ? sign(body) : opts.signature;
  if (signature !== null) headers['x-hub-signature-256'] = signature;
  const res = await fetch(`${baseUrl}/api/github/webhooks`, { method: 'POST', headers, body });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** Lets loopback through (our server, the API server) and stops anything else reaching out. */
export function githubOnlyThroughNock(): void {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => host.startsWith('127.0.0.1') || host.startsWith('localhost'));
}

export async function waitFor<T>(fn: () => T | undefined | Promise<T | undefined>, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** A fixture repository under test/fixtures/repos as path → content. */
export function fixtureRepo(name: string): Record<string, string> {
  const root = fileURLToPath(new URL(`../fixtures/repos/${name}`, import.meta.url));
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) walk(abs);
      else out[path.relative(root, abs)] = fs.readFileSync(abs, 'utf8');
    }
  };
  walk(root);
  return out;
}
