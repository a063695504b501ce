import type { KubeObject } from '../objects.js';

/**
 * Inventory marks: what prune and the "deleted" preview use to know an object is ours.
 * The repo id (numeric, stable across renames) is a label so it can be selected on; the
 * human-readable repo name is an annotation because `/` is not allowed in label values.
 */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'mergeops';
export const APP_LABEL = 'mergeops.dev/app';
export const REPO_ID_LABEL = 'mergeops.dev/repo-id';
export const REPO_ANNOTATION = 'mergeops.dev/repo';
/** Set by an object's owner on the live object: `<owner>/<repo>/<app>` may take it over. */
export const ADOPT_ANNOTATION = 'mergeops.dev/adopt';
/**
 * Written by mergeops on a Namespace an app took over rather than created, and kept on every
 * later apply: its labels and annotations (Pod Security…) stay the operator's for good, even
 * once the Namespace carries the app's inventory marks or leaves `adopt:`.
 */
export const ADOPTED_ANNOTATION = 'mergeops.dev/adopted';
/** `"true"` in Git: an immutable-field change deletes and recreates the object. */
export const RECREATE_ANNOTATION = 'mergeops.dev/recreate';
/** `disabled` on a live object: prune leaves it (the Namespace `createNamespace` made carries it). */
export const PRUNE_ANNOTATION = 'mergeops.dev/prune';

/**
 * Every object mergeops applied before field managers were per app was applied as this
 * one manager; its fields are handed to the app's own manager on the next apply.
 */
export const LEGACY_FIELD_MANAGER = 'mergeops';

export interface InventoryKey {
  repoId: number;
  repo: string;
  app: string;
}

/**
 * One field manager per app, so the API server itself keeps apps apart: an apply of one
 * app never silently shares or drops fields another app (or repo) declared.
 */
export function fieldManager(key: InventoryKey): string {
  return `mergeops/${key.repoId}/${key.app}`;
}

export function withInventory(obj: KubeObject, key: InventoryKey): KubeObject {
  const copy = structuredClone(obj);
  copy.metadata.labels = { ...copy.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [APP_LABEL]: key.app, [REPO_ID_LABEL]: String(key.repoId) };
  copy.metadata.annotations = { ...copy.metadata.annotations, [REPO_ANNOTATION]: key.repo };
  return copy;
}

/** Every object of the repository, whichever app: one label discovery serves all its apps. */
export function repoSelector(key: Pick<InventoryKey, 'repoId'>): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${REPO_ID_LABEL}=${key.repoId}`;
}

export function inventorySelector(key: InventoryKey): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${APP_LABEL}=${key.app},${REPO_ID_LABEL}=${key.repoId}`;
}

/** Who a live object belongs to, read from its inventory marks. */
export type Ownership =
  | { owner: 'this-app' }
  | { owner: 'nobody' }
  | { owner: 'other'; repo: string; app: string };

export function ownershipOf(live: KubeObject, key: InventoryKey): Ownership {
  const labels = live.metadata.labels ?? {};
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || labels[APP_LABEL] === undefined || labels[REPO_ID_LABEL] === undefined) return { owner: 'nobody' };
  if (labels[APP_LABEL] === key.app && labels[REPO_ID_LABEL] === String(key.repoId)) return { owner: 'this-app' };
  return { owner: 'other', repo: live.metadata.annotations?.[REPO_ANNOTATION] ?? `repository id ${labels[REPO_ID_LABEL]}`, app: labels[APP_LABEL] };
}

/** What the adopt annotation must say for this app: `<owner>/<repo>/<app>`. */
export function adoptValue(key: InventoryKey): string {
  return `${key.repo}/${key.app}`;
}

/** `Kind/namespace/name` (or `Kind/name` when cluster-scoped): how `adopt:` names an object. */
export function adoptRef(o: KubeObject): string {
  return [o.kind, o.metadata.namespace, o.metadata.name].filter((p) => p !== undefined && p !== '').join('/');
}
