import { describe, expect, it } from '@jest/globals';
import { analyzeRollout, changedWorkloadNamespaces, parseQuantity, type RolloutFacts, type RolloutInput } from '../../../src/diff/rollout.js';
import type { KubeObject, PlannedObject } from '../../../src/objects.js';
import { withConfigHashes } from '../../../src/render/config-hash.js';
import { CONFIG_HASH_ANNOTATION } from '../../../src/rollout-checks.js';

const NS = 'shop';
const APP: RolloutInput['app'] = { waitMs: 300_000, conflicts: 'overwrite', prune: true, failOn: [] };

interface DeploymentOpts {
  name?: string;
  replicas?: number;
  image?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  container?: Record<string, unknown>;
  volumes?: unknown[];
  strategy?: unknown;
  minReadySeconds?: number;
  kind?: 'Deployment' | 'StatefulSet' | 'DaemonSet';
  updateStrategy?: unknown;
}

function workload(o: DeploymentOpts = {}): KubeObject {
  const labels = o.labels ?? { app: 'web' };
  const spec: Record<string, unknown> = {
    selector: { matchLabels: labels },
    template: {
      metadata: { labels, ...(o.annotations ? { annotations: o.annotations } : {}) },
      spec: { containers: [{ name: 'web', image: o.image ?? 'ghcr.io/acme/web:2.1.0', ...o.container }], ...(o.volumes ? { volumes: o.volumes } : {}) },
    },
  };
  if (o.kind !== 'DaemonSet') spec['replicas'] = o.replicas ?? 3;
  if (o.strategy) spec['strategy'] = o.strategy;
  if (o.updateStrategy) spec['updateStrategy'] = o.updateStrategy;
  if (o.minReadySeconds !== undefined) spec['minReadySeconds'] = o.minReadySeconds;
  return { apiVersion: 'apps/v1', kind: o.kind ?? 'Deployment', metadata: { name: o.name ?? 'web', namespace: NS }, spec };
}

const cm = (name: string, data: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NS }, data });

/** A (live, desired) pair as the plan holds it: the dry-run result is the desired object here. */
function pair(live: KubeObject | null, desired: KubeObject, line = 1): PlannedObject {
  return { desired, merged: desired, live, source: { file: 'deploy/web.yaml', line } };
}

function analyze(objects: PlannedObject[], extra: Partial<RolloutInput> = {}) {
  return analyzeRollout({ objects, orphans: [], app: APP, ...extra });
}

const facts = (f: Partial<RolloutFacts>): RolloutFacts => ({ quotas: [], limitRanges: [], pdbs: [], hpas: [], ...f });
const checks = (entries: ReturnType<typeof analyze>): string[] => entries.flatMap((e) => e.findings.map((f) => f.check));

describe('rollout analysis: restart or not, and why', () => {
  it('an image change is a rollout that names the tags and how it runs (maxSurge/maxUnavailable in pods, peak)', () => {
    const [e] = analyze([pair(workload({ replicas: 6 }), workload({ replicas: 6, image: 'ghcr.io/acme/web:2.2.0' }))]);
    expect(e?.line).toBe('restart (image `web` `2.1.0` → `2.2.0`): 6 pods replaced, up to 2 extra (maxSurge 25% by default) and 1 unavailable (maxUnavailable 25% by default) at a time; peak 8 pods');
    expect(e?.short).toBe('restarts 6 pods, peak 8');
    expect(e?.findings).toEqual([]);
  });

  it('only replicas changing is a scale, no restart', () => {
    const [e] = analyze([pair(workload({ replicas: 3 }), workload({ replicas: 5 }))]);
    expect(e?.line).toBe('scale 3 → 5, no restart');
  });

  it('nothing in the workload changing gives no line', () => {
    expect(analyze([pair(workload(), workload())])).toEqual([]);
  });

  it('an env change and an annotation change are named as the reason', () => {
    const [env] = analyze([pair(workload(), workload({ container: { env: [{ name: 'LOG_LEVEL', value: 'debug' }] } }))]);
    expect(env?.line).toMatch(/^restart \(`env` of `web`\)/);
    const [ann] = analyze([pair(workload(), workload({ annotations: { 'checksum/config': 'abc' } }))]);
    expect(ann?.line).toMatch(/^restart \(annotation `checksum\/config`\)/);
  });

  it('a generated ConfigMap name changing (kustomize hash suffix) is the reason, not a field list', () => {
    const uses = (name: string): DeploymentOpts => ({ container: { envFrom: [{ configMapRef: { name } }] } });
    const [e] = analyze([pair(workload(uses('web-config-5fh2g9tk2m')), workload(uses('web-config-b7t8kc6dhm')))]);
    expect(e?.line).toMatch(/^restart \(ConfigMap `web-config-5fh2g9tk2m` → `web-config-b7t8kc6dhm`\)/);
  });

  it('Recreate stops every pod before the new ones start', () => {
    const [e] = analyze([pair(workload({ strategy: { type: 'Recreate' } }), workload({ strategy: { type: 'Recreate' }, image: 'ghcr.io/acme/web:2.2.0' }))]);
    expect(e?.line).toContain('all 3 pods stop before the 3 new ones start (strategy Recreate)');
  });

  it('a StatefulSet rolls one pod at a time from the highest ordinal, down to its partition', () => {
    const sts = (image: string): KubeObject => workload({ kind: 'StatefulSet', replicas: 4, image, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 2 } } });
    const [e] = analyze([pair(sts('ghcr.io/acme/web:1'), sts('ghcr.io/acme/web:2'))]);
    expect(e?.line).toContain('2 pods replaced one at a time, highest ordinal first (`web-3` first down to `web-2`); partition 2: ordinals below it keep the old template');
  });

  it('a DaemonSet rolls node by node', () => {
    const [e] = analyze([pair(workload({ kind: 'DaemonSet' }), workload({ kind: 'DaemonSet', image: 'ghcr.io/acme/web:3' }))]);
    expect(e?.line).toContain('one pod per node replaced, 1 node at a time (maxUnavailable, the default)');
  });

  it('a Job whose template changes is recreated and runs again', () => {
    const job = (image: string): KubeObject => ({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'migrate', namespace: NS }, spec: { template: { spec: { restartPolicy: 'Never', containers: [{ name: 'm', image }] } } } });
    const p = { ...pair(job('m:1'), job('m:2')), replace: true };
    const [e] = analyze([p]);
    expect(e?.line).toMatch(/^recreated \(image `m` `1` → `2`\): the Job is deleted and created again \(mergeops.dev\/recreate\), so it runs again/);
  });
});

describe('rollout analysis: config not picked up', () => {
  const reads = (name: string, extra: DeploymentOpts = {}): KubeObject => workload({ ...extra, container: { envFrom: [{ configMapRef: { name } }] } });

  it('a ConfigMap read through envFrom changes while the pod template does not: not picked up, with the fixes', () => {
    const entries = analyze([pair(cm('web-config', { a: '1' }), cm('web-config', { a: '2' })), pair(reads('web-config'), reads('web-config'))]);
    expect(checks(entries)).toEqual(['config-not-reloaded']);
    const [e] = entries;
    expect(e?.line).toBe('no restart: the pod template does not change');
    expect(e?.short).toBe('no restart');
    expect(e?.findings[0]?.message).toBe(
      '`web` reads ConfigMap `web-config` through envFrom; its pod template does not change, so its pods keep the old values until they restart. Fix: generate the config with a kustomize configMapGenerator/secretGenerator (its hash suffix renames it), add a checksum annotation of it to the pod template, or set restartOnConfigChange: true on the app.',
    );
  });

  it('the same change with a checksum annotation is a rollout that picks the config up', () => {
    const entries = analyze([pair(cm('web-config', { a: '1' }), cm('web-config', { a: '2' })), pair(reads('web-config', { annotations: { 'checksum/config': '1' } }), reads('web-config', { annotations: { 'checksum/config': '2' } }))]);
    expect(checks(entries)).toEqual([]);
    expect(entries[0]?.line).toMatch(/^restart \(annotation `checksum\/config`\), picking up the new ConfigMap `web-config`: 3 pods replaced/);
  });

  it('the same change through a kustomize generator (new hashed name) is a rollout', () => {
    const entries = analyzeRollout({ objects: [pair(null, cm('web-config-b7t8kc6dhm', { a: '2' })), pair(reads('web-config-5fh2g9tk2m'), reads('web-config-b7t8kc6dhm'))], orphans: [cm('web-config-5fh2g9tk2m', { a: '1' })], app: APP });
    expect(checks(entries)).toEqual([]);
    expect(entries[0]?.line).toMatch(/^restart \(ConfigMap `web-config-5fh2g9tk2m` → `web-config-b7t8kc6dhm`\)/);
  });

  it('restartOnConfigChange: the render annotates the pod template with the configs\' hash, so the change is a rollout', () => {
    const render = (value: string) => withConfigHashes([{ object: cm('web-config', { a: value }), source: { file: 'c.yaml', line: 1 } }, { object: reads('web-config'), source: { file: 'd.yaml', line: 1 } }], NS);
    const [before, after] = [render('1'), render('2')];
    const hashOf = (r: typeof before): string | undefined => ((r[1]?.object['spec'] as { template: { metadata: { annotations: Record<string, string> } } }).template.metadata.annotations[CONFIG_HASH_ANNOTATION]);
    expect(hashOf(before)).toMatch(/^[0-9a-f]{16}$/);
    expect(hashOf(after)).not.toBe(hashOf(before));
    expect(hashOf(render('1'))).toBe(hashOf(before));
    const entries = analyze([pair(before[0]?.object ?? null, after[0]?.object as KubeObject), pair(before[1]?.object ?? null, after[1]?.object as KubeObject)]);
    expect(checks(entries)).toEqual([]);
    expect(entries[0]?.line).toMatch(/^restart \(annotation `mergeops.dev\/config-hash`\), picking up the new ConfigMap `web-config`/);
  });

  it('a Secret read through env, and a ConfigMap in a subPath mount, are not picked up; a plain volume updates in place', () => {
    const secret = (v: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'web-secret', namespace: NS }, data: { token: Buffer.from(v).toString('base64') } });
    const envUser = workload({ name: 'api', container: { env: [{ name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'web-secret', key: 'token' } } }] } });
    const sub = workload({ name: 'sub', container: { volumeMounts: [{ name: 'cfg', mountPath: '/etc/app.conf', subPath: 'app.conf' }] }, volumes: [{ name: 'cfg', configMap: { name: 'web-config' } }] });
    const vol = workload({ name: 'vol', container: { volumeMounts: [{ name: 'cfg', mountPath: '/etc/app' }] }, volumes: [{ name: 'cfg', projected: { sources: [{ configMap: { name: 'web-config' } }] } }] });
    const entries = analyze([pair(secret('hunter2-before'), secret('hunter2-after')), pair(cm('web-config', { a: '1' }), cm('web-config', { a: '2' })), pair(envUser, envUser), pair(sub, sub), pair(vol, vol)]);
    const by = new Map(entries.map((e) => [e.ref, e]));
    expect(by.get('apps/v1 Deployment shop/api')?.findings[0]?.message).toContain('reads Secret `web-secret` through env;');
    expect(by.get('apps/v1 Deployment shop/sub')?.findings[0]?.message).toContain('ConfigMap `web-config` through a volume mounted with subPath (never updated in place)');
    expect(by.get('apps/v1 Deployment shop/vol')?.findings).toEqual([]);
    expect(by.get('apps/v1 Deployment shop/vol')?.line).toContain('ConfigMap `web-config` is mounted as a volume and updates in place after the kubelet sync');
    // Secret values are never in any line or message.
    expect(JSON.stringify(entries)).not.toMatch(/hunter2|aHVudGVy/);
  });
});

describe('rollout analysis: room, stalls and fights', () => {
  const quota = (hard: Record<string, string>, used: Record<string, string>): KubeObject => ({ apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'shop-quota', namespace: NS }, spec: { hard }, status: { hard, used } });
  const requests = { resources: { requests: { cpu: '500m', memory: '256Mi' } } };

  it('the rollout\'s peak needs more CPU than the ResourceQuota has left', () => {
    const live = workload({ replicas: 4, container: requests });
    const next = workload({ replicas: 4, container: requests, image: 'ghcr.io/acme/web:9' });
    const entries = analyze([pair(live, next)], { facts: facts({ quotas: [quota({ 'requests.cpu': '2400m' }, { 'requests.cpu': '2' })] }) });
    expect(checks(entries)).toEqual(['quota']);
    expect(entries[0]?.findings[0]?.message).toBe("`web` needs 500m more `requests.cpu` at the rollout's peak (5 pods of 500m each), but ResourceQuota `shop-quota` has 400m left (hard 2400m, used 2): the surge pods are refused and the rollout stalls.");
    // The same rollout fits a quota with room for the surge pod.
    expect(checks(analyze([pair(live, next)], { facts: facts({ quotas: [quota({ 'requests.cpu': '3' }, { 'requests.cpu': '2' })] }) }))).toEqual([]);
  });

  it('LimitRange defaults count as requests; without requests or defaults a quota on requests refuses the pods', () => {
    const bare = workload({ replicas: 2 });
    const next = workload({ replicas: 3 });
    const lr: KubeObject = { apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'defaults', namespace: NS }, spec: { limits: [{ type: 'Container', defaultRequest: { memory: '1Gi' } }] } };
    const q = quota({ 'requests.memory': '2Gi' }, { 'requests.memory': '2Gi' });
    const withDefaults = analyze([pair(bare, next)], { facts: facts({ quotas: [q], limitRanges: [lr] }) });
    expect(withDefaults[0]?.findings[0]?.message).toContain('needs 1Gi more `requests.memory` at the rollout\'s peak (3 pods of 1Gi each (requests from LimitRange `defaults` defaults))');
    const without = analyze([pair(bare, next)], { facts: facts({ quotas: [q] }) });
    expect(without[0]?.findings[0]?.message).toContain('set no memory request and no LimitRange gives one, but ResourceQuota `shop-quota` limits `requests.memory`');
  });

  it('a PodDisruptionBudget the new replicas make unsatisfiable', () => {
    const pdb: KubeObject = { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: NS }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } };
    const entries = analyze([pair(workload({ replicas: 3 }), workload({ replicas: 2 }))], { facts: facts({ pdbs: [pdb] }) });
    expect(checks(entries)).toEqual(['pdb-blocks']);
    expect(entries[0]?.findings[0]?.message).toContain('PodDisruptionBudget `web` (minAvailable 2) allows no disruption of `web` at 2 replicas');
    expect(checks(analyze([pair(workload({ replicas: 2 }), workload({ replicas: 3 }))], { facts: facts({ pdbs: [pdb] }) }))).toEqual([]);
  });

  it('an HPA owning replicas while Git sets them: Git wins, and the fix', () => {
    const hpa: KubeObject = { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: NS }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 10 }, status: { currentReplicas: 6 } };
    const entries = analyze([pair(workload({ replicas: 6 }), workload({ replicas: 3, image: 'ghcr.io/acme/web:2.2.0' }))], { facts: facts({ hpas: [hpa] }) });
    expect(checks(entries)).toEqual(['hpa-fights']);
    expect(entries[0]?.findings[0]?.message).toBe('HorizontalPodAutoscaler `web` owns the replicas of `web` (2–10, now 6) while Git sets 3; Git wins: every deploy resets it to 3, then the HPA scales it again. Drop spec.replicas from Git to leave them to the HPA.');
  });

  it('minReadySeconds making the rollout longer than the app\'s wait:', () => {
    const entries = analyze([pair(workload({ replicas: 4, minReadySeconds: 60 }), workload({ replicas: 4, minReadySeconds: 60, image: 'ghcr.io/acme/web:3' }))], { app: { ...APP, waitMs: 90_000 } });
    expect(checks(entries)).toEqual(['wait-too-short']);
    expect(entries[0]?.findings[0]?.message).toContain('takes at least 2m to roll out (2 steps × minReadySeconds 60), longer than the app\'s wait: 90s');
  });

  it('failOn names a check: its findings fail', () => {
    const entries = analyze([pair(cm('c', { a: '1' }), cm('c', { a: '2' })), pair(workload({ container: { envFrom: [{ configMapRef: { name: 'c' } }] } }), workload({ container: { envFrom: [{ configMapRef: { name: 'c' } }] } }))], { app: { ...APP, failOn: ['config-not-reloaded'] } });
    expect(entries[0]?.findings[0]).toMatchObject({ check: 'config-not-reloaded', fails: true });
  });
});

describe('rollout analysis: traffic still arrives', () => {
  const svc = (selector: Record<string, string>, ports: unknown[] = [{ name: 'http', port: 80 }], name = 'web'): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: NS }, spec: { selector, ports } });

  it('a Service whose selector no longer matches the new pod labels', () => {
    const s = svc({ app: 'web' });
    const entries = analyze([pair(s, s), pair(workload({ labels: { app: 'web' } }), workload({ labels: { app: 'web-v2' } }))]);
    expect(checks(entries)).toEqual(['selector-mismatch']);
    expect(entries[0]?.findings[0]?.message).toBe('Service `web` selects `app=web`, but the new pods of `web` are labelled `app=web-v2`: once the rollout ends it reaches none of them.');
    // The Service changed along with the labels: no finding.
    expect(checks(analyze([pair(s, svc({ app: 'web-v2' })), pair(workload({ labels: { app: 'web' } }), workload({ labels: { app: 'web-v2' } }))]))).toEqual([]);
  });

  it('an Ingress and an HTTPRoute pointing at a Service or port the render no longer has', () => {
    const ingress: KubeObject = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web', namespace: NS }, spec: { rules: [{ http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { name: 'http' } } } }] } }] } };
    const route: KubeObject = { apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'legacy', namespace: NS }, spec: { rules: [{ backendRefs: [{ name: 'legacy', port: 8080 }] }] } };
    const entries = analyzeRollout({ objects: [pair(svc({ app: 'web' }), svc({ app: 'web' }, [{ name: 'web', port: 80 }]), 1), pair(ingress, ingress, 9), pair(route, route, 20)], orphans: [svc({ app: 'legacy' }, [{ port: 8080 }], 'legacy')], app: APP });
    expect(entries.map((e) => [e.ref, checks([e])])).toEqual([
      ['networking.k8s.io/v1 Ingress shop/web', ['route-missing-backend']],
      ['gateway.networking.k8s.io/v1 HTTPRoute shop/legacy', ['route-missing-backend']],
    ]);
    expect(entries[0]?.findings[0]?.message).toBe('Ingress `web` sends traffic to port `http` of Service `web`, which no longer has it (ports: `web`).');
    expect(entries[1]?.findings[0]?.message).toBe('HTTPRoute `legacy` sends traffic to Service `legacy`, which the render no longer has (the merge prunes it): that traffic gets errors.');
    expect(entries[1]?.source).toEqual({ file: 'deploy/web.yaml', line: 20 });
  });
});

describe('rollout facts are read only where a workload changes', () => {
  it('names the namespaces of changed workloads only', () => {
    const other = { ...workload(), metadata: { name: 'x', namespace: 'other' } };
    expect(changedWorkloadNamespaces([pair(workload(), workload()), pair(other, other), pair(cm('c', { a: '1' }), cm('c', { a: '2' }))])).toEqual([]);
    expect(changedWorkloadNamespaces([pair(workload(), workload({ replicas: 9 })), pair(null, other)])).toEqual(['other', 'shop']);
  });

  it('parses quantities', () => {
    expect([parseQuantity('500m'), parseQuantity('2'), parseQuantity('1Gi'), parseQuantity('1.5k'), parseQuantity('x')]).toEqual([0.5, 2, 2 ** 30, 1500, undefined]);
  });
});
