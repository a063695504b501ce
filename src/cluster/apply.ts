import type { Logger } from 'pino';
import type { App } from '../config/repo-config.js';
import { isUnchanged, objectRef, type KubeObject, type PlannedObject, type RenderedObject, type ResourceInfo } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import { objectVerdict } from '../errors.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { assessHealth } from './health.js';
import type { InventoryKey } from './inventory.js';
import { FIELD_MANAGER, conflictHint, getOrNull, planApp, type ObjectError } from './plan.js';

export interface ApplyOptions {
  force: boolean;
  prune: boolean;
  /** Allow pruning everything when the render is empty (a deliberate teardown). */
  pruneEmpty: boolean;
  concurrency: number;
  log: Logger;
}

export interface ApplyResult {
  created: string[];
  configured: string[];
  unchanged: string[];
  pruned: string[];
  /** Live objects of this app the render no longer has: what prune deletes (or would have). */
  orphans: string[];
  errors: ObjectError[];
  /** Why prune did not run, when it was wanted. */
  pruneSkipped?: string;
  /** Every object the render has, as applied: what the health wait watches. */
  objects: { ref: string; resource: ResourceInfo; namespace?: string; name: string }[];
}

const FIRST = new Set(['CustomResourceDefinition', 'Namespace']);
const CRD_ESTABLISH_TIMEOUT_MS = 60_000;

/**
 * Flux-style server-side apply: dry-run everything first (so nothing is written when
 * any object is invalid or outside the grant), then write only objects that would
 * change — CRDs and Namespaces first, waiting for CRDs to be established — and prune
 * what Git no longer has only after every write succeeded.
 */
export async function applyApp(cluster: Cluster, app: App, rendered: RenderedObject[], key: InventoryKey, opts: ApplyOptions): Promise<ApplyResult> {
  const result: ApplyResult = { created: [], configured: [], unchanged: [], pruned: [], orphans: [], errors: [], objects: [] };
  const plan = await planApp(cluster, app, rendered, key, { concurrency: opts.concurrency, orphans: true, force: opts.force });
  result.orphans = plan.orphans.map(objectRef);
  if (plan.errors.length) {
    result.errors = plan.errors;
    return result;
  }
  const changed: PlannedObject[] = [];
  for (const p of plan.objects) {
    if (isUnchanged(p)) result.unchanged.push(objectRef(p.desired));
    else changed.push(p);
  }
  opts.log.info({ app: app.name, changed: changed.length, unchanged: result.unchanged.length, orphans: plan.orphans.length }, 'applying');

  const first = changed.filter((p) => FIRST.has(p.desired.kind));
  const rest = changed.filter((p) => !FIRST.has(p.desired.kind));
  await applyAll(cluster, first, opts, result);
  const crds = first.filter((p) => p.desired.kind === 'CustomResourceDefinition');
  if (crds.length && result.errors.length === 0) await waitEstablished(cluster, crds, result);
  if (result.errors.length === 0) await applyAll(cluster, rest, opts, result);

  for (const p of plan.objects) {
    const resource = p.resource ?? (await cluster.discovery.resolve(p.desired.apiVersion, p.desired.kind));
    if (resource) {
      const o: ApplyResult['objects'][number] = { ref: objectRef(p.desired), resource, name: p.desired.metadata.name ?? '' };
      if (p.desired.metadata.namespace) o.namespace = p.desired.metadata.namespace;
      result.objects.push(o);
    }
  }

  if (!opts.prune || plan.orphans.length === 0) return result;
  if (result.errors.length) {
    result.pruneSkipped = 'some objects failed to apply, so nothing was pruned';
    return result;
  }
  if (rendered.length === 0 && !opts.pruneEmpty) {
    result.pruneSkipped = `the render is empty; refusing to prune all ${plan.orphans.length} objects (set pruneEmpty: true on the app to allow it)`;
    return result;
  }
  // Namespaced objects first, Namespaces last: deleting a Namespace takes its contents.
  const order = (o: KubeObject): number => (o.kind === 'Namespace' ? 2 : o.kind === 'CustomResourceDefinition' ? 1 : 0);
  for (const group of [0, 1, 2]) {
    await mapLimit(plan.orphans.filter((o) => order(o) === group), opts.concurrency, async (o) => {
      const resource = await cluster.discovery.resolve(o.apiVersion, o.kind);
      if (!resource) return;
      try {
        await cluster.client.request('DELETE', resourcePath(resource, o.metadata.namespace, o.metadata.name), { query: { propagationPolicy: 'Background' } });
        result.pruned.push(objectRef(o));
      } catch (caught) {
        const err = objectVerdict(caught);
        if (err.status !== 404) result.errors.push({ ref: objectRef(o), message: `prune failed: ${err.message}` });
      }
    });
  }
  return result;
}

async function applyAll(cluster: Cluster, objects: PlannedObject[], opts: ApplyOptions, result: ApplyResult): Promise<void> {
  await mapLimit(objects, opts.concurrency, async (p) => {
    const ref = objectRef(p.desired);
    const resource = p.resource ?? (await cluster.discovery.resolve(p.desired.apiVersion, p.desired.kind));
    if (!resource) {
      result.errors.push({ ref, message: `the cluster has no kind ${p.desired.kind} in ${p.desired.apiVersion} even after its CRD was applied`, source: p.source });
      return;
    }
    if (resource.namespaced) p.desired.metadata.namespace ??= 'default';
    try {
      await cluster.client.request('PATCH', resourcePath(resource, p.desired.metadata.namespace, p.desired.metadata.name), {
        body: p.desired,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: FIELD_MANAGER, force: String(opts.force) },
      });
      (p.live ? result.configured : result.created).push(ref);
    } catch (caught) {
      const err = objectVerdict(caught);
      result.errors.push({ ref, message: `${err.message}${conflictHint(err)}`, source: p.source });
    }
  });
}

async function waitEstablished(cluster: Cluster, crds: PlannedObject[], result: ApplyResult): Promise<void> {
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

/** Polls every applied object until all are healthy, one has failed, or time runs out. */
export async function waitHealthy(cluster: Cluster, objects: ApplyResult['objects'], timeoutMs: number, log: Logger, pollMs = 1000): Promise<HealthReport> {
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
      log.info({ waiting: waiting.length, of: objects.length, first: waiting[0]?.ref, reason: waiting[0]?.health.reason }, 'waiting for health');
      lastLog = Date.now();
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
