import { groupKind, kindNameProblem, type ActingIdentity, type Grant } from '../config/clusters.js';
import { atLeast, type Permission } from '../config/command-permissions.js';
import { UserError } from '../errors.js';
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

export function matchesAny(globs: string[], value: string): boolean {
  return globs.some((g) => globToRegExp(g).test(value));
}

/**
 * Checks objects (namespaces already filled in) against the cluster's grants for `repo`.
 * An object is allowed when some grant for the repo allows it: a namespaced object in one of
 * that grant's namespaces, a cluster-scoped one of that grant's `clusterKinds` (a Namespace
 * only when it is one of the grant's namespaces), and in either case not of a kind the same
 * grant lists in `denyKinds`. `grants === null` means the operator configured no policy
 * (single-cluster local use).
 */
export function checkGrants(
  objects: { object: KubeObject; namespaced: boolean }[],
  repo: string,
  cluster: string,
  grants: Grant[] | null,
): Violation[] {
  if (grants === null) return [];
  const mine = grants.filter((g) => matchesAny(g.repos, repo));
  if (mine.length === 0) {
    return [{ ref: `cluster ${cluster}`, rule: `repository ${repo} is not granted cluster "${cluster}"; ask the operator to add it to MERGEOPS_CLUSTERS grants` }];
  }
  const out: Violation[] = [];
  for (const { object, namespaced } of objects) {
    const rule = refusal(object, namespaced, mine, repo, cluster);
    if (rule) out.push({ ref: objectRef(object), rule });
  }
  return out;
}

/** Why no grant allows `object`, naming the closest rule; null when one does. */
function refusal(object: KubeObject, namespaced: boolean, mine: Grant[], repo: string, cluster: string): string | null {
  const gk = groupKind(object);
  const where = `to ${repo} on cluster "${cluster}"`;
  const namespaces = mine.flatMap((g) => g.namespaces);
  const inNamespaces = (g: Grant, ns: string): boolean => matchesAny(g.namespaces, ns);
  // The grants whose scope covers the object, before their deny lists.
  const covering = namespaced
    ? mine.filter((g) => inNamespaces(g, object.metadata.namespace ?? ''))
    : mine.filter((g) => g.clusterKinds.includes(gk) && (gk !== 'Namespace' || inNamespaces(g, object.metadata.name ?? '')));
  if (covering.some((g) => !g.denyKinds.includes(gk))) return null;
  if (covering.length > 0) return `kind ${gk} is denied ${where} (denyKinds of every grant that covers it)`;
  if (namespaced) {
    const ns = object.metadata.namespace ?? '';
    return `namespace "${ns}" is not granted ${where} (granted: ${namespaces.join(', ') || 'none'})`;
  }
  const kinds = [...new Set(mine.flatMap((g) => g.clusterKinds))];
  if (kinds.includes(gk)) return `namespace "${object.metadata.name}" is not granted ${where} (granted: ${namespaces.join(', ') || 'none'})`;
  const hint = kinds.map(kindNameProblem).find((p) => p !== null);
  return `cluster-scoped kind ${gk} is not granted ${where} (granted: ${kinds.join(', ') || 'none'})${hint ? `; ${hint}` : ''}`;
}

/** Labels and annotations mergeops itself writes on every object it applies. */
const INVENTORY_KEYS = /^(mergeops\.dev\/|app\.kubernetes\.io\/managed-by$)/;

/**
 * A Namespace's labels and annotations are how it is kept in check (Pod Security admission
 * reads `pod-security.kubernetes.io/*`, network and quota tooling read others), so a repo
 * may change them only on Namespaces its app created — unless a grant says
 * `namespaceMetadata: true`. Returns the refusal for a Namespace that exists live and that
 * this app did not create (`ownedByApp` false: someone else's, or adopted — now or on an
 * earlier deploy) when applying `desired` would change or add such a key; null otherwise.
 */
export function checkNamespaceMetadata(
  desired: KubeObject,
  live: KubeObject | null,
  ownedByApp: boolean,
  repo: string,
  cluster: string,
  grants: Grant[] | null,
): Violation | null {
  if (grants === null || live === null || ownedByApp || desired.kind !== 'Namespace' || desired.apiVersion !== 'v1') return null;
  const name = desired.metadata.name ?? '';
  if (grants.some((g) => g.namespaceMetadata && matchesAny(g.repos, repo) && matchesAny(g.namespaces, name))) return null;
  const changed: string[] = [];
  for (const field of ['labels', 'annotations'] as const) {
    const want = desired.metadata[field] ?? {};
    const have = live.metadata[field] ?? {};
    for (const [k, v] of Object.entries(want)) {
      if (!INVENTORY_KEYS.test(k) && have[k] !== v) changed.push(`${field === 'labels' ? 'label' : 'annotation'} ${k}: ${have[k] === undefined ? '(unset)' : JSON.stringify(have[k])} → ${JSON.stringify(v)}`);
    }
  }
  if (changed.length === 0) return null;
  return {
    ref: objectRef(desired),
    rule: `would change ${changed.join(', ')} of Namespace ${name}, which this app did not create; remove them from Git, or ask the operator to set namespaceMetadata: true on the grant (cluster "${cluster}") if ${repo} should manage them`,
  };
}

/** A branch that may not deploy; `noPolicy` when that is the rule of running without a policy (nothing failed). */
export interface BranchViolation extends Violation {
  noPolicy?: true;
}

/**
 * Whether a commit of `branch` may deploy to `cluster` at all. Where and how something
 * deploys is read from the deployed commit's config, so a branch the operator did not
 * allow (a grant's `branches:` globs; default: the repository's default branch only, which
 * is the one branch protection and review guard) must not deploy, whatever its config says.
 * Grants add up. Without a policy (`grants === null`, local use) only the default branch
 * deploys as well.
 */
export function checkDeployBranch(repo: string, branch: string, defaultBranch: string, cluster: string, grants: Grant[] | null, environment?: string): BranchViolation | null {
  if (grants === null) {
    if (branch === defaultBranch) return null;
    return {
      ref: `branch ${branch}`,
      noPolicy: true,
      rule: `branch "${branch}" does not deploy ${repo}: the operator configured no policy (no MERGEOPS_CLUSTERS file), and then only the default branch "${defaultBranch}" deploys, whatever the branch's own config says; merge into "${defaultBranch}", or ask the operator for a clusters file whose grant lists this branch under branches:`,
    };
  }
  const forRepo = grants.filter((g) => matchesAny(g.repos, repo));
  // No grant for the repo: checkGrants names that refusal.
  if (forRepo.length === 0) return null;
  const mine = forRepo.filter((g) => coversEnvironment(g, environment));
  if (mine.length === 0) {
    const which = environment === undefined ? 'apps without environments' : `environment "${environment}"`;
    return { ref: `cluster ${cluster}`, rule: `no grant of cluster "${cluster}" for ${repo} covers ${which} (its grants name environments: ${forRepo.flatMap((g) => g.environments ?? []).join(', ')}); ask the operator to add it to a grant's environments in MERGEOPS_CLUSTERS` };
  }
  const allowed = [...new Set(mine.flatMap((g) => g.branches ?? [defaultBranch]))];
  if (matchesAny(allowed, branch)) return null;
  return {
    ref: `branch ${branch}`,
    rule: `branch "${branch}" may not deploy ${repo} to cluster "${cluster}" (allowed: ${allowed.join(', ')}); merge into an allowed branch, or ask the operator to add it to the grant's branches in MERGEOPS_CLUSTERS`,
  };
}

/** A grant without `environments:` covers every app on its cluster; one with it, only the units of those environments. */
function coversEnvironment(g: Grant, environment: string | undefined): boolean {
  return g.environments === undefined || (environment !== undefined && matchesAny(g.environments, environment));
}

/**
 * The strictest `requireApproval:` of the grants that cover `repo`'s deploys of `environment`
 * on this cluster, or null: the operator's approval, whatever the repository's config says.
 */
export function requiredApproval(repo: string, grants: Grant[] | null, environment: string | undefined): Permission | null {
  let need: Permission | null = null;
  for (const g of grants ?? []) {
    if (!g.requireApproval || !matchesAny(g.repos, repo) || !coversEnvironment(g, environment)) continue;
    if (need === null || atLeast(g.requireApproval, need)) need = g.requireApproval;
  }
  return need;
}

/** The role that promotes an environment: the stricter of the repository's `approval:` and the operator's `requireApproval:`; null when neither asks. */
export function approvalRole(repoApproval: Permission | undefined, operator: Permission | null): Permission | null {
  if (operator === null) return repoApproval ?? null;
  if (repoApproval === undefined) return operator;
  return atLeast(repoApproval, operator) ? repoApproval : operator;
}

/**
 * The operator's `requireApproval:` on a grant that covers an app without environments:
 * only an environment can wait for a promotion, so such a deploy is refused, never made
 * without one. (Environment units wait instead: see requiredApproval.)
 */
export function checkApprovalRequired(repo: string, cluster: string, grants: Grant[] | null, environment?: string): Violation | null {
  if (environment !== undefined) return null;
  const need = requiredApproval(repo, grants, environment);
  if (need === null) return null;
  return {
    ref: `cluster ${cluster}`,
    rule: `the operator requires an approval (${need}) for every deploy of ${repo} to cluster "${cluster}", and only an environment can wait for one (environments: with approval:), so nothing was applied; list the app under an environment on this cluster, or ask the operator to drop requireApproval from the grant in MERGEOPS_CLUSTERS`,
  };
}

/**
 * The identity `repo`'s requests on `cluster` impersonate: the one its grants name, or null
 * (mergeops' own) when none does. Every grant matching the repository must name the same
 * one — a request cannot be sent as two identities, and silently picking one would let a
 * grant without an identity widen (or narrow) another's without the operator seeing it.
 */
export function identityFor(repo: string, cluster: string, grants: Grant[] | null): ActingIdentity | null {
  const mine = (grants ?? []).filter((g) => matchesAny(g.repos, repo));
  const named = [...new Map(mine.map((g) => [g.identity ? JSON.stringify([g.identity.user, g.identity.groups]) : '', g.identity ?? null])).values()];
  if (named.length <= 1) return named[0] ?? null;
  const who = named.map((i) => (i ? i.named : "mergeops' own identity (no serviceAccount or user)"));
  throw new UserError(
    `the grants for ${repo} on cluster "${cluster}" name different identities to act as (${who.join('; ')}); every grant matching a repository must name the same serviceAccount or user — ask the operator to fix MERGEOPS_CLUSTERS`,
  );
}
