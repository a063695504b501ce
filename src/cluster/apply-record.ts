import { isDeepStrictEqual } from 'node:util';
import { objectRef } from '../objects.js';
import { UserError } from '../errors.js';
import type { ApplyOptions, ApplyResult } from './apply.js';
import type { Cluster } from './connect.js';
import type { InventoryKey } from './inventory.js';
import { grantsFingerprint, inventoryName, inventoryNamespace, writeInventory, type InventoryRecord } from './inventory-store.js';
import { appliedStamp, type ClusterPlan } from './plan.js';

/*
 * What an apply records in the app's inventory, before its first write (the pending record)
 * and after its health verdict (the final one): the refs never shrink on a failed read or a
 * failed apply, and the render's hash is recorded only after health.
 */

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

/**
 * Writes the app's inventory after the apply, prune and health wait (never in a dry run),
 * conditional on the version this apply read or wrote. After a deploy that succeeded and
 * became healthy it holds exactly the render's objects and those of the app's live objects
 * prune kept, with the render's hash and commit. After one that failed, or whose health
 * wait failed, it holds the old refs and everything this render may have created (so a
 * later prune still finds them) and no hash (so no later deploy is skipped as unchanged
 * over a half-applied or unhealthy state). Nothing written, nothing recorded.
 */
export async function recordApply(cluster: Cluster, key: InventoryKey, plan: ClusterPlan, recorded: InventoryRecord | null, opts: ApplyOptions, result: ApplyResult, healthy: boolean): Promise<void> {
  const ok = result.errors.length === 0 && !result.pruneSkipped;
  const wrote = result.created.length + result.configured.length + result.pruned.length > 0;
  if (!ok && !wrote) return;
  const next = nextInventory(plan, result, ok && healthy && opts.record ? { ...opts.record, grants: grantsFingerprint(cluster.target, key.repo) } : null);
  if (recorded && sameRefs(recorded, next) && recorded.desiredHash === next.desiredHash && recorded.grants === next.grants && recorded.commit === next.commit && isDeepStrictEqual(recorded.applied, next.applied)) return;
  if (recorded?.resourceVersion !== undefined) next.resourceVersion = recorded.resourceVersion;
  await writeRecord(cluster, key, next, result);
}

/** writeInventory, a refusal the operator must fix (no access) reported on the app; answers the new version. */
export async function writeRecord(cluster: Cluster, key: InventoryKey, next: InventoryRecord, result: ApplyResult): Promise<string | undefined> {
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
    const applied = plan.objects.flatMap((p): [string, string][] => (p.request !== undefined && p.version !== undefined ? [[objectRef(p.desired), appliedStamp(p.version, p.request)]] : []));
    if (applied.length > 0) next.applied = Object.fromEntries(applied);
  }
  next.deployedAt = new Date().toISOString();
  return next;
}

function sameRefs(a: InventoryRecord, b: InventoryRecord): boolean {
  return a.objects.join('\n') === b.objects.join('\n') && a.retained.join('\n') === b.retained.join('\n');
}
