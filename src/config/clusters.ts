import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kubeconfig } from '../kubeconfig.js';
import { z } from 'zod';
import type { KubeObject } from '../objects.js';
import { UserError, errorText } from '../errors.js';
import { parseYamlDocuments } from '../yaml.js';
import { ConfigError, anyMapping, bool, check, fail, list, mapping, str, unset } from './validate.js';
import { COMMAND_NAMES, DEFAULT_REQUIRED, PERMISSION_LEVELS, atLeast, isPermission, type CommandName, type CommandPermissions, type Permission } from './command-permissions.js';

/** A role a grant may require for a command: never below the command's default. */
const raisedLevel = (command: CommandName) =>
  str().superRefine((v, ctx) => {
    if (!isPermission(v)) fail(ctx, `expected one of ${PERMISSION_LEVELS.join(', ')}`);
    else if (!atLeast(v, DEFAULT_REQUIRED[command])) fail(ctx, `"${v}" is below the default (${DEFAULT_REQUIRED[command]}); grants can only raise what a command needs`);
  });

const commandsSchema = mapping({
  help: unset(raisedLevel('help')),
  preview: unset(raisedLevel('preview')),
  deploy: unset(raisedLevel('deploy')),
  lock: unset(raisedLevel('lock')),
  unlock: unset(raisedLevel('unlock')),
  rollback: unset(raisedLevel('rollback')),
  promote: unset(raisedLevel('promote')),
  env: unset(raisedLevel('env')),
}).transform((o): CommandPermissions => {
  const out: CommandPermissions = {};
  for (const c of COMMAND_NAMES) if (o[c] && isPermission(o[c])) out[c] = o[c] as Permission;
  return out;
});

/** A kind as grants name it: `group/Kind`, or a bare core kind; see kindNameProblem. */
const kindName = () =>
  str().superRefine((k, ctx) => {
    const problem = kindNameProblem(k);
    if (problem) fail(ctx, problem);
  });

/**
 * Where each cluster keeps its apps' inventories unless the operator names another
 * namespace: one the operator owns, so no repository's grant can reach (or forge) them.
 */
export const DEFAULT_INVENTORY_NAMESPACE = 'mergeops-system';

/** A namespace name (DNS-1123 label). */
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
/** `namespace/name` of a ServiceAccount: a DNS-1123 label, then a DNS-1123 subdomain. */
const SERVICE_ACCOUNT = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/;

/**
 * Who a grant's repositories act as on its cluster: the Kubernetes user (and groups) every
 * request for their apps impersonates (`Impersonate-User`, `Impersonate-Group`), so the
 * API server checks that identity's RBAC as well as mergeops checking the grant.
 */
export interface ActingIdentity {
  user: string;
  groups: string[];
  /** How the operator wrote it, for messages: `serviceAccount shop/deployer`, `user alice`. */
  named: string;
}

function actingIdentity(serviceAccount: string | undefined, user: string | undefined, groups: string[]): ActingIdentity {
  if (serviceAccount !== undefined) {
    const [ns, name] = serviceAccount.split('/') as [string, string];
    return { user: `system:serviceaccount:${ns}:${name}`, groups, named: `serviceAccount ${serviceAccount}` };
  }
  return { user: user as string, groups, named: `user ${user}` };
}

const positiveInt = () => z.number({ error: (iss) => `expected a whole number, got ${JSON.stringify(iss.input)}` }).int().positive();

/** Defaults of a grant's `preview:`, in one place (README and .env.example name them). */
export const PREVIEW_DEFAULTS = { role: 'edit', maxPerRepository: 3, maxTotal: 10 } as const;

const previewGrantSchema = mapping({
  role: unset(str()).describe(`The ClusterRole bound (by a RoleBinding in each preview namespace) to the ServiceAccount the environment is applied as (default: ${PREVIEW_DEFAULTS.role}). Nothing it grants reaches outside the namespace.`),
  maxPerRepository: unset(positiveInt()).describe(`Preview environments one repository may run on this cluster at once (default: ${PREVIEW_DEFAULTS.maxPerRepository}).`),
  maxTotal: unset(positiveInt()).describe(`Preview environments of every repository on this cluster at once (default: ${PREVIEW_DEFAULTS.maxTotal}).`),
  resourceQuota: anyMapping(z.unknown()).optional().describe('The spec of a ResourceQuota created in every preview namespace (e.g. {hard: {pods: "10", requests.cpu: "2"}}).'),
  limitRange: anyMapping(z.unknown()).optional().describe('The spec of a LimitRange created in every preview namespace (default requests and limits for containers).'),
});

const grantSchema = mapping({
  repos: unset(list(str())).describe('owner/name patterns of the repositories this grant is for.'),
  namespaces: unset(list(str())).describe('Namespaces their namespaced objects may be in.'),
  clusterKinds: unset(list(kindName())).describe('Cluster-scoped kinds they may touch, as group/Kind (bare Kind for the core group; default: Namespace, only granted namespaces).'),
  denyKinds: unset(list(kindName())).describe('Kinds this grant never allows, namespaced or cluster-scoped, as group/Kind (e.g. rbac.authorization.k8s.io/RoleBinding).'),
  namespaceMetadata: unset(bool()).describe('May change labels and annotations of existing Namespaces the app did not create (default: false).'),
  branches: unset(list(str())).describe("Branches (globs) whose commits may deploy here (default: the repository's default branch only)."),
  environments: unset(list(str())).describe("Environments (globs of the names under a repository's environments:) this grant covers; default: every app deployed here, with or without environments."),
  requireApproval: unset(raisedLevel('deploy')).describe("A person with this repository role must promote each deploy to an environment this grant covers (write, maintain, admin), whatever the repository's approval: says (the stricter of the two wins). Apps without environments cannot be held: their deploys here are refused."),
  commands: unset(commandsSchema).describe('Raise the repository role a /mergeops command needs on apps this grant covers, e.g. {rollback: maintain} (read, triage, write, maintain, admin; never below the default).'),
  serviceAccount: unset(str(SERVICE_ACCOUNT, 'write namespace/name of a ServiceAccount, e.g. shop/mergeops-deployer')).describe(
    "Act as this ServiceAccount (namespace/name) on this cluster: every request for these repositories' apps is sent impersonating it, so the API server enforces its RBAC too.",
  ),
  user: unset(str()).describe('Act as this user on this cluster (Kubernetes impersonation), like serviceAccount; not both.'),
  groups: unset(list(str())).describe('Groups to impersonate along with serviceAccount or user (default for a ServiceAccount: the API server adds its own groups).'),
  previewNamespaces: unset(list(str())).describe('Namespaces (globs, e.g. ["pr-*"]) in which these repositories may run per-PR preview environments; none: no preview environments.'),
  preview: unset(previewGrantSchema).describe('How preview environments run here: the role they get in their namespace, caps, and the quota every preview namespace gets.'),
}).superRefine((g, ctx) => {
  if (g.serviceAccount !== undefined && g.user !== undefined) fail(ctx, 'name one identity: serviceAccount or user, not both', ['user']);
  if (g.groups !== undefined && g.serviceAccount === undefined && g.user === undefined) fail(ctx, 'groups are impersonated along with a user: set serviceAccount or user too', ['groups']);
  if (g.preview !== undefined && !g.previewNamespaces?.length) fail(ctx, 'preview: has no effect without previewNamespaces (the namespaces preview environments may use)', ['preview']);
}).transform((g) => ({
  ...(g.commands ? { commands: g.commands } : {}),
  ...(g.serviceAccount !== undefined || g.user !== undefined ? { identity: actingIdentity(g.serviceAccount, g.user, g.groups ?? []) } : {}),
  repos: g.repos ?? [],
  namespaces: g.namespaces ?? [],
  clusterKinds: g.clusterKinds ?? ['Namespace'],
  denyKinds: g.denyKinds ?? [],
  namespaceMetadata: g.namespaceMetadata ?? false,
  ...(g.branches ? { branches: g.branches } : {}),
  ...(g.environments ? { environments: g.environments } : {}),
  ...(g.requireApproval && isPermission(g.requireApproval) ? { requireApproval: g.requireApproval } : {}),
  ...(g.previewNamespaces?.length
    ? {
        preview: {
          namespaces: g.previewNamespaces,
          role: g.preview?.role ?? PREVIEW_DEFAULTS.role,
          maxPerRepository: g.preview?.maxPerRepository ?? PREVIEW_DEFAULTS.maxPerRepository,
          maxTotal: g.preview?.maxTotal ?? PREVIEW_DEFAULTS.maxTotal,
          ...(g.preview?.resourceQuota ? { resourceQuota: g.preview.resourceQuota } : {}),
          ...(g.preview?.limitRange ? { limitRange: g.preview.limitRange } : {}),
        } as PreviewGrant,
      }
    : {}),
}));

/** What a grant allows of preview environments, defaults filled in. */
export interface PreviewGrant {
  namespaces: string[];
  role: string;
  maxPerRepository: number;
  maxTotal: number;
  resourceQuota?: Record<string, unknown>;
  limitRange?: Record<string, unknown>;
}

const clusterSchema = mapping({
  kubeconfig: unset(str()).describe('Path of the kubeconfig file for this cluster.'),
  context: unset(str()).describe('Context in that kubeconfig (default: its current context).'),
  inCluster: unset(bool()).describe("Use the pod's own service account instead of a kubeconfig."),
  grants: unset(list(grantSchema)).describe('Which repos may deploy what here; none listed means no repo may.'),
  inventoryNamespace: unset(str(DNS_LABEL, 'use a namespace name: lowercase letters, digits and "-", at most 63 characters')).describe(
    `Namespace holding one inventory ConfigMap per app deployed here (default: ${DEFAULT_INVENTORY_NAMESPACE}). No app may deploy into it; grant mergeops' own RBAC access to ConfigMaps there.`,
  ),
}).superRefine((c, ctx) => {
  if (!c.inCluster && !c.kubeconfig) fail(ctx, 'set kubeconfig (a file path) or inCluster: true');
});

/** MERGEOPS_CLUSTERS: the clusters the operator lets repos target, and the policy of each. */
export const clustersFileSchema = mapping({
  clusters: anyMapping(clusterSchema).describe('Clusters by the name apps use in `cluster:`.'),
}).superRefine((f, ctx) => {
  if (Object.keys(f.clusters).length === 0) fail(ctx, 'names no clusters', ['clusters']);
});

/** The Helm chart's values schema, whose `clusters` part is generated from clustersFileSchema. */
export const CHART_VALUES_SCHEMA_FILE = 'charts/mergeops/values.schema.json';

/**
 * The JSON Schema (draft-07, the one Helm validates values with) of the clusters map as the
 * chart takes it: what MERGEOPS_CLUSTERS accepts under `clusters:`, plus `null` for the map and
 * for a cluster (Helm's way to drop the chart's default cluster). Generated, so the chart
 * refuses exactly what the app would refuse and accepts everything it reads.
 */
export function chartClustersJsonSchema(): Record<string, unknown> {
  const file = z.toJSONSchema(clustersFileSchema, { io: 'input', target: 'draft-7' }) as unknown as { properties: { clusters: { additionalProperties: Record<string, unknown>; description?: string } } };
  const { additionalProperties: cluster, description } = file.properties.clusters;
  return {
    description: `${description ?? ''} Rendered into the clusters file (MERGEOPS_CLUSTERS); generated from the app's own schema (npm run schema).`.trim(),
    type: ['object', 'null'],
    additionalProperties: { anyOf: [cluster, { type: 'null' }] },
  };
}

/** How to reach one cluster the operator configured. Credentials never come from a repo. */
export interface ClusterTarget {
  name: string;
  kubeconfig?: string;
  context?: string;
  inCluster: boolean;
  /** Which repos may deploy what here. Null: no policy file, everything allowed (local use). */
  grants: Grant[] | null;
  /** Namespace of the apps' inventory ConfigMaps; absent: DEFAULT_INVENTORY_NAMESPACE. */
  inventoryNamespace?: string;
}

/**
 * One rule of the operator's policy, like an Argo CD AppProject: repos matching `repos`
 * may touch namespaced objects in `namespaces` and cluster-scoped objects of
 * `clusterKinds` (default: only Namespace, and only namespaces they are granted).
 */
export type Grant = z.output<typeof grantSchema>;

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
    throw new ConfigError(`cannot read the clusters file ${file}: ${errorText(err)}`, 'MERGEOPS_CLUSTERS');
  }
  const parsed = check(clustersFileSchema, parseYamlDocuments(text, file)[0]?.value, 'MERGEOPS_CLUSTERS');
  for (const [name, c] of Object.entries(parsed.clusters)) {
    // A cluster the operator listed without grants accepts no repo: access is opt-in.
    const t: ClusterTarget = { name, inCluster: c.inCluster ?? false, grants: c.grants ?? [] };
    if (c.kubeconfig) t.kubeconfig = c.kubeconfig;
    if (c.context) t.context = c.context;
    if (c.inventoryNamespace) t.inventoryNamespace = c.inventoryNamespace;
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
  const kc = new Kubeconfig();
  if (values.kubeconfig !== undefined) {
    file = path.resolve(values.kubeconfig);
    label = file;
  } else if (fromEnv.length === 1) {
    file = path.resolve(fromEnv[0] as string);
    label = `${file} (KUBECONFIG)`;
  } else if (fromEnv.length > 1) {
    // Several files: merged the way kubectl merges them.
    label = `KUBECONFIG=${fromEnv.join(path.delimiter)}`;
    for (const f of fromEnv) if (!fs.existsSync(f)) throw new KubeconfigError(`${f} (listed in KUBECONFIG) does not exist; fix KUBECONFIG or pass --kubeconfig`);
    try {
      kc.loadFromDefault(env);
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
