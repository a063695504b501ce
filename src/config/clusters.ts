import fs from 'node:fs';
import type { KubeObject } from '../render/types.js';
import { parseYamlDocuments } from '../render/yaml.js';
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
  /** `group/Kind` (bare `Kind` for the core group, as in `Namespace`). */
  clusterKinds: string[];
  /** `group/Kind`s this grant never allows, namespaced or not (e.g. `rbac.authorization.k8s.io/RoleBinding`). */
  denyKinds: string[];
  /** May change labels/annotations of existing Namespaces the app did not create (Pod Security labels, say). */
  namespaceMetadata: boolean;
}

export type ClusterTargets = Map<string, ClusterTarget>;

/**
 * How grants name a kind: `group/Kind`, or the bare `Kind` for the core group (`Namespace`,
 * `ConfigMap`). The group is part of the name because any CRD may define a kind called
 * `CustomResourceDefinition` or `ClusterRole` in its own group.
 */
export function groupKind(o: Pick<KubeObject, 'apiVersion' | 'kind'>): string {
  const slash = o.apiVersion.indexOf('/');
  return slash < 0 ? o.kind : `${o.apiVersion.slice(0, slash)}/${o.kind}`;
}

/**
 * The API groups of the kinds people most often write without one, so a grant that says
 * `ClusterRole` gets told what it must say instead of silently matching nothing.
 */
const WELL_KNOWN_GROUPS: Record<string, string> = {
  CustomResourceDefinition: 'apiextensions.k8s.io',
  ClusterRole: 'rbac.authorization.k8s.io',
  ClusterRoleBinding: 'rbac.authorization.k8s.io',
  Role: 'rbac.authorization.k8s.io',
  RoleBinding: 'rbac.authorization.k8s.io',
  StorageClass: 'storage.k8s.io',
  PriorityClass: 'scheduling.k8s.io',
  IngressClass: 'networking.k8s.io',
  NetworkPolicy: 'networking.k8s.io',
  MutatingWebhookConfiguration: 'admissionregistration.k8s.io',
  ValidatingWebhookConfiguration: 'admissionregistration.k8s.io',
  ValidatingAdmissionPolicy: 'admissionregistration.k8s.io',
  ValidatingAdmissionPolicyBinding: 'admissionregistration.k8s.io',
  APIService: 'apiregistration.k8s.io',
  Deployment: 'apps',
  StatefulSet: 'apps',
  DaemonSet: 'apps',
  Job: 'batch',
  CronJob: 'batch',
  Ingress: 'networking.k8s.io',
  PodDisruptionBudget: 'policy',
  HorizontalPodAutoscaler: 'autoscaling',
};

/**
 * A kind name in a grant that cannot mean what its writer meant: a bare name of a kind that
 * lives in an API group. Returns what to write instead, or null when the name is fine.
 */
export function kindNameProblem(name: string): string | null {
  if (name.includes('/')) return /^[a-z0-9.-]+\/[A-Z][A-Za-z0-9]*$/.test(name) ? null : `"${name}" is not group/Kind (for example apiextensions.k8s.io/CustomResourceDefinition)`;
  const group = WELL_KNOWN_GROUPS[name];
  return group ? `${name} is in the API group ${group}: write ${group}/${name} (a bare name means the core group)` : null;
}


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
      const go = expectObj(g, gp, ['repos', 'namespaces', 'clusterKinds', 'denyKinds', 'namespaceMetadata']);
      const grant: Grant = {
        repos: optStringList(go, 'repos', gp) ?? [],
        namespaces: optStringList(go, 'namespaces', gp) ?? [],
        clusterKinds: optStringList(go, 'clusterKinds', gp) ?? ['Namespace'],
        denyKinds: optStringList(go, 'denyKinds', gp) ?? [],
        namespaceMetadata: optBool(go, 'namespaceMetadata', gp) ?? false,
      };
      for (const key of ['clusterKinds', 'denyKinds'] as const) {
        grant[key].forEach((k, j) => {
          const problem = kindNameProblem(k);
          if (problem) throw new ConfigError(problem, `${gp}.${key}[${j}]`);
        });
      }
      return grant;
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
