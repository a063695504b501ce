import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { configMap } from '../../support/environments.js';
import { startFaultProxy, type FaultProxy, type ProxiedRequest } from '../../support/fault-proxy.js';
import { startEnvTest, type EnvTest } from '../../support/global-setup.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * An environment's inventory record is mergeops' bookkeeping: the environments after it start
 * on its verdict (written, healthy), not on that record. Staging is reached through a proxy
 * that can hold or refuse its record; prod is a second real API server.
 */
describe('environments: the waves do not wait for bookkeeping', () => {
  let proxy: FaultProxy;
  let prodEnv: EnvTest;
  let h: Harness;
  let staging: Cluster;
  let prod: Cluster;
  const grants = '    grants:\n      - repos: ["acme/*"]\n        namespaces: ["envs-*"]\n';

  beforeAll(async () => {
    prodEnv = await startEnvTest();
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    staging = await testCluster('staging');
    prod = await testCluster('prod', prodEnv.kubeconfig);
    h = await startHarness(`clusters:\n  staging:\n    kubeconfig: ${proxy.kubeconfig}\n${grants}  prod:\n    kubeconfig: ${prodEnv.kubeconfig}\n${grants}`);
  }, 60_000);
  afterAll(async () => {
    await h?.stop();
    staging?.client.close();
    prod?.client.close();
    await proxy?.close();
    await prodEnv?.stop();
  });

  const config = (ns: string, app: string): string =>
    `environments:\n  - name: staging\n    cluster: staging\n  - name: prod\n    cluster: prod\napps:\n  - name: ${app}\n    path: deploy/${app}/{env}\n    namespace: ${ns}-{env}\n    wait: 0\n`;
  /** A merge of `app` (one ConfigMap per environment, in namespaces of its own), pushed but not yet announced. */
  const pushApp = async (app: string): Promise<{ ns: string; s: string }> => {
    const ns = uniqueName('envs-bk');
    await namespace(staging, `${ns}-staging`);
    await namespace(prod, `${ns}-prod`);
    const s = sha(`${app}-${ns}`);
    await h.push(s, { '.github/mergeops.yml': config(ns, app), [`deploy/${app}/staging/cm.yaml`]: configMap(app, '1'), [`deploy/${app}/prod/cm.yaml`]: configMap(app, '1') });
    return { ns, s };
  };
  /** True for staging's inventory writes after its object was written: its final record (the pending one comes before). */
  const finalRecord = (ns: string, app: string): ((r: ProxiedRequest) => boolean) => {
    let objectWritten = false;
    return (r) => {
      if (r.write && r.path === `/api/v1/namespaces/${ns}-staging/configmaps/${app}`) objectWritten = true;
      return objectWritten && r.write && r.path === `/api/v1/namespaces/mergeops-system/configmaps/mergeops-${REPO.id}-${app}.staging`;
    };
  };

  it('prod applies while staging\'s inventory record is still being written', async () => {
    const { ns, s } = await pushApp('held');
    // Staging's last inventory write (the one after its object is written) is held until
    // prod's object exists; had prod waited for it, nothing would release it but the timeout.
    const isFinalRecord = finalRecord(ns, 'held');
    let prodFirst: boolean | undefined;
    proxy.rule = (r) => {
      if (!isFinalRecord(r) || prodFirst !== undefined) return undefined;
      prodFirst = false;
      return {
        hold: waitFor(async () => (await get(prod, 'v1', 'ConfigMap', `${ns}-prod`, 'held')) ?? undefined, 'prod applied while staging\'s record is held', 15_000).then(
          () => (prodFirst = true),
          () => undefined,
        ),
      };
    };
    await h.pushEvent(s, { mergedPr: 71 });
    const check = await h.waitForDeploy(s);
    proxy.rule = null;
    expect(prodFirst).toBe(true);
    expect(check.body.conclusion).toBe('success');
    // The held record was written in the end: staging's render is recorded as deployed.
    const recorded = await get(staging, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-held.staging`);
    expect(JSON.stringify(recorded?.['data'])).toContain(s);
  });

  it('a refused inventory record is reported on its environment, with what the operator must grant', async () => {
    const { ns, s } = await pushApp('refused');
    const isFinalRecord = finalRecord(ns, 'refused');
    proxy.rule = (r) => (isFinalRecord(r) ? { status: 403 } : undefined);
    await h.pushEvent(s, { mergedPr: 72 });
    const check = await h.waitForDeploy(s);
    proxy.rule = null;
    expect(check.body.conclusion).toBe('failure');
    const summary = String(check.body.output.summary);
    expect(summary).toMatch(/refused · staging[^\n]*failed/);
    expect(summary).toContain(`mergeops-${REPO.id}-refused.staging`);
    // The object itself was written and is what Git says.
    expect((await get(staging, 'v1', 'ConfigMap', `${ns}-staging`, 'refused'))?.['data']).toEqual({ value: '1' });
  });
});
