import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { loadSettings } from '../../../src/config/settings.js';
import type { KubeObject } from '../../../src/objects.js';
import { createRedis } from '../../../src/redis.js';
import { DEFAULT_TOOL_LIMITS, runTool, toolPath } from '../../../src/render/exec.js';
import { DATA_PASSWORD, MASTER_NAME, SENTINEL_PASSWORD, startRedisCluster, startSentinelGroup, type RedisClusterNodes, type SentinelGroup } from '../../support/redis-ha.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = path.join(ROOT, 'charts/mergeops');
const helm = (args: string[]): Promise<string> => runTool(toolPath('helm'), args, ROOT, DEFAULT_TOOL_LIMITS);

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Pod {
  containers: { name: string; env?: EnvVar[]; volumeMounts?: { name: string; mountPath: string }[] }[];
  volumes?: ({ name: string } & Record<string, unknown>)[];
}
type Deployment = KubeObject & { spec: { template: { spec: Pod } } };

async function render(values: string[]): Promise<Deployment[]> {
  const out = await helm(['template', 'rel', CHART, '--namespace', 'ops', ...values]);
  return yaml
    .loadAll(out, undefined, { schema: yaml.CORE_SCHEMA })
    .filter((d): d is Deployment => d !== null && typeof d === 'object' && (d as KubeObject).kind === 'Deployment');
}

/** helm template's error message, or null when it rendered. */
async function renderError(values: string[]): Promise<string | null> {
  return render(values).then(
    () => null,
    (e: unknown) => (e as Error).message,
  );
}

/** A pod's environment as the kubelet resolves it, secretKeyRefs from `secrets`. */
function podEnv(d: Deployment, secrets: Record<string, Record<string, string>>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of d.spec.template.spec.containers[0]?.env ?? []) {
    const ref = v.valueFrom?.secretKeyRef;
    if (ref && secrets[ref.name]?.[ref.key] === undefined) throw new Error(`${v.name} refers to ${ref.name}/${ref.key}, which the test's Secrets lack`);
    out[v.name] = ref ? (secrets[ref.name]?.[ref.key] as string) : (v.value ?? '');
  }
  return out;
}

/**
 * The chart's external Sentinel group and Redis Cluster: what `helm template` renders, resolved
 * as the kubelet would, is read by mergeops' own settings code and connects to a real
 * Sentinel group and a real Cluster.
 */
describe('charts/mergeops with an external Redis Sentinel group or Redis Cluster', () => {
  let group: SentinelGroup;
  let nodes: RedisClusterNodes;
  const secrets = { 'redis-ha': { password: DATA_PASSWORD, 'sentinel-password': SENTINEL_PASSWORD }, 'rel-mergeops-github': { APP_ID: '1', PRIVATE_KEY: 'key', WEBHOOK_SECRET: 'secret' } };

  beforeAll(async () => {
    [group, nodes] = await Promise.all([startSentinelGroup(), startRedisCluster()]);
  }, 120_000);
  afterAll(async () => {
    await group?.stop();
    await nodes?.stop();
  });

  it('redis.sentinel: web and worker get the sentinels, the master name and both passwords, and reach the primary through them', async () => {
    const hosts = (group.env['REDIS_SENTINELS'] as string).split(',');
    const deployments = await render([
      ...hosts.flatMap((h, i) => ['--set', `redis.sentinel.hosts[${i}]=${h}`]),
      '--set', `redis.sentinel.masterName=${MASTER_NAME}`,
      '--set', 'redis.auth.existingSecret=redis-ha',
      '--set', 'redis.auth.sentinelPasswordKey=sentinel-password',
    ]);
    expect(deployments.map((d) => d.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(['web', 'worker']);
    for (const d of deployments) {
      const env = podEnv(d, secrets);
      expect(env).not.toHaveProperty('REDIS_URL');
      const settings = loadSettings(env);
      expect(settings.redis).toEqual({ kind: 'sentinel', sentinels: hosts.map((h) => ({ host: '127.0.0.1', port: Number(h.split(':')[1]) })), name: MASTER_NAME, sentinelPassword: SENTINEL_PASSWORD, password: DATA_PASSWORD });
      const redis = createRedis(settings.redis);
      try {
        await redis.set(`${settings.redisPrefix}:chart-probe`, d.metadata.name as string);
        expect(await redis.get(`${settings.redisPrefix}:chart-probe`)).toBe(d.metadata.name);
        expect(await redis.call('ROLE').then((r) => (r as string[])[0])).toBe('master');
      } finally {
        redis.disconnect();
      }
    }
  }, 60_000);

  it('redis.cluster: the nodes and the password, and a hash-tagged prefix on the Cluster', async () => {
    const deployments = await render([...nodes.ports.flatMap((p, i) => ['--set', `redis.cluster.nodes[${i}]=127.0.0.1:${p}`]), '--set', 'redis.auth.existingSecret=redis-ha']);
    for (const d of deployments) {
      const env = podEnv(d, secrets);
      expect(env).not.toHaveProperty('REDIS_SENTINEL_PASSWORD');
      const settings = loadSettings(env);
      expect(settings.redis).toEqual({ kind: 'cluster', nodes: nodes.ports.map((port) => ({ host: '127.0.0.1', port })), password: DATA_PASSWORD });
      expect(settings.redisPrefix).toBe('{mergeops}');
      const redis = createRedis(settings.redis);
      try {
        await redis.set(`${settings.redisPrefix}:chart-probe`, d.metadata.name as string);
        expect(await redis.get(`${settings.redisPrefix}:chart-probe`)).toBe(d.metadata.name);
      } finally {
        redis.disconnect();
      }
    }
  }, 60_000);

  it('redis.tls: TLS on, and the CA bundle mounted from its Secret where REDIS_TLS_CA_FILE points', async () => {
    const [web] = await render(['--set', 'redis.cluster.nodes[0]=redis-0.redis:6379', '--set', 'redis.tls.enabled=true', '--set', 'redis.tls.caSecret=redis-ca', '--set', 'redis.tls.caSecretKey=bundle.pem']);
    const pod = (web as Deployment).spec.template.spec;
    const env = podEnv(web as Deployment, secrets);
    expect(env['REDIS_TLS']).toBe('true');
    expect(env['REDIS_TLS_CA_FILE']).toBe('/etc/mergeops/redis-ca/bundle.pem');
    expect(pod.volumes?.find((v) => v.name === 'redis-ca')).toEqual({ name: 'redis-ca', secret: { secretName: 'redis-ca' } });
    expect(pod.containers[0]?.volumeMounts?.find((m) => m.name === 'redis-ca')?.mountPath).toBe('/etc/mergeops/redis-ca');
  });

  it('passes helm lint --strict with a Sentinel group and with a Cluster', async () => {
    const common = ['--set', 'redis.auth.existingSecret=redis-ha', '--set', 'redis.tls.enabled=true', '--set', 'redis.tls.caSecret=redis-ca'];
    await expect(helm(['lint', '--strict', CHART, '--set', 'redis.sentinel.hosts[0]=s-0:26379', '--set', 'redis.sentinel.masterName=mymaster', '--set', 'redis.auth.sentinelPasswordKey=sentinel-password', ...common])).resolves.toContain('0 chart(s) failed');
    await expect(helm(['lint', '--strict', CHART, '--set', 'redis.cluster.nodes[0]=r-0:6379', ...common])).resolves.toContain('0 chart(s) failed');
  });

  it('refuses values that cannot work, saying which to change', async () => {
    expect(await renderError(['--set', 'redis.sentinel.hosts[0]=s-0:26379'])).toMatch(/redis.sentinel.masterName: the master name the sentinels monitor/);
    expect(await renderError(['--set', 'redis.sentinel.hosts[0]=s-0:26379', '--set', 'redis.sentinel.masterName=m', '--set', 'redis.cluster.nodes[0]=r-0:6379'])).toMatch(/set redis.sentinel.hosts or redis.cluster.nodes, not both/);
    // With the password the bundled Redis needs, so the conflict is what is refused.
    expect(await renderError(['--set', 'redis.cluster.nodes[0]=r-0:6379', '--set', 'redis.bundled.enabled=true', '--set', 'redis.bundled.auth.password=p'])).toMatch(/redis.bundled.enabled runs a single Redis/);
    expect(await renderError(['--set', 'redis.cluster.nodes[0]=r-0:port'])).toMatch(/redis.cluster.nodes.0/);
    expect(await renderError(['--set', 'env.REDIS_SENTINELS=s:1'])).toMatch(/env.REDIS_SENTINELS is set by the chart/);
  });
});
