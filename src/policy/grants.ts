import type { Grant } from '../config/clusters.js';
import { objectRef, type KubeObject } from '../objects.js';

export interface Violation {
  ref: string;
  rule: string;
}

/** `*` matches within one path segment (so `acme/*` is every repo of acme); `**` matches anything. */
export function globToRegExp(glob: string): RegExp {
  const re = glob
    .split('**')
    .map((part) => part.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('[^/]*'))
    .join('.*');
  return new RegExp(`^${re}$`);
}

function matches(globs: string[], value: string): boolean {
  return globs.some((g) => globToRegExp(g).test(value));
}

/**
 * Checks objects (namespaces already filled in) against the cluster's grants for `repo`.
 * Grants of one repo add up: an object is allowed when any grant for the repo allows it.
 * `grants === null` means the operator configured no policy (single-cluster local use).
 */
export function checkGrants(
  objects: { object: KubeObject; namespaced: boolean }[],
  repo: string,
  cluster: string,
  grants: Grant[] | null,
): Violation[] {
  if (grants === null) return [];
  const mine = grants.filter((g) => matches(g.repos, repo));
  if (mine.length === 0) {
    return [{ ref: `cluster ${cluster}`, rule: `repository ${repo} is not granted cluster "${cluster}"; ask the operator to add it to MERGEOPS_CLUSTERS grants` }];
  }
  const namespaces = mine.flatMap((g) => g.namespaces);
  const kinds = [...new Set(mine.flatMap((g) => g.clusterKinds))];
  const out: Violation[] = [];
  for (const { object, namespaced } of objects) {
    const ref = objectRef(object);
    if (namespaced) {
      const ns = object.metadata.namespace ?? '';
      if (!matches(namespaces, ns)) out.push({ ref, rule: `namespace "${ns}" is not granted to ${repo} on cluster "${cluster}" (granted: ${namespaces.join(', ') || 'none'})` });
    } else if (!kinds.includes(object.kind)) {
      out.push({ ref, rule: `cluster-scoped kind ${object.kind} is not granted to ${repo} on cluster "${cluster}" (granted: ${kinds.join(', ') || 'none'})` });
    } else if (object.kind === 'Namespace' && !matches(namespaces, object.metadata.name ?? '')) {
      out.push({ ref, rule: `namespace "${object.metadata.name}" is not granted to ${repo} on cluster "${cluster}" (granted: ${namespaces.join(', ') || 'none'})` });
    }
  }
  return out;
}
