import type { KubeObject } from '../objects.js';

export type HealthState = 'healthy' | 'progressing' | 'failed';

export interface Health {
  state: HealthState;
  reason: string;
  /**
   * The kind has no readiness (no controller reports on it, no Ready condition): healthy
   * the moment the API server holds it, so this verdict cannot change while it exists.
   */
  settled?: true;
}

interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

const num = (v: unknown, fallback = 0): number => (typeof v === 'number' ? v : fallback);

/**
 * Whether the object has no readiness to wait for (assessHealth calls it settled), so the
 * server's answer to its apply settles its health (ConfigMaps, Secrets, RBAC, Services…).
 */
export function readinessFree(o: KubeObject): boolean {
  return assessHealth(o).settled === true;
}

/**
 * Health of one live object, by kind, the way kubectl rollout status and Flux judge it.
 * Kinds without a notion of readiness are healthy once applied.
 */
export function assessHealth(o: KubeObject): Health {
  const status = (o['status'] ?? {}) as Record<string, unknown>;
  const spec = (o['spec'] ?? {}) as Record<string, unknown>;
  const generation = num(o.metadata['generation'], 0);
  const observed = num(status['observedGeneration'], -1);
  const conditions = (Array.isArray(status['conditions']) ? status['conditions'] : []) as Condition[];
  const cond = (type: string): Condition | undefined => conditions.find((c) => c.type === type);
  const stale = (): Health | null => (observed < generation ? { state: 'progressing', reason: `controller has not observed generation ${generation} yet` } : null);

  switch (o.kind) {
    case 'Deployment': {
      const s = stale();
      if (s) return s;
      const progressing = cond('Progressing');
      if (progressing?.status === 'False' && progressing.reason === 'ProgressDeadlineExceeded') {
        return { state: 'failed', reason: progressing.message ?? 'progress deadline exceeded' };
      }
      const want = num(spec['replicas'], 1);
      const updated = num(status['updatedReplicas']);
      const available = num(status['availableReplicas']);
      if (updated < want) return { state: 'progressing', reason: `${updated} of ${want} replicas updated` };
      if (available < want) return { state: 'progressing', reason: `${available} of ${want} replicas available` };
      if (num(status['replicas']) > updated) return { state: 'progressing', reason: 'old replicas are still terminating' };
      return { state: 'healthy', reason: `${available} of ${want} replicas available` };
    }
    case 'StatefulSet': {
      const s = stale();
      if (s) return s;
      const want = num(spec['replicas'], 1);
      const ready = num(status['readyReplicas']);
      const updated = num(status['updatedReplicas']);
      if (updated < want || ready < want) return { state: 'progressing', reason: `${ready} of ${want} replicas ready, ${updated} updated` };
      return { state: 'healthy', reason: `${ready} of ${want} replicas ready` };
    }
    case 'DaemonSet': {
      const s = stale();
      if (s) return s;
      const want = num(status['desiredNumberScheduled']);
      const updated = num(status['updatedNumberScheduled']);
      const available = num(status['numberAvailable']);
      if (updated < want || available < want) return { state: 'progressing', reason: `${available} of ${want} pods available, ${updated} updated` };
      return { state: 'healthy', reason: `${available} of ${want} pods available` };
    }
    case 'Job': {
      const failed = cond('Failed');
      if (failed?.status === 'True') return { state: 'failed', reason: failed.message ?? failed.reason ?? 'job failed' };
      if (cond('Complete')?.status === 'True') return { state: 'healthy', reason: 'job complete' };
      return { state: 'progressing', reason: 'job not complete yet' };
    }
    case 'CustomResourceDefinition': {
      return cond('Established')?.status === 'True' ? { state: 'healthy', reason: 'established' } : { state: 'progressing', reason: 'not established yet' };
    }
    default: {
      const ready = cond('Ready');
      if (!ready) return { state: 'healthy', reason: 'applied', settled: true };
      if (ready.status === 'True') return { state: 'healthy', reason: 'ready' };
      return { state: 'progressing', reason: ready.message ?? ready.reason ?? 'not ready' };
    }
  }
}
