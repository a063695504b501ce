import { managedFields, unionFieldSets, type ManagedFieldsEntry } from '../managed-fields.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { LEGACY_FIELD_MANAGER } from './inventory.js';
import { getOrNull } from './live.js';

/**
 * Hands the fields of the old shared `mergeops` manager to the app's own manager, as
 * Flux's ssa field-manager migration does: one managedFields entry for the app, holding
 * the union of both. Without it the old manager would keep co-owning every field, and a
 * field later dropped from Git would never be removed. Guarded by resourceVersion, so a
 * concurrent writer makes it re-read, not overwrite.
 */
export async function migrateFieldManager(cluster: Cluster, path: string, manager: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const live = await getOrNull(cluster, path);
    if (!live) return;
    const entries = managedFields(live);
    const patched = migratedEntries(entries, manager);
    if (!patched) return;
    try {
      await cluster.client.request('PATCH', path, {
        body: [
          { op: 'test', path: '/metadata/resourceVersion', value: live.metadata['resourceVersion'] },
          { op: 'replace', path: '/metadata/managedFields', value: patched },
        ],
        contentType: 'application/json-patch+json',
      });
      return;
    } catch (err) {
      // A failed test op (someone wrote meanwhile) answers 422 or 409: read again.
      if (!(err instanceof KubeApiError) || ![409, 422].includes(err.status) || attempt >= 3) throw err;
    }
  }
}

/** The entries with every legacy Apply entry folded into the app's own; null when there is none. */
export function migratedEntries(entries: ManagedFieldsEntry[], manager: string): ManagedFieldsEntry[] | null {
  const isLegacy = (e: ManagedFieldsEntry): boolean => e.manager === LEGACY_FIELD_MANAGER && e.operation === 'Apply' && !e.subresource;
  const legacy = entries.filter(isLegacy);
  if (legacy.length === 0) return null;
  const own = entries.find((e) => e.manager === manager && e.operation === 'Apply' && !e.subresource);
  const base = own ?? legacy[0] as ManagedFieldsEntry;
  const merged: ManagedFieldsEntry = { ...base, manager, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: unionFieldSets(own?.fieldsV1, ...legacy.map((e) => e.fieldsV1)) };
  return [...entries.filter((e) => !isLegacy(e) && e !== own), merged];
}
