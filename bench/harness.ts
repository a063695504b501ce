/**
 * What the benchmarks that run the whole app need: the test harness (nock as GitHub)
 * set up as in production.
 *
 * nock hooks node:http(s) and fetch once loaded. GitHub is reached through fetch
 * (Octokit), so this module hands node:http(s) back to Node as soon as nock is in: the
 * worker's API server requests then run as in production. Behind nock each of them
 * opened its own TLS connection (no keep-alive) and was held on to: a 1,000-object
 * preview took ~12 s instead of ~4 s here, and memory grew with every request.
 */
import crypto from 'node:crypto';
import { pino, type Logger } from 'pino';
import { Probot } from 'probot';
import { octokitClass } from '../src/github/octokit.js';
import http from 'node:http';
import https from 'node:https';
import { APP_ID, PRIVATE_KEY, WEBHOOK_SECRET } from '../test/support/github.js';
import { originals } from './http-originals.js';

// http.ClientRequest stays hooked: nock answers intercepted fetches through it.
http.request = originals.httpRequest;
http.get = originals.httpGet;
https.request = originals.httpsRequest;
https.get = originals.httpsGet;

/**
 * The runtime's logger as in production (LOG_LEVEL info, JSON lines), written to
 * /dev/null (or the file BENCH_APP_LOG names, to read what a run did): serialising the log
 * lines is part of the cost being measured.
 */
export function productionLog(): Logger {
  return pino({ level: 'info' }, pino.destination({ dest: process.env['BENCH_APP_LOG'] || '/dev/null', sync: false }));
}

/**
 * Probot as src/main.ts builds it for the harness settings `env`: Octokit's retries and
 * throttling at their defaults, its write spacing left to mergeops' pacer when that is on.
 */
export function productionProbot(env: Record<string, string> = {}): Probot {
  const paced = Number(env['MERGEOPS_GITHUB_WRITES_PER_MINUTE'] ?? '0') > 0;
  return new Probot({ appId: APP_ID, privateKey: PRIVATE_KEY, secret: WEBHOOK_SECRET, log: productionLog().child({ name: 'probot' }), Octokit: octokitClass(paced) });
}

/** Harness settings for a benchmark: its own Redis key prefix, production worker concurrency. */
export function harnessEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { MERGEOPS_REDIS_PREFIX: `mergeops-bench-${crypto.randomUUID().slice(0, 8)}`, MERGEOPS_WORKER_CONCURRENCY: '4', ...extra };
}
