import { describe, expect, it } from '@jest/globals';
import { checkGrants, globToRegExp } from '../../../src/policy/grants.js';
import type { KubeObject } from '../../../src/objects.js';

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
  const grants = [
    { repos: ['acme/*'], namespaces: ['shop-*'], clusterKinds: ['Namespace'] },
    { repos: ['acme/platform'], namespaces: ['infra'], clusterKinds: ['ClusterRole'] },
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
      { ref: 'rbac.authorization.k8s.io/v1 ClusterRole admin', rule: 'cluster-scoped kind ClusterRole is not granted to acme/shop on cluster "prod" (granted: Namespace)' },
      { ref: 'v1 Namespace default', rule: 'namespace "default" is not granted to acme/shop on cluster "prod" (granted: shop-*)' },
    ]);
  });

  it('adds up every grant that matches the repo', () => {
    expect(checkGrants([cm('infra'), cm('shop-b'), clusterObj('ClusterRole')], 'acme/platform', 'prod', grants)).toEqual([]);
  });
});
