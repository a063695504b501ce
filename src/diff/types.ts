import type { SourceRef } from '../objects.js';
import type { FieldChange } from './fields.js';

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
  /** The fields an update sets (Secret data: key paths only, never values). */
  fields?: FieldChange[];
  /**
   * A generated name changed (kustomize's hash suffix): this object replaces the one named
   * here, and the diff is against it. Applying creates this one and prune removes the old.
   */
  renamedFrom?: string;
}
