import fs from 'node:fs';
import { parseYamlDocuments } from '../yaml.js';
import { ConfigError, expectObj, optBool, optList, optString, optStringList } from './validate.js';

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
export interface Grant {
  repos: string[];
  namespaces: string[];
  clusterKinds: string[];
}

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
    throw new ConfigError(`cannot read the clusters file ${file}: ${(err as Error).message}`, 'MERGEOPS_CLUSTERS');
  }
  const doc = parseYamlDocuments(text, file)[0]?.value;
  const root = expectObj(doc, 'MERGEOPS_CLUSTERS', ['clusters']);
  const clusters = expectObj(root['clusters'], 'MERGEOPS_CLUSTERS.clusters', Object.keys(root['clusters'] ?? {}));
  for (const [name, raw] of Object.entries(clusters)) {
    const path = `MERGEOPS_CLUSTERS.clusters.${name}`;
    const o = expectObj(raw, path, ['kubeconfig', 'context', 'inCluster', 'grants']);
    const grants = (optList(o, 'grants', path) ?? []).map((g, i) => {
      const gp = `${path}.grants[${i}]`;
      const go = expectObj(g, gp, ['repos', 'namespaces', 'clusterKinds']);
      return {
        repos: optStringList(go, 'repos', gp) ?? [],
        namespaces: optStringList(go, 'namespaces', gp) ?? [],
        clusterKinds: optStringList(go, 'clusterKinds', gp) ?? ['Namespace'],
      };
    });
    // A cluster the operator listed without grants accepts no repo: access is opt-in.
    const t: ClusterTarget = { name, inCluster: optBool(o, 'inCluster', path) ?? false, grants };
    const kubeconfig = optString(o, 'kubeconfig', path);
    const context = optString(o, 'context', path);
    if (kubeconfig) t.kubeconfig = kubeconfig;
    if (context) t.context = context;
    if (!t.inCluster && !t.kubeconfig) throw new ConfigError('set kubeconfig (a file path) or inCluster: true', path);
    targets.set(name, t);
  }
  if (targets.size === 0) throw new ConfigError('names no clusters', 'MERGEOPS_CLUSTERS.clusters');
  return targets;
}
