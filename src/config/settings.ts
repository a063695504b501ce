import fs from 'node:fs';
import { z } from 'zod';
import { errorText } from '../errors.js';
import { ConfigError, check } from './validate.js';
import { DEFAULT_CAPS, type RepoCaps } from './caps.js';
import { clusterKeyPrefix, type RedisTarget } from '../redis.js';
import { redisEnvironment, redisTarget } from './redis-target.js';

export type Mode = z.output<typeof environmentSchema>['MERGEOPS_MODE'];

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
  redis: RedisTarget;
  /** Key prefix for every BullMQ and mergeops key, so several installs can share a Redis (hash-tagged on a Cluster). */
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
  /** What starts a drift check: Kubernetes watches (a change, as it happens) or the interval's full compare. */
  driftTrigger: 'watch' | 'interval';
  /** How often the app asks GitHub for webhooks that failed and checks deployed branch heads (also on start); 0 turns it off. */
  catchUpIntervalMs: number;
  /** How far back failed webhook deliveries are redelivered at most. */
  catchUpLookbackMs: number;
  /** How often preview environments are swept (TTL, closed or gone PRs, the /metrics gauge); 0 turns the sweep off. */
  previewEnvSweepMs: number;
  adminUser?: string;
  adminPassword?: string;
  /** pr: open one onboarding PR (a detected config) per installed repository without one. */
  onboarding?: 'off' | 'pr';
  /** off: previews leave out the rollout analysis and its reads of quotas, LimitRanges, PDBs and HPAs. */
  rolloutAnalysis?: 'on' | 'off';
  /** Notification receivers and their routing (MERGEOPS_NOTIFICATIONS file). */
  notificationsFile?: string;
  /** Credentials and TLS per registry host (MERGEOPS_REGISTRIES file). */
  registriesFile?: string;
  /** Shared secret of `POST /registry/webhook`; the endpoint is off without one. */
  registryWebhookSecret?: string;
  /** How often each watched image's tags are listed; 0 turns polling off (webhooks only). */
  imagePollIntervalMs: number;
  /** Content-creating GitHub requests per minute per installation, across workers; 0 turns pacing off. */
  githubWritesPerMinute: number;
  /** The length of GitHub's rate window (60 s); only tests scale it down. */
  githubWriteWindowMs: number;
  /** Least time from one write's answer to the next write of an installation, in GitHub's time. */
  githubWriteSpacingMs: number;
  /** `/mergeops` commands of one name per pull request per window. */
  commandRate: { max: number; windowS: number };
  /** A request must arrive whole (headers and body) within this, or it gets 408. */
  httpRequestTimeoutMs: number;
  /** Webhook body bytes being received at once, before their signatures are checked. */
  webhookInflightBytes: number;
  /** What one repository's config may ask of the workers and the API server. */
  caps: RepoCaps;
  /** Deploy dashboard issues: off, only repositories whose config says `dashboard: true`, or all (unless `dashboard: false`). */
  dashboard: 'off' | 'opt-in' | 'all';
  /** How long a dashboard waits for more changes before it is written: changes within it are one edit. */
  dashboardDelayMs: number;
}

/** A whole number of the environment; unset or empty is the default. */
function whole(fallback: number) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const n = Number(v);
      if (Number.isInteger(n) && n >= 0) return n;
      ctx.addIssue({ code: 'custom', message: `expected a whole number, got "${v}"` });
      return z.NEVER;
    });
}

/** Set and not empty, else absent: an empty line in .env means "not set". */
const text = () =>
  z
    .string()
    .optional()
    .transform((v) => (v ? v : undefined));

/**
 * The environment mergeops reads, one entry per variable (`.env.example` documents each);
 * every other variable is left alone.
 */
export const environmentSchema = z.looseObject({
  MERGEOPS_MODE: z
    .string()
    .optional()
    .transform((v, ctx) => {
      const mode = v ?? 'all';
      if (mode === 'web' || mode === 'worker' || mode === 'all') return mode;
      ctx.addIssue({ code: 'custom', message: `must be web, worker or all, got "${mode}"` });
      return z.NEVER;
    }),
  PORT: whole(3000),
  HOST: z.string().default('0.0.0.0'),
  APP_ID: text(),
  PRIVATE_KEY: text(),
  PRIVATE_KEY_PATH: text(),
  WEBHOOK_SECRET: text(),
  WEBHOOK_PROXY_URL: text().refine((v) => v === undefined || /^https?:\/\/[^\s/]+/.test(v), {
    error: (iss) => `expected a URL like https://smee.io/abc123, got "${String(iss.input)}"`,
  }),
  ...redisEnvironment,
  MERGEOPS_REDIS_PREFIX: z.string().default('mergeops'),
  MERGEOPS_CLUSTERS: text(),
  LOG_LEVEL: z.string().default('info'),
  MERGEOPS_WORKER_CONCURRENCY: whole(4),
  MERGEOPS_JOB_LOCK_MS: whole(30_000),
  MERGEOPS_MAX_ARCHIVE_BYTES: whole(100 * 1024 * 1024),
  MERGEOPS_MAX_EXTRACTED_BYTES: whole(512 * 1024 * 1024),
  MERGEOPS_REVISION_CACHE_BYTES: whole(256 * 1024 * 1024),
  MERGEOPS_HEALTH_POLL_MS: whole(2000),
  MERGEOPS_DRIFT_INTERVAL_MS: whole(5 * 60_000),
  MERGEOPS_DRIFT_TRIGGER: z.enum(['watch', 'interval'], { error: 'expected watch or interval' }).default('watch'),
  MERGEOPS_CATCH_UP_INTERVAL_MS: whole(5 * 60_000),
  MERGEOPS_PREVIEW_ENV_SWEEP_MS: whole(60_000),
  // GitHub keeps (and redelivers) deliveries for three days.
  MERGEOPS_CATCH_UP_LOOKBACK_MS: whole(3 * 24 * 3600_000),
  MERGEOPS_IMAGE_POLL_INTERVAL_MS: whole(5 * 60_000),
  MERGEOPS_GITHUB_WRITES_PER_MINUTE: whole(80),
  MERGEOPS_GITHUB_WRITE_WINDOW_MS: whole(60_000),
  MERGEOPS_GITHUB_WRITE_SPACING_MS: whole(1000),
  MERGEOPS_COMMAND_RATE_MAX: whole(5),
  MERGEOPS_COMMAND_RATE_WINDOW_S: whole(600),
  MERGEOPS_HTTP_REQUEST_TIMEOUT_MS: whole(10_000),
  MERGEOPS_WEBHOOK_INFLIGHT_BYTES: whole(64 * 1024 * 1024),
  MERGEOPS_MAX_APPS_PER_REPO: whole(DEFAULT_CAPS.maxApps),
  MERGEOPS_MAX_OBJECTS_PER_APP: whole(DEFAULT_CAPS.maxObjectsPerApp),
  MERGEOPS_RENDER_MEMORY_BYTES: whole(DEFAULT_CAPS.renderMemoryBytes),
  MERGEOPS_MAX_WAIT_MS: whole(DEFAULT_CAPS.maxWaitMs),
  MERGEOPS_ADMIN_USER: text(),
  MERGEOPS_ADMIN_PASSWORD: text(),
  MERGEOPS_REGISTRIES: text(),
  MERGEOPS_REGISTRY_WEBHOOK_SECRET: text(),
  MERGEOPS_NOTIFICATIONS: text(),
  MERGEOPS_ONBOARDING: z.enum(['off', 'pr'], { error: 'expected off or pr' }).default('off'),
  MERGEOPS_ROLLOUT_ANALYSIS: z.enum(['on', 'off'], { error: 'expected on or off' }).default('on'),
  MERGEOPS_DASHBOARD: z.enum(['off', 'opt-in', 'all'], { error: 'expected off, opt-in or all' }).default('opt-in'),
  MERGEOPS_DASHBOARD_DELAY_MS: whole(10_000),
  GHE_HOST: text(),
  GHE_PROTOCOL: z.string().default('https'),
});

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  const e = check(environmentSchema, env);
  let privateKey = e.PRIVATE_KEY;
  if (!privateKey && e.PRIVATE_KEY_PATH) {
    try {
      privateKey = fs.readFileSync(e.PRIVATE_KEY_PATH, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read ${e.PRIVATE_KEY_PATH}: ${errorText(err)}`, 'PRIVATE_KEY_PATH');
    }
  }
  const redis = redisTarget(e);
  const s: Settings = {
    mode: e.MERGEOPS_MODE,
    port: e.PORT,
    host: e.HOST,
    redis,
    redisPrefix: redis.kind === 'cluster' ? clusterKeyPrefix(e.MERGEOPS_REDIS_PREFIX) : e.MERGEOPS_REDIS_PREFIX,
    logLevel: e.LOG_LEVEL,
    workerConcurrency: e.MERGEOPS_WORKER_CONCURRENCY,
    jobLockMs: e.MERGEOPS_JOB_LOCK_MS,
    maxArchiveBytes: e.MERGEOPS_MAX_ARCHIVE_BYTES,
    maxExtractedBytes: e.MERGEOPS_MAX_EXTRACTED_BYTES,
    revisionCacheBytes: e.MERGEOPS_REVISION_CACHE_BYTES,
    healthPollMs: e.MERGEOPS_HEALTH_POLL_MS,
    driftIntervalMs: e.MERGEOPS_DRIFT_INTERVAL_MS,
    driftTrigger: e.MERGEOPS_DRIFT_TRIGGER,
    catchUpIntervalMs: e.MERGEOPS_CATCH_UP_INTERVAL_MS,
    catchUpLookbackMs: e.MERGEOPS_CATCH_UP_LOOKBACK_MS,
    previewEnvSweepMs: e.MERGEOPS_PREVIEW_ENV_SWEEP_MS,
    imagePollIntervalMs: e.MERGEOPS_IMAGE_POLL_INTERVAL_MS,
    githubWritesPerMinute: e.MERGEOPS_GITHUB_WRITES_PER_MINUTE,
    githubWriteWindowMs: e.MERGEOPS_GITHUB_WRITE_WINDOW_MS,
    githubWriteSpacingMs: e.MERGEOPS_GITHUB_WRITE_SPACING_MS,
    commandRate: { max: e.MERGEOPS_COMMAND_RATE_MAX, windowS: e.MERGEOPS_COMMAND_RATE_WINDOW_S },
    httpRequestTimeoutMs: e.MERGEOPS_HTTP_REQUEST_TIMEOUT_MS,
    webhookInflightBytes: e.MERGEOPS_WEBHOOK_INFLIGHT_BYTES,
    caps: {
      maxApps: e.MERGEOPS_MAX_APPS_PER_REPO,
      maxObjectsPerApp: e.MERGEOPS_MAX_OBJECTS_PER_APP,
      renderMemoryBytes: e.MERGEOPS_RENDER_MEMORY_BYTES,
      maxWaitMs: e.MERGEOPS_MAX_WAIT_MS,
    },
    dashboard: e.MERGEOPS_DASHBOARD,
    dashboardDelayMs: e.MERGEOPS_DASHBOARD_DELAY_MS,
  };
  if (e.MERGEOPS_REGISTRIES) s.registriesFile = e.MERGEOPS_REGISTRIES;
  if (e.MERGEOPS_NOTIFICATIONS) s.notificationsFile = e.MERGEOPS_NOTIFICATIONS;
  s.onboarding = e.MERGEOPS_ONBOARDING;
  s.rolloutAnalysis = e.MERGEOPS_ROLLOUT_ANALYSIS;
  if (e.MERGEOPS_REGISTRY_WEBHOOK_SECRET) s.registryWebhookSecret = e.MERGEOPS_REGISTRY_WEBHOOK_SECRET;
  if (e.APP_ID) s.appId = e.APP_ID;
  if (privateKey) s.privateKey = privateKey.replace(/\\n/g, '\n');
  if (e.WEBHOOK_SECRET) s.webhookSecret = e.WEBHOOK_SECRET;
  if (e.WEBHOOK_PROXY_URL) s.webhookProxyUrl = e.WEBHOOK_PROXY_URL;
  if (e.MERGEOPS_CLUSTERS) s.clustersFile = e.MERGEOPS_CLUSTERS;
  if (e.MERGEOPS_ADMIN_USER && e.MERGEOPS_ADMIN_PASSWORD) {
    s.adminUser = e.MERGEOPS_ADMIN_USER;
    s.adminPassword = e.MERGEOPS_ADMIN_PASSWORD;
  }
  if (e.GHE_HOST) s.githubBaseUrl = `${e.GHE_PROTOCOL}://${e.GHE_HOST}/api/v3`;
  return s;
}
