import fs from 'node:fs';
import { z } from 'zod';
import { errorText } from '../errors.js';
import { parseYamlDocuments } from '../yaml.js';
import { ConfigError, anyMapping, bool, check, fail, list, mapping, str, unset } from './validate.js';

const grantSchema = mapping({
  repos: unset(list(str())).describe('owner/name patterns of the repositories this grant is for.'),
  namespaces: unset(list(str())).describe('Namespaces their namespaced objects may be in.'),
  clusterKinds: unset(list(str())).describe('Cluster-scoped kinds they may touch (default: Namespace, only granted namespaces).'),
}).transform((g) => ({ repos: g.repos ?? [], namespaces: g.namespaces ?? [], clusterKinds: g.clusterKinds ?? ['Namespace'] }));

const clusterSchema = mapping({
  kubeconfig: unset(str()).describe('Path of the kubeconfig file for this cluster.'),
  context: unset(str()).describe('Context in that kubeconfig (default: its current context).'),
  inCluster: unset(bool()).describe("Use the pod's own service account instead of a kubeconfig."),
  grants: unset(list(grantSchema)).describe('Which repos may deploy what here; none listed means no repo may.'),
}).superRefine((c, ctx) => {
  if (!c.inCluster && !c.kubeconfig) fail(ctx, 'set kubeconfig (a file path) or inCluster: true');
});

/** MERGEOPS_CLUSTERS: the clusters the operator lets repos target, and the policy of each. */
export const clustersFileSchema = mapping({
  clusters: anyMapping(clusterSchema).describe('Clusters by the name apps use in `cluster:`.'),
}).superRefine((f, ctx) => {
  if (Object.keys(f.clusters).length === 0) fail(ctx, 'names no clusters', ['clusters']);
});

/** How to reach one cluster the operator configured. Credentials never come from a repo. */
export interface ClusterTarget {
  name: string;
  kubeconfig?: string;
  context?: string;
  inCluster: boolean;
  /** Which repos may deploy what here. Null: no policy file, everything allowed (local use). */
  grants: Grant[] | null;
}

/**
 * One rule of the operator's policy, like an Argo CD AppProject: repos matching `repos`
 * may touch namespaced objects in `namespaces` and cluster-scoped objects of
 * `clusterKinds` (default: only Namespace, and only namespaces they are granted).
 */
export type Grant = z.output<typeof grantSchema>;

export type ClusterTargets = Map<string, ClusterTarget>;

/**
 * Reads the operator's clusters file (MERGEOPS_CLUSTERS). Without one, the process's own
 * kubeconfig (KUBECONFIG or ~/.kube/config, current context) is the cluster "default",
 * which is what a newcomer running locally expects.
 */
export function loadClusterTargets(file: string | undefined): ClusterTargets {
  const targets: ClusterTargets = new Map();
  if (!file) {
    targets.set('default', { name: 'default', inCluster: false, grants: null });
    return targets;
  }
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read the clusters file ${file}: ${errorText(err)}`, 'MERGEOPS_CLUSTERS');
  }
  const parsed = check(clustersFileSchema, parseYamlDocuments(text, file)[0]?.value, 'MERGEOPS_CLUSTERS');
  for (const [name, c] of Object.entries(parsed.clusters)) {
    // A cluster the operator listed without grants accepts no repo: access is opt-in.
    const t: ClusterTarget = { name, inCluster: c.inCluster ?? false, grants: c.grants ?? [] };
    if (c.kubeconfig) t.kubeconfig = c.kubeconfig;
    if (c.context) t.context = c.context;
    targets.set(name, t);
  }
  return targets;
}
