import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { DEFAULT_INVENTORY_NAMESPACE, type ClusterTarget } from '../config/clusters.js';
import { matchesAny } from '../policy/grants.js';
import { TransientError, UserError } from '../errors.js';
import { identity, type KubeObject } from '../objects.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { MANAGED_BY, MANAGED_BY_LABEL, type InventoryKey } from './inventory.js';

/**
 * One inventory per app in its cluster, as Flux keeps a Kustomization's inventory in its
 * status and cli-utils a ResourceGroup: the objects the app's last deploy left in the
 * cluster, the hash of that render and its commit. Plans read it with one GET instead of
 * listing every type, and a deploy whose render hash equals the recorded one need not
 * plan at all.
 *
 * It is a ConfigMap in a namespace the operator names per cluster (`inventoryNamespace`,
 * default `mergeops-system`), not in the app's own namespace: no repository's grant
 * reaches that namespace (plans refuse any object in it), so no repository can forge
 * another app's inventory, say to make its deploys no-ops with a matching hash. Its labels
 * deliberately lack the app label, so label discovery never takes it for an app's object.
 */
export interface InventoryRecord {
  /** Refs (`apiVersion Kind namespace/name`) of the objects the render had, as applied. */
  objects: string[];
  /** Live objects of the app that Git no longer has but that were not pruned (prune off, kept, refused). */
  retained: string[];
  /** desiredHash of the render the last successful deploy applied; absent after a deploy that failed midway. */
  desiredHash?: string;
  /** The commit of that deploy. */
  commit?: string;
  /** grantsFingerprint of the grants that deploy ran under: an unchanged render under changed grants is applied again. */
  grants?: string;
  /** When it was written (ISO 8601). */
  deployedAt?: string;
  /**
   * Per object of a deploy that succeeded: its resourceVersion once applied (or found
   * unchanged) and a hash of the request that applied it. A live object still at that
   * version, asked for by the same request, is unchanged without a dry-run: nobody wrote it
   * since, and applying the same request to the same object changes nothing.
   */
  applied?: Record<string, string>;
  /**
   * The ConfigMap's resourceVersion when it was read (or written): the next write is
   * conditional on it, so two writers never silently overwrite each other. Not stored.
   */
  resourceVersion?: string;
}

/** Bumped when the meaning of a record changes, so an older record is never trusted to skip a deploy. */
export const INVENTORY_FORMAT = '1';
export const INVENTORY_COMPONENT_LABEL = 'app.kubernetes.io/component';
export const INVENTORY_COMPONENT = 'inventory';
export const INVENTORY_REPO_ID_LABEL = 'mergeops.dev/inventory-of-repo-id';
export const INVENTORY_APP_LABEL = 'mergeops.dev/inventory-of-app';
/** Its own field manager: the inventory is mergeops' record, not any app's object. */
export const INVENTORY_FIELD_MANAGER = 'mergeops/inventory';

export function inventoryNamespace(cluster: Pick<Cluster, 'target'>): string {
  return cluster.target.inventoryNamespace ?? DEFAULT_INVENTORY_NAMESPACE;
}

/**
 * `mergeops-<repo id>-<app>`: app names are DNS-1123 labels (the repo config enforces it)
 * and repo ids are digits, so the name is always a valid ConfigMap name and never the
 * same for two (repo, app) pairs (the first `-` after the digits ends the repo id).
 */
export function inventoryName(key: Pick<InventoryKey, 'repoId' | 'app'>): string {
  return `mergeops-${key.repoId}-${key.app}`;
}

function path(cluster: Cluster, key: InventoryKey, withName = true): string {
  const base = `/api/v1/namespaces/${encodeURIComponent(inventoryNamespace(cluster))}/configmaps`;
  return withName ? `${base}/${encodeURIComponent(inventoryName(key))}` : base;
}

/**
 * The operator's grants for `repo` on this cluster, hashed. A render the last deploy
 * applied is skipped only under the same grants: after the operator narrows (or widens)
 * them, the next deploy plans again, so the grant check runs against what is live.
 */
export function grantsFingerprint(target: Pick<ClusterTarget, 'grants'>, repo: string): string {
  const mine = target.grants === null ? null : target.grants.filter((g) => matchesAny(g.repos, repo));
  return `sha256:${crypto.createHash('sha256').update(JSON.stringify(mine)).digest('hex').slice(0, 32)}`;
}

/** The app's inventory, or null when it has none yet (never deployed since inventories exist). */
export async function readInventory(cluster: Cluster, key: InventoryKey): Promise<InventoryRecord | null> {
  let cm: KubeObject;
  try {
    cm = await cluster.own.request<KubeObject>('GET', path(cluster, key));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return null;
    if (err instanceof KubeApiError && err.status === 403) throw noAccess(cluster, 'read', err);
    throw err;
  }
  return parseInventory(cm, key);
}

/** The record a ConfigMap holds; a ConfigMap that is not this app's inventory is an error of ours, never silently used. */
export function parseInventory(cm: KubeObject, key: InventoryKey): InventoryRecord {
  const data = (cm['data'] ?? {}) as Record<string, string>;
  if (data['repoId'] !== String(key.repoId) || data['app'] !== key.app) {
    throw new Error(`ConfigMap ${cm.metadata.namespace}/${cm.metadata.name} is not the inventory of app "${key.app}" of repository id ${key.repoId} (it says repository id ${data['repoId']}, app "${data['app']}")`);
  }
  const binary = (cm['binaryData'] ?? {}) as Record<string, string>;
  const text = (k: string): string | undefined => {
    const packed = binary[`${k}.gz`];
    return packed !== undefined ? zlib.gunzipSync(Buffer.from(packed, 'base64')).toString('utf8') : data[k];
  };
  const lines = (s: string | undefined): string[] => (s ?? '').split('\n').filter((l) => l !== '');
  const record: InventoryRecord = { objects: lines(text('objects')), retained: lines(text('retained')) };
  // A record of another format still lists objects (for prune) but never vouches for a hash.
  if (data['format'] === INVENTORY_FORMAT && data['desiredHash']) record.desiredHash = data['desiredHash'];
  if (data['commit']) record.commit = data['commit'];
  if (data['grants']) record.grants = data['grants'];
  if (data['deployedAt']) record.deployedAt = data['deployedAt'];
  const applied = lines(text('applied'));
  if (data['format'] === INVENTORY_FORMAT && applied.length > 0) record.applied = Object.fromEntries(applied.map((l) => [l.slice(0, l.lastIndexOf('\t')), l.slice(l.lastIndexOf('\t') + 1)]));
  const rv = cm.metadata['resourceVersion'];
  if (typeof rv === 'string') record.resourceVersion = rv;
  return record;
}

/** The ConfigMap holding `record` for `key`. */
export function inventoryObject(cluster: Pick<Cluster, 'target'>, key: InventoryKey, record: InventoryRecord): KubeObject {
  const data: Record<string, string> = { format: INVENTORY_FORMAT, repo: key.repo, repoId: String(key.repoId), app: key.app };
  const binaryData: Record<string, string> = {};
  const applied = Object.entries(record.applied ?? {}).map(([ref, stamp]) => `${ref}\t${stamp}`);
  for (const [k, refs] of [['objects', record.objects], ['retained', record.retained], ['applied', applied]] as const) {
    if (k === 'applied' && refs.length === 0) continue;
    const text = refs.map((r) => `${r}\n`).join('');
    // Plain text reads best (kubectl get -o yaml); past this, gzip keeps a very large app
    // (tens of thousands of refs) under the ConfigMap's 1 MiB.
    if (text.length > PLAIN_REFS_MAX_CHARS) binaryData[`${k}.gz`] = zlib.gzipSync(text).toString('base64');
    else data[k] = text;
  }
  if (record.desiredHash) data['desiredHash'] = record.desiredHash;
  if (record.commit) data['commit'] = record.commit;
  if (record.grants) data['grants'] = record.grants;
  if (record.deployedAt) data['deployedAt'] = record.deployedAt;
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: inventoryName(key),
      namespace: inventoryNamespace(cluster),
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [INVENTORY_COMPONENT_LABEL]: INVENTORY_COMPONENT, [INVENTORY_REPO_ID_LABEL]: String(key.repoId), [INVENTORY_APP_LABEL]: key.app },
    },
    data,
    ...(Object.keys(binaryData).length > 0 ? { binaryData } : {}),
  };
}

/** Refs of one list stored as plain text up to this size (about 5,000 refs); gzipped beyond. */
export const PLAIN_REFS_MAX_CHARS = 400_000;

/**
 * Another writer changed (or created) the inventory since this one read it: a CLI apply
 * and a worker, or a worker whose lease expired. The write is refused rather than the
 * last writer winning; the job is retried and plans again from what is recorded now.
 */
export class InventoryConflictError extends TransientError {
  constructor(cluster: Cluster, key: InventoryKey, why: string) {
    super(`the inventory of app "${key.app}" on cluster "${cluster.target.name}" changed while this deploy ran (${why}); another deploy of the app wrote it, so this one stops and is tried again`);
    this.name = 'InventoryConflictError';
  }
}

/**
 * Writes the record, conditional on the version the writer read: `record.resourceVersion`
 * set, a server-side apply carrying it (the server answers 409 when the ConfigMap moved
 * on); unset (there was none), a create (409 when someone created it meanwhile). A 409 is
 * an InventoryConflictError, never an overwrite. Every key is the inventory manager's, so
 * keys dropped from the record (the hash after a failed deploy) are removed. When the
 * inventory namespace does not exist yet it is created once; when mergeops may not create
 * it, the error says what the operator must do. Answers the record's new version.
 */
export async function writeInventory(cluster: Cluster, key: InventoryKey, record: InventoryRecord): Promise<string | undefined> {
  const body = inventoryObject(cluster, key, record);
  const send = async (): Promise<string | undefined> => {
    let written: KubeObject;
    if (record.resourceVersion !== undefined) {
      body.metadata['resourceVersion'] = record.resourceVersion;
      written = await cluster.own.request<KubeObject>('PATCH', path(cluster, key), {
        body,
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: INVENTORY_FIELD_MANAGER, force: 'true' },
      });
    } else {
      written = await cluster.own.request<KubeObject>('POST', path(cluster, key, false), { body, query: { fieldManager: INVENTORY_FIELD_MANAGER } });
    }
    const rv = written?.metadata?.['resourceVersion'];
    return typeof rv === 'string' ? rv : undefined;
  };
  const conflict = (err: unknown): never => {
    if (err instanceof KubeApiError && err.status === 409) throw new InventoryConflictError(cluster, key, record.resourceVersion === undefined ? 'it was created meanwhile' : `it is no longer at version ${record.resourceVersion}`);
    throw err;
  };
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.status === 403) throw noAccess(cluster, 'write', err);
    if (!(err.status === 404 && err.details.kind === 'namespaces')) conflict(err);
  }
  await ensureNamespace(cluster, inventoryNamespace(cluster), 'each app\'s inventory', 'get, create and patch ConfigMaps there', 'The app\'s objects were applied; its next deploy records them.');
  try {
    return await send();
  } catch (err) {
    return conflict(err);
  }
}

/**
 * Creates the inventory namespace when it is missing (another worker creating it meanwhile
 * is fine); when mergeops may not, a UserError says what the operator must do.
 */
export async function ensureNamespace(cluster: Cluster, ns: string, what: string, rights: string, after = ''): Promise<void> {
  try {
    await cluster.own.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } } } });
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.status !== 409) {
      throw new UserError(
        `mergeops keeps ${what} in namespace "${ns}" of cluster "${cluster.target.name}", which does not exist, and may not create it (the API server says: ${err.message}). ` +
          `Create it (kubectl create namespace ${ns}) and let mergeops' service account ${rights}, or set inventoryNamespace of cluster "${cluster.target.name}" in MERGEOPS_CLUSTERS to a namespace that has that.${after ? ` ${after}` : ''}`,
      );
    }
  }
}

function noAccess(cluster: Cluster, what: 'read' | 'write', err: KubeApiError): UserError {
  const ns = inventoryNamespace(cluster);
  return new UserError(
    `mergeops may not ${what} its inventory ConfigMaps in namespace "${ns}" of cluster "${cluster.target.name}" (the API server says: ${err.message}). ` +
      `Let mergeops' service account get, create and patch ConfigMaps in "${ns}" (the chart's RBAC does), or set inventoryNamespace of cluster "${cluster.target.name}" in MERGEOPS_CLUSTERS to a namespace where it may.`,
  );
}

/** A ref as the inventory stores it, read back into the parts a request needs. */
export interface StoredRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** `apiVersion Kind [namespace/]name` (objectRef's format: names hold neither spaces nor `/`); null when malformed. */
export function parseRef(ref: string): StoredRef | null {
  const m = /^(\S+) (\S+) (?:([^/\s]+)\/)?([^/\s]+)$/.exec(ref);
  if (!m) return null;
  const out: StoredRef = { apiVersion: m[1] as string, kind: m[2] as string, name: m[4] as string };
  if (m[3]) out.namespace = m[3];
  return out;
}

/** identity() of a stored ref: group/Kind/namespace/name, the version left out. */
export function refIdentity(r: StoredRef): string {
  return identity({ apiVersion: r.apiVersion, kind: r.kind, metadata: { name: r.name, ...(r.namespace ? { namespace: r.namespace } : {}) } });
}
