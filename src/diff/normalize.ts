import type { KubeObject } from '../render/types.js';

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
