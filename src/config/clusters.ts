import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { z } from 'zod';
import { UserError, errorText } from '../errors.js';
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

/** A local kubeconfig that cannot be used as given; the message says what to pass instead. */
export class KubeconfigError extends UserError {
  override name = 'KubeconfigError';
}

/** A local cluster and where it came from, for messages (`context "kind" of ~/.kube/config`). */
export interface LocalCluster {
  target: ClusterTarget;
  where: string;
}

/**
 * The local cluster of someone running mergeops on a laptop, as loadClusterTargets takes
 * it without a clusters file (the kubeconfig named, else KUBECONFIG, else ~/.kube/config,
 * else the pod's service account) but checked now, so a wrong path or context fails with
 * a message naming what exists rather than deep inside client-node. No policy applies.
 */
export function localClusterTarget(name: string, values: { kubeconfig?: string | undefined; context?: string | undefined }, env: NodeJS.ProcessEnv): LocalCluster {
  const target: ClusterTarget = { name, inCluster: false, grants: null };
  const fromEnv = (env['KUBECONFIG'] ?? '').split(path.delimiter).filter((f) => f !== '');
  let file: string | undefined;
  let label: string;
  const kc = new KubeConfig();
  if (values.kubeconfig !== undefined) {
    file = path.resolve(values.kubeconfig);
    label = file;
  } else if (fromEnv.length === 1) {
    file = path.resolve(fromEnv[0] as string);
    label = `${file} (KUBECONFIG)`;
  } else if (fromEnv.length > 1) {
    // Several files: client-node merges them the way kubectl does (from process.env).
    label = `KUBECONFIG=${fromEnv.join(path.delimiter)}`;
    for (const f of fromEnv) if (!fs.existsSync(f)) throw new KubeconfigError(`${f} (listed in KUBECONFIG) does not exist; fix KUBECONFIG or pass --kubeconfig`);
    try {
      kc.loadFromDefault();
    } catch (err) {
      throw new KubeconfigError(`cannot read ${label}: ${oneLine(errorText(err))}; fix it or pass --kubeconfig`);
    }
  } else {
    const home = env['HOME'] || os.homedir();
    const dflt = path.join(home, '.kube', 'config');
    if (fs.existsSync(dflt)) {
      file = dflt;
      label = dflt;
    } else if (env['KUBERNETES_SERVICE_HOST']) {
      target.inCluster = true;
      if (values.context) throw new KubeconfigError('--context needs a kubeconfig; inside a pod pass --kubeconfig too');
      return { target, where: 'the in-cluster service account' };
    } else {
      throw new KubeconfigError(`no kubeconfig found (KUBECONFIG is unset and ${dflt} does not exist); pass --kubeconfig <path> or set KUBECONFIG`);
    }
  }
  if (file !== undefined) {
    if (!fs.existsSync(file)) throw new KubeconfigError(`kubeconfig ${file} does not exist; pass --kubeconfig <path> or set KUBECONFIG`);
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new KubeconfigError(`cannot read kubeconfig ${file}: ${oneLine(errorText(err))}; fix it or pass another --kubeconfig`);
    }
    target.kubeconfig = file;
  }
  const contexts = kc.getContexts().map((c) => c.name);
  const listed = `contexts: ${contexts.join(', ') || 'none'}`;
  const context = values.context ?? kc.getCurrentContext();
  if (!context) throw new KubeconfigError(`${label} has no current context; pass --context (${listed})`);
  if (!kc.getContextObject(context)) throw new KubeconfigError(`context "${context}" is not in ${label} (${listed}); pass one of them with --context`);
  kc.setCurrentContext(context);
  if (!kc.getCurrentCluster()) throw new KubeconfigError(`context "${context}" in ${label} names a cluster the kubeconfig does not define; fix the kubeconfig or pick another --context`);
  if (values.context !== undefined) target.context = values.context;
  return { target, where: `context "${context}" of ${label}` };
}


function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}
