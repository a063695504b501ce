import { describe, expect, it } from '@jest/globals';
import { groupKind, kindNameProblem, type Grant } from '../../../src/config/clusters.js';
import { approvalRole, checkApprovalRequired, requiredApproval, checkDeployBranch, checkGrants, checkNamespaceMetadata, globToRegExp, identityFor } from '../../../src/policy/grants.js';
import type { KubeObject } from '../../../src/objects.js';
import { UserError } from '../../../src/errors.js';

const grant = (g: Partial<Grant> & Pick<Grant, 'repos'>): Grant => ({ namespaces: [], clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false, ...g });
const obj = (apiVersion: string, kind: string, namespace?: string, name = 'x'): { object: KubeObject; namespaced: boolean } => ({
  object: { apiVersion, kind, metadata: namespace ? { name, namespace } : { name } },
  namespaced: namespace !== undefined,
});
const cm = (ns: string): { object: KubeObject; namespaced: boolean } => ({ object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', namespace: ns } }, namespaced: true });
const clusterObj = (kind: string, name = 'x'): { object: KubeObject; namespaced: boolean } => ({
  object: { apiVersion: kind === 'Namespace' ? 'v1' : 'rbac.authorization.k8s.io/v1', kind, metadata: { name } },
  namespaced: false,
});

describe('globToRegExp', () => {
  it('* stays within a segment, ** crosses them, dots are literal', () => {
    expect(globToRegExp('acme/*').test('acme/shop')).toBe(true);
    expect(globToRegExp('acme/*').test('acme/shop/x')).toBe(false);
    expect(globToRegExp('acme/*').test('other/shop')).toBe(false);
    expect(globToRegExp('**').test('a/b/c')).toBe(true);
    expect(globToRegExp('team-*').test('team-a')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
  });
});

describe('checkGrants', () => {
  const grants: Grant[] = [
    grant({ repos: ['acme/*'], namespaces: ['shop-*'], clusterKinds: ['Namespace'] }),
    grant({ repos: ['acme/platform'], namespaces: ['infra'], clusterKinds: ['rbac.authorization.k8s.io/ClusterRole'] }),
  ];

  it('allows everything when the operator configured no policy', () => {
    expect(checkGrants([cm('kube-system'), clusterObj('ClusterRole')], 'x/y', 'default', null)).toEqual([]);
  });

  it('refuses a repo with no grant on the cluster at all', () => {
    expect(checkGrants([cm('shop-a')], 'evil/repo', 'prod', grants)).toEqual([
      { ref: 'cluster prod', rule: expect.stringContaining('repository evil/repo is not granted cluster "prod"') },
    ]);
  });

  it('checks namespaces and cluster-scoped kinds, and names object and rule', () => {
    const v = checkGrants([cm('shop-a'), cm('kube-system'), clusterObj('ClusterRole', 'admin'), clusterObj('Namespace', 'shop-new'), clusterObj('Namespace', 'default')], 'acme/shop', 'prod', grants);
    expect(v).toEqual([
      { ref: 'v1 ConfigMap kube-system/c', rule: 'namespace "kube-system" is not granted to acme/shop on cluster "prod" (granted: shop-*)' },
      { ref: 'rbac.authorization.k8s.io/v1 ClusterRole admin', rule: 'cluster-scoped kind rbac.authorization.k8s.io/ClusterRole is not granted to acme/shop on cluster "prod" (granted: Namespace)' },
      { ref: 'v1 Namespace default', rule: 'namespace "default" is not granted to acme/shop on cluster "prod" (granted: shop-*)' },
    ]);
  });

  it('adds up every grant that matches the repo', () => {
    expect(checkGrants([cm('infra'), cm('shop-b'), clusterObj('ClusterRole')], 'acme/platform', 'prod', grants)).toEqual([]);
  });
});

describe('grants name kinds by group/Kind', () => {
  it('groupKind: the core group is the bare kind, every other group is spelled out', () => {
    expect(groupKind({ apiVersion: 'v1', kind: 'Namespace' })).toBe('Namespace');
    expect(groupKind({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition' })).toBe('apiextensions.k8s.io/CustomResourceDefinition');
    expect(groupKind({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' })).toBe('rbac.authorization.k8s.io/RoleBinding');
  });

  it('a CRD of its own group named CustomResourceDefinition is not the granted CustomResourceDefinition', () => {
    const g = [grant({ repos: ['acme/*'], clusterKinds: ['apiextensions.k8s.io/CustomResourceDefinition'] })];
    expect(checkGrants([obj('apiextensions.k8s.io/v1', 'CustomResourceDefinition')], 'acme/shop', 'prod', g)).toEqual([]);
    expect(checkGrants([obj('evil.example.com/v1', 'CustomResourceDefinition')], 'acme/shop', 'prod', g)).toEqual([
      { ref: 'evil.example.com/v1 CustomResourceDefinition x', rule: expect.stringContaining('cluster-scoped kind evil.example.com/CustomResourceDefinition is not granted') },
    ]);
  });

  it('a bare ClusterRole in a grant is the core group (nothing), and the refusal says what to write', () => {
    const g = [grant({ repos: ['acme/*'], clusterKinds: ['ClusterRole'] })];
    const [v] = checkGrants([obj('rbac.authorization.k8s.io/v1', 'ClusterRole')], 'acme/shop', 'prod', g);
    expect(v?.rule).toContain('write rbac.authorization.k8s.io/ClusterRole');
  });

  it('kindNameProblem: refuses bare names of grouped kinds and malformed names, accepts the rest', () => {
    expect(kindNameProblem('Namespace')).toBeNull();
    expect(kindNameProblem('PersistentVolume')).toBeNull();
    expect(kindNameProblem('apiextensions.k8s.io/CustomResourceDefinition')).toBeNull();
    expect(kindNameProblem('CustomResourceDefinition')).toBe('CustomResourceDefinition is in the API group apiextensions.k8s.io: write apiextensions.k8s.io/CustomResourceDefinition (a bare name means the core group)');
    expect(kindNameProblem('rbac/v1/Role')).toMatch(/is not group\/Kind/);
    expect(kindNameProblem('rbac.authorization.k8s.io/roleBinding')).toMatch(/is not group\/Kind/);
  });
});

describe('denyKinds', () => {
  const rb = (ns: string) => obj('rbac.authorization.k8s.io/v1', 'RoleBinding', ns);
  it('denies a namespaced kind inside the granted namespaces', () => {
    const g = [grant({ repos: ['acme/*'], namespaces: ['shop-*'], denyKinds: ['rbac.authorization.k8s.io/RoleBinding'] })];
    expect(checkGrants([cm('shop-a'), rb('shop-a')], 'acme/shop', 'prod', g)).toEqual([
      { ref: 'rbac.authorization.k8s.io/v1 RoleBinding shop-a/x', rule: 'kind rbac.authorization.k8s.io/RoleBinding is denied to acme/shop on cluster "prod" (denyKinds of every grant that covers it)' },
    ]);
  });

  it('a deny is per grant: another grant covering the namespace without the deny allows it', () => {
    const g = [
      grant({ repos: ['acme/*'], namespaces: ['shop-*', 'infra'], denyKinds: ['rbac.authorization.k8s.io/RoleBinding'] }),
      grant({ repos: ['acme/platform'], namespaces: ['infra'] }),
    ];
    expect(checkGrants([rb('infra')], 'acme/platform', 'prod', g)).toEqual([]);
    expect(checkGrants([rb('shop-a')], 'acme/platform', 'prod', g)).toHaveLength(1);
    expect(checkGrants([rb('infra')], 'acme/shop', 'prod', g)).toHaveLength(1);
  });

  it('denies a cluster-scoped kind the same grant lists in clusterKinds', () => {
    const g = [grant({ repos: ['acme/*'], namespaces: ['shop-*'], clusterKinds: ['Namespace'], denyKinds: ['Namespace'] })];
    expect(checkGrants([obj('v1', 'Namespace', undefined, 'shop-a')], 'acme/shop', 'prod', g)).toEqual([
      { ref: 'v1 Namespace shop-a', rule: expect.stringContaining('kind Namespace is denied') },
    ]);
  });
});

describe('checkNamespaceMetadata: a Namespace the app did not create keeps its labels and annotations', () => {
  const g = [grant({ repos: ['acme/*'], namespaces: ['shop-*'] })];
  const ns = (labels: Record<string, string>, annotations: Record<string, string> = {}): KubeObject => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop-a', labels, annotations } });
  const restricted = ns({ 'pod-security.kubernetes.io/enforce': 'restricted', 'kubernetes.io/metadata.name': 'shop-a' });
  const inventory = { 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/app': 'web', 'mergeops.dev/repo-id': '7' };

  it('refuses relaxing Pod Security on an operator-made Namespace, naming the label and both values', () => {
    const v = checkNamespaceMetadata(ns({ ...inventory, 'pod-security.kubernetes.io/enforce': 'privileged' }), restricted, false, 'acme/shop', 'prod', g);
    expect(v).toEqual({
      ref: 'v1 Namespace shop-a',
      rule: 'would change label pod-security.kubernetes.io/enforce: "restricted" → "privileged" of Namespace shop-a, which this app did not create; remove them from Git, or ask the operator to set namespaceMetadata: true on the grant (cluster "prod") if acme/shop should manage them',
    });
  });

  it('refuses adding an annotation, too', () => {
    expect(checkNamespaceMetadata(ns({}, { 'scheduler.alpha.kubernetes.io/node-selector': 'gpu=true' }), restricted, false, 'acme/shop', 'prod', g)?.rule).toContain('annotation scheduler.alpha.kubernetes.io/node-selector: (unset) → "gpu=true"');
  });

  it('allows what changes nothing (same values, only inventory marks), Namespaces the app owns, new Namespaces, and grants that opt in', () => {
    expect(checkNamespaceMetadata(ns({ ...inventory, 'pod-security.kubernetes.io/enforce': 'restricted' }, { 'mergeops.dev/repo': 'acme/shop' }), restricted, false, 'acme/shop', 'prod', g)).toBeNull();
    const relax = ns({ 'pod-security.kubernetes.io/enforce': 'privileged' });
    expect(checkNamespaceMetadata(relax, restricted, true, 'acme/shop', 'prod', g)).toBeNull();
    expect(checkNamespaceMetadata(relax, null, false, 'acme/shop', 'prod', g)).toBeNull();
    expect(checkNamespaceMetadata(relax, restricted, false, 'acme/shop', 'prod', [grant({ repos: ['acme/shop'], namespaces: ['shop-*'], namespaceMetadata: true })])).toBeNull();
    // The opt-in is for the grant's own namespaces and repos only.
    expect(checkNamespaceMetadata(relax, restricted, false, 'acme/shop', 'prod', [...g, grant({ repos: ['acme/other'], namespaces: ['shop-*'], namespaceMetadata: true })])).not.toBeNull();
    expect(checkNamespaceMetadata(relax, restricted, false, 'acme/shop', 'prod', null)).toBeNull();
  });
});

describe('checkDeployBranch: only branches the operator allows deploy', () => {
  it("allows the repository's default branch by default, and nothing else", () => {
    const g = [grant({ repos: ['acme/*'], namespaces: ['shop-*'] })];
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'prod', g)).toBeNull();
    expect(checkDeployBranch('acme/shop', 'trunk', 'trunk', 'prod', g)).toBeNull();
    expect(checkDeployBranch('acme/shop', 'evil', 'main', 'prod', g)).toEqual({
      ref: 'branch evil',
      rule: 'branch "evil" may not deploy acme/shop to cluster "prod" (allowed: main); merge into an allowed branch, or ask the operator to add it to the grant\'s branches in MERGEOPS_CLUSTERS',
    });
  });

  it('takes globs from the grants of the repo, adding up, and nothing from grants of other repos', () => {
    const g = [grant({ repos: ['acme/*'], branches: ['main'] }), grant({ repos: ['acme/shop'], branches: ['release/*'] }), grant({ repos: ['other/*'], branches: ['**'] })];
    expect(checkDeployBranch('acme/shop', 'release/1.2', 'main', 'prod', g)).toBeNull();
    expect(checkDeployBranch('acme/shop', 'release/1.2/hotfix', 'main', 'prod', g)).not.toBeNull();
    expect(checkDeployBranch('acme/web', 'release/1.2', 'main', 'prod', g)?.rule).toContain('(allowed: main)');
    // A grant listing branches replaces the default: the default branch is not implied.
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'prod', [grant({ repos: ['acme/shop'], branches: ['release/*'] })])).not.toBeNull();
  });

  it('without a policy only the default branch deploys; without a grant for the repo the grant check speaks', () => {
    expect(checkDeployBranch('x/y', 'main', 'main', 'default', null)).toBeNull();
    expect(checkDeployBranch('x/y', 'feature', 'main', 'default', null)).toEqual({
      ref: 'branch feature',
      noPolicy: true,
      rule: 'branch "feature" does not deploy x/y: the operator configured no policy (no MERGEOPS_CLUSTERS file), and then only the default branch "main" deploys, whatever the branch\'s own config says; merge into "main", or ask the operator for a clusters file whose grant lists this branch under branches:',
    });
    // A policy's refusal is a failure, not the no-policy rule.
    expect(checkDeployBranch('x/y', 'feature', 'main', 'default', [grant({ repos: ['x/*'] })])?.noPolicy).toBeUndefined();
    expect(checkDeployBranch('x/y', 'feature', 'main', 'prod', [grant({ repos: ['acme/*'] })])).toBeNull();
  });
});

describe('grants per environment: which branches deploy where, and approvals the operator requires', () => {
  const g = [grant({ repos: ['acme/*'], environments: ['staging'], branches: ['main', 'release/*'] }), grant({ repos: ['acme/*'], environments: ['prod-*'], branches: ['main'] })];

  it('lets a branch deploy only the environments a grant with that branch covers', () => {
    expect(checkDeployBranch('acme/shop', 'release/2', 'main', 'k', g, 'staging')).toBeNull();
    expect(checkDeployBranch('acme/shop', 'release/2', 'main', 'k', g, 'prod-eu')?.rule).toContain('branch "release/2" may not deploy acme/shop to cluster "k" (allowed: main)');
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'k', g, 'prod-eu')).toBeNull();
  });

  it('refuses an environment (or an app without one) that no grant of the repository covers', () => {
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'k', g, 'qa')?.rule).toBe(
      'no grant of cluster "k" for acme/shop covers environment "qa" (its grants name environments: staging, prod-*); ask the operator to add it to a grant\'s environments in MERGEOPS_CLUSTERS',
    );
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'k', g)?.rule).toContain('covers apps without environments');
    // A grant without environments: covers every app on its cluster, as before.
    expect(checkDeployBranch('acme/shop', 'main', 'main', 'k', [grant({ repos: ['acme/*'] })], 'qa')).toBeNull();
  });

  it("an operator's requireApproval holds environments (the strictest covering grant wins) and refuses apps without environments", () => {
    const approval = [grant({ repos: ['acme/*'], environments: ['prod-*'], requireApproval: 'maintain' }), grant({ repos: ['acme/*'], environments: ['prod-eu'], requireApproval: 'admin' }), grant({ repos: ['acme/*'], environments: ['staging'] })];
    expect(requiredApproval('acme/shop', approval, 'staging')).toBeNull();
    expect(requiredApproval('acme/shop', approval, 'prod-us')).toBe('maintain');
    expect(requiredApproval('acme/shop', approval, 'prod-eu')).toBe('admin');
    expect(requiredApproval('other/x', approval, 'prod-eu')).toBeNull();
    // An environment waits for the promotion instead of being refused.
    expect(checkApprovalRequired('acme/shop', 'k', approval, 'prod-eu')).toBeNull();
    expect(checkApprovalRequired('acme/shop', 'k', [grant({ repos: ['acme/*'], requireApproval: 'write' })])?.rule).toContain(
      'the operator requires an approval (write) for every deploy of acme/shop to cluster "k", and only an environment can wait for one',
    );
  });

  it('the role that promotes an environment is the stricter of approval: and requireApproval:', () => {
    expect(approvalRole(undefined, null)).toBeNull();
    expect(approvalRole('write', null)).toBe('write');
    expect(approvalRole(undefined, 'maintain')).toBe('maintain');
    expect(approvalRole('read', 'maintain')).toBe('maintain');
    expect(approvalRole('admin', 'maintain')).toBe('admin');
  });
});

describe('identityFor: who a repository\'s requests act as on a cluster', () => {
  const deployer = { user: 'system:serviceaccount:shop:deployer', groups: [], named: 'serviceAccount shop/deployer' };
  const ops = { user: 'ops-bot', groups: ['ops'], named: 'user ops-bot' };

  it("is the identity its grants name, and mergeops' own (null) when none does or there is no policy", () => {
    const g = [grant({ repos: ['acme/*'], identity: deployer }), grant({ repos: ['acme/shop'], namespaces: ['extra'], identity: { ...deployer } }), grant({ repos: ['other/*'], identity: ops })];
    expect(identityFor('acme/shop', 'prod', g)).toEqual(deployer);
    expect(identityFor('other/x', 'prod', g)).toEqual(ops);
    expect(identityFor('third/x', 'prod', g)).toBeNull();
    expect(identityFor('acme/shop', 'prod', [grant({ repos: ['acme/*'] })])).toBeNull();
    expect(identityFor('acme/shop', 'default', null)).toBeNull();
  });

  it('refuses grants of one repository that name different identities, or one and none, naming both', () => {
    const two = [grant({ repos: ['acme/*'], identity: deployer }), grant({ repos: ['acme/shop'], identity: ops })];
    expect(() => identityFor('acme/shop', 'prod', two)).toThrow(UserError);
    expect(() => identityFor('acme/shop', 'prod', two)).toThrow('the grants for acme/shop on cluster "prod" name different identities to act as (serviceAccount shop/deployer; user ops-bot)');
    const mixed = [grant({ repos: ['acme/*'], identity: deployer }), grant({ repos: ['acme/shop'] })];
    expect(() => identityFor('acme/shop', 'prod', mixed)).toThrow("(serviceAccount shop/deployer; mergeops' own identity (no serviceAccount or user))");
    // Only the grants matching the repository count.
    expect(identityFor('acme/web', 'prod', mixed)).toEqual(deployer);
  });
});
