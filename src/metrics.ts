import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every web and worker replica exposes its own /metrics. */
export const registry = new Registry();

/**
 * A label fed by input that is signed but not bounded — app names from any installed
 * repository's config, installation ids of an App anyone may install — takes its values
 * from a list of fixed size: the first `size` distinct values keep their name, every later
 * one is `other`. So no amount of repositories, apps or installations grows /metrics
 * without bound. (Webhook event names, which anyone can send, come from GitHub's own list.)
 */
export class LabelValues {
  private readonly kept = new Set<string>();

  constructor(private readonly size: number) {}

  of(value: string): string {
    if (this.kept.has(value)) return value;
    if (this.kept.size >= this.size) return 'other';
    this.kept.add(value);
    return value;
  }
}

/** App names as label values (apply results, drift). */
export const appLabel = new LabelValues(500);
/** Installation ids as label values (rate limit). */
export const installationLabel = new LabelValues(200);
collectDefaultMetrics({ register: registry, prefix: 'mergeops_' });

export const webhooksReceived = new Counter({
  name: 'mergeops_webhooks_received_total',
  help: 'GitHub webhook deliveries by event and outcome',
  labelNames: ['event', 'outcome'] as const,
  registers: [registry],
});

export const jobsTotal = new Counter({
  name: 'mergeops_jobs_total',
  help: 'Jobs finished, by queue and outcome',
  labelNames: ['queue', 'outcome'] as const,
  registers: [registry],
});

export const stageSeconds = new Histogram({
  name: 'mergeops_stage_duration_seconds',
  help: 'Time spent per pipeline stage',
  labelNames: ['flow', 'stage'] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
  registers: [registry],
});

export const applyResults = new Counter({
  name: 'mergeops_apply_objects_total',
  help: 'Objects handled by deploys, by result',
  labelNames: ['app', 'result'] as const,
  registers: [registry],
});

export const driftDetected = new Counter({
  name: 'mergeops_drift_detected_total',
  help: 'Objects found differing from their last deployed commit by the drift watch',
  labelNames: ['app', 'cluster', 'healed'] as const,
  registers: [registry],
});

export const githubRateLimitRemaining = new Gauge({
  name: 'mergeops_github_rate_limit_remaining',
  help: 'x-ratelimit-remaining of the last GitHub API answer, per installation',
  labelNames: ['installation'] as const,
  registers: [registry],
});

export const queueDepth = new Gauge({
  name: 'mergeops_queue_jobs',
  help: 'Jobs in each queue by state, read from Redis at scrape time',
  labelNames: ['queue', 'state'] as const,
  registers: [registry],
});

/**
 * Times one stage into the histogram and, when given, into the job's own timings (ms)
 * for its log line; returns the stage's result.
 */
export async function timed<T>(flow: string, stage: string, fn: () => Promise<T>, into?: Record<string, number>): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    const ms = performance.now() - started;
    stageSeconds.observe({ flow, stage }, ms / 1000);
    if (into) into[stage] = Math.round((into[stage] ?? 0) + ms);
  }
}

export const notificationsSent = new Counter({
  name: 'mergeops_notifications_total',
  help: 'Notification deliveries by receiver (operator-configured names), event and outcome (sent, retried, dropped).',
  labelNames: ['receiver', 'event', 'outcome'] as const,
  registers: [registry],
});

/**
 * Running preview environments and how old each is, as the last sweep of this process saw
 * them on the clusters (labels are bounded by the operator's caps per cluster).
 */
export const previewEnvironments = new Gauge({
  name: 'mergeops_preview_environment_age_seconds',
  help: 'Age of each running preview environment (seconds since it was created), per cluster, namespace, repository, pull request and app',
  labelNames: ['cluster', 'namespace', 'repo', 'pr', 'app'] as const,
  registers: [registry],
});
