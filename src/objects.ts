import { isDeepStrictEqual } from 'node:util';
import { ownedBy } from './managed-fields.js';

/** A Kubernetes object as JSON; only the fields every object has are typed. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [field: string]: unknown;
}

/** Where an object came from in the checkout: path relative to the repo root, 1-based line. */
export interface SourceRef {
  file: string;
  line: number;
}

export interface RenderedObject {
  object: KubeObject;
  source: SourceRef;
}

/** Group + kind + namespace + name: the same object whichever version names it. */
export function identity(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0] : '';
  return `${group}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

export function objectRef(o: Pick<KubeObject, 'apiVersion' | 'kind' | 'metadata'>): string {
  const ns = o.metadata.namespace ? `${o.metadata.namespace}/` : '';
  return `${o.apiVersion} ${o.kind} ${ns}${o.metadata.name ?? '<unnamed>'}`;
}

const STRIPPED_METADATA = ['managedFields', 'resourceVersion', 'uid', 'generation', 'creationTimestamp', 'selfLink'] as const;
const STRIPPED_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration', 'deployment.kubernetes.io/revision'] as const;

/**
 * Drops what the server owns (bookkeeping, status) so a diff shows only what a human
 * wrote or will change. Returns a copy; the input stays as the server sent it.
 */
export function normalize(obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  delete copy['status'];
  for (const k of STRIPPED_METADATA) delete copy.metadata[k];
  if (copy.metadata.annotations) {
    for (const k of STRIPPED_ANNOTATIONS) delete copy.metadata.annotations[k];
    if (Object.keys(copy.metadata.annotations).length === 0) delete copy.metadata.annotations;
  }
  return copy;
}

/**
 * One rendered object placed in a cluster: what is live and what applying would make.
 * Built by cluster/ (plan), read by diff/ (text) and the engine (change set).
 */
export interface PlannedObject {
  desired: KubeObject;
  source: SourceRef;
  /** How the cluster serves this kind; absent while its CRD is only in this render. */
  resource?: ResourceInfo;
  live: KubeObject | null;
  /** The server-side dry-run apply result; null when it could not be computed. */
  merged: KubeObject | null;
  /** Why `merged` is the desired object as written rather than a dry-run result. */
  note?: string;
  /** An immutable field changes and Git asked for `mergeops.dev/recreate`: delete, then create. */
  replace?: boolean;
  /** The live object still has fields of the old shared `mergeops` manager: hand them over first. */
  migrate?: boolean;
  /**
   * The apply request for this object (see appliedStamp), when the server had no warning
   * for it; with `version`, the object's resourceVersion once applied (or found unchanged),
   * the stamp the inventory records for it after a deploy that succeeded.
   */
  request?: string;
  version?: string;
}

/** How the API server serves one kind (from discovery). */
export interface ResourceInfo {
  group: string;
  version: string;
  kind: string;
  plural: string;
  namespaced: boolean;
  verbs: string[];
}

/**
 * True when applying would change nothing: the live object and the dry-run result are
 * equal once the server's bookkeeping is dropped, and so are the fields `ours` (the app's
 * field managers) own — an object someone else last wrote is applied so the app owns its
 * fields. Decided on the objects, not on diff text (Secret values unmasked, compared as
 * decoded bytes, so `stringData` and `data` holding the same value count as unchanged).
 * A replace or a field-manager migration always writes.
 */
export function isUnchanged(p: Pick<PlannedObject, 'live' | 'merged' | 'note' | 'replace' | 'migrate'>, ours: ReadonlySet<string>): boolean {
  if (p.note || p.replace || p.migrate || !p.live || !p.merged) return false;
  return isDeepStrictEqual(comparable(p.live), comparable(p.merged)) && isDeepStrictEqual(ownedBy(p.live, ours), ownedBy(p.merged, ours));
}

function comparable(o: KubeObject): KubeObject {
  const n = normalize(o);
  if (n.kind !== 'Secret' || (n.apiVersion !== 'v1' && n.apiVersion !== '')) return n;
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries((n['data'] as Record<string, string> | undefined) ?? {})) data[k] = Buffer.from(String(v), 'base64').toString('latin1');
  for (const [k, v] of Object.entries((n['stringData'] as Record<string, string> | undefined) ?? {})) data[k] = Buffer.from(String(v), 'utf8').toString('latin1');
  delete n['stringData'];
  n['data'] = data;
  return n;
}
