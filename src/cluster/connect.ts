import { KubeConfig } from '@kubernetes/client-node';
import type { ClusterTarget, ClusterTargets } from '../config/clusters.js';
import { UserError } from '../errors.js';
import { KubeClient } from './client.js';
import { Discovery } from './discovery.js';

/**
 * Requests one app's plan, apply, prune or health wait keeps in flight against its cluster:
 * enough to hide latency, few enough that the API server's priority and fairness does not
 * start shedding a single deploy.
 */
export const CLUSTER_CONCURRENCY = 16;

export interface Cluster {
  client: KubeClient;
  discovery: Discovery;
  target: ClusterTarget;
}

/** Unknown cluster names are the repo's mistake, so the message lists what exists. */
export class UnknownClusterError extends UserError {
  constructor(name: string, known: string[]) {
    super(`cluster "${name}" is not configured by the operator (configured: ${known.join(', ') || 'none'})`);
    this.name = 'UnknownClusterError';
  }
}

/**
 * One client (and connection pool, and discovery cache) per cluster per process. Only
 * caches: nothing here is state another worker would need.
 */
export class ClusterPool {
  private readonly clusters = new Map<string, Promise<Cluster>>();

  constructor(private readonly targets: ClusterTargets) {}

  get(name: string): Promise<Cluster> {
    const target = this.targets.get(name);
    if (!target) return Promise.reject(new UnknownClusterError(name, [...this.targets.keys()]));
    let c = this.clusters.get(name);
    if (!c) {
      c = connect(target);
      this.clusters.set(name, c);
      c.catch(() => this.clusters.delete(name));
    }
    return c;
  }

  async close(): Promise<void> {
    for (const c of this.clusters.values()) (await c.catch(() => null))?.client.close();
    this.clusters.clear();
  }
}

async function connect(target: ClusterTarget): Promise<Cluster> {
  const kc = new KubeConfig();
  if (target.inCluster) kc.loadFromCluster();
  else if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
  else kc.loadFromDefault();
  if (target.context) kc.setCurrentContext(target.context);
  const client = await KubeClient.create(target.name, kc);
  return { client, discovery: new Discovery(client), target };
}
