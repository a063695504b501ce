import type { Logger } from 'pino';
import { objectRef, type PlannedObject } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import type { AppliedObject, ApplyResult } from './apply.js';
import { KubeApiError } from './client.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { assessHealth } from './health.js';
import { getOrNull } from './live.js';

/*
 * The wait verb (fluxcd/pkg/ssa's manager_wait): for a deleted object's name to be free, for
 * CRDs to be established, and for an app's objects to become healthy.
 */

const CRD_ESTABLISH_TIMEOUT_MS = 60_000;
const DELETE_TIMEOUT_MS = 120_000;

/** A delete returns before finalizers ran; the create must wait until the name is free. */
export async function waitDeleted(cluster: Cluster, path: string, ref: string): Promise<void> {
  const deadline = Date.now() + DELETE_TIMEOUT_MS;
  while ((await getOrNull(cluster, path)) !== null) {
    if (Date.now() > deadline) throw new KubeApiError(504, 'Timeout', `${ref} was deleted for recreation but is still there after ${DELETE_TIMEOUT_MS / 1000} s (a finalizer may be holding it); it was not created again`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export async function waitEstablished(cluster: Cluster, crds: PlannedObject[], result: ApplyResult): Promise<void> {
  const deadline = Date.now() + CRD_ESTABLISH_TIMEOUT_MS;
  for (const p of crds) {
    const path = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(p.desired.metadata.name ?? '')}`;
    for (;;) {
      const live = await getOrNull(cluster, path);
      if (live && assessHealth(live).state === 'healthy') break;
      if (Date.now() > deadline) {
        result.errors.push({ ref: objectRef(p.desired), message: 'CustomResourceDefinition was not established within 60 s', source: p.source });
        return;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

export interface HealthReport {
  healthy: boolean;
  /** Objects that did not become healthy, with the last reason seen. */
  unhealthy: { ref: string; reason: string }[];
}

/**
 * Polls every applied object until all are healthy, one has failed, or time runs out.
 * Objects the apply already settled are not read: an app of ConfigMaps waits for nothing.
 */
export async function waitHealthy(cluster: Cluster, all: AppliedObject[], timeoutMs: number, log: Logger, pollMs = 1000): Promise<HealthReport> {
  const objects = all.filter((o) => !o.settled);
  if (objects.length === 0) return { healthy: true, unhealthy: [] };
  const deadline = Date.now() + timeoutMs;
  let lastLog = 0;
  for (;;) {
    const states = await mapLimit(objects, CLUSTER_CONCURRENCY, async (o) => {
      const live = await getOrNull(cluster, resourcePath(o.resource, o.namespace, o.name));
      return { ref: o.ref, health: live ? assessHealth(live) : { state: 'failed' as const, reason: 'object disappeared' } };
    });
    const failed = states.filter((s) => s.health.state === 'failed');
    const waiting = states.filter((s) => s.health.state === 'progressing');
    if (failed.length) return { healthy: false, unhealthy: failed.map((s) => ({ ref: s.ref, reason: s.health.reason })) };
    if (waiting.length === 0) return { healthy: true, unhealthy: [] };
    if (Date.now() >= deadline) {
      return { healthy: false, unhealthy: waiting.map((s) => ({ ref: s.ref, reason: `not healthy after ${Math.round(timeoutMs / 1000)} s: ${s.health.reason}` })) };
    }
    if (Date.now() - lastLog > 10_000) {
      log.info({ waiting: waiting.length, of: all.length, first: waiting[0]?.ref, reason: waiting[0]?.health.reason }, 'waiting for health');
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
