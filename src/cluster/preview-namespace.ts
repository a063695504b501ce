import type { ActingIdentity, Grant, PreviewGrant } from '../config/clusters.js';
import { UserError } from '../errors.js';
import type { KubeObject } from '../objects.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { MANAGED_BY, MANAGED_BY_LABEL, REPO_ANNOTATION, REPO_ID_LABEL, type InventoryKey } from './inventory.js';
import { inventoryName, inventoryNamespace } from './inventory-store.js';

/**
 * A preview environment lives in a namespace of its own, and the namespace is its record:
 * labels to find it by (repository, pull request, app), annotations for the rest (expiry,
 * URL, the GitHub Deployment). Nothing about it lives in a worker or in Redis, so caps, the
 * TTL sweep and /metrics read the cluster, and an environment outlives any outage.
 */
export const PREVIEW_LABEL = 'mergeops.dev/preview-environment';
export const PREVIEW_PR_LABEL = 'mergeops.dev/pr';
export const PREVIEW_APP_LABEL = 'mergeops.dev/preview-app';
const A = {
  installation: 'mergeops.dev/installation-id',
  expiresAt: 'mergeops.dev/expires-at',
  createdAt: 'mergeops.dev/created-at',
  url: 'mergeops.dev/url',
  deployment: 'mergeops.dev/deployment-id',
  headSha: 'mergeops.dev/head-sha',
  startedBy: 'mergeops.dev/started-by',
  fromFork: 'mergeops.dev/from-fork',
} as const;
/** mergeops' own field manager for what it sets up around an environment (namespace, quota, RBAC). */
export const PREVIEW_FIELD_MANAGER = 'mergeops/preview-environment';
/** The ServiceAccount (in the preview namespace) every request applying the PR's render acts as. */
export const PREVIEW_SERVICE_ACCOUNT = 'mergeops-preview';
/** The name of the quota, limit range and role binding mergeops puts in every preview namespace. */
export const PREVIEW_GUARD_NAME = 'mergeops-preview';

/** Why an environment exists: its PR's label, `when: always`, or a `/mergeops env up`. */
export type PreviewStart = 'label' | 'always' | 'command';

export interface PreviewEnvRecord {
  cluster: string;
  namespace: string;
  repo: string;
  repoId: number;
  pr: number;
  /** The app's name in the config. */
  app: string;
  installationId: number;
  createdAt: string;
  expiresAt: string;
  url?: string;
  deploymentId?: number;
  headSha?: string;
  startedBy: PreviewStart;
  fromFork: boolean;
}

/** The identity a preview namespace's render is applied as: its own ServiceAccount, bound to the grant's role there only. */
export function previewIdentity(namespace: string): ActingIdentity {
  return { user: `system:serviceaccount:${namespace}:${PREVIEW_SERVICE_ACCOUNT}`, groups: [], named: `serviceAccount ${namespace}/${PREVIEW_SERVICE_ACCOUNT}` };
}

/**
 * The cluster as a preview environment's apply sees it: every request for the PR's objects
 * impersonates the namespace's ServiceAccount (so the API server refuses anything outside
 * the namespace, whatever mergeops' own rights), and the grant check allows that one
 * namespace and no cluster-scoped kind. Inventories and the Lease stay mergeops' own.
 */
export function previewCluster(cluster: Cluster, namespace: string, repo: string, denyKinds: string[]): Cluster {
  const grant: Grant = { repos: [repo], namespaces: [namespace], clusterKinds: [], denyKinds, namespaceMetadata: false };
  return { ...cluster, client: cluster.own.impersonating(previewIdentity(namespace)), target: { ...cluster.target, grants: [grant] } };
}

/** Every preview environment on the cluster, from its namespaces' labels and annotations. */
export async function listPreviewEnvironments(cluster: Cluster): Promise<PreviewEnvRecord[]> {
  const list = await cluster.own.request<{ items: KubeObject[] }>('GET', '/api/v1/namespaces', { query: { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${PREVIEW_LABEL}=true` } });
  // A namespace being deleted is an environment already ended: it counts for no cap and is swept no more.
  return list.items
    .filter((ns) => !ns.metadata['deletionTimestamp'])
    .map((ns) => recordOf(cluster.target.name, ns))
    .filter((r): r is PreviewEnvRecord => r !== null);
}

/** The environment a namespace holds; null when it is not one (or its marks were edited away). */
export function recordOf(clusterName: string, ns: KubeObject): PreviewEnvRecord | null {
  const l = ns.metadata.labels ?? {};
  const a = ns.metadata.annotations ?? {};
  const pr = Number(l[PREVIEW_PR_LABEL]);
  const repoId = Number(l[REPO_ID_LABEL]);
  if (l[PREVIEW_LABEL] !== 'true' || !Number.isInteger(pr) || !Number.isInteger(repoId) || !a[REPO_ANNOTATION] || !l[PREVIEW_APP_LABEL]) return null;
  const r: PreviewEnvRecord = {
    cluster: clusterName,
    namespace: ns.metadata.name ?? '',
    repo: a[REPO_ANNOTATION],
    repoId,
    pr,
    app: l[PREVIEW_APP_LABEL],
    installationId: Number(a[A.installation] ?? 0),
    createdAt: a[A.createdAt] ?? String(ns.metadata['creationTimestamp'] ?? ''),
    expiresAt: a[A.expiresAt] ?? '',
    startedBy: (['label', 'always', 'command'].includes(a[A.startedBy] ?? '') ? a[A.startedBy] : 'label') as PreviewStart,
    fromFork: a[A.fromFork] === 'true',
  };
  if (a[A.url]) r.url = a[A.url];
  if (a[A.deployment] && Number.isInteger(Number(a[A.deployment]))) r.deploymentId = Number(a[A.deployment]);
  if (a[A.headSha]) r.headSha = a[A.headSha];
  return r;
}

/** The namespace of `r`, as mergeops applies it (server-side, its own field manager). */
export function namespaceObject(r: PreviewEnvRecord): KubeObject {
  const annotations: Record<string, string> = {
    [REPO_ANNOTATION]: r.repo,
    [A.installation]: String(r.installationId),
    [A.createdAt]: r.createdAt,
    [A.expiresAt]: r.expiresAt,
    [A.startedBy]: r.startedBy,
    [A.fromFork]: String(r.fromFork),
  };
  if (r.url) annotations[A.url] = r.url;
  if (r.headSha) annotations[A.headSha] = r.headSha;
  if (r.deploymentId !== undefined) annotations[A.deployment] = String(r.deploymentId);
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: r.namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [PREVIEW_LABEL]: 'true', [REPO_ID_LABEL]: String(r.repoId), [PREVIEW_PR_LABEL]: String(r.pr), [PREVIEW_APP_LABEL]: r.app },
      annotations,
    },
  };
}

/** The namespace as it is now; null when it does not exist. */
export async function readNamespace(cluster: Cluster, name: string): Promise<KubeObject | null> {
  try {
    return await cluster.own.request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(name)}`);
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return null;
    throw err;
  }
}

async function apply(cluster: Cluster, path: string, body: KubeObject): Promise<KubeObject> {
  return cluster.own.request<KubeObject>('PATCH', path, { body, contentType: 'application/apply-patch+yaml', query: { fieldManager: PREVIEW_FIELD_MANAGER, force: 'true' } });
}

/**
 * Creates (or refreshes) the namespace of `r` and what guards it, as mergeops itself: the
 * namespace with its marks, the grant's ResourceQuota and LimitRange, and the ServiceAccount
 * the render is applied as, bound to the grant's role in this namespace only. A namespace of
 * that name that is not this environment's (another PR's, or no preview at all) is refused.
 */
export async function ensurePreviewNamespace(cluster: Cluster, r: PreviewEnvRecord, grant: PreviewGrant): Promise<void> {
  const live = await readNamespace(cluster, r.namespace);
  if (live) {
    const mine = recordOf(cluster.target.name, live);
    if (!mine || mine.repoId !== r.repoId || mine.pr !== r.pr || mine.app !== r.app) {
      throw new UserError(`namespace "${r.namespace}" already exists on cluster "${cluster.target.name}" and is not the preview environment of ${r.repo}#${r.pr} (${r.app}); choose another previewEnvironment.namespace`);
    }
    if (live.metadata['deletionTimestamp']) throw new UserError(`namespace "${r.namespace}" is still being deleted on cluster "${cluster.target.name}"; push again (or /mergeops env up) in a minute`);
  }
  const ns = encodeURIComponent(r.namespace);
  await apply(cluster, `/api/v1/namespaces/${ns}`, namespaceObject(r));
  const meta = { name: PREVIEW_GUARD_NAME, namespace: r.namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY } };
  if (grant.resourceQuota) await apply(cluster, `/api/v1/namespaces/${ns}/resourcequotas/${PREVIEW_GUARD_NAME}`, { apiVersion: 'v1', kind: 'ResourceQuota', metadata: meta, spec: grant.resourceQuota });
  if (grant.limitRange) await apply(cluster, `/api/v1/namespaces/${ns}/limitranges/${PREVIEW_GUARD_NAME}`, { apiVersion: 'v1', kind: 'LimitRange', metadata: meta, spec: grant.limitRange });
  await apply(cluster, `/api/v1/namespaces/${ns}/serviceaccounts/${PREVIEW_SERVICE_ACCOUNT}`, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { ...meta, name: PREVIEW_SERVICE_ACCOUNT } });
  await apply(cluster, `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/${PREVIEW_GUARD_NAME}`, {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: meta,
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: grant.role },
    subjects: [{ kind: 'ServiceAccount', name: PREVIEW_SERVICE_ACCOUNT, namespace: r.namespace }],
  });
}

/** Changes annotations of an environment's namespace (expiry, Deployment id, head). */
export async function annotatePreview(cluster: Cluster, namespace: string, annotations: Partial<Record<keyof typeof A, string>>): Promise<void> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(annotations)) if (v !== undefined) out[A[k as keyof typeof A]] = v;
  await cluster.own.request('PATCH', `/api/v1/namespaces/${encodeURIComponent(namespace)}`, { body: { metadata: { annotations: out } }, contentType: 'application/merge-patch+json' });
}

/**
 * Removes an environment: its namespace (and with it everything in it), then its inventory
 * and Lease in mergeops' inventory namespace. Gone already is done.
 */
export async function deletePreviewEnvironment(cluster: Cluster, namespace: string, key: InventoryKey): Promise<void> {
  const inv = encodeURIComponent(inventoryNamespace(cluster));
  const name = encodeURIComponent(inventoryName(key));
  for (const path of [`/api/v1/namespaces/${encodeURIComponent(namespace)}`, `/api/v1/namespaces/${inv}/configmaps/${name}`, `/apis/coordination.k8s.io/v1/namespaces/${inv}/leases/${name}`]) {
    try {
      await cluster.own.request('DELETE', path, { query: { propagationPolicy: 'Background' } });
    } catch (err) {
      if (!(err instanceof KubeApiError && err.status === 404)) throw err;
    }
  }
}
