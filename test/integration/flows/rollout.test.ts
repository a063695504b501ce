import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { CONFIG_HASH_ANNOTATION } from '../../../src/rollout-checks.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';
import { renderGfm, visibleText } from '../../unit/report/cmark.js';

/**
 * Rollout impact in the preview (#27), through the whole app: signed webhook → Redis →
 * worker → the real API server (a ResourceQuota, a PodDisruptionBudget and an HPA installed
 * live, not in Git) → the GitHub stand-in. The comment is read as GitHub shows it
 * (cmark-gfm), the check run's annotations at each workload's file and line.
 */
const config = (app: string, ns: string, extra = '') => `apps:\n  - name: ${app}\n    path: deploy\n    namespace: ${ns}\n${extra}`;
const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  VALUE: "${value}"\n`;

interface DeploymentOpts {
  name: string;
  replicas: number;
  labels: Record<string, string>;
  config: string;
  cpu: string;
  annotations?: Record<string, string>;
  minReadySeconds?: number;
}
function deployment(o: DeploymentOpts): string {
  const labels = Object.entries(o.labels).map(([k, v]) => `${k}: ${v}`).join(', ');
  const annotations = o.annotations ? `      annotations:\n${Object.entries(o.annotations).map(([k, v]) => `        ${k}: "${v}"\n`).join('')}` : '';
  return [
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    `  name: ${o.name}`,
    'spec:',
    `  replicas: ${o.replicas}`,
    ...(o.minReadySeconds ? [`  minReadySeconds: ${o.minReadySeconds}`] : []),
    '  selector:',
    `    matchLabels: {app: ${o.name}}`,
    '  template:',
    '    metadata:',
    `      labels: {${labels}}`,
    `${annotations}    spec:`,
    '      containers:',
    `        - name: ${o.name}`,
    '          image: nginx:1.27',
    `          envFrom: [{configMapRef: {name: ${o.config}}}]`,
    `          resources: {requests: {cpu: ${o.cpu}}}`,
    '',
  ].join('\n');
}
const service = (name: string, selector: Record<string, string>, portName: string) =>
  `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  selector: {${Object.entries(selector).map(([k, v]) => `${k}: ${v}`).join(', ')}}\n  ports: [{name: ${portName}, port: 80}]\n`;
const ingress = `apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\nspec:\n  rules:\n    - http:\n        paths:\n          - path: /\n            pathType: Prefix\n            backend: {service: {name: web, port: {name: http}}}\n`;

/** The files of one revision: `v` 1 is deployed, 2 is the pull request. */
function revision(app: string, ns: string, v: 1 | 2, extraConfig = ''): Record<string, string> {
  const webService = service('web', { app: 'web' }, v === 1 ? 'http' : 'www');
  return {
    '.github/mergeops.yml': config(app, ns, v === 1 ? '    wait: 0\n' : `    wait: 60s\n    failOn: [config-not-reloaded]\n${extraConfig}`),
    'deploy/config.yaml': `${cm('web-config', `web-${v}`)}---\n${cm('api-config', `api-${v}`)}`,
    // The Service first: the Deployment's line in the file is what the annotation names.
    'deploy/web.yaml': `${webService}---\n${deployment({ name: 'web', replicas: v === 1 ? 3 : 2, labels: { app: 'web' }, config: 'web-config', cpu: '10m' })}`,
    'deploy/api.yaml': deployment({ name: 'api', replicas: 4, labels: { app: 'api' }, config: 'api-config', cpu: '250m', minReadySeconds: 45, annotations: { 'checksum/config': String(v) } }),
    'deploy/worker.yaml': `${service('worker', { app: 'worker', tier: 'backend' }, 'http')}---\n${deployment({ name: 'worker', replicas: 1, labels: { app: 'worker', tier: v === 1 ? 'backend' : 'api' }, config: 'api-config', cpu: '10m' })}`,
    'deploy/ingress.yaml': ingress,
  };
}

type Annotation = { path: string; start_line: number; end_line: number; annotation_level: string; title: string; message: string };

describe('rollout impact in the preview, end to end against the real API server', () => {
  let h: Harness;
  let cluster: Cluster;
  let pr = 2700;

  beforeAll(async () => {
    cluster = await testCluster();
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["ro-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  async function merge(seed: string, files: Record<string, string>): Promise<Recorded> {
    const s = sha(`${seed}-merge`);
    await h.push(s, files);
    expect(await h.pushEvent(s, { mergedPr: ++pr })).toBe(202);
    return h.waitForDeploy(s);
  }

  async function preview(seed: string, files: Record<string, string>, base: string): Promise<{ check: Recorded; body: string }> {
    const head = sha(`${seed}-head`);
    await h.push(head, files);
    expect(await h.open(++pr, head, { baseSha: base })).toBe(202);
    const { check, comment } = await h.waitForPreview(head);
    return { check, body: String(comment.body.body) };
  }

  it('shows each workload\'s Rollout line and every finding in the comment and as check-run annotations at its line; failOn: [config-not-reloaded] fails the check', async () => {
    const ns = uniqueName('ro-a');
    await namespace(cluster, ns);
    const app = 'shop';
    expect((await merge('a1', revision(app, ns, 1))).body.conclusion).toBe('success');

    // Installed live, outside Git. No quota controller runs here: its usage is written through /status as the controller would.
    await put(cluster, { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'compute', namespace: ns }, spec: { hard: { 'requests.cpu': '1' } } });
    await cluster.client.request('PATCH', `/api/v1/namespaces/${ns}/resourcequotas/compute/status`, {
      body: { status: { hard: { 'requests.cpu': '1' }, used: { 'requests.cpu': '900m' } } },
      contentType: 'application/merge-patch+json',
    });
    await put(cluster, { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'web', namespace: ns }, spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } } });
    await put(cluster, { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'web', namespace: ns }, spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 10 } });

    const { check, body } = await preview('a2', revision(app, ns, 2), sha('a1-merge'));
    const text = visibleText(renderGfm(body));

    // The risk summary at the top names the risky ones.
    const summary = visibleText(renderGfm(body.slice(0, body.indexOf('\n| |'))));
    expect(summary).toContain(`rollout: Deployment ${ns}/web keeps the old config (config-not-reloaded, fails the preview: failOn)`);
    // One Rollout line per workload, in the app's detail.
    expect(text).toContain(`Deployment ${ns}/web: scale 3 → 2, no restart (deploy/web.yaml#L9)`);
    expect(text).toContain(`Deployment ${ns}/api: restart (annotation checksum/config), picking up the new ConfigMap api-config: 4 pods replaced, up to 1 extra (maxSurge 25%) and 1 unavailable (maxUnavailable 25%) at a time; peak 5 pods`);
    expect(text).toContain(`Deployment ${ns}/worker: restart (pod labels), picking up the new ConfigMap api-config: 1 pod replaced`);
    // Each finding, as a reviewer reads it.
    expect(text).toContain('web reads ConfigMap web-config through envFrom; its pod template does not change, so its pods keep the old values until they restart.');
    expect(text).toContain("api needs 250m more requests.cpu at the rollout's peak (5 pods of 250m each), but ResourceQuota compute has 100m left (hard 1, used 900m)");
    expect(text).toContain('PodDisruptionBudget web (minAvailable 2) allows no disruption of web at 2 replicas');
    expect(text).toContain('HorizontalPodAutoscaler web owns the replicas of web (2–10, now 3) while Git sets 2; Git wins: every deploy resets it to 2, then the HPA scales it again. Drop spec.replicas from Git');
    expect(text).toContain("api takes at least 90s to roll out (2 steps × minReadySeconds 45), longer than the app's wait: 1m");
    expect(text).toContain('Service worker selects app=worker,tier=backend, but the new pods of worker are labelled app=worker,tier=api');
    expect(text).toContain('Ingress web sends traffic to port http of Service web, which no longer has it (ports: www).');

    // The check: failed by failOn, one annotation per workload at its file and line.
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.title).toBe('1 rollout finding fails the preview (failOn: config-not-reloaded)');
    const annotations = check.body.output.annotations as Annotation[];
    const at = (path: string) => annotations.find((a) => a.path === path && a.title.startsWith('Rollout'));
    expect(at('deploy/web.yaml')).toMatchObject({ start_line: 9, end_line: 9, annotation_level: 'failure', title: `Rollout of Deployment ${ns}/web (shop)` });
    expect(at('deploy/web.yaml')?.message).toMatch(/^Rollout: scale 3 → 2, no restart\n/);
    for (const check of ['config-not-reloaded', 'pdb-blocks', 'hpa-fights']) expect(at('deploy/web.yaml')?.message).toContain(check);
    expect(at('deploy/api.yaml')).toMatchObject({ start_line: 1, annotation_level: 'warning' });
    for (const check of ['quota', 'wait-too-short']) expect(at('deploy/api.yaml')?.message).toContain(check);
    expect(at('deploy/worker.yaml')).toMatchObject({ start_line: 9, annotation_level: 'warning' });
    expect(at('deploy/worker.yaml')?.message).toContain('selector-mismatch');
    expect(at('deploy/ingress.yaml')).toMatchObject({ start_line: 1, annotation_level: 'warning' });
    expect(at('deploy/ingress.yaml')?.message).toContain('route-missing-backend');
  });

  it('restartOnConfigChange: true puts the configs\' hash on the pod template, so the merge of a config change really rolls the pods, and the preview says so', async () => {
    const ns = uniqueName('ro-b');
    await namespace(cluster, ns);
    const files = (v: number) => ({
      '.github/mergeops.yml': config('hashed', ns, '    wait: 0\n    restartOnConfigChange: true\n'),
      'deploy/config.yaml': cm('web-config', `v${v}`),
      'deploy/web.yaml': deployment({ name: 'web', replicas: 2, labels: { app: 'web' }, config: 'web-config', cpu: '10m' }),
    });
    const hash = async (): Promise<string | undefined> => {
      const d = await get(cluster, 'apps/v1', 'Deployment', ns, 'web');
      return (d?.['spec'] as { template: { metadata: { annotations?: Record<string, string> } } }).template.metadata.annotations?.[CONFIG_HASH_ANNOTATION];
    };
    expect((await merge('b1', files(1))).body.conclusion).toBe('success');
    const first = await hash();
    expect(first).toMatch(/^[0-9a-f]{16}$/);

    const { check, body } = await preview('b2', files(2), sha('b1-merge'));
    expect(check.body.conclusion).toBe('success');
    const text = visibleText(renderGfm(body));
    expect(text).toContain(`Deployment ${ns}/web: restart (annotation ${CONFIG_HASH_ANNOTATION}), picking up the new ConfigMap web-config: 2 pods replaced`);
    expect(text).not.toContain('keeps the old config');

    expect((await merge('b2', files(2))).body.conclusion).toBe('success');
    // A new pod-template hash: the Deployment controller rolls every pod.
    const second = await hash();
    expect(second).toMatch(/^[0-9a-f]{16}$/);
    expect(second).not.toBe(first);
  });
});
