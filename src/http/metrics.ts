import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; every web and worker replica exposes its own /metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'mergeops_' });

export const driftDetected = new Counter({
  name: 'mergeops_drift_detected_total',
  help: 'Objects found differing from their last deployed commit by the drift watch',
  labelNames: ['app', 'cluster', 'healed'] as const,
  registers: [registry],
});

export const webhooksReceived = new Counter({
  name: 'mergeops_webhooks_received_total',
  help: 'GitHub webhook deliveries by event and outcome',
  labelNames: ['event', 'outcome'] as const,
  registers: [registry],
});
