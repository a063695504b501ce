import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { Cluster } from '../../../src/cluster/connect.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/**
 * Issue #24 item 2, through the app as the README's getting-started runs it: no
 * MERGEOPS_CLUSTERS, so no operator policy, the process's own kubeconfig as cluster
 * "default". Then only the default branch deploys: a push to another branch whose own
 * config names that branch applies nothing (read back from the API server), and says why
 * in the log and in a neutral check run.
 */
describe('trust: without a clusters file only the default branch deploys', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  const logs: { msg?: string; why?: string; branch?: string }[] = [];

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('tnp');
    await namespace(cluster, ns);
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) logs.push(JSON.parse(line) as (typeof logs)[number]);
        done();
      },
    });
    h = await startHarness(null, {}, { log: pino({ level: 'info' }, sink) });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const config = (extra = ''): string => `apps:\n  - name: np-web\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n${extra}`;
  const value = async (name: string): Promise<string | undefined> => ((await get(cluster, 'v1', 'ConfigMap', ns, name))?.['data'] as { value?: string } | undefined)?.value;

  it('the default branch deploys; a push to branch feature whose config says branch: feature deploys nothing, with a neutral check and a log line saying why', async () => {
    const main = sha(`${ns}-main`);
    await h.push(main, { '.github/mergeops.yml': config(), 'deploy/cm.yaml': cm('web', 'from-main') });
    expect(await h.pushEvent(main)).toBe(202);
    expect((await h.waitForDeploy(main)).body.conclusion).toBe('success');
    expect(await value('web')).toBe('from-main');

    const feature = sha(`${ns}-feature`);
    await h.push(feature, { '.github/mergeops.yml': config('    branch: feature\n'), 'deploy/cm.yaml': `${cm('web', 'from-feature')}---\n${cm('feature-only', 'x')}` });
    expect(await h.pushEvent(feature, { branch: 'feature' })).toBe(202);
    const check = await h.waitForDeploy(feature);
    expect(check.body.conclusion).toBe('neutral');
    expect(check.body.output.title).toBe('Not deployed from feature: 1 app deploys only from the default branch');
    const why = `branch "feature" does not deploy ${REPO.owner}/${REPO.name}: the operator configured no policy (no MERGEOPS_CLUSTERS file), and then only the default branch "main" deploys`;
    expect(check.body.output.summary.replace(/\\(.)/g, '$1')).toContain(why);
    // Nothing reached the API server: the live object is main's, feature's own object was never made.
    expect(await value('web')).toBe('from-main');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'feature-only')).toBeNull();
    // Nor did GitHub get a Deployment for it.
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === feature)).toEqual([]);
    expect(logs.find((l) => l.msg === 'no operator policy: only the default branch deploys; nothing applied' && l.branch === 'feature')?.why).toContain(why);
  });
});
