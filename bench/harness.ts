/**
 * What the benchmarks that run the whole app need: the test harness (nock as GitHub)
 * set up as in production. Importing this loads nock, which then hooks every HTTP
 * request of the process, the API server's included: each such request opens its own
 * TLS connection (no keep-alive) and is held on to, so the work measured behind nock is
 * slower and bigger than in production.
 */
import crypto from 'node:crypto';
import { pino, type Logger } from 'pino';
import { Probot, ProbotOctokit } from 'probot';
import { APP_ID, PRIVATE_KEY, WEBHOOK_SECRET } from '../test/support/github.js';

/**
 * The runtime's logger as in production (LOG_LEVEL info, JSON lines), written to
 * /dev/null: serialising the log lines is part of the cost being measured.
 */
export function productionLog(): Logger {
  return pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false }));
}

/** Probot as src/main.ts builds it: Octokit's retries and write throttling at their defaults. */
export function productionProbot(): Probot {
  return new Probot({ appId: APP_ID, privateKey: PRIVATE_KEY, secret: WEBHOOK_SECRET, log: productionLog().child({ name: 'probot' }), Octokit: ProbotOctokit });
}

/** Harness settings for a benchmark: its own Redis key prefix, production worker concurrency. */
export function harnessEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { MERGEOPS_REDIS_PREFIX: `mergeops-bench-${crypto.randomUUID().slice(0, 8)}`, MERGEOPS_WORKER_CONCURRENCY: '4', ...extra };
}
