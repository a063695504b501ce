import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { DEFAULT_INVENTORY_NAMESPACE, loadClusterTargets } from '../../../src/config/clusters.js';
import { loadSettings } from '../../../src/config/settings.js';
import { ConfigError } from '../../../src/config/validate.js';
import { thrown } from '../../support/expect-error.js';

describe('loadSettings (the environment schema)', () => {
  it('fills in every default from an empty environment', () => {
    const s = loadSettings({});
    expect(s).toMatchObject({ mode: 'all', port: 3000, host: '0.0.0.0', redisPrefix: 'mergeops', workerConcurrency: 4, jobLockMs: 30_000, driftIntervalMs: 300_000 });
    expect(s).not.toHaveProperty('clustersFile');
    expect(s).not.toHaveProperty('adminUser');
  });

  it('reads numbers, files and the GHE URL; empty means unset', () => {
    const s = loadSettings({ PORT: '8080', MERGEOPS_WORKER_CONCURRENCY: '', MERGEOPS_CLUSTERS: '/etc/c.yaml', WEBHOOK_SECRET: '', GHE_HOST: 'ghe.example', PRIVATE_KEY: 'a\\nb' });
    expect(s.port).toBe(8080);
    expect(s.workerConcurrency).toBe(4);
    expect(s.clustersFile).toBe('/etc/c.yaml');
    expect(s).not.toHaveProperty('webhookSecret');
    expect(s.githubBaseUrl).toBe('https://ghe.example/api/v3');
    expect(s.privateKey).toBe('a\nb');
  });

  it('names the variable that is wrong', () => {
    expect(thrown(() => loadSettings({ PORT: '80a' }), ConfigError).message).toBe('PORT: expected a whole number, got "80a"');
    expect(thrown(() => loadSettings({ MERGEOPS_JOB_LOCK_MS: '-1' }), ConfigError).path).toBe('MERGEOPS_JOB_LOCK_MS');
    expect(thrown(() => loadSettings({ MERGEOPS_MODE: 'both' }), ConfigError).message).toBe('MERGEOPS_MODE: must be web, worker or all, got "both"');
    expect(thrown(() => loadSettings({ PRIVATE_KEY_PATH: '/nonexistent/key.pem' }), ConfigError).path).toBe('PRIVATE_KEY_PATH');
  });
});

describe('loadClusterTargets (the MERGEOPS_CLUSTERS schema)', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-clusters-'));
  const file = (text: string): string => {
    const f = path.join(dir, `${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(f, text);
    return f;
  };

  it('is the local kubeconfig as "default", with no policy, without a file', () => {
    expect([...loadClusterTargets(undefined).values()]).toEqual([{ name: 'default', inCluster: false, grants: null }]);
  });

  it('reads clusters and grants with their defaults; no grants means no repo', () => {
    const t = loadClusterTargets(file('clusters:\n  prod:\n    kubeconfig: /k\n    context: admin\n    grants:\n      - repos: [acme/*]\n        namespaces: [shop]\n  lab: { inCluster: true }\n'));
    expect(t.get('prod')).toEqual({ name: 'prod', kubeconfig: '/k', context: 'admin', inCluster: false, grants: [{ repos: ['acme/*'], namespaces: ['shop'], clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false }] });
    expect(t.get('lab')).toEqual({ name: 'lab', inCluster: true, grants: [] });
  });

  it('reads which environments a grant covers and the approval it requires (never below write)', () => {
    const t = loadClusterTargets(file('clusters:\n  prod:\n    inCluster: true\n    grants:\n      - { repos: [acme/*], environments: [prod-*], requireApproval: maintain }\n'));
    expect(t.get('prod')?.grants?.[0]).toMatchObject({ environments: ['prod-*'], requireApproval: 'maintain' });
    expect(thrown(() => loadClusterTargets(file('clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], requireApproval: read }] }\n')), ConfigError).message).toBe(
      'MERGEOPS_CLUSTERS.clusters.prod.grants[0].requireApproval: "read" is below the default (write); grants can only raise what a command needs',
    );
  });

  it('reads the namespace of the app inventories per cluster (absent: the default, mergeops-system)', () => {
    const t = loadClusterTargets(file('clusters:\n  prod: { inCluster: true, inventoryNamespace: ops-inventory }\n  lab: { inCluster: true }\n'));
    expect(t.get('prod')?.inventoryNamespace).toBe('ops-inventory');
    expect(t.get('lab')?.inventoryNamespace).toBeUndefined();
    expect(DEFAULT_INVENTORY_NAMESPACE).toBe('mergeops-system');
    expect(thrown(() => loadClusterTargets(file('clusters:\n  prod: { inCluster: true, inventoryNamespace: Ops_Inv }\n')), ConfigError).message).toBe(
      'MERGEOPS_CLUSTERS.clusters.prod.inventoryNamespace: "Ops_Inv" is not valid: use a namespace name: lowercase letters, digits and "-", at most 63 characters',
    );
  });

  it('reads the identity a grant acts as: a ServiceAccount becomes its Kubernetes user name, groups as given', () => {
    const t = loadClusterTargets(
      file('clusters:\n  prod:\n    inCluster: true\n    grants:\n      - { repos: [acme/shop], namespaces: [shop], serviceAccount: shop/mergeops-deployer }\n      - { repos: [acme/ops], user: ops-bot, groups: [ops, auditors] }\n      - { repos: [acme/web] }\n'),
    );
    const [sa, user, none] = t.get('prod')?.grants ?? [];
    expect(sa?.identity).toEqual({ user: 'system:serviceaccount:shop:mergeops-deployer', groups: [], named: 'serviceAccount shop/mergeops-deployer' });
    expect(user?.identity).toEqual({ user: 'ops-bot', groups: ['ops', 'auditors'], named: 'user ops-bot' });
    expect(none?.identity).toBeUndefined();
  });

  it.each([
    ['clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], serviceAccount: deployer }] }\n', 'MERGEOPS_CLUSTERS.clusters.prod.grants[0].serviceAccount: "deployer" is not valid: write namespace/name of a ServiceAccount, e.g. shop/mergeops-deployer'],
    ['clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], serviceAccount: shop/d, user: alice }] }\n', 'MERGEOPS_CLUSTERS.clusters.prod.grants[0].user: name one identity: serviceAccount or user, not both'],
    ['clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], groups: [admins] }] }\n', 'MERGEOPS_CLUSTERS.clusters.prod.grants[0].groups: groups are impersonated along with a user: set serviceAccount or user too'],
  ])('refuses an identity that cannot be impersonated as written (%#)', (text, message) => {
    expect(thrown(() => loadClusterTargets(file(text)), ConfigError).message).toBe(message);
  });

  it.each([
    ['clusters:\n  prod: { kubeconfig: /k, token: x }\n', 'MERGEOPS_CLUSTERS.clusters.prod: unknown key "token" (allowed: kubeconfig, context, inCluster, grants, inventoryNamespace)'],
    ['clusters:\n  prod: { context: admin }\n', 'MERGEOPS_CLUSTERS.clusters.prod: set kubeconfig (a file path) or inCluster: true'],
    ['clusters: {}\n', 'MERGEOPS_CLUSTERS.clusters: names no clusters'],
    ['clusters:\n  prod: { inCluster: true, grants: [{ repos: acme/shop }] }\n', 'MERGEOPS_CLUSTERS.clusters.prod.grants[0].repos: expected a list, got string "acme/shop"'],
    ['- prod\n', 'MERGEOPS_CLUSTERS: expected a mapping, got a list'],
    [
      'clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], clusterKinds: [Namespace, CustomResourceDefinition] }] }\n',
      'MERGEOPS_CLUSTERS.clusters.prod.grants[0].clusterKinds[1]: CustomResourceDefinition is in the API group apiextensions.k8s.io: write apiextensions.k8s.io/CustomResourceDefinition (a bare name means the core group)',
    ],
    ['clusters:\n  prod: { inCluster: true, grants: [{ repos: [a/b], denyKinds: [rbac/v1/RoleBinding] }] }\n', 'MERGEOPS_CLUSTERS.clusters.prod.grants[0].denyKinds[0]: "rbac/v1/RoleBinding" is not group/Kind (for example apiextensions.k8s.io/CustomResourceDefinition)'],
  ])('names the key that is wrong (%#)', (text, message) => {
    expect(thrown(() => loadClusterTargets(file(text)), ConfigError).message).toBe(message);
  });
});
