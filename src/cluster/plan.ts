import type { App } from '../config/repo-config.js';
import { identity, objectRef, type KubeObject, type PlannedObject, type RenderedObject, type SourceRef } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import { KubeApiError } from './client.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { inventorySelector, withInventory, type InventoryKey } from './inventory.js';
import { checkGrants } from '../policy/grants.js';
import { objectVerdict } from '../errors.js';

export const FIELD_MANAGER = 'mergeops';

/** What to do about a server-side apply conflict, appended to the server's message. */
export function conflictHint(err: { status: number }): string {
  return err.status === 409 ? ' (another field manager owns these fields; set force: true on the app to take them over)' : '';
}

export interface ObjectError {
  ref: string;
  message: string;
  source?: SourceRef;
}

export interface ClusterPlan {
  objects: PlannedObject[];
  /** Live objects carrying this app's inventory marks that the render no longer has. */
  orphans: KubeObject[];
  errors: ObjectError[];
}

export interface PlanOptions {
  concurrency: number;
  /** Off for the base-branch plan of the drift check, which only needs the objects. */
  orphans: boolean;
  /**
   * Take fields other managers own. Previews force (they show the intended result); a
   * deploy forces only when the app says so, otherwise a conflict is reported.
   */
  force?: boolean;
}

/**
 * Asks the live cluster what applying the render would change: the live object and a
 * server-side apply with dryRun=All, so defaults and admission show as the server would
 * produce them — never as diff noise.
 */
export async function planApp(
  cluster: Cluster,
  app: App,
  rendered: RenderedObject[],
  key: InventoryKey,
  opts: PlanOptions = { concurrency: CLUSTER_CONCURRENCY, orphans: true },
): Promise<ClusterPlan> {
  const errors: ObjectError[] = [];
  // Kinds defined by CRDs in this same render: unknown to the server until applied.
  const crdKinds = new Map(rendered.filter((r) => r.object.kind === 'CustomResourceDefinition').flatMap((r) => crdGvks(r.object)));
  const renderNamespaces = new Set(rendered.filter((r) => r.object.kind === 'Namespace' && r.object.apiVersion === 'v1').map((r) => r.object.metadata.name));

  const placed: PlannedObject[] = [];
  const seen = new Map<string, SourceRef>();
  for (const r of rendered) {
    const desired = withInventory(r.object, key);
    const resource = await cluster.discovery.resolve(desired.apiVersion, desired.kind);
    const namespaced = resource ? resource.namespaced : crdKinds.get(`${desired.apiVersion}/${desired.kind}`);
    if (namespaced) desired.metadata.namespace ??= app.namespace ?? 'default';
    else if (namespaced === false) delete desired.metadata.namespace;
    const id = identity(desired);
    const prev = seen.get(id);
    if (prev) {
      errors.push({ ref: objectRef(desired), message: `defined twice (also at ${prev.file}:${prev.line})`, source: r.source });
      continue;
    }
    seen.set(id, r.source);
    if (!resource) {
      if (crdKinds.has(`${desired.apiVersion}/${desired.kind}`)) {
        placed.push({ desired, source: r.source, live: null, merged: desired, note: 'its CustomResourceDefinition is created by this change, so the server could not validate it yet' });
      } else {
        errors.push({ ref: objectRef(desired), message: `the cluster has no kind ${desired.kind} in ${desired.apiVersion} (is its CustomResourceDefinition installed?)`, source: r.source });
      }
      continue;
    }
    placed.push({ desired, source: r.source, resource, live: null, merged: null });
  }

  // Policy first: an app that reaches outside its grant is not sent to the server at all.
  const violations = checkGrants(
    placed.map((p) => ({ object: p.desired, namespaced: p.resource ? p.resource.namespaced : p.desired.metadata.namespace !== undefined })),
    key.repo,
    cluster.target.name,
    cluster.target.grants,
  );
  if (violations.length > 0) {
    const sources = new Map(placed.map((p) => [objectRef(p.desired), p.source]));
    for (const v of violations) {
      const e: ObjectError = { ref: v.ref, message: `not allowed: ${v.rule}` };
      const source = sources.get(v.ref);
      if (source) e.source = source;
      errors.push(e);
    }
    return { objects: [], orphans: [], errors };
  }

  // One LIST per type finds every object this app already owns, so steady-state plans
  // need no GET per object (half the requests). For the rest, the dry-run's status tells
  // whether the object exists (201: it would be created), so only objects that exist
  // without our marks are read one by one.
  const owned = new Map((await listOwned(cluster, key)).map((o) => [identity(o), o]));
  await mapLimit(placed, opts.concurrency, async (p) => {
    if (!p.resource) return;
    const path = resourcePath(p.resource, p.desired.metadata.namespace, p.desired.metadata.name);
    const listed = owned.get(identity(p.desired));
    try {
      // A list returns the preferred version; another version must be read as itself.
      if (listed?.apiVersion === p.desired.apiVersion) p.live = listed;
      const dryRun = await cluster.client.requestWithStatus<KubeObject>('PATCH', path, {
        body: p.desired,
        contentType: 'application/apply-patch+yaml',
        query: { dryRun: 'All', fieldManager: FIELD_MANAGER, force: String(opts.force ?? true) },
      });
      if (p.live === null && (listed || dryRun.status !== 201)) p.live = await getOrNull(cluster, path);
      p.merged = dryRun.body;
    } catch (caught) {
      // Only the server's verdict on this object is the user's problem; anything else is ours.
      const err = objectVerdict(caught);
      const ns = p.desired.metadata.namespace;
      if (err.status === 404 && ns && renderNamespaces.has(ns)) {
        p.merged = p.desired;
        p.note = `namespace ${ns} is created by this change, so the server could not validate this object yet`;
        return;
      }
      errors.push({ ref: objectRef(p.desired), message: `${err.message}${conflictHint(err)}`, source: p.source });
    }
  });

  const desiredIds = new Set(placed.map((p) => identity(p.desired)));
  const orphans = opts.orphans ? [...owned.values()].filter((o) => !desiredIds.has(identity(o))) : [];
  return { objects: placed.filter((p) => p.merged !== null), orphans, errors };
}

export async function getOrNull(cluster: Cluster, path: string): Promise<KubeObject | null> {
  try {
    return await cluster.client.request<KubeObject>('GET', path);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return null;
    throw err;
  }
}

/** Every live object carrying this app's inventory labels, across all listable types. */
async function listOwned(cluster: Cluster, key: InventoryKey): Promise<KubeObject[]> {
  const resources = await cluster.discovery.listable();
  const found = await mapLimit(resources, CLUSTER_CONCURRENCY, async (r) => {
    try {
      const list = await cluster.client.request<{ items: KubeObject[] }>('GET', resourcePath(r, undefined), {
        query: { labelSelector: inventorySelector(key) },
      });
      const apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
      return list.items.map((o) => ({ ...o, apiVersion, kind: r.kind }));
    } catch (err) {
      // Not allowed to list this type (RBAC) or the type vanished: it cannot be ours to show.
      if (err instanceof KubeApiError) return [];
      throw err;
    }
  });
  return found.flat();
}

/** `group/version/Kind` → namespaced, for every version a CRD serves. */
function crdGvks(crd: KubeObject): [string, boolean][] {
  const spec = crd['spec'] as { group?: string; scope?: string; names?: { kind?: string }; versions?: { name?: string }[] } | undefined;
  if (!spec?.group || !spec.names?.kind) return [];
  return (spec.versions ?? []).map((v) => [`${spec.group}/${v.name}/${spec.names?.kind}`, spec.scope !== 'Cluster']);
}
