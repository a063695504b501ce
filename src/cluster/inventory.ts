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

export interface InventoryKey {
  repoId: number;
  repo: string;
  app: string;
}

export function withInventory(obj: KubeObject, key: InventoryKey): KubeObject {
  const copy = structuredClone(obj);
  copy.metadata.labels = { ...copy.metadata.labels, [MANAGED_BY_LABEL]: MANAGED_BY, [APP_LABEL]: key.app, [REPO_ID_LABEL]: String(key.repoId) };
  copy.metadata.annotations = { ...copy.metadata.annotations, [REPO_ANNOTATION]: key.repo };
  return copy;
}

export function inventorySelector(key: InventoryKey): string {
  return `${MANAGED_BY_LABEL}=${MANAGED_BY},${APP_LABEL}=${key.app},${REPO_ID_LABEL}=${key.repoId}`;
}
