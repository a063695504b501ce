import type { SourceRef } from '../objects.js';

export type DiffAction = 'create' | 'update' | 'delete' | 'unchanged';

export interface SecretKeyChanges {
  added: string[];
  changed: string[];
  removed: string[];
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
