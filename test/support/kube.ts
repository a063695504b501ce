import { Kubeconfig } from '../../src/kubeconfig.js';
import { KubeClient } from '../../src/cluster/client.js';
import { getOrNull } from '../../src/cluster/live.js';
import type { Cluster } from '../../src/cluster/connect.js';
import { Discovery, resourcePath } from '../../src/cluster/discovery.js';
import type { KubeObject } from '../../src/objects.js';

/** A client of the run's API server, or of another one (a second envtest's kubeconfig `file`). */
export async function testCluster(name = 'default', file = process.env['MERGEOPS_TEST_KUBECONFIG']): Promise<Cluster> {
  if (!file) throw new Error('MERGEOPS_TEST_KUBECONFIG not set: the jest global setup did not run');
  const kc = new Kubeconfig();
  kc.loadFromFile(file);
  const client = await KubeClient.create(name, kc);
  return { client, own: client, discovery: new Discovery(client), target: { name, inCluster: false, grants: null } };
}

/**
 * Creates or replaces an object the way a human with kubectl would (no dry-run); with
 * `fieldManager` of an app (`mergeops/<repo-id>/<app>`), the way that app's deploy did.
 */
export async function put(c: Cluster, obj: KubeObject, fieldManager = 'test-human'): Promise<KubeObject> {
  const r = await c.discovery.resolve(obj.apiVersion, obj.kind);
  if (!r) throw new Error(`unknown kind ${obj.kind}`);
  return c.client.request<KubeObject>('PATCH', resourcePath(r, obj.metadata.namespace, obj.metadata.name), {
    body: obj,
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager, force: 'true' },
  });
}

/** `kubectl edit`: read, change, PUT back (an update, manager `kubectl-edit`, never a conflict). */
export async function edit(c: Cluster, apiVersion: string, kind: string, namespace: string | undefined, name: string, change: (o: KubeObject) => void): Promise<KubeObject> {
  const r = await c.discovery.resolve(apiVersion, kind);
  if (!r) throw new Error(`unknown kind ${kind}`);
  const path = resourcePath(r, namespace, name);
  const live = await c.client.request<KubeObject>('GET', path);
  change(live);
  return c.client.request<KubeObject>('PUT', path, { body: live, query: { fieldManager: 'kubectl-edit' } });
}

export async function get(c: Cluster, apiVersion: string, kind: string, namespace: string | undefined, name: string): Promise<KubeObject | null> {
  const r = await c.discovery.resolve(apiVersion, kind);
  if (!r) throw new Error(`unknown kind ${kind}`);
  return getOrNull(c, resourcePath(r, namespace, name));
}

export async function namespace(c: Cluster, name: string): Promise<void> {
  await put(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`;
}

/** Plays the Deployment controller (none runs here): reports the rollout done through /status. */
export async function rollOut(cluster: Cluster, ns: string, name: string, stop: { done: boolean }, before?: () => Promise<void>): Promise<void> {
  while (!stop.done) {
    const d = await get(cluster, 'apps/v1', 'Deployment', ns, name);
    if (d) {
      const gen = d.metadata['generation'] as number;
      const replicas = (d['spec'] as { replicas: number }).replicas;
      const status = (d['status'] ?? {}) as { observedGeneration?: number };
      if (status.observedGeneration !== gen) {
        await before?.();
        await cluster.client.request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${name}/status`, {
          body: { status: { observedGeneration: gen, replicas, updatedReplicas: replicas, readyReplicas: replicas, availableReplicas: replicas } },
          contentType: 'application/merge-patch+json',
        });
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}
