import { afterAll, beforeAll } from '@jest/globals';
import type { Cluster } from '../../src/cluster/connect.js';
import { startEnvTest, type EnvTest } from './global-setup.js';
import { startHarness, type Harness } from './harness.js';
import { testCluster } from './kube.js';

/**
 * Environments through the app, on two real API servers: `staging` is the run's own, `prod`
 * a second kube-apiserver + etcd started for the test file. Each (app, environment) is
 * planned and applied against its environment's cluster, never one cluster pretending to be two.
 */
export interface TwoClusters {
  h: Harness;
  staging: Cluster;
  prod: Cluster;
  stop(): Promise<void>;
}

const grants = '    grants:\n      - repos: ["acme/*"]\n        namespaces: ["envs-*"]\n';

/** `settings`: more operator settings for the app (an image poll interval, say). */
export async function startTwoClusters(settings: Record<string, string> = {}): Promise<TwoClusters> {
  const prodEnv: EnvTest = await startEnvTest();
  const staging = await testCluster('staging');
  const prod = await testCluster('prod', prodEnv.kubeconfig);
  const h = await startHarness(`clusters:\n  staging:\n    kubeconfig: $KUBECONFIG\n${grants}  prod:\n    kubeconfig: ${prodEnv.kubeconfig}\n${grants}`, settings);
  return {
    h,
    staging,
    prod,
    stop: async () => {
      await h.stop();
      staging.client.close();
      prod.client.close();
      await prodEnv.stop();
    },
  };
}

/**
 * Fan-out on three real API servers: `staging` is the run's own, `prod-eu` and `prod-us`
 * each a kube-apiserver + etcd started for the test file.
 */
export interface ThreeClusters {
  h: Harness;
  staging: Cluster;
  prodEu: Cluster;
  prodUs: Cluster;
  stop(): Promise<void>;
}

export async function startThreeClusters(): Promise<ThreeClusters> {
  const [euEnv, usEnv] = await Promise.all([startEnvTest(), startEnvTest()]);
  const staging = await testCluster('staging');
  const prodEu = await testCluster('prod-eu', euEnv.kubeconfig);
  const prodUs = await testCluster('prod-us', usEnv.kubeconfig);
  const h = await startHarness(`clusters:\n  staging:\n    kubeconfig: $KUBECONFIG\n${grants}  prod-eu:\n    kubeconfig: ${euEnv.kubeconfig}\n${grants}  prod-us:\n    kubeconfig: ${usEnv.kubeconfig}\n${grants}`);
  return {
    h,
    staging,
    prodEu,
    prodUs,
    stop: async () => {
      await h.stop();
      for (const c of [staging, prodEu, prodUs]) c.client.close();
      await Promise.all([euEnv.stop(), usEnv.stop()]);
    },
  };
}

/** The three clusters and the app for every test of the calling file, as useTwoClusters. */
export function useThreeClusters(): ThreeClusters {
  const env = {} as ThreeClusters;
  beforeAll(async () => void Object.assign(env, await startThreeClusters()), 90_000);
  afterAll(async () => env.stop?.());
  return env;
}

/**
 * staging, then prod-eu and prod-us side by side once staging is healthy (+ `soak`); `web` is
 * one overlay per environment. `prodKeys` adds keys to both production environments.
 */
export const fanOutConfig = (ns: string, web: string, opts: { soak?: string; wait?: string; prodKeys?: string } = {}): string => {
  const prod = (name: string) => `  - name: ${name}\n    cluster: ${name}\n    after: [staging]\n${opts.soak ? `    soak: ${opts.soak}\n` : ''}${opts.prodKeys ?? ''}`;
  return `environments:\n  - name: staging\n    cluster: staging\n${prod('prod-eu')}${prod('prod-us')}apps:\n  - name: ${web}\n    path: deploy/web/{env}\n    namespace: ${ns}-{env}\n    wait: ${opts.wait ?? '20s'}\n`;
};

/** The two clusters and the app for every test of the calling file: filled in before its first test, stopped after its last. */
export function useTwoClusters(settings: Record<string, string> = {}): TwoClusters {
  const env = {} as TwoClusters;
  beforeAll(async () => void Object.assign(env, await startTwoClusters(settings)), 60_000);
  afterAll(async () => env.stop?.());
  return env;
}

/**
 * `web` per environment (its own overlay), `api` sharing one folder; each in `<ns>-<env>`.
 * `extra` adds keys to the prod environment; `web` renames that app, so the files sharing
 * the run's staging cluster never share an app (and its inventory there).
 */
export const envConfig = (ns: string, extra = '', web = 'web'): string =>
  `environments:\n  - name: staging\n    cluster: staging\n  - name: prod\n    cluster: prod\n${extra}apps:\n  - name: ${web}\n    path: deploy/web/{env}\n    namespace: ${ns}-{env}\n    wait: 20s\n  - name: api\n    path: deploy/api\n    namespace: ${ns}-{env}\n    wait: 0\n`;
export const configMap = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
export const webDeployment = (image: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ${image}\n`;
