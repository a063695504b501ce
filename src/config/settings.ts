import fs from 'node:fs';
import { ConfigError } from './validate.js';

export type Mode = 'web' | 'worker' | 'all';

/** Operator settings, all from the environment; `.env.example` documents each one. */
export interface Settings {
  mode: Mode;
  port: number;
  host: string;
  appId?: string;
  privateKey?: string;
  webhookSecret?: string;
  /** A smee.io channel GitHub sends webhooks to, relayed to this process (laptops; Probot's convention). */
  webhookProxyUrl?: string;
  redisUrl: string;
  /** Key prefix for every BullMQ and mergeops key, so several installs can share a Redis. */
  redisPrefix: string;
  clustersFile?: string;
  logLevel: string;
  workerConcurrency: number;
  /** A running job's lock; a killed worker's job is taken over within about twice this. */
  jobLockMs: number;
  maxArchiveBytes: number;
  maxExtractedBytes: number;
  /** Disk a worker may keep extracted PR base revisions on; 0 turns the cache off. */
  revisionCacheBytes: number;
  githubBaseUrl?: string;
  /** How often the deploy health wait polls objects. */
  healthPollMs: number;
  /** How often the drift watch compares deployed apps with their commit; 0 turns it off. */
  driftIntervalMs: number;
  adminUser?: string;
  adminPassword?: string;
  /** Credentials and TLS per registry host (MERGEOPS_REGISTRIES file). */
  registriesFile?: string;
  /** Shared secret of `POST /registry/webhook`; the endpoint is off without one. */
  registryWebhookSecret?: string;
  /** How often each watched image's tags are listed; 0 turns polling off (webhooks only). */
  imagePollIntervalMs: number;
  /** A request must arrive whole (headers and body) within this, or it gets 408. */
  httpRequestTimeoutMs: number;
  /** Webhook body bytes being received at once, before their signatures are checked. */
  webhookInflightBytes: number;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const mode = (env['MERGEOPS_MODE'] ?? 'all') as Mode;
  if (!['web', 'worker', 'all'].includes(mode)) throw new ConfigError(`must be web, worker or all, got "${mode}"`, 'MERGEOPS_MODE');
  let privateKey = env['PRIVATE_KEY'];
  const keyPath = env['PRIVATE_KEY_PATH'];
  if (!privateKey && keyPath) {
    try {
      privateKey = fs.readFileSync(keyPath, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${keyPath}: ${(err as Error).message}`, 'PRIVATE_KEY_PATH');
    }
  }
  const s: Settings = {
    mode,
    port: int(env, 'PORT', 3000),
    host: env['HOST'] ?? '0.0.0.0',
    redisUrl: env['REDIS_URL'] ?? 'redis://127.0.0.1:6379',
    redisPrefix: env['MERGEOPS_REDIS_PREFIX'] ?? 'mergeops',
    logLevel: env['LOG_LEVEL'] ?? 'info',
    workerConcurrency: int(env, 'MERGEOPS_WORKER_CONCURRENCY', 4),
    jobLockMs: int(env, 'MERGEOPS_JOB_LOCK_MS', 30_000),
    maxArchiveBytes: int(env, 'MERGEOPS_MAX_ARCHIVE_BYTES', 100 * 1024 * 1024),
    maxExtractedBytes: int(env, 'MERGEOPS_MAX_EXTRACTED_BYTES', 512 * 1024 * 1024),
    revisionCacheBytes: int(env, 'MERGEOPS_REVISION_CACHE_BYTES', 256 * 1024 * 1024),
    healthPollMs: int(env, 'MERGEOPS_HEALTH_POLL_MS', 2000),
    driftIntervalMs: int(env, 'MERGEOPS_DRIFT_INTERVAL_MS', 5 * 60_000),
    imagePollIntervalMs: int(env, 'MERGEOPS_IMAGE_POLL_INTERVAL_MS', 5 * 60_000),
    httpRequestTimeoutMs: int(env, 'MERGEOPS_HTTP_REQUEST_TIMEOUT_MS', 10_000),
    webhookInflightBytes: int(env, 'MERGEOPS_WEBHOOK_INFLIGHT_BYTES', 64 * 1024 * 1024),
  };
  if (env['MERGEOPS_REGISTRIES']) s.registriesFile = env['MERGEOPS_REGISTRIES'];
  if (env['MERGEOPS_REGISTRY_WEBHOOK_SECRET']) s.registryWebhookSecret = env['MERGEOPS_REGISTRY_WEBHOOK_SECRET'];
  if (env['APP_ID']) s.appId = env['APP_ID'];
  if (privateKey) s.privateKey = privateKey.replace(/\\n/g, '\n');
  if (env['WEBHOOK_SECRET']) s.webhookSecret = env['WEBHOOK_SECRET'];
  if (env['WEBHOOK_PROXY_URL']) {
    if (!/^https?:\/\/[^\s/]+/.test(env['WEBHOOK_PROXY_URL'])) throw new ConfigError(`expected a URL like https://smee.io/abc123, got "${env['WEBHOOK_PROXY_URL']}"`, 'WEBHOOK_PROXY_URL');
    s.webhookProxyUrl = env['WEBHOOK_PROXY_URL'];
  }
  if (env['MERGEOPS_CLUSTERS']) s.clustersFile = env['MERGEOPS_CLUSTERS'];
  if (env['MERGEOPS_ADMIN_USER'] && env['MERGEOPS_ADMIN_PASSWORD']) {
    s.adminUser = env['MERGEOPS_ADMIN_USER'];
    s.adminPassword = env['MERGEOPS_ADMIN_PASSWORD'];
  }
  if (env['GHE_HOST']) s.githubBaseUrl = `${env['GHE_PROTOCOL'] ?? 'https'}://${env['GHE_HOST']}/api/v3`;
  return s;
}

function int(env: NodeJS.ProcessEnv, key: string, fallback: number): number {
  const v = env[key];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new ConfigError(`expected a whole number, got "${v}"`, key);
  return n;
}
