import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

/**
 * Issue #13 item 4, end to end: grants that a repository must not be able to widen. Each
 * attack is a signed push through the real receiver and deploy worker against the real API
 * server; each must fail its check and leave the cluster as it was.
 */
describe('trust: grants a repository cannot widen', () => {
  let h: Harness;
  let cluster: Cluster;
  const prefix = uniqueName('tgr');
  // A CRD whose kind is called CustomResourceDefinition, in a group of its own.
  const lookalikeGroup = `${prefix}.evil.example.com`;

  beforeAll(async () => {
    cluster = await testCluster();
    await put(cluster, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `customresourcedefinitions.${lookalikeGroup}` },
      spec: {
        group: lookalikeGroup,
        scope: 'Cluster',
        names: { plural: 'customresourcedefinitions', singular: 'customresourcedefinition', kind: 'CustomResourceDefinition', listKind: 'CustomResourceDefinitionList' },
        versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
      },
    } as never);
    // The API server serves a new CRD's kind only once it is Established.
    for (let i = 0; i < 100 && !(await cluster.discovery.resolve(`${lookalikeGroup}/v1`, 'CustomResourceDefinition')); i++) await new Promise((r) => setTimeout(r, 100));
    h = await startHarness(
      [
        'clusters:',
        '  default:',
        '    kubeconfig: $KUBECONFIG',
        '    grants:',
        `      - repos: ["${REPO.owner}/*"]`,
        `        namespaces: ["${prefix}-*"]`,
        '        clusterKinds: [Namespace, apiextensions.k8s.io/CustomResourceDefinition]',
        '        denyKinds: [rbac.authorization.k8s.io/RoleBinding]',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const deployOf = async (name: string, files: Record<string, string>): Promise<string> => {
    const s = sha(`${prefix}-${name}`);
    await h.push(s, files);
    expect(await h.pushEvent(s)).toBe(202);
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('failure');
    return check.body.output.summary as string;
  };
  const appConfig = (ns: string, extra = '') => `apps:\n  - name: tgr-app\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n${extra}`;

  it('a RoleBinding in a granted namespace is refused when the grant denies the kind', async () => {
    const ns = `${prefix}-rb`;
    await namespace(cluster, ns);
    const summary = await deployOf('rb', {
      '.github/mergeops.yml': appConfig(ns),
      'deploy/rb.yaml': `apiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata:\n  name: own-it\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: admin}\nsubjects: [{kind: User, name: mallory}]\n`,
      'deploy/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n',
    });
    expect(summary).toContain(`RoleBinding ${ns}/own-it</code>: not allowed: kind rbac.authorization.k8s.io/RoleBinding is denied to ${REPO.owner}/${REPO.name} on cluster "default"`);
    // Nothing of the app was written: a refused object stops the whole app before any write.
    expect(await get(cluster, 'rbac.authorization.k8s.io/v1', 'RoleBinding', ns, 'own-it')).toBeNull();
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'ok')).toBeNull();
  });

  it('an object of a look-alike kind named CustomResourceDefinition is not the granted CustomResourceDefinition', async () => {
    const ns = `${prefix}-crd`;
    await namespace(cluster, ns);
    const summary = await deployOf('crd', {
      '.github/mergeops.yml': appConfig(ns),
      'deploy/lookalike.yaml': `apiVersion: ${lookalikeGroup}/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: cluster-wide-thing\nspec: {}\n`,
    });
    expect(summary).toContain(`not allowed: cluster-scoped kind ${lookalikeGroup}/CustomResourceDefinition is not granted`);
    expect(await get(cluster, `${lookalikeGroup}/v1`, 'CustomResourceDefinition', undefined, 'cluster-wide-thing')).toBeNull();
  });

  it("a repo cannot relax Pod Security on a Namespace it did not create, even when it adopts the Namespace", async () => {
    const ns = `${prefix}-psa`;
    await put(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    const relabel = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    pod-security.kubernetes.io/enforce: privileged\n`;
    // Without adopt: the Namespace is not the app's, so it is not taken over at all.
    const plain = await deployOf('psa-plain', { '.github/mergeops.yml': appConfig(ns), 'deploy/ns.yaml': relabel });
    expect(plain).toMatch(new RegExp(`would take over .*v1 Namespace ${ns}.*, which this app does not manage`));
    // With adopt (the repo's own say): taken over, but its labels are still the operator's.
    const adopted = await deployOf('psa-adopt', { '.github/mergeops.yml': appConfig(ns, `    adopt: [Namespace/${ns}]\n`), 'deploy/ns.yaml': relabel });
    expect(adopted).toContain(`not allowed: would change label pod-security.kubernetes.io/enforce: "restricted" → "privileged" of Namespace ${ns}, which this app did not create`);
    const live = await get(cluster, 'v1', 'Namespace', undefined, ns);
    expect(live?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    expect(live?.metadata.labels?.['mergeops.dev/app']).toBeUndefined();
  });

  it('a Namespace the app adopted stays the operator\'s: a later deploy may not relabel it, with or without adopt: still in the config', async () => {
    const ns = `${prefix}-adopted`;
    await put(cluster, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': 'restricted' } } });
    const nsYaml = (level: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    pod-security.kubernetes.io/enforce: ${level}\n`;
    const adopt = `    adopt: [Namespace/${ns}]\n`;
    // Adopted as it is (labels unchanged): allowed, and the Namespace is now in the app's inventory.
    const taken = sha(`${prefix}-adopted-1`);
    await h.push(taken, { '.github/mergeops.yml': appConfig(ns, adopt), 'deploy/ns.yaml': nsYaml('restricted'), 'deploy/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n' });
    expect(await h.pushEvent(taken)).toBe(202);
    expect((await h.waitForDeploy(taken)).body.conclusion).toBe('success');
    const adopted = await get(cluster, 'v1', 'Namespace', undefined, ns);
    expect(adopted?.metadata.labels?.['mergeops.dev/app']).toBe('tgr-app');
    expect(adopted?.metadata.annotations?.['mergeops.dev/adopted']).toBe('true');

    // The next merges relabel it: the app owns it now, but did not create it.
    const relabelled = await deployOf('adopted-2', { '.github/mergeops.yml': appConfig(ns, adopt), 'deploy/ns.yaml': nsYaml('privileged') });
    expect(relabelled).toContain(`not allowed: would change label pod-security.kubernetes.io/enforce: "restricted" → "privileged" of Namespace ${ns}, which this app did not create`);
    const dropped = await deployOf('adopted-3', { '.github/mergeops.yml': appConfig(ns), 'deploy/ns.yaml': nsYaml('privileged') });
    expect(dropped).toContain(`not allowed: would change label pod-security.kubernetes.io/enforce: "restricted" → "privileged" of Namespace ${ns}, which this app did not create`);
    expect((await get(cluster, 'v1', 'Namespace', undefined, ns))?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
  });

  it('a Namespace the app created is the app\'s to relabel', async () => {
    const ns = `${prefix}-created`;
    const nsYaml = (level: string) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${ns}\n  labels:\n    pod-security.kubernetes.io/enforce: ${level}\n`;
    for (const [i, level] of ['restricted', 'baseline'].entries()) {
      const s = sha(`${prefix}-created-${i}`);
      await h.push(s, { '.github/mergeops.yml': appConfig(ns), 'deploy/ns.yaml': nsYaml(level) });
      expect(await h.pushEvent(s)).toBe(202);
      expect((await h.waitForDeploy(s)).body.conclusion).toBe('success');
      expect((await get(cluster, 'v1', 'Namespace', undefined, ns))?.metadata.labels?.['pod-security.kubernetes.io/enforce']).toBe(level);
    }
  });
});
