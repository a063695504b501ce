import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { KubeObject } from '../../../src/objects.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

describe('drift watch', () => {
  let h: Harness;
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await testCluster();
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["drift-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('reports hand edits on the deployed commit and re-applies apps with selfHeal', async () => {
    const ns = uniqueName('drift-a');
    await namespace(cluster, ns);
    const s = sha(`drift-${ns}`);
    const config = `apps:\n  - name: healed\n    path: healed\n    namespace: ${ns}\n    selfHeal: true\n  - name: watched\n    path: watched\n    namespace: ${ns}\n`;
    await h.push(s, { '.github/mergeops.yml': config, 'healed/cm.yaml': cm('healed', 'git'), 'watched/cm.yaml': cm('watched', 'git') });
    await h.pushEvent(s);
    expect((await h.waitForDeploy(s)).body.conclusion).toBe('success');

    for (const name of ['healed', 'watched']) {
      await cluster.client.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, {
        body: { data: { value: 'hand-edited' } },
        contentType: 'application/merge-patch+json',
        query: { fieldManager: 'kubectl-edit' },
      });
    }
    await h.rt.queues.drift.add('drift-scan', {});

    const driftChecks = await waitFor(() => {
      const c = h.calls.filter((x) => x.method === 'PATCH' && String(x.body.output?.title).startsWith('Drift in'));
      return c.length === 2 ? c : undefined;
    }, 'two drift check runs');
    const byTitle = Object.fromEntries(driftChecks.map((c) => [c.body.output.title as string, c.body]));
    expect(Object.keys(byTitle).sort()).toEqual(['Drift in healed: 1 object differs from this commit; re-applying (selfHeal)', 'Drift in watched: 1 object differs from this commit']);
    for (const b of Object.values(byTitle)) expect((b as { conclusion: string }).conclusion).toBe('neutral');
    expect(byTitle['Drift in watched: 1 object differs from this commit'].output.summary).toBe(`- \`v1 ConfigMap ${ns}/watched\`: re-applying reverts <code>.data.value</code>: live <code>hand-edited</code> (set by <code>kubectl-edit</code>) → Git <code>git</code>`);
    const starts = h.calls.filter((c) => c.method === 'POST' && c.body.name === 'mergeops / drift');
    expect(starts.map((c) => c.body.head_sha)).toEqual([s, s]);

    await waitFor(async () => {
      const o = (await get(cluster, 'v1', 'ConfigMap', ns, 'healed')) as KubeObject;
      return (o['data'] as { value: string }).value === 'git' || undefined;
    }, 'self-heal to re-apply the commit');
    const watched = (await get(cluster, 'v1', 'ConfigMap', ns, 'watched')) as KubeObject;
    expect((watched['data'] as { value: string }).value).toBe('hand-edited');

    const metrics = await (await fetch(`${h.rt.url}/metrics`)).text();
    expect(metrics).toMatch(/mergeops_drift_detected_total\{app="healed",cluster="default",healed="true"\} [1-9]/);
    expect(metrics).toMatch(/mergeops_drift_detected_total\{app="watched",cluster="default",healed="false"\} [1-9]/);
  });
});
