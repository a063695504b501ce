import type { Logger } from 'pino';
import type { App } from '../config/repo-config.js';
import { managedFields, unionFieldSets, type ManagedFieldsEntry } from '../managed-fields.js';
import { isUnchanged, objectRef, type KubeObject, type PlannedObject, type RenderedObject, type ResourceInfo } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import type { AppLease } from './app-lease.js';
import { KubeApiError } from './client.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { assessHealth, readinessFree } from './health.js';
import { LEGACY_FIELD_MANAGER, ownershipOf, type InventoryKey } from './inventory.js';
import { grantsFingerprint, inventoryName, inventoryNamespace, writeInventory, type InventoryRecord } from './inventory-store.js';
import { conflictHint, forbiddenMessage, getOrNull, planApp, sendApply, type ApplyRequest, type ClusterPlan, type ObjectError, type ObjectWarning, type PlanOptions, type RepoDiscovery } from './plan.js';
import { UserError, isTransient } from '../errors.js';
import { releasedByApp, type OwnerConfigs } from './ownership.js';

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
const CRD_ESTABLISH_TIMEOUT_MS = 60_000;
const DELETE_TIMEOUT_MS = 120_000;

/**
 * Flux-style server-side apply: dry-run everything first — the very requests the preview
 * sent — so nothing is written when any object is invalid, outside the grant or not this
 * app's; then write only objects that would change — CRDs and Namespaces first, waiting
 * for CRDs to be established — and prune what Git no longer has only after every write
 * succeeded.
 */
export async function applyApp(cluster: Cluster, app: App, rendered: RenderedObject[], key: InventoryKey, opts: ApplyOptions): Promise<ApplyResult> {
  const staged = await applyStaged(cluster, app, rendered, key, opts);
  await staged.record(true);
  return staged.result;
}

/** An apply whose inventory record waits for its health verdict. */
export interface StagedApply {
  result: ApplyResult;
  /**
   * Writes the app's inventory (see record()): the render's hash only when `healthy`, so a
   * render whose health wait failed is applied again by the next deploy, never skipped as
   * unchanged.
   */
  record(healthy: boolean): Promise<void>;
}

/**
 * applyApp without its last step: the caller waits for health, then records. Before the
 * first write the inventory gets a pending record (what it held ∪ everything this apply
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
  const plan = await planApp(cluster, app, rendered, key, planOpts);
  result.warnings = plan.warnings;
  result.orphans = plan.orphans.map(objectRef);
  if (plan.errors.length) {
    result.errors = plan.errors;
    return { result, record: async () => undefined };
  }
  const changed: PlannedObject[] = [];
  // The freshest state of each object: the live one for an object left as it is, then the
  // server's answer to each apply.
  const latest = new Map<PlannedObject, KubeObject>();
  for (const p of plan.objects) {
    if (isUnchanged(p, plan.ours)) {
      result.unchanged.push(objectRef(p.desired));
      if (p.live) latest.set(p, p.live);
    } else changed.push(p);
  }
  opts.log.info({ app: app.name, changed: changed.length, unchanged: result.unchanged.length, orphans: plan.orphans.length, fieldManager: plan.request.fieldManager, force: plan.request.force }, 'applying');
  // The version of the inventory this apply read (or wrote): every write of it is conditional on it.
  let recorded = plan.inventory;
  if (changed.length > 0 || (opts.prune && plan.orphans.length > 0)) {
    const pending = pendingInventory(plan);
    if (pending) recorded = { ...pending, resourceVersion: await writeRecord(cluster, key, pending, result) };
    // Nothing is written that the record does not hold: a pending record refused is the end of this apply.
    if (result.errors.length) return { result, record: async () => undefined };
  }

  const first = changed.filter((p) => FIRST.has(p.desired.kind));
  const rest = changed.filter((p) => !FIRST.has(p.desired.kind));
  await applyAll(cluster, first, plan.request, opts, result, latest);
  const crds = first.filter((p) => p.desired.kind === 'CustomResourceDefinition');
  if (crds.length && result.errors.length === 0) await waitEstablished(cluster, crds, result);
  if (result.errors.length === 0) await applyAll(cluster, rest, plan.request, opts, result, latest);

  for (const p of plan.objects) {
    const resource = p.resource ?? (await cluster.discovery.resolve(p.desired.apiVersion, p.desired.kind));
    if (resource) {
      const o: AppliedObject = { ref: objectRef(p.desired), resource, name: p.desired.metadata.name ?? '' };
      if (p.desired.metadata.namespace) o.namespace = p.desired.metadata.namespace;
      const now = latest.get(p);
      if (now && readinessFree(now)) o.settled = true;
      result.objects.push(o);
    }
  }

  // A writer that lost the app's Lease (another took it, or it went unrenewed) stops here:
  // another deploy of the app may be running, and prune or the record would undo its work.
  await opts.lease?.confirm();
  await prune(cluster, app, key, plan, rendered, opts, result);
  return {
    result,
    record: async (healthy) => {
      await opts.lease?.confirm();
      await record(cluster, key, plan, recorded, opts, result, healthy);
    },
  };
}

/**
 * What the inventory holds while an apply writes: the refs it held and every object the
 * render has (all an attempt may create), no hash or commit (the cluster is between two
 * renders). Null when the record already says that, so steady-state deploys that only
 * change existing objects of an unhashed record write nothing extra.
 */
export function pendingInventory(plan: Pick<ClusterPlan, 'objects' | 'stale' | 'inventory' | 'unobserved'>): InventoryRecord | null {
  const old = plan.inventory;
  const objects = new Set([...(old?.objects ?? []), ...plan.objects.map((p) => objectRef(p.desired))]);
  const retained = new Set([...(old?.retained ?? []), ...plan.stale.map(objectRef), ...plan.unobserved].filter((r) => !objects.has(r)));
  const next: InventoryRecord = { objects: [...objects].sort(), retained: [...retained].sort(), deployedAt: new Date().toISOString() };
  if (old?.resourceVersion !== undefined) next.resourceVersion = old.resourceVersion;
  if (old && old.desiredHash === undefined && old.commit === undefined && sameRefs(old, next)) return null;
  return next;
}

/** Tries to delete an orphan this many times when it keeps changing under the prune. */
const PRUNE_ATTEMPTS = 3;

/**
 * Deletes an orphan only as it was last seen (uid and resourceVersion preconditions): one
 * that changed since — another app may have taken it over between the plan's list and this
 * delete — is read again and deleted only while it is still this app's and not released.
 * What happened: deleted, gone already, or kept and why.
 */
export async function deleteOrphan(cluster: Cluster, path: string, seen: KubeObject, app: App, key: InventoryKey): Promise<'deleted' | 'gone' | { kept: string }> {
  let current = seen;
  for (let attempt = 1; attempt <= PRUNE_ATTEMPTS; attempt++) {
    const preconditions = { uid: current.metadata['uid'], resourceVersion: current.metadata['resourceVersion'] };
    try {
      await cluster.client.request('DELETE', path, { query: { propagationPolicy: 'Background' }, body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions } });
      return 'deleted';
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return 'gone';
      if (!(err instanceof KubeApiError) || err.status !== 409) throw err;
    }
    const now = await getOrNull(cluster, path);
    if (now === null) return 'gone';
    const owner = ownershipOf(now, key);
    if (owner.owner === 'other') return { kept: `it now belongs to app "${owner.app}" of ${owner.repo}` };
    if (owner.owner === 'nobody') return { kept: "it no longer carries this app's marks" };
    const released = releasedByApp(now, app, key);
    if (released) return { kept: released };
    current = now;
  }
  return { kept: `it kept changing while being pruned (${PRUNE_ATTEMPTS} attempts); the next deploy tries again` };
}

async function prune(cluster: Cluster, app: App, key: InventoryKey, plan: ClusterPlan, rendered: RenderedObject[], opts: ApplyOptions, result: ApplyResult): Promise<void> {
  if (!opts.prune || plan.orphans.length === 0) return;
  if (result.errors.length) {
    result.pruneSkipped = 'some objects failed to apply, so nothing was pruned';
    return;
  }
  if (rendered.length === 0 && !opts.pruneEmpty) {
    result.pruneSkipped = `the render is empty; refusing to prune all ${plan.orphans.length} objects (set pruneEmpty: true on the app to allow it)`;
    return;
  }
  // Namespaced objects first, Namespaces last: deleting a Namespace takes its contents.
  const order = (o: KubeObject): number => (o.kind === 'Namespace' ? 2 : o.kind === 'CustomResourceDefinition' ? 1 : 0);
  for (const group of [0, 1, 2]) {
    await mapLimit(plan.orphans.filter((o) => order(o) === group), opts.concurrency, async (o) => {
      const resource = await cluster.discovery.resolve(o.apiVersion, o.kind);
      if (!resource) return;
      try {
        const done = await deleteOrphan(cluster, resourcePath(resource, o.metadata.namespace, o.metadata.name), o, app, key);
        if (done === 'deleted') result.pruned.push(objectRef(o));
        else if (done !== 'gone') result.warnings.push({ ref: objectRef(o), message: `not pruned although Git no longer has it: ${done.kept}`, from: 'mergeops' });
      } catch (err) {
        if (err instanceof KubeApiError) result.errors.push({ ref: objectRef(o), message: `prune failed: ${err.status === 403 ? forbiddenMessage(err, cluster) : err.message}` });
        else throw err;
      }
    });
  }
}

/**
 * Writes the app's inventory after the apply, prune and health wait (never in a dry run),
 * conditional on the version this apply read or wrote. After a deploy that succeeded and
 * became healthy it holds exactly the render's objects and those of the app's live objects
 * prune kept, with the render's hash and commit. After one that failed, or whose health
 * wait failed, it holds the old refs and everything this render may have created (so a
 * later prune still finds them) and no hash (so no later deploy is skipped as unchanged
 * over a half-applied or unhealthy state). Nothing written, nothing recorded.
 */
async function record(cluster: Cluster, key: InventoryKey, plan: ClusterPlan, recorded: InventoryRecord | null, opts: ApplyOptions, result: ApplyResult, healthy: boolean): Promise<void> {
  const ok = result.errors.length === 0 && !result.pruneSkipped;
  const wrote = result.created.length + result.configured.length + result.pruned.length > 0;
  if (!ok && !wrote) return;
  const next = nextInventory(plan, result, ok && healthy && opts.record ? { ...opts.record, grants: grantsFingerprint(cluster.target, key.repo) } : null);
  if (recorded && sameRefs(recorded, next) && recorded.desiredHash === next.desiredHash && recorded.grants === next.grants && recorded.commit === next.commit) return;
  if (recorded?.resourceVersion !== undefined) next.resourceVersion = recorded.resourceVersion;
  await writeRecord(cluster, key, next, result);
}

/** writeInventory, a refusal the operator must fix (no access) reported on the app; answers the new version. */
async function writeRecord(cluster: Cluster, key: InventoryKey, next: InventoryRecord, result: ApplyResult): Promise<string | undefined> {
  try {
    return await writeInventory(cluster, key, next);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    result.errors.push({ ref: `v1 ConfigMap ${inventoryNamespace(cluster)}/${inventoryName(key)}`, message: err.message });
    return next.resourceVersion;
  }
}

/** The inventory an apply leaves: see record(). `done` is what a deploy that succeeded records; null after a failure. */
export function nextInventory(plan: Pick<ClusterPlan, 'objects' | 'stale' | 'inventory' | 'unobserved'>, result: Pick<ApplyResult, 'pruned'>, done: { desiredHash: string; commit?: string; grants?: string } | null): InventoryRecord {
  const pruned = new Set(result.pruned);
  const objects = new Set(plan.objects.map((p) => objectRef(p.desired)));
  // What the plan could not look at stays recorded: a failed read never shrinks the record.
  const retained = new Set([...plan.stale.map(objectRef), ...plan.unobserved]);
  if (!done) {
    for (const r of plan.inventory?.objects ?? []) objects.add(r);
    for (const r of plan.inventory?.retained ?? []) retained.add(r);
  }
  const next: InventoryRecord = { objects: [...objects].filter((r) => !pruned.has(r)).sort(), retained: [...retained].filter((r) => !pruned.has(r) && !objects.has(r)).sort() };
  if (done) {
    next.desiredHash = done.desiredHash;
    if (done.commit) next.commit = done.commit;
    if (done.grants) next.grants = done.grants;
  }
  next.deployedAt = new Date().toISOString();
  return next;
}

function sameRefs(a: InventoryRecord, b: InventoryRecord): boolean {
  return a.objects.join('\n') === b.objects.join('\n') && a.retained.join('\n') === b.retained.join('\n');
}

async function applyAll(cluster: Cluster, objects: PlannedObject[], request: ApplyRequest, opts: ApplyOptions, result: ApplyResult, latest: Map<PlannedObject, KubeObject>): Promise<void> {
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
      latest.set(p, (await sendApply(cluster, p, request, false)).body);
      if (p.replace) result.replaced.push(ref);
      (p.live ? result.configured : result.created).push(ref);
    } catch (err) {
      // A 5xx or 429 the client's retries did not outlast, or no answer at all: ours, retried.
      if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
      result.errors.push({ ref, message: `${err.message}${conflictHint(err, request)}`, source: p.source });
    }
  });
}

/** A delete returns before finalizers ran; the create must wait until the name is free. */
async function waitDeleted(cluster: Cluster, path: string, ref: string): Promise<void> {
  const deadline = Date.now() + DELETE_TIMEOUT_MS;
  while ((await getOrNull(cluster, path)) !== null) {
    if (Date.now() > deadline) throw new KubeApiError(504, 'Timeout', `${ref} was deleted for recreation but is still there after ${DELETE_TIMEOUT_MS / 1000} s (a finalizer may be holding it); it was not created again`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Hands the fields of the old shared `mergeops` manager to the app's own manager, as
 * Flux's ssa field-manager migration does: one managedFields entry for the app, holding
 * the union of both. Without it the old manager would keep co-owning every field, and a
 * field later dropped from Git would never be removed. Guarded by resourceVersion, so a
 * concurrent writer makes it re-read, not overwrite.
 */
export async function migrateFieldManager(cluster: Cluster, path: string, manager: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const live = await getOrNull(cluster, path);
    if (!live) return;
    const entries = managedFields(live);
    const patched = migratedEntries(entries, manager);
    if (!patched) return;
    try {
      await cluster.client.request('PATCH', path, {
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: live.metadata['resourceVersion'] },
          { op: 'replace', path: '/metadata/managedFields', value: patched },
        ],
        contentType: 'application/json-patch+json',
      });
      return;
    } catch (err) {
      // A failed test op (someone wrote meanwhile) answers 422 or 409: read again.
      if (!(err instanceof KubeApiError) || ![409, 422].includes(err.status) || attempt >= 3) throw err;
    }
  }
}

/** The entries with every legacy Apply entry folded into the app's own; null when there is none. */
export function migratedEntries(entries: ManagedFieldsEntry[], manager: string): ManagedFieldsEntry[] | null {
  const isLegacy = (e: ManagedFieldsEntry): boolean => e.manager === LEGACY_FIELD_MANAGER && e.operation === 'Apply' && !e.subresource;
  const legacy = entries.filter(isLegacy);
  if (legacy.length === 0) return null;
  const own = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  const base = own ?? legacy[0] as ManagedFieldsEntry;
  const merged: ManagedFieldsEntry = { ...base, manager, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: unionFieldSets(own?.fieldsV1, ...legacy.map((e) => e.fieldsV1)) };
  return [...entries.filter((e) => !isLegacy(e) && e !== own), merged];
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
