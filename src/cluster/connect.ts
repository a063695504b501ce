import type { ClusterTarget, ClusterTargets } from '../config/clusters.js';
import { UserError } from '../errors.js';
import { identityFor } from '../policy/grants.js';
import { Kubeconfig } from '../kubeconfig.js';
import { KubeClient } from './client.js';
import { Discovery } from './discovery.js';

/**
 * Requests one app's plan, apply, prune or health wait keeps in flight against its cluster:
 * enough to hide latency, few enough that the API server's priority and fairness does not
 * start shedding a single deploy.
 */
export const CLUSTER_CONCURRENCY = 16;

export interface Cluster {
  /**
   * Requests for a repository's objects (dry-run, apply, get, list, delete): as the identity
   * its grants name (impersonated), or mergeops' own when they name none.
   */
  client: KubeClient;
  /**
   * mergeops' own identity, never impersonated: the apps' inventories, which no repository's
   * identity may read or write, and discovery.
   */
  own: KubeClient;
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
  /** The cluster as each named identity, by cluster and identity: one per pair, sharing the cluster's pool. */
  private readonly acting = new Map<string, Cluster>();

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

  /**
   * The cluster as `repo`'s requests see it: `client` impersonates the identity the
   * repository's grants name there (so the API server enforces that identity's RBAC as a
   * second wall behind the grant check), `own` stays mergeops' own. Without a named
   * identity, the cluster as it is.
   */
  async forRepo(name: string, repo: string): Promise<Cluster> {
    const cluster = await this.get(name);
    const who = identityFor(repo, name, cluster.target.grants);
    if (!who) return cluster;
    const key = JSON.stringify([name, who.user, who.groups]);
    let acting = this.acting.get(key);
    if (!acting) {
      acting = { ...cluster, client: cluster.own.impersonating(who) };
      this.acting.set(key, acting);
    }
    return acting;
  }

  async close(): Promise<void> {
    this.acting.clear();
    for (const c of this.clusters.values()) (await c.catch(() => null))?.client.close();
    this.clusters.clear();
  }
}

async function connect(target: ClusterTarget): Promise<Cluster> {
  const kc = new Kubeconfig();
  if (target.inCluster) kc.loadFromCluster();
  else if (target.kubeconfig) kc.loadFromFile(target.kubeconfig);
  else kc.loadFromDefault();
  if (target.context) kc.setCurrentContext(target.context);
  const client = await KubeClient.create(target.name, kc);
  return { client, own: client, discovery: new Discovery(client), target };
}
