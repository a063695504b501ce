import { groupKind } from '../config/clusters.js';
import { identity, type KubeObject, type PlannedObject, type ResourceInfo } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import { isTransient } from '../errors.js';
import { matchesAny } from '../policy/grants.js';
import { KubeApiError } from './client.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { inventorySelector, ownershipOf, repoSelector, type InventoryKey } from './inventory.js';
import { inventoryNamespace, parseRef, refIdentity, type InventoryRecord } from './inventory-store.js';

/*
 * Live-object discovery (fluxcd/pkg/ssa reads the live side the same way): which of an
 * app's objects exist, found by its inventory's refs and its labels, one LIST per type and
 * namespace, and which recorded refs could not be looked at.
 */

/**
 * Label discovery shared by the apps of one repository within one job. An app without an
 * inventory (a first deploy, or objects deployed before inventories) must look for its
 * labels in every type its grant covers; in a monorepo's first deploy that was one list per
 * type per app (165,000 requests for 200 apps). One list per type with the repository's
 * selector serves every app of it, each keeping only its own objects. Grants are per
 * repository, so the scopes are the same for all its apps. Made per job, never kept
 * longer: what it found is as old as the job.
 */
export class RepoDiscovery {
  private readonly found = new Map<string, Promise<KubeObject[]>>();

  objects(cluster: Cluster, key: InventoryKey): Promise<KubeObject[]> {
    const k = `${cluster.target.name}\0${key.repoId}\0${key.repo}`;
    let p = this.found.get(k);
    if (!p) {
      p = grantedScopes(cluster, key).then(async (scopes) => (await listScopes(cluster, scopes, repoSelector(key))).objects);
      // A failed discovery is not remembered: the next app (or the job's retry) asks again.
      p.catch(() => this.found.delete(k));
      this.found.set(k, p);
    }
    return p;
  }
}

export async function getOrNull(cluster: Cluster, path: string): Promise<KubeObject | null> {
  try {
    return await cluster.client.request<KubeObject>('GET', path);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return null;
    throw err;
  }
}

/** One LIST with the app's label selector: a type in one namespace, or across all (no namespace, or a cluster-scoped type). */
interface ListScope {
  resource: ResourceInfo;
  namespace?: string;
}

/**
 * The live objects of the app the plan needs: `owned`, every listed object carrying the
 * app's marks (the live side of the render's objects), and `stale`, those the render no
 * longer has. With an inventory only the (type, namespace) pairs of its refs and of the
 * render are listed, and only objects the inventory names are stale (still carrying the
 * marks, so a ref never reaches an object that is not the app's). Without one (an app
 * deployed before inventories, or never deployed) the app's labels are looked for once in
 * everything its grant covers; the next deploy writes the inventory.
 */
export async function findLive(
  cluster: Cluster,
  key: InventoryKey,
  placed: PlannedObject[],
  inventory: InventoryRecord | null,
  orphans: boolean,
  discovery?: RepoDiscovery,
): Promise<{ owned: Map<string, KubeObject>; stale: KubeObject[]; unobserved: string[] }> {
  const desiredIds = new Set(placed.map((p) => identity(p.desired)));
  let found: KubeObject[];
  let recorded: Set<string> | null = null;
  // Recorded refs whose (type, namespace) no list covered: by scope key, or unlistable outright.
  const refsByScope = new Map<string, string[]>();
  const unobserved: string[] = [];
  if (inventory || !orphans) {
    const byKey = new Map<string, ListScope>();
    const add = (resource: ResourceInfo, namespace: string | undefined): string => {
      const scope: ListScope = resource.namespaced && namespace ? { resource, namespace } : { resource };
      const k = scopeKey(scope);
      byKey.set(k, scope);
      return k;
    };
    for (const p of placed) if (p.resource?.verbs.includes('list')) add(p.resource, p.desired.metadata.namespace);
    if (inventory && orphans) {
      recorded = new Set();
      // A kind the server no longer has makes discovery reload: once per kind, not per ref.
      const resolved = new Map<string, Promise<ResourceInfo | undefined>>();
      for (const ref of [...inventory.objects, ...inventory.retained]) {
        const r = parseRef(ref);
        if (!r) continue;
        const id = refIdentity(r);
        recorded.add(id);
        // The render's own list of that type and namespace finds it.
        if (desiredIds.has(id)) continue;
        const gvk = `${r.apiVersion}/${r.kind}`;
        if (!resolved.has(gvk)) resolved.set(gvk, cluster.discovery.resolve(r.apiVersion, r.kind));
        const resource = await resolved.get(gvk);
        // A type discovery does not serve now (an aggregated API down, a group-version
        // dropped for a while) or that may not be listed: the ref cannot be looked at.
        if (!resource?.verbs.includes('list')) unobserved.push(ref);
        else {
          const k = add(resource, r.namespace);
          refsByScope.set(k, [...(refsByScope.get(k) ?? []), ref]);
        }
      }
    }
    const listed = await listScopes(cluster, [...byKey.values()], inventorySelector(key));
    found = listed.objects;
    for (const k of listed.failed) unobserved.push(...(refsByScope.get(k) ?? []));
  } else if (discovery) {
    found = (await discovery.objects(cluster, key)).filter((o) => ownershipOf(o, key).owner === 'this-app');
  } else {
    found = (await listScopes(cluster, await grantedScopes(cluster, key), inventorySelector(key))).objects;
  }
  const owned = new Map(found.map((o) => [identity(o), o]));
  const stale = [...owned.values()].filter((o) => !desiredIds.has(identity(o)) && (recorded === null || recorded.has(identity(o))));
  return { owned, stale, unobserved: [...new Set(unobserved)].sort() };
}

function scopeKey(s: ListScope): string {
  return `${s.resource.group}/${s.resource.version}/${s.resource.plural}/${s.namespace ?? ''}`;
}

/**
 * The objects matching `selector` in each scope, as their list's version names them, and
 * the scopes (by scopeKey) that could not be listed: not allowed (RBAC) or the type
 * vanished. Those show nothing, and what the inventory records there is carried forward.
 * A 429 or 5xx the client's retries did not outlast fails the plan (retried): a plan must
 * not take an unanswered list for an empty one.
 */
async function listScopes(cluster: Cluster, scopes: ListScope[], selector: string): Promise<{ objects: KubeObject[]; failed: string[] }> {
  const failed: string[] = [];
  const found = await mapLimit(scopes, CLUSTER_CONCURRENCY, async (scope) => {
    const { resource: r, namespace } = scope;
    try {
      const list = await cluster.client.request<{ items: KubeObject[] }>('GET', resourcePath(r, namespace), { query: { labelSelector: selector } });
      const apiVersion = r.group === '' ? r.version : `${r.group}/${r.version}`;
      return list.items.map((o) => ({ ...o, apiVersion, kind: r.kind }));
    } catch (err) {
      if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
      failed.push(scopeKey(scope));
      return [];
    }
  });
  return { objects: found.flat(), failed };
}

/**
 * What label discovery may list for an app without an inventory: namespaced types only in
 * the namespaces its grants name (one list per namespace; a `*` grant lists across all),
 * cluster-scoped types only of the kinds its grants allow. So a preview (a fork's among
 * them) never lists what the repository may not touch anyway. No policy (local use): all.
 */
async function grantedScopes(cluster: Cluster, key: InventoryKey): Promise<ListScope[]> {
  const resources = await cluster.discovery.listable();
  const grants = cluster.target.grants;
  if (grants === null) return resources.map((resource) => ({ resource }));
  const mine = grants.filter((g) => matchesAny(g.repos, key.repo));
  const patterns = [...new Set(mine.flatMap((g) => g.namespaces))];
  let namespaces: (string | undefined)[];
  if (patterns.some((p) => p === '*' || p === '**')) {
    namespaces = [undefined];
  } else {
    const globs = patterns.filter((p) => p.includes('*'));
    const named = new Set(patterns.filter((p) => !p.includes('*')));
    if (globs.length > 0) for (const n of await namespaceNames(cluster)) if (matchesAny(globs, n)) named.add(n);
    named.delete(inventoryNamespace(cluster));
    namespaces = [...named].sort();
  }
  const out: ListScope[] = [];
  for (const resource of resources) {
    if (resource.namespaced) {
      for (const namespace of namespaces) out.push(namespace === undefined ? { resource } : { resource, namespace });
      continue;
    }
    const gk = groupKind({ apiVersion: resource.group === '' ? resource.version : `${resource.group}/${resource.version}`, kind: resource.kind });
    if (mine.some((g) => g.clusterKinds.includes(gk) && !g.denyKinds.includes(gk))) out.push({ resource });
  }
  return out;
}

/** The names of the cluster's namespaces, to expand a grant's globs (`shop-*`); none when mergeops may not list them. */
async function namespaceNames(cluster: Cluster): Promise<string[]> {
  try {
    const list = await cluster.client.request<{ items: KubeObject[] }>('GET', '/api/v1/namespaces');
    return list.items.map((n) => n.metadata.name ?? '');
  } catch (err) {
    if (err instanceof KubeApiError) return [];
    throw err;
  }
}
