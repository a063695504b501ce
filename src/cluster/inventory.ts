import { managedFields } from '../managed-fields.js';
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
/**
 * Set on the live object by its owner: `<owner>/<repo>/<app>` (or `<owner>/<repo>`, any app
 * of it) may take it over. On an object another mergeops app owns it counts only when that
 * app's own field manager wrote it (its Git declares it), never when anyone else did.
 */
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

/**
 * Who a live object belongs to. Its inventory marks say it first (only the owner's own
 * applies write them); an object without marks still belongs to the mergeops app whose
 * field manager applied it (`mergeops/<repo id>/<app>`), so stripping the labels by hand
 * does not make it anybody's to adopt.
 */
export type Ownership =
  | { owner: 'this-app' }
  | { owner: 'nobody' }
  | { owner: 'other'; repoId: number; repo: string; app: string };

/** `mergeops/<repo id>/<app>`: a field manager of one mergeops app (see fieldManager). */
const APP_FIELD_MANAGER = /^mergeops\/(\d+)\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/;

export function ownershipOf(live: KubeObject, key: InventoryKey): Ownership {
  const labels = live.metadata.labels ?? {};
  const repoName = (id: string): string => live.metadata.annotations?.[REPO_ANNOTATION] ?? `repository id ${id}`;
  if (labels[MANAGED_BY_LABEL] === MANAGED_BY && labels[APP_LABEL] !== undefined && labels[REPO_ID_LABEL] !== undefined) {
    if (labels[APP_LABEL] === key.app && labels[REPO_ID_LABEL] === String(key.repoId)) return { owner: 'this-app' };
    return { owner: 'other', repoId: Number(labels[REPO_ID_LABEL]), repo: repoName(labels[REPO_ID_LABEL]), app: labels[APP_LABEL] };
  }
  const mine = fieldManager(key);
  for (const e of managedFields(live)) {
    const m = e.operation === 'Apply' && e.manager !== mine ? APP_FIELD_MANAGER.exec(e.manager) : null;
    if (m) return { owner: 'other', repoId: Number(m[1]), repo: repoName(m[1] as string), app: m[2] as string };
  }
  return { owner: 'nobody' };
}

/** What the adopt annotation must say for this app: `<owner>/<repo>/<app>`. */
export function adoptValue(key: InventoryKey): string {
  return `${key.repo}/${key.app}`;
}

/** `Kind/namespace/name` (or `Kind/name` when cluster-scoped): how `adopt:` names an object. */
export function adoptRef(o: KubeObject): string {
  return [o.kind, o.metadata.namespace, o.metadata.name].filter((p) => p !== undefined && p !== '').join('/');
}
