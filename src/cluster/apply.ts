import type { Logger } from 'pino';
import type { App } from '../config/repo-config.js';
import { isUnchanged, objectRef, type PlannedObject, type RenderedObject, type ResourceInfo } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import type { AppLease } from './app-lease.js';
import { pendingInventory, recordApply, writeRecord } from './apply-record.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { migrateFieldManager } from './field-managers.js';
import { readinessFree } from './health.js';
import type { InventoryKey } from './inventory.js';
import type { InventoryRecord } from './inventory-store.js';
import { conflictHint, planApp, sendApply, type ApplyRequest, type ClusterPlan, type ObjectError, type ObjectWarning, type PlanOptions } from './plan.js';
import type { RepoDiscovery } from './live.js';
import { pruneOrphans } from './prune.js';
import { waitDeleted, waitEstablished } from './wait.js';
import { isTransient } from '../errors.js';
import type { OwnerConfigs } from './ownership.js';

export interface ApplyOptions {
  /** Overrides the app's `conflicts:`; self-heal takes back what a hand edit took over. */
  force?: boolean;
  prune: boolean;
  /** Allow pruning everything when the render is empty (a deliberate teardown). */
  pruneEmpty: boolean;
  concurrency: number;
  log: Logger;
  /** What the inventory records of a deploy that succeeded: the render's desiredHash and the commit. */
  record?: { desiredHash: string; commit?: string };
  /** The app's inventory when the caller already read it (null: none yet). */
  inventory?: InventoryRecord | null;
  /** Label discovery shared with the other apps of the repository in this job. */
  discovery?: RepoDiscovery;
  /** The app's Lease, confirmed before prune and before the inventory write (engine-held). */
  lease?: Pick<AppLease, 'confirm'>;
  /** Reads another mergeops app's repository config, for its `release:`. */
  owners?: OwnerConfigs;
  /**
   * Plan now, write once this resolves true: the dry-run of a later environment runs while
   * the environments before it apply. False ends the apply with nothing written (`cancelled`).
   */
  ready?: Promise<boolean>;
}

export interface ApplyResult {
  created: string[];
  configured: string[];
  unchanged: string[];
  pruned: string[];
  /** Deleted and created again for an immutable-field change (also counted as configured). */
  replaced: string[];
  /** Live objects of this app the render no longer has: what prune deletes (or would have). */
  orphans?: string[];
  errors: ObjectError[];
  /** The dry-run's warnings and the prunes refused: the same the preview showed. */
  warnings: ObjectWarning[];
  /** Why prune did not run, when it was wanted. */
  pruneSkipped?: string;
  /** Every object the render has, as applied: what the health wait watches. */
  objects: AppliedObject[];
}

export interface AppliedObject {
  ref: string;
  resource: ResourceInfo;
  namespace?: string;
  name: string;
  /**
   * Healthy already: the API server's answer to its apply (or the live object, unchanged)
   * shows a kind with no readiness to wait for, so the health wait does not read it again.
   */
  settled?: true;
}

const FIRST = new Set(['CustomResourceDefinition', 'Namespace']);

/** How long a dry-run plan made ahead of its gate (`ready`) is used as it is; older, it is made again. */
const PLAN_FRESH_MS = 5000;

/** An apply whose inventory record waits for its health verdict. */
export interface StagedApply {
  result: ApplyResult;
  /** `ready` resolved false: planned, nothing written. */
  cancelled?: true;
  /**
   * Writes the app's inventory (see record()): the render's hash only when `healthy`, so a
   * render whose health wait failed is applied again by the next deploy, never skipped as
   * unchanged.
   */
  record(healthy: boolean): Promise<void>;
}

/**
 * Flux-style server-side apply: dry-run everything first — the very requests the preview
 * sent — so nothing is written when any object is invalid, outside the grant or not this
 * app's; then write only objects that would change — CRDs and Namespaces first, waiting
 * for CRDs to be established — and prune what Git no longer has only after every write
 * succeeded. The caller (the engine, under the app's Lease) waits for health, then
 * records. Before the first write the inventory gets a pending record (what it held ∪ everything this apply
 * may create, no hash), so an attempt killed midway leaves every object it created
 * recorded and its retry prunes what Git does not have.
 */
export async function applyStaged(cluster: Cluster, app: App, rendered: RenderedObject[], key: InventoryKey, opts: ApplyOptions): Promise<StagedApply> {
  const result: ApplyResult = { created: [], configured: [], unchanged: [], pruned: [], replaced: [], orphans: [], errors: [], warnings: [], objects: [] };
  const planOpts: PlanOptions = { concurrency: opts.concurrency, orphans: true };
  if (opts.force !== undefined) planOpts.force = opts.force;
  if (opts.inventory !== undefined) planOpts.inventory = opts.inventory;
  if (opts.discovery) planOpts.discovery = opts.discovery;
  if (opts.owners) planOpts.owners = opts.owners;
  let plan = await planApp(cluster, app, rendered, key, planOpts);
  let sorted = sortPlanned(plan);
  // The version of the inventory this apply read (or wrote): every write of it is conditional on it.
  let recorded = plan.inventory;
  /** The pending record; false when it was refused (nothing is written that the record does not hold). */
  const writePending = async (): Promise<boolean> => {
    if (plan.errors.length || !(sorted.changed.length > 0 || (opts.prune && plan.orphans.length > 0))) return true;
    const pending = pendingInventory(plan);
    if (pending) recorded = { ...pending, resourceVersion: await writeRecord(cluster, key, pending, result) };
    return result.errors.length === 0;
  };
  // Planned ahead of its gate, its pending record is written ahead too: mergeops' own
  // bookkeeping (no object of the app is written before the gate opens), one round trip
  // fewer once it does. A gate that stays shut leaves it: no hash, so the next deploy of
  // the app is applied rather than skipped as unchanged.
  let pendingWritten = await writePending();
  if (opts.ready) {
    const plannedAt = Date.now();
    if (!(await opts.ready)) return { result, cancelled: true, record: async () => undefined };
    // Planned while the environments before it applied and waited for health: a plan older
    // than this may have missed a hand edit since (read under the Lease, the inventory is still ours).
    if (Date.now() - plannedAt > PLAN_FRESH_MS) {
      plan = await planApp(cluster, app, rendered, key, planOpts);
      sorted = sortPlanned(plan);
      recorded = plan.inventory;
      pendingWritten = await writePending();
    }
  }
  result.warnings = plan.warnings;
  result.orphans = plan.orphans.map(objectRef);
  if (plan.errors.length) {
    result.errors = plan.errors;
    return { result, record: async () => undefined };
  }
  if (!pendingWritten) return { result, record: async () => undefined };
  const { changed, settled } = sorted;
  result.unchanged = sorted.unchanged;
  opts.log.info({ app: app.name, changed: changed.length, unchanged: result.unchanged.length, orphans: plan.orphans.length, fieldManager: plan.request.fieldManager, force: plan.request.force }, 'applying');

  const first = changed.filter((p) => FIRST.has(p.desired.kind));
  const rest = changed.filter((p) => !FIRST.has(p.desired.kind));
  await applyAll(cluster, first, plan.request, opts, result, settled);
  const crds = first.filter((p) => p.desired.kind === 'CustomResourceDefinition');
  if (crds.length && result.errors.length === 0) await waitEstablished(cluster, crds, result);
  if (result.errors.length === 0) await applyAll(cluster, rest, plan.request, opts, result, settled);

  for (const p of plan.objects) {
    const resource = p.resource ?? (await cluster.discovery.resolve(p.desired.apiVersion, p.desired.kind));
    if (resource) {
      const o: AppliedObject = { ref: objectRef(p.desired), resource, name: p.desired.metadata.name ?? '' };
      if (p.desired.metadata.namespace) o.namespace = p.desired.metadata.namespace;
      if (settled.has(p)) o.settled = true;
      result.objects.push(o);
    }
  }

  // A writer that lost the app's Lease (another took it, or it went unrenewed) stops here:
  // another deploy of the app may be running, and prune would undo its work (the record
  // confirms on its own). Nothing to prune, nothing to confirm: one round trip fewer.
  if (opts.prune && plan.orphans.length > 0 && result.errors.length === 0) await opts.lease?.confirm();
  await pruneOrphans(cluster, app, key, plan, rendered, opts, result);
  return {
    result,
    record: async (healthy) => {
      await opts.lease?.confirm();
      await recordApply(cluster, key, plan, recorded, opts, result, healthy);
    },
  };
}

/**
 * The plan's objects that would change, and those healthy already (a kind with no readiness,
 * as the live object shows). Then what the writes no longer need is let go — the dry-run's
 * answers, the live state of objects left as they are — which for a big app would otherwise
 * stay in memory through its writes (and, planned ahead of its gate, through the
 * environments before it).
 */
function sortPlanned(plan: ClusterPlan): { changed: PlannedObject[]; unchanged: string[]; settled: Set<PlannedObject> } {
  const changed: PlannedObject[] = [];
  const unchanged: string[] = [];
  const settled = new Set<PlannedObject>();
  for (const p of plan.objects) {
    if (isUnchanged(p, plan.ours)) {
      unchanged.push(objectRef(p.desired));
      p.version = p.live?.metadata['resourceVersion'] as string | undefined;
      if (p.live && readinessFree(p.live)) settled.add(p);
      p.live = null;
    } else changed.push(p);
    p.merged = null;
  }
  return { changed, unchanged, settled };
}

async function applyAll(cluster: Cluster, objects: PlannedObject[], request: ApplyRequest, opts: ApplyOptions, result: ApplyResult, settled: Set<PlannedObject>): Promise<void> {
  await mapLimit(objects, opts.concurrency, async (p) => {
    const ref = objectRef(p.desired);
    const resource = p.resource ?? (await cluster.discovery.resolve(p.desired.apiVersion, p.desired.kind));
    if (!resource) {
      result.errors.push({ ref, message: `the cluster has no kind ${p.desired.kind} in ${p.desired.apiVersion} even after its CRD was applied`, source: p.source });
      return;
    }
    p.resource = resource;
    if (resource.namespaced) p.desired.metadata.namespace ??= 'default';
    const path = resourcePath(resource, p.desired.metadata.namespace, p.desired.metadata.name);
    try {
      if (p.migrate) await migrateFieldManager(cluster, path, request.fieldManager);
      if (p.replace) {
        await cluster.client.request('DELETE', path, { query: { propagationPolicy: 'Background' } });
        await waitDeleted(cluster, path, ref);
        opts.log.info({ ref }, 'deleted for recreation (immutable field changed)');
      }
      const applied = (await sendApply(cluster, p, request, false)).body;
      p.version = applied.metadata['resourceVersion'] as string | undefined;
      if (readinessFree(applied)) settled.add(p);
      if (p.replace) result.replaced.push(ref);
      (p.live ? result.configured : result.created).push(ref);
    } catch (err) {
      // A 5xx or 429 the client's retries did not outlast, or no answer at all: ours, retried.
      if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
      result.errors.push({ ref, message: `${err.message}${conflictHint(err, request)}`, source: p.source });
    }
  });
}
