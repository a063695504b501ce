import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import yaml from 'js-yaml';
import { KubeApiError } from '../../../src/cluster/client.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import { Discovery, resourcePath } from '../../../src/cluster/discovery.js';
import { inventoryName } from '../../../src/cluster/inventory-store.js';
import { annotatePreview, deletePreviewEnvironment, ensurePreviewNamespace, listPreviewEnvironments, readNamespace, type PreviewEnvRecord } from '../../../src/cluster/preview-namespace.js';
import { loadClusterTargets } from '../../../src/config/clusters.js';
import { DEFAULT_TOOL_LIMITS, runTool, toolPath } from '../../../src/render/exec.js';
import type { KubeObject } from '../../../src/objects.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';
import { freePort } from '../../support/global-setup.js';
import { waitFor } from '../../support/github.js';
import { createRedis } from '../../../src/redis.js';
import { RENDER_CONCURRENCY } from '../../../src/flows/deploy.js';
import { APP_CONCURRENCY } from '../../../src/flows/preview.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const CHART = path.join(ROOT, 'charts/mergeops');
const FULL_VALUES = path.join(ROOT, 'test/fixtures/chart/values-full.yaml');

const helm = (args: string[]): Promise<string> => runTool(toolPath('helm'), args, ROOT, DEFAULT_TOOL_LIMITS);

async function template(release: string, ns: string, extra: string[] = []): Promise<KubeObject[]> {
  const out = await helm(['template', release, CHART, '--namespace', ns, ...extra]);
  return yaml.loadAll(out, undefined, { schema: yaml.CORE_SCHEMA }).filter((d): d is KubeObject => d !== null && typeof d === 'object');
}

/** helm template's error message, or null when it rendered. */
async function templateError(extra: string[]): Promise<string | null> {
  return helm(['template', 'x', CHART, ...extra]).then(
    () => null,
    (e: unknown) => (e as Error).message,
  );
}

// Just enough of the pod spec shape to read what the chart renders.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string } };
}
interface Probe {
  httpGet?: { path: string; port: string | number };
  tcpSocket?: { port: string | number };
  exec?: { command: string[] };
  timeoutSeconds?: number;
  periodSeconds?: number;
  failureThreshold?: number;
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  env?: EnvVar[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: Record<string, unknown>;
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean }[];
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
}
interface PodSpec {
  terminationGracePeriodSeconds?: number;
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  securityContext?: Record<string, unknown>;
  containers: Container[];
  volumes?: ({ name: string } & Record<string, unknown>)[];
}
interface Workload extends KubeObject {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string }; spec: { resources: { requests: { storage: string } } } }[];
  };
}

function all(objs: KubeObject[], kind: string): KubeObject[] {
  return objs.filter((o) => o.kind === kind);
}
function one<T extends KubeObject = KubeObject>(objs: KubeObject[], kind: string, component?: string): T {
  const found = all(objs, kind).filter((o) => component === undefined || o.metadata.labels?.['app.kubernetes.io/component'] === component);
  expect(found.map((o) => `${o.kind} ${o.metadata.name}`)).toHaveLength(1);
  return found[0] as T;
}
function container(w: Workload): Container {
  expect(w.spec.template.spec.containers).toHaveLength(1);
  return w.spec.template.spec.containers[0] as Container;
}
function env(c: Container): Map<string, EnvVar> {
  const names = (c.env ?? []).map((e) => e.name);
  // Server-side apply refuses duplicate keys in a list map, and the kubelet takes the last.
  expect(new Set(names).size).toBe(names.length);
  return new Map((c.env ?? []).map((e) => [e.name, e]));
}
/** The value that follows `flag` in an argument list. */
function argAfter(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}
function labelsMatch(selector: Record<string, string>, labels: Record<string, string> | undefined): boolean {
  return Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}
interface PodPeer {
  podSelector?: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  namespaceSelector?: unknown;
}
/** Whether a NetworkPolicy peer (same namespace: no namespaceSelector) selects a pod with these labels. */
function peerSelects(peer: PodPeer, labels: Record<string, string>): boolean {
  if (!peer.podSelector || peer.namespaceSelector !== undefined) return false;
  const { matchLabels = {}, matchExpressions = [] } = peer.podSelector;
  return (
    labelsMatch(matchLabels, labels) &&
    matchExpressions.every((e) => {
      if (e.operator === 'In') return (e.values ?? []).includes(labels[e.key] ?? '\0');
      throw new Error(`operator ${e.operator} not handled by the test`);
    })
  );
}
/** Env values as the kubelet resolves them: secretKeyRefs from `secrets`, `$(NAME)` from earlier entries. */
function resolveEnv(vars: EnvVar[], secrets: Map<string, Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of vars) {
    const ref = v.valueFrom?.secretKeyRef;
    const value = ref ? Buffer.from(secrets.get(ref.name)?.[ref.key] ?? '', 'base64').toString() : (v.value ?? '').replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, name: string) => out.get(name) ?? m);
    out.set(v.name, value);
  }
  return out;
}

/** Bytes of a Kubernetes memory quantity (`5Gi`, `512Mi`, `400M`, `1073741824`). */
function bytesOf(quantity: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(quantity);
  if (!m) throw new Error(`not a memory quantity: ${quantity}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

/** The ```yaml blocks of a Markdown file (indented ones too, as in list items), unindented. */
function yamlBlocks(file: string): string[] {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  return [...text.matchAll(/^( *)```yaml\n([\s\S]*?)^\1```$/gm)].map((m) => (m[2] as string).replace(new RegExp(`^${m[1]}`, 'gm'), ''));
}

/** The clusters file as the pods see it, checked with mergeops' own loader. */
function loadRenderedClusters(objs: KubeObject[]): ReturnType<typeof loadClusterTargets> {
  const cm = one(objs, 'ConfigMap') as KubeObject & { data: Record<string, string> };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-chart-'));
  try {
    const file = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(file, cm.data['clusters.yaml'] ?? '');
    return loadClusterTargets(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function expectCommonShape(objs: KubeObject[], release: string, ns: string): void {
  for (const o of objs) {
    const labels = o.metadata.labels ?? {};
    expect([o.kind, labels['app.kubernetes.io/name']]).toEqual([o.kind, 'mergeops']);
    expect(labels['app.kubernetes.io/instance']).toBe(release);
    expect(labels['app.kubernetes.io/managed-by']).toBe('Helm');
    expect(labels['app.kubernetes.io/version']).toBeTruthy();
  }
  for (const w of [...all(objs, 'Deployment'), ...all(objs, 'StatefulSet')] as Workload[]) {
    expect(w.metadata.namespace).toBe(ns);
    // Pods carry the selector's labels, or the workload would be rejected.
    expect(labelsMatch(w.spec.selector.matchLabels, w.spec.template.metadata.labels)).toBe(true);
    const pod = w.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    for (const c of pod.containers) {
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      // A read-only root needs a writable /tmp (tarballs, helm and kustomize scratch).
      const tmp = c.volumeMounts?.find((m) => m.mountPath === '/tmp');
      expect(tmp).toBeDefined();
      expect(pod.volumes?.find((v) => v.name === tmp?.name)).toHaveProperty('emptyDir');
    }
  }
}

function expectWebAndWorker(objs: KubeObject[], release: string, ns: string, fullname: string): { web: Workload; worker: Workload } {
  const deployments = all(objs, 'Deployment') as Workload[];
  expect(deployments.map((d) => d.metadata.labels?.['app.kubernetes.io/component']).sort()).toEqual(['web', 'worker']);
  const web = one<Workload>(objs, 'Deployment', 'web');
  const worker = one<Workload>(objs, 'Deployment', 'worker');

  for (const [w, mode] of [
    [web, 'web'],
    [worker, 'worker'],
  ] as const) {
    const pod = w.spec.template.spec;
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001 });
    expect(pod.serviceAccountName).toBe(one(objs, 'ServiceAccount').metadata.name);
    const e = env(container(w));
    expect(e.get('MERGEOPS_MODE')?.value).toBe(mode);
    for (const key of ['APP_ID', 'PRIVATE_KEY', 'WEBHOOK_SECRET']) {
      expect(e.get(key)?.valueFrom?.secretKeyRef?.key).toBe(key);
    }
    expect(e.get('REDIS_URL')).toBeDefined();
    // The clusters file is mounted where MERGEOPS_CLUSTERS points.
    const clustersFile = e.get('MERGEOPS_CLUSTERS')?.value ?? '';
    const mount = container(w).volumeMounts?.find((m) => clustersFile.startsWith(`${m.mountPath}/`));
    expect(mount).toMatchObject({ readOnly: true });
  }

  // Web: the only HTTP server, behind the Service, probed on /healthz and /readyz.
  const webC = container(web);
  expect(webC.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 3000 })]);
  expect(webC.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(webC.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(web.spec.template.spec.automountServiceAccountToken).toBe(false);

  // Worker: probes and metrics on its own HTTP port (no webhooks); it needs the API token.
  const workerC = container(worker);
  expect(workerC.ports).toEqual([expect.objectContaining({ name: 'http', containerPort: 3000 })]);
  expect(workerC.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
  expect(workerC.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'http' });
  expect(worker.spec.template.spec.automountServiceAccountToken).toBe(true);

  const svc = one(objs, 'Service', 'web') as KubeObject & { spec: { ports: unknown[]; selector: Record<string, string> } };
  expect(svc.metadata.name).toBe(`${fullname}-web`);
  expect(svc.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
  expect(labelsMatch(svc.spec.selector, web.spec.template.metadata.labels)).toBe(true);
  expect(labelsMatch(svc.spec.selector, worker.spec.template.metadata.labels)).toBe(false);

  expect(one(objs, 'ServiceAccount').metadata.namespace).toBe(ns);
  expectCommonShape(objs, release, ns);
  return { web, worker };
}

/** Server-side apply, as a platform team's `helm install` or Argo CD would write them. */
async function applyAll(c: Cluster, objs: KubeObject[]): Promise<{ applied: KubeObject[]; skipped: string[] }> {
  const applied: KubeObject[] = [];
  const skipped: string[] = [];
  for (const o of objs) {
    const r = await c.discovery.resolve(o.apiVersion, o.kind);
    if (!r) {
      skipped.push(`${o.apiVersion} ${o.kind}`);
      continue;
    }
    if (r.namespaced) expect([o.kind, o.metadata.namespace]).toEqual([o.kind, expect.any(String)]);
    try {
      applied.push(
        await c.client.request<KubeObject>('PATCH', resourcePath(r, o.metadata.namespace, o.metadata.name), {
          body: o,
          contentType: 'application/apply-patch+yaml',
          // Strict: a misspelt field in a template is an error, not a silently dropped key.
          query: { fieldManager: 'test', fieldValidation: 'Strict' },
        }),
      );
    } catch (err) {
      if (err instanceof KubeApiError) throw new Error(`${o.kind} ${o.metadata.namespace ?? ''}/${o.metadata.name}: ${err.message}`);
      throw err;
    }
  }
  return { applied, skipped };
}

describe('charts/mergeops', () => {
  let c: Cluster;
  beforeAll(async () => {
    c = await testCluster();
  });
  afterAll(() => c.client.close());

  it('passes helm lint with the default values and with everything switched on', async () => {
    await expect(helm(['lint', '--strict', CHART])).resolves.toContain('0 chart(s) failed');
    await expect(helm(['lint', '--strict', CHART, '-f', FULL_VALUES])).resolves.toContain('0 chart(s) failed');
  });

  it('renders web, worker, Service and least-privilege RBAC (impersonation) by default, and the API server accepts them', async () => {
    const ns = uniqueName('chart-default');
    const release = uniqueName('rel');
    const objs = await template(release, ns);
    const fullname = `${release}-mergeops`;

    expect(objs.map((o) => o.kind).sort()).toEqual(['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'Deployment', 'Deployment', 'PodDisruptionBudget', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount']);
    const { web, worker } = expectWebAndWorker(objs, release, ns, fullname);
    expect(web.spec.replicas).toBe(2);
    expect(worker.spec.replicas).toBe(2);
    for (const w of [web, worker]) {
      const e = env(container(w));
      expect(e.get('REDIS_URL')?.value).toBe('redis://redis:6379');
      expect(e.get('APP_ID')?.valueFrom?.secretKeyRef?.name).toBe(`${fullname}-github`);
      expect(e.get('LOG_LEVEL')?.value).toBe('info');
      expect(container(w).image).toBe('ghcr.io/mergeops/mergeops:0.1.0');
      // Pods roll when the clusters file changes.
      expect(w.spec.template.metadata.annotations?.['checksum/clusters']).toMatch(/^[0-9a-f]{64}$/);
    }

    // Default policy: the in-cluster ServiceAccount, and no repository granted anything yet;
    // its inventories where the chart's RBAC reaches (rbac.inventoryNamespace).
    const targets = loadRenderedClusters(objs);
    expect([...targets.values()]).toEqual([{ name: 'default', inCluster: true, grants: [], inventoryNamespace: 'mergeops-system' }]);

    // The defaults agree with each other and with the app.
    const workerEnv = env(container(worker));
    const setting = (name: string): number => Number(workerEnv.get(name)?.value);
    // A worker stopped during the longest health wait an app may ask finishes it, and reports.
    expect(worker.spec.template.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(setting('MERGEOPS_MAX_WAIT_MS') / 1000 + 60);
    // Every render process of every running job at its cap, plus the worker itself, fits.
    const rendersAtOnce = setting('MERGEOPS_WORKER_CONCURRENCY') * Math.max(RENDER_CONCURRENCY, APP_CONCURRENCY);
    expect(bytesOf(container(worker).resources?.limits?.['memory'] ?? '0')).toBeGreaterThanOrEqual(rendersAtOnce * setting('MERGEOPS_RENDER_MEMORY_BYTES') + 2 ** 30);
    // Probes that time out, and a startup probe holding the others back while a pod starts.
    for (const w of [web, worker]) {
      const c = container(w);
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) expect(probe?.timeoutSeconds).toEqual(expect.any(Number));
      expect(c.startupProbe?.httpGet).toEqual({ path: '/healthz', port: 'http' });
    }
    // Two replicas each: a disruption budget for each, one pod at a time.
    for (const [component, w] of [
      ['web', web],
      ['worker', worker],
    ] as const) {
      const pdb = one(objs, 'PodDisruptionBudget', component) as KubeObject & { spec: { maxUnavailable: number; selector: { matchLabels: Record<string, string> } } };
      expect(pdb.spec.maxUnavailable).toBe(1);
      expect(pdb.spec.selector.matchLabels).toEqual(w.spec.selector.matchLabels);
    }

    const role = one(objs, 'ClusterRole') as KubeObject & { rules: unknown[] };
    // Discovery only; no identity to impersonate is listed yet (rbac-impersonate.test.ts has the rest).
    expect(role.rules).toEqual([{ nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*'], verbs: ['get'] }]);
    const binding = one(objs, 'ClusterRoleBinding') as KubeObject & { roleRef: { kind: string; name: string }; subjects: unknown[] };
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: one(objs, 'ServiceAccount').metadata.name, namespace: ns }]);

    await namespace(c, ns);
    // The inventory namespace must exist (the chart gives mergeops a Role there).
    await namespace(c, 'mergeops-system');
    const { applied, skipped } = await applyAll(c, objs);
    expect(skipped).toEqual([]);
    expect(applied).toHaveLength(objs.length);
    for (const o of applied) expect(o.metadata['uid']).toEqual(expect.any(String));
    const live = (await get(c, 'apps/v1', 'Deployment', ns, `${fullname}-web`)) as Workload | null;
    expect(live?.spec.template.spec.containers[0]?.readinessProbe?.httpGet?.path).toBe('/readyz');
  });

  it("grants preview environments' rights only with rbac.previewEnvironments.enabled, exactly those mergeops uses, and with them the API server lets mergeops make, guard and remove one", async () => {
    type Rule = { apiGroups?: string[]; resources?: string[]; verbs: string[]; resourceNames?: string[]; nonResourceURLs?: string[] };
    const release = uniqueName('rel');
    const ns = uniqueName('chart-preview');
    const fullname = `${release}-mergeops`;
    const inventoryVerbs = (objs: KubeObject[]): string[] | undefined =>
      (objs.find((o) => o.kind === 'Role' && o.metadata.name === `${fullname}-inventory`) as (KubeObject & { rules: Rule[] }) | undefined)?.rules.find((r) => r.resources?.includes('configmaps'))?.verbs;

    // Off (the default), in every scope: no preview rights, and inventories are never deleted.
    for (const scope of [[], ['--set', 'rbac.scope=cluster'], ['--set', 'rbac.scope=namespaced', '--set', 'rbac.namespaces={shop}']]) {
      const off = await template(release, ns, scope);
      expect(off.filter((o) => o.metadata.name === `${fullname}-preview`)).toEqual([]);
      for (const o of off.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role') as (KubeObject & { rules: Rule[] })[]) {
        expect([o.metadata.name, o.rules.filter((r) => r.verbs.some((v) => ['bind', 'impersonate'].includes(v)))]).toEqual([o.metadata.name, []]);
      }
    }
    expect(inventoryVerbs(await template(release, ns))).toEqual(['get', 'list', 'watch', 'create', 'patch']);

    // On: one ClusterRole of exactly what src/cluster/preview-namespace.ts sends as mergeops itself.
    const on = await template(release, ns, ['--set', 'rbac.previewEnvironments.enabled=true', '--set', 'rbac.previewEnvironments.roles={preview-runner,edit}']);
    const role = on.find((o) => o.kind === 'ClusterRole' && o.metadata.name === `${fullname}-preview`) as KubeObject & { rules: Rule[] };
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['namespaces'], verbs: ['get', 'list', 'create', 'patch', 'delete'] },
      { apiGroups: [''], resources: ['resourcequotas', 'limitranges', 'serviceaccounts'], verbs: ['create', 'patch'], resourceNames: ['mergeops-preview'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create', 'patch'], resourceNames: ['mergeops-preview'] },
      { apiGroups: ['rbac.authorization.k8s.io'], resources: ['clusterroles'], verbs: ['bind'], resourceNames: ['edit', 'preview-runner'] },
      { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['impersonate'], resourceNames: ['mergeops-preview'] },
    ]);
    const binding = on.find((o) => o.kind === 'ClusterRoleBinding' && o.metadata.name === `${fullname}-preview`) as KubeObject & { roleRef: unknown; subjects: unknown[] };
    expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: 'ServiceAccount', name: one(on, 'ServiceAccount').metadata.name, namespace: ns }]);
    // An ended environment's inventory is deleted with it.
    expect(inventoryVerbs(on)).toEqual(['get', 'list', 'watch', 'create', 'patch', 'delete']);
    expectCommonShape(on, release, ns);
    // With scope cluster the same ClusterRole is added (the default rules hold no bind or impersonate).
    expect((await template(release, ns, ['--set', 'rbac.scope=cluster', '--set', 'rbac.previewEnvironments.enabled=true'])).filter((o) => o.metadata.name === `${fullname}-preview`).map((o) => o.kind)).toEqual(['ClusterRole', 'ClusterRoleBinding']);

    // On the API server, as mergeops' ServiceAccount: without the value it may not start an environment; with it, every step passes.
    await namespace(c, ns);
    await namespace(c, 'mergeops-system');
    const asMergeops = c.own.impersonating({ user: `system:serviceaccount:${ns}:${fullname}`, groups: [], named: `serviceAccount ${ns}/${fullname}` });
    const mergeops: Cluster = { client: asMergeops, own: asMergeops, discovery: new Discovery(asMergeops), target: { name: 'default', inCluster: true, grants: [], inventoryNamespace: 'mergeops-system' } };
    const envNs = uniqueName('pr-7-web');
    const repoId = Math.floor(Math.random() * 1e9);
    const now = new Date().toISOString();
    const record: PreviewEnvRecord = { cluster: 'default', namespace: envNs, repo: 'acme/web', repoId, pr: 7, app: 'web', installationId: 1, createdAt: now, expiresAt: now, startedBy: 'label', fromFork: false };
    const grant = { namespaces: ['pr-*'], role: 'edit', maxPerRepository: 3, maxTotal: 10, resourceQuota: { hard: { pods: '10' } }, limitRange: { limits: [{ type: 'Container', default: { cpu: '200m' } }] } };

    await applyAll(c, await template(release, ns));
    await expect(ensurePreviewNamespace(mergeops, record, grant)).rejects.toMatchObject({ status: 403 });
    expect(await readNamespace(c, envNs)).toBeNull();

    await applyAll(c, on);
    // The RBAC cache follows the new binding within moments: wait for the first step to pass.
    await waitFor(async () => (await asMergeops.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', resource: 'namespaces' } } } })).status.allowed, 'the preview ClusterRoleBinding to take effect');
    await ensurePreviewNamespace(mergeops, record, grant);
    for (const [path, kind] of [
      [`/api/v1/namespaces/${envNs}/resourcequotas/mergeops-preview`, 'ResourceQuota'],
      [`/api/v1/namespaces/${envNs}/limitranges/mergeops-preview`, 'LimitRange'],
      [`/api/v1/namespaces/${envNs}/serviceaccounts/mergeops-preview`, 'ServiceAccount'],
      [`/apis/rbac.authorization.k8s.io/v1/namespaces/${envNs}/rolebindings/mergeops-preview`, 'RoleBinding'],
    ] as const) {
      expect((await c.own.request<KubeObject>('GET', path)).kind).toBe(kind);
    }
    await annotatePreview(mergeops, envNs, { url: 'https://pr-7.example.com' });
    expect((await listPreviewEnvironments(mergeops)).find((r) => r.namespace === envNs)).toMatchObject({ repoId, pr: 7, app: 'web', url: 'https://pr-7.example.com' });
    // Impersonating the environment's ServiceAccount, and nobody else's; binding the listed role, and no other.
    const may = async (attrs: Record<string, string>): Promise<boolean> =>
      (await c.own.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user: `system:serviceaccount:${ns}:${fullname}`, groups: ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'], resourceAttributes: attrs } } })).status.allowed;
    expect(await may({ verb: 'impersonate', resource: 'serviceaccounts', namespace: envNs, name: 'mergeops-preview' })).toBe(true);
    expect(await may({ verb: 'impersonate', resource: 'serviceaccounts', namespace: envNs, name: 'default' })).toBe(false);
    expect(await may({ verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'preview-runner' })).toBe(true);
    expect(await may({ verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'cluster-admin' })).toBe(false);
    expect(await may({ verb: 'create', group: 'rbac.authorization.k8s.io', resource: 'rolebindings', namespace: envNs, name: 'other' })).toBe(false);
    expect(await may({ verb: 'get', resource: 'secrets', namespace: envNs })).toBe(false);

    // Ending it: the namespace and its inventory in mergeops-system.
    const key = { repoId, repo: 'acme/web', app: 'web' };
    await c.own.request('POST', '/api/v1/namespaces/mergeops-system/configmaps', { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: inventoryName(key) } } });
    await deletePreviewEnvironment(mergeops, envNs, key);
    expect(await get(c, 'v1', 'ConfigMap', 'mergeops-system', inventoryName(key))).toBeNull();
    // No kube-controller-manager here to empty it: deleting is as far as the API server goes.
    expect((await readNamespace(c, envNs))?.metadata['deletionTimestamp']).toEqual(expect.any(String));
  });

  it("with rbac.previewEnvironments.enabled a ValidatingAdmissionPolicy keeps mergeops' ServiceAccount to preview namespaces: no mergeops-preview RoleBinding elsewhere, no deleting another namespace, its own deploys untouched", async () => {
    const release = uniqueName('rel');
    const ns = uniqueName('chart-vap');
    const fullname = `${release}-mergeops`;
    const sa = `system:serviceaccount:${ns}:${fullname}`;
    const on = await template(release, ns, ['--set', 'rbac.previewEnvironments.enabled=true']);
    const policy = on.find((o) => o.kind === 'ValidatingAdmissionPolicy') as KubeObject & { spec: { matchConditions: { expression: string }[] } };
    expect(policy.metadata.name).toBe(`${fullname}-preview`);
    expect(policy.spec.matchConditions[0]?.expression).toBe(`request.userInfo.username == '${sa}'`);
    expect(on.find((o) => o.kind === 'ValidatingAdmissionPolicyBinding')).toMatchObject({ spec: { policyName: `${fullname}-preview`, validationActions: ['Deny'] } });
    // Off: no policy; scope cluster: none either (the ServiceAccount may write anything there anyway).
    expect((await template(release, ns)).filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);
    expect((await template(release, ns, ['--set', 'rbac.scope=cluster', '--set', 'rbac.previewEnvironments.enabled=true'])).filter((o) => o.kind.startsWith('ValidatingAdmissionPolicy'))).toEqual([]);

    // The test API server runs the ValidatingAdmissionPolicy plugin (on by default; global-setup disables only ServiceAccount).
    await namespace(c, ns);
    await namespace(c, 'mergeops-system');
    const other = uniqueName('chart-vap-other');
    await namespace(c, other);
    const envNs = uniqueName('pr-8-web');
    await put(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: envNs, labels: { 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/preview-environment': 'true' } } });
    const { skipped } = await applyAll(c, on);
    expect(skipped).toEqual([]);
    const asMergeops = c.own.impersonating({ user: sa, groups: [], named: `serviceAccount ${ns}/${fullname}` });
    await waitFor(async () => (await asMergeops.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', { body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', resource: 'namespaces' } } } })).status.allowed, 'the preview ClusterRoleBinding to take effect');

    const roleBinding = (inNs: string): KubeObject => ({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'mergeops-preview', namespace: inNs },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'edit' },
      subjects: [{ kind: 'ServiceAccount', name: 'mergeops-preview', namespace: inNs }],
    });
    const applyBinding = (inNs: string, dryRun: boolean): Promise<unknown> =>
      asMergeops.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/namespaces/${inNs}/rolebindings/mergeops-preview`, {
        body: roleBinding(inNs),
        contentType: 'application/apply-patch+yaml',
        query: { fieldManager: 'mergeops/preview-environment', force: 'true', ...(dryRun ? { dryRun: 'All' } : {}) },
      });
    const refusal = (p: Promise<unknown>): Promise<KubeApiError | undefined> =>
      p.then(
        () => undefined,
        (e: unknown) => {
          if (e instanceof KubeApiError && e.status === 403 && e.message.includes('ValidatingAdmissionPolicy')) return e;
          throw e;
        },
      );
    // A new policy and binding are enforced moments after they are stored: probe with dry runs
    // (admission runs, nothing is written) until the policy refuses.
    const refused = await waitFor(() => refusal(applyBinding(other, true)), 'the preview ValidatingAdmissionPolicy to be enforced', 30_000);
    expect(refused.message).toContain("mergeops may write its mergeops-preview ResourceQuota, LimitRange, ServiceAccount and RoleBinding only in a preview environment's namespace");

    // For real: refused outside a preview namespace (RBAC alone allows it), allowed in one.
    const outside = await refusal(applyBinding(other, false));
    expect(outside?.message).toContain("only in a preview environment's namespace");
    expect(await get(c, 'rbac.authorization.k8s.io/v1', 'RoleBinding', other, 'mergeops-preview')).toBeNull();
    await applyBinding(envNs, false);
    expect(await get(c, 'rbac.authorization.k8s.io/v1', 'RoleBinding', envNs, 'mergeops-preview')).not.toBeNull();

    // Namespaces: no deleting or relabelling one that is not a preview environment's, no creating one unlabelled.
    const deleteOther = await refusal(asMergeops.request('DELETE', `/api/v1/namespaces/${other}`));
    expect(deleteOther?.message).toContain('mergeops may change or delete only preview environment namespaces');
    expect((await readNamespace(c, other))?.metadata['deletionTimestamp']).toBeUndefined();
    const labelOther = await refusal(asMergeops.request('PATCH', `/api/v1/namespaces/${other}`, { body: { metadata: { labels: { 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/preview-environment': 'true' } } }, contentType: 'application/merge-patch+json' }));
    expect(labelOther?.message).toContain('mergeops may change or delete only preview environment namespaces');
    const plain = uniqueName('chart-vap-plain');
    const createPlain = await refusal(asMergeops.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: plain } } }));
    expect(createPlain?.message).toContain('mergeops may create only preview environment namespaces');
    expect(await readNamespace(c, plain)).toBeNull();

    // Deploy writes mergeops' ServiceAccount makes itself (rbac.scope namespaced: a Role in the app's
    // namespace) are not the policy's: an app's ServiceAccount and ConfigMap in a plain namespace pass.
    await put(c, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'deploy', namespace: other }, rules: [{ apiGroups: [''], resources: ['serviceaccounts', 'configmaps'], verbs: ['get', 'create', 'patch'] }] } as KubeObject);
    await put(c, { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'deploy', namespace: other }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'deploy' }, subjects: [{ kind: 'ServiceAccount', name: fullname, namespace: ns }] } as KubeObject);
    await waitFor(async () => {
      for (const kind of ['ServiceAccount', 'ConfigMap']) {
        const res = `${kind.toLowerCase()}s`;
        await asMergeops.request('PATCH', `/api/v1/namespaces/${other}/${res}/web`, { body: { apiVersion: 'v1', kind, metadata: { name: 'web', namespace: other } }, contentType: 'application/apply-patch+yaml', query: { fieldManager: 'mergeops' } }).catch((e: unknown) => {
          // Only the RBAC cache catching up with the Role above is waited for; a policy refusal fails the test.
          if (e instanceof KubeApiError && e.status === 403 && !e.message.includes('ValidatingAdmissionPolicy')) return;
          throw e;
        });
      }
      return (await get(c, 'v1', 'ServiceAccount', other, 'web')) !== null && (await get(c, 'v1', 'ConfigMap', other, 'web')) !== null;
    }, "mergeops' deploy Role to take effect");
    // Its preview namespace stays its own to annotate and to end.
    await asMergeops.request('PATCH', `/api/v1/namespaces/${envNs}`, { body: { metadata: { annotations: { 'mergeops.dev/url': 'https://pr-8.example.com' } } }, contentType: 'application/merge-patch+json' });
    await asMergeops.request('DELETE', `/api/v1/namespaces/${envNs}`);
    expect((await readNamespace(c, envNs))?.metadata['deletionTimestamp']).toEqual(expect.any(String));
  });

  it('renders bundled Redis, HPA, PDBs, ServiceMonitor, Ingress and namespaced RBAC, and the API server accepts all but the ServiceMonitor', async () => {
    const ns = uniqueName('chart-full');
    const targetNs = [uniqueName('chart-shop'), uniqueName('chart-web')];
    const inventoryNs = uniqueName('chart-inv');
    const release = 'mergeops';
    // The release name contains the chart name, so it is the full name as is.
    const fullname = 'mergeops';
    const fixture = await template(release, ns, ['-f', FULL_VALUES]);
    const objs = await template(release, ns, ['-f', FULL_VALUES, '--set', `rbac.namespaces={${targetNs.join(',')}}`, '--set', `rbac.inventoryNamespace=${inventoryNs}`]);

    const { web, worker } = expectWebAndWorker(objs, release, ns, fullname);
    for (const o of objs) expect(o.metadata.labels?.['team']).toBe('platform');

    // Bundled Redis: one AOF-persisted, noeviction replica with its own volume and Service.
    const redis = one<Workload>(objs, 'StatefulSet', 'redis');
    const redisC = container(redis);
    expect(redis.spec.replicas).toBe(1);
    expect(argAfter(redisC.args ?? [], '--maxmemory-policy')).toBe('noeviction');
    expect(argAfter(redisC.args ?? [], '--appendonly')).toBe('yes');
    expect(argAfter(redisC.args ?? [], '--maxmemory')).toBe('400mb');
    expect(redis.spec.volumeClaimTemplates).toEqual([expect.objectContaining({ metadata: expect.objectContaining({ name: 'data' }) })]);
    expect(redis.spec.volumeClaimTemplates?.[0]?.spec.resources.requests.storage).toBe('1Gi');
    expect(redisC.volumeMounts).toContainEqual({ name: 'data', mountPath: '/data' });
    expect(redis.metadata.labels?.['app.kubernetes.io/version']).toBe('7.4-alpine');
    const redisSvc = one(objs, 'Service', 'redis') as KubeObject & { spec: { ports: { port: number }[]; selector: Record<string, string> } };
    expect(labelsMatch(redisSvc.spec.selector, redis.spec.template.metadata.labels)).toBe(true);
    // Redis requires a password, generated into the release's Secret; both components
    // get it from there and the kubelet puts it into REDIS_URL (never in the pod spec).
    const auth = one(objs, 'Secret', 'redis') as KubeObject & { data: Record<string, string> };
    expect(auth.metadata.name).toBe(`${fullname}-redis-auth`);
    expect(Buffer.from(auth.data['password'] ?? '', 'base64').toString()).toBe('full-values-redis-password');
    // Every write fsynced before Redis acknowledges it (docs/reliability.md's setting).
    expect(argAfter(redisC.args ?? [], '--appendfsync')).toBe('always');
    for (const probe of [redisC.livenessProbe, redisC.readinessProbe, redisC.startupProbe]) expect(probe?.timeoutSeconds).toEqual(expect.any(Number));
    const authRef = { name: auth.metadata.name, key: 'password' };
    expect(argAfter(redisC.args ?? [], '--requirepass')).toBe('$(REDIS_PASSWORD)');
    const redisEnv = env(redisC);
    expect(redisEnv.get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual(authRef);
    expect(redisEnv.get('REDISCLI_AUTH')?.valueFrom?.secretKeyRef).toEqual(authRef);
    for (const w of [web, worker]) {
      const e = env(container(w));
      expect(e.get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual(authRef);
      expect(e.get('REDIS_URL')?.value).toBe(`redis://:$(REDIS_PASSWORD)@${redisSvc.metadata.name}:${redisSvc.spec.ports[0]?.port}`);
      // The kubelet expands only variables defined earlier in the list.
      const names = (container(w).env ?? []).map((v) => v.name);
      expect(names.indexOf('REDIS_PASSWORD')).toBeLessThan(names.indexOf('REDIS_URL'));
      expect(container(w).image).toBe('ghcr.io/mergeops/mergeops:1.2.3');
    }

    // Only this release's web and worker pods may reach Redis.
    const policy = one(objs, 'NetworkPolicy', 'redis') as KubeObject & {
      spec: { podSelector: { matchLabels: Record<string, string> }; policyTypes: string[]; ingress: { from: PodPeer[]; ports: { port: string | number }[] }[] };
    };
    expect(policy.spec.policyTypes).toEqual(['Ingress']);
    expect(labelsMatch(policy.spec.podSelector.matchLabels, redis.spec.template.metadata.labels)).toBe(true);
    expect(labelsMatch(policy.spec.podSelector.matchLabels, web.spec.template.metadata.labels)).toBe(false);
    expect(policy.spec.ingress).toHaveLength(1);
    const rule = policy.spec.ingress[0] as { from: PodPeer[]; ports: { port: string | number }[] };
    expect(rule.ports).toEqual([{ port: 'redis', protocol: 'TCP' }]);
    const admitted = (labels: Record<string, string>): boolean => rule.from.some((peer) => peerSelects(peer, labels));
    expect(admitted(web.spec.template.metadata.labels)).toBe(true);
    expect(admitted(worker.spec.template.metadata.labels)).toBe(true);
    // Another pod of the namespace, another release's web pod, and Redis itself: not admitted.
    expect(admitted({ app: 'shell' })).toBe(false);
    expect(admitted({ ...web.spec.template.metadata.labels, 'app.kubernetes.io/instance': 'other' })).toBe(false);
    expect(admitted(redis.spec.template.metadata.labels)).toBe(false);

    // Settings from values: numbers stay plain numbers, extra env lands where it was asked.
    const webEnv = env(container(web));
    const workerEnv = env(container(worker));
    expect(workerEnv.get('MERGEOPS_WORKER_CONCURRENCY')?.value).toBe('8');
    expect(workerEnv.get('MERGEOPS_MAX_ARCHIVE_BYTES')?.value).toBe('104857600');
    expect(workerEnv.get('LOG_LEVEL')?.value).toBe('debug');
    expect(workerEnv.get('GHE_HOST')?.value).toBe('github.example.com');
    expect(webEnv.get('GHE_HOST')?.value).toBe('github.example.com');
    expect(webEnv.get('MERGEOPS_ADMIN_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'mergeops-admin', key: 'password' });
    expect(workerEnv.has('MERGEOPS_ADMIN_PASSWORD')).toBe(false);
    expect(webEnv.get('APP_ID')?.valueFrom?.secretKeyRef?.name).toBe('mergeops-app');

    // Clusters from values, in the format mergeops reads.
    const targets = loadRenderedClusters(objs);
    // rbac.inventoryNamespace flows into the in-cluster cluster: inventories land where the Role reaches.
    expect(targets.get('default')).toEqual({ name: 'default', inCluster: true, inventoryNamespace: inventoryNs, grants: [{ repos: ['acme/*'], namespaces: ['shop-*', 'web'], clusterKinds: ['Namespace'], denyKinds: [], namespaceMetadata: false }] });
    expect(targets.get('staging')).toEqual({ name: 'staging', kubeconfig: '/etc/mergeops/kubeconfigs/staging', context: 'staging-admin', inCluster: false, grants: [expect.objectContaining({ repos: ['acme/shop'] })] });

    // HPA owns the worker's replica count.
    const hpa = one(objs, 'HorizontalPodAutoscaler', 'worker') as KubeObject & { spec: { scaleTargetRef: { kind: string; name: string }; minReplicas: number; maxReplicas: number; metrics: unknown[] } };
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: worker.metadata.name });
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics.length]).toEqual([2, 10, 2]);
    expect(worker.spec.replicas).toBeUndefined();
    expect(web.spec.replicas).toBe(3);

    for (const [component, w, budget] of [
      ['web', web, { minAvailable: 2 }],
      ['worker', worker, { maxUnavailable: 1 }],
    ] as const) {
      const pdb = one(objs, 'PodDisruptionBudget', component) as KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } };
      expect(pdb.apiVersion).toBe('policy/v1');
      expect(pdb.spec).toMatchObject(budget);
      expect(pdb.spec.selector.matchLabels).toEqual(w.spec.selector.matchLabels);
    }

    const sm = one(objs, 'ServiceMonitor') as KubeObject & {
      spec: { selector: { matchLabels: Record<string, string>; matchExpressions: { key: string; operator: string; values: string[] }[] }; endpoints: unknown[] };
    };
    expect(sm.spec.selector.matchExpressions).toEqual([{ key: 'app.kubernetes.io/component', operator: 'In', values: ['web', 'worker'] }]);
    const workerMetrics = one(objs, 'Service', 'worker') as KubeObject & { spec: { clusterIP: string; selector: Record<string, string> } };
    expect(workerMetrics.spec.clusterIP).toBe('None');
    expect(labelsMatch(sm.spec.selector.matchLabels, workerMetrics.metadata.labels)).toBe(true);
    expect(sm.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(sm.metadata.labels?.['release']).toBe('prometheus');
    expect(sm.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })]);
    expect(labelsMatch(sm.spec.selector.matchLabels, one(objs, 'Service', 'web').metadata.labels)).toBe(true);
    // Redis shares the release labels; the component expression keeps it out.
    expect(sm.spec.selector.matchExpressions[0]?.values).not.toContain(redisSvc.metadata.labels?.['app.kubernetes.io/component']);

    // Namespaced RBAC: a Role and RoleBinding in each listed namespace, nothing cluster-wide,
    // and ConfigMaps only in the inventory namespace (the apps' inventories).
    expect(all(objs, 'ClusterRole')).toEqual([]);
    expect(all(objs, 'ClusterRoleBinding')).toEqual([]);
    expect(all(fixture, 'Role').map((r) => r.metadata.namespace)).toEqual(['shop', 'web', 'mergeops-system']);
    expect(all(objs, 'Role').map((r) => r.metadata.namespace)).toEqual([...targetNs, inventoryNs]);
    expect((all(objs, 'Role').find((r) => r.metadata.name === `${fullname}-inventory`) as (KubeObject & { rules: unknown[] }) | undefined)?.rules).toEqual([
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'patch'] },
      // The per-(repo, app, cluster) deploy Lease lives beside the inventories.
      { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update', 'delete'] },
    ]);
    for (const rb of all(objs, 'RoleBinding') as (KubeObject & { roleRef: { kind: string }; subjects: { namespace: string }[] })[]) {
      expect(rb.roleRef.kind).toBe('Role');
      expect(rb.subjects).toEqual([{ kind: 'ServiceAccount', name: fullname, namespace: ns }]);
    }
    expect(all(objs, 'RoleBinding').map((r) => r.metadata.namespace)).toEqual([...targetNs, inventoryNs]);

    for (const n of [ns, ...targetNs, inventoryNs]) await namespace(c, n);
    const { applied, skipped } = await applyAll(c, objs);
    // No Prometheus Operator CRDs in the test API server; everything else must be accepted.
    expect(skipped).toEqual(['monitoring.coreos.com/v1 ServiceMonitor']);
    expect(applied.map((o) => o.kind).sort()).toEqual(
      objs
        .filter((o) => o.kind !== 'ServiceMonitor')
        .map((o) => o.kind)
        .sort(),
    );
    expect(applied.map((o) => o.kind)).toEqual(expect.arrayContaining(['StatefulSet', 'HorizontalPodAutoscaler', 'PodDisruptionBudget', 'Ingress', 'Role', 'RoleBinding']));
    const live = (await get(c, 'apps/v1', 'StatefulSet', ns, redis.metadata.name ?? '')) as Workload | null;
    expect(argAfter(live?.spec.template.spec.containers[0]?.args ?? [], '--maxmemory-policy')).toBe('noeviction');
  });

  it('reads the clusters file from an existing Secret instead, with its kubeconfigs beside it', async () => {
    const objs = await template('rel', 'ops', ['--set', 'clustersSecret=ops-clusters', '--set', 'clustersSecretKey=policy.yaml']);
    expect(all(objs, 'ConfigMap')).toEqual([]);
    const worker = one<Workload>(objs, 'Deployment', 'worker');
    expect(env(container(worker)).get('MERGEOPS_CLUSTERS')?.value).toBe('/etc/mergeops/clusters/policy.yaml');
    expect(worker.spec.template.spec.volumes).toContainEqual({ name: 'clusters', secret: { secretName: 'ops-clusters' } });
    expect(worker.spec.template.metadata.annotations?.['checksum/clusters']).toBeUndefined();
  });

  it('puts the worker\'s /tmp on tmpfs with worker.tmpMedium=Memory, the web\'s staying on disk, and refuses another medium', async () => {
    const objs = await template('rel', 'ops', ['--set', 'worker.tmpMedium=Memory', '--set', 'worker.tmpSizeLimit=1Gi']);
    const tmpOf = (w: Workload): unknown => w.spec.template.spec.volumes?.find((v) => v.name === 'tmp');
    expect(tmpOf(one<Workload>(objs, 'Deployment', 'worker'))).toEqual({ name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } });
    expect(tmpOf(one<Workload>(objs, 'Deployment', 'web'))).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
    expect(await templateError(['--set', 'worker.tmpMedium=HugePages'])).toMatch(/tmpMedium/);
  });

  it('takes Redis from a Secret or an explicit URL', async () => {
    const fromSecret = await template('rel', 'ops', ['--set', 'redis.existingSecret=redis-auth']);
    const webEnv = env(container(one<Workload>(fromSecret, 'Deployment', 'web')));
    expect(webEnv.get('REDIS_URL')?.valueFrom?.secretKeyRef).toEqual({ name: 'redis-auth', key: 'REDIS_URL' });
    const fromUrl = await template('rel', 'ops', ['--set', 'redis.url=rediss://cache.internal:6380/2']);
    expect(env(container(one<Workload>(fromUrl, 'Deployment', 'worker'))).get('REDIS_URL')?.value).toBe('rediss://cache.internal:6380/2');
    expect(all(fromUrl, 'StatefulSet')).toEqual([]);
  });

  it('the bundled Redis, run with the rendered arguments, refuses a client without the password and lets mergeops in', async () => {
    const objs = await template('rel', 'ops', ['--set', 'redis.bundled.enabled=true', '--set', 'redis.bundled.auth.password=run-test-password']);
    const secrets = new Map(all(objs, 'Secret').map((o) => [o.metadata.name ?? '', (o as KubeObject & { data: Record<string, string> }).data]));
    const redisC = container(one<Workload>(objs, 'StatefulSet', 'redis'));
    const redisEnv = resolveEnv(redisC.env ?? [], secrets);
    const port = String(await freePort());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-chart-redis-'));
    // The container's command line, as the kubelet expands it; only port and folder are local.
    const args = (redisC.args ?? []).slice(1).map((a) => a.replace(/\$\(([A-Z_]+)\)/g, (_m, n: string) => redisEnv.get(n) ?? ''));
    args[args.indexOf('--port') + 1] = port;
    args[args.indexOf('--dir') + 1] = dir;
    const proc = spawn('/usr/bin/redis-server', [...args, '--bind', '127.0.0.1'], { stdio: 'ignore' });
    // No ready check: it would send INFO, which is refused without the password, too.
    const anonymous = new Redis({ port: Number(port), host: '127.0.0.1', lazyConnect: true, enableReadyCheck: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    const web = env(container(one<Workload>(objs, 'Deployment', 'web')));
    const url = resolveEnv([...web.values()], secrets).get('REDIS_URL') ?? '';
    const mergeops = createRedis(url.replace(/@[^/]+$/, `@127.0.0.1:${port}`));
    try {
      const listening = (): Promise<boolean> =>
        new Promise((r) => {
          const sock = net.connect(Number(port), '127.0.0.1', () => {
            sock.destroy();
            r(true);
          });
          sock.on('error', () => r(false));
        });
      await waitFor(async () => (await listening()) || undefined, 'redis-server to listen', 10_000);
      await anonymous.connect();
      await expect(anonymous.set('mergeops:bull:deploy:id', '1')).rejects.toThrow(/NOAUTH/);
      await expect(anonymous.ping()).rejects.toThrow(/NOAUTH/);
      expect(await mergeops.ping()).toBe('PONG');
      expect(url).not.toContain('$(');
      // The rendered arguments are ones redis-server takes and runs with.
      expect(await mergeops.config('GET', 'appendfsync')).toEqual(['appendfsync', 'always']);
      expect(await mergeops.config('GET', 'maxmemory-policy')).toEqual(['maxmemory-policy', 'noeviction']);
    } finally {
      anonymous.disconnect();
      mergeops.disconnect();
      proc.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the Redis password survives helm template: an operator Secret or an explicit value, never one generated per render', async () => {
    const values = ['--set', 'redis.bundled.enabled=true', '--set', 'rbac.create=false'];
    // No lookup anywhere: under helm template (Argo CD, Flux) it finds nothing.
    for (const f of fs.readdirSync(path.join(CHART, 'templates'))) expect([f, /\blookup\b\s+"/.test(fs.readFileSync(path.join(CHART, 'templates', f), 'utf8'))]).toEqual([f, false]);
    // Neither: refused, saying how to make one.
    expect(await templateError(values)).toMatch(/redis.bundled needs a password: create a Secret once \(kubectl create secret generic mergeops-redis-auth --from-literal=password="\$\(openssl rand -hex 24\)"\)/);

    const own = await template('rel', 'ops', [...values, '--set', 'redis.bundled.auth.existingSecret=redis-pass', '--set', 'redis.bundled.auth.existingSecretKey=pw']);
    expect(all(own, 'Secret')).toEqual([]);
    for (const w of [one<Workload>(own, 'StatefulSet', 'redis'), one<Workload>(own, 'Deployment', 'worker')]) {
      expect(env(container(w)).get('REDIS_PASSWORD')?.valueFrom?.secretKeyRef).toEqual({ name: 'redis-pass', key: 'pw' });
    }

    // An explicit value: every render is the same Secret, so a GitOps controller sees no drift.
    const explicit = [...values, '--set', 'redis.bundled.auth.password=s3cret-Value_1'];
    const [a, b] = await Promise.all([helm(['template', 'rel', CHART, '--namespace', 'ops', ...explicit]), helm(['template', 'rel', CHART, '--namespace', 'ops', ...explicit])]);
    expect(a).toBe(b);
    const secret = one(yaml.loadAll(a) as KubeObject[], 'Secret', 'redis') as KubeObject & { data: Record<string, string> };
    expect(Buffer.from(secret.data['password'] ?? '', 'base64').toString()).toBe('s3cret-Value_1');
    // It goes into REDIS_URL as is: characters a URL would need escaped are refused.
    expect(await templateError([...values, '--set', 'redis.bundled.auth.password=a@b'])).toMatch(/auth/);
    expect(all(await template('rel', 'ops', [...explicit, '--set', 'redis.bundled.networkPolicy.enabled=false']), 'NetworkPolicy')).toEqual([]);
  });

  it('renders a PodDisruptionBudget only for a component with more than one replica', async () => {
    const single = await template('rel', 'ops', ['--set', 'web.replicaCount=1', '--set', 'worker.replicaCount=1']);
    expect(all(single, 'PodDisruptionBudget')).toEqual([]);
    const scaled = await template('rel', 'ops', ['--set', 'web.replicaCount=1', '--set', 'worker.autoscaling.enabled=true', '--set', 'worker.autoscaling.minReplicas=3']);
    expect(all(scaled, 'PodDisruptionBudget').map((p) => p.metadata.labels?.['app.kubernetes.io/component'])).toEqual(['worker']);
    expect(all(await template('rel', 'ops', ['--set', 'worker.autoscaling.enabled=true', '--set', 'worker.autoscaling.minReplicas=1', '--set', 'web.podDisruptionBudget.enabled=false']), 'PodDisruptionBudget')).toEqual([]);
  });

  it("lints and renders the READMEs' own examples: the chart's values files and the project's clusters file", async () => {
    const examples = [
      ...yamlBlocks('charts/mergeops/README.md').filter((b) => /^# values-[\w-]+\.yaml/.test(b)),
      // The clusters file of the project README is a valid `clusters:` value as it stands.
      ...yamlBlocks('README.md').filter((b) => b.startsWith('clusters:\n')),
    ];
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-readme-values-'));
    try {
      for (const [i, text] of examples.entries()) {
        const file = path.join(dir, `example-${i}.yaml`);
        fs.writeFileSync(file, text);
        await expect(helm(['lint', '--strict', CHART, '-f', file])).resolves.toContain('0 chart(s) failed');
        const objs = await template('mergeops', 'mergeops', ['-f', file]);
        expectWebAndWorker(objs, 'mergeops', 'mergeops', 'mergeops');
        // The rendered clusters file holds each example cluster as mergeops reads it.
        const example = (yaml.load(text) as { clusters?: Record<string, unknown> }).clusters ?? {};
        const rendered = loadRenderedClusters(objs);
        const own = path.join(dir, `clusters-${i}.yaml`);
        fs.writeFileSync(own, yaml.dump({ clusters: example }));
        for (const [name, target] of loadClusterTargets(own)) expect(rendered.get(name)).toEqual(target.inCluster ? { ...target, inventoryNamespace: 'mergeops-system' } : target);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses values that would break the install', async () => {
    expect(await templateError(['--set', 'env.REDIS_URL=redis://x'])).toMatch(/env.REDIS_URL is set by the chart/);
    expect(await templateError(['--set', 'env.REDIS_PASSWORD=x'])).toMatch(/env.REDIS_PASSWORD is set by the chart/);
    expect(await templateError(['--set', 'rbac.scope=namespaced'])).toMatch(/needs rbac.namespaces/);
    expect(await templateError(['--set', 'rbac.scope=everywhere'])).toMatch(/rbac\/scope|rbac.scope/);
    expect(await templateError(['--set', 'redis.url=', '--set', 'redis.bundled.enabled=false'])).toMatch(/set redis.url, redis.existingSecret or redis.bundled.enabled/);
    // A worker grace shorter than the longest health wait would kill deploys mid-wait.
    expect(await templateError(['--set', 'worker.terminationGracePeriodSeconds=360'])).toMatch(/worker.terminationGracePeriodSeconds \(360\) must be at least env.MERGEOPS_MAX_WAIT_MS in seconds \(1800\) plus 60/);
    expect(await templateError(['--set', 'env.MERGEOPS_MAX_WAIT_MS=3600000'])).toMatch(/\(2100\) must be at least env.MERGEOPS_MAX_WAIT_MS in seconds \(3600\)/);
    // Keys the clusters file refuses are refused by the chart's schema, generated from it.
    expect(await templateError(['--set', 'clusters.default.grants[0].repo[0]=acme/*'])).toMatch(/repo/);
    // An in-cluster inventory namespace the chart's RBAC does not cover.
    expect(await templateError(['--set', 'clusters.default.inventoryNamespace=elsewhere'])).toMatch(/clusters.default.inventoryNamespace is "elsewhere" but rbac.inventoryNamespace is "mergeops-system"/);
    // A preview role mergeops may not bind would fail every environment at its RoleBinding.
    const previewGrant = ['--set', 'rbac.previewEnvironments.enabled=true', '--set-json', 'clusters.default.grants=[{"repos":["acme/*"],"namespaces":[],"previewNamespaces":["pr-*"],"preview":{"role":"admin"}}]'];
    expect(await templateError(previewGrant)).toMatch(/clusters.default: a grant runs preview environments with role "admin", which rbac.previewEnvironments.roles does not list/);
    expect(await templateError([...previewGrant, '--set', 'rbac.previewEnvironments.roles={edit,admin}'])).toBeNull();
    expect(await templateError(['--set', 'rbac.previewEnvironments.enabled=true', '--set-json', 'rbac.previewEnvironments.roles=[]'])).toMatch(/roles/);
  });
});
