import type { SourceRef } from '../render/types.js';

/** `replace`: an immutable field changes, so the deploy deletes the object and creates it again. */
export type DiffAction = 'create' | 'update' | 'replace' | 'delete' | 'unchanged';

export interface SecretKeyChanges {
  added: string[];
  changed: string[];
  removed: string[];
  /** Keys whose live value this app did not write: set by the apply, never compared. */
  hidden?: string[];
}

export interface ObjectDiff {
  /** `apiVersion Kind namespace/name` as users read it. */
  ref: string;
  kind: string;
  action: DiffAction;
  /** Unified diff hunks, secret values already masked; empty when unchanged. */
  diff: string;
  secretKeys?: SecretKeyChanges;
  source?: SourceRef;
  note?: string;
}
