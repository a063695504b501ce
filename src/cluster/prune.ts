import type { App } from '../config/repo-config.js';
import { objectRef, type KubeObject, type RenderedObject } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import type { ApplyOptions, ApplyResult } from './apply.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { ownershipOf, type InventoryKey } from './inventory.js';
import { releasedByApp } from './ownership.js';
import { getOrNull } from './live.js';
import { forbiddenMessage, type ClusterPlan } from './plan.js';

/*
 * Prune, the delete verb of a deploy (fluxcd/pkg/ssa's manager_delete): the caller owns the
 * inventory and hands over the orphans its plan found; each is deleted only as it was seen.
 */

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

export async function pruneOrphans(cluster: Cluster, app: App, key: InventoryKey, plan: ClusterPlan, rendered: RenderedObject[], opts: ApplyOptions, result: ApplyResult): Promise<void> {
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
