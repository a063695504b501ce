import { Kubeconfig } from '../src/kubeconfig.js';
import { Redis } from 'ioredis';
import { DEFAULT_LEASE_SECONDS, DEFAULT_LEASE_WAIT_MS, acquireAppLease, leaseHolder } from '../src/cluster/app-lease.js';
import { applyStaged, type ApplyOptions, type ApplyResult } from '../src/cluster/apply.js';
import { KubeClient } from '../src/cluster/client.js';
import type { Cluster } from '../src/cluster/connect.js';
import { Discovery } from '../src/cluster/discovery.js';
import type { InventoryKey } from '../src/cluster/inventory.js';
import type { App } from '../src/config/repo-config.js';
import { desiredHash } from '../src/engine/desired-hash.js';
import type { KubeObject, RenderedObject } from '../src/objects.js';
import { dumpYaml } from '../src/yaml.js';

/** One benchmark's part of RESULTS.md: a markdown table and what it means. */
export interface Section {
  title: string;
  table: string[];
  notes: string[];
  targets: TargetResult[];
}

/** Everything the benchmarks share: one API server and one Redis for the whole run. */
export interface BenchEnv {
  kubeconfig: string;
  redisUrl: string;
}

/**
 * `n` objects of an app: every 5th a Deployment, the rest ConfigMaps with a 200-byte
 * payload. `version` changes 20% of them (every 10th object's replicas or value), so a
 * PR from version 0 to 1 has something to show.
 */
export function objects(ns: string, n: number, version: number): KubeObject[] {
  return Array.from({ length: n }, (_, i) =>
    i % 5 === 0
      ? {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `web-${i}`, namespace: ns },
          spec: {
            replicas: 1 + ((i + (i % 10 === 0 ? version : 0)) % 3),
            selector: { matchLabels: { app: `web-${i}` } },
            template: { metadata: { labels: { app: `web-${i}` } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
          },
        }
      : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: ns }, data: { value: String(i % 10 === 1 ? version : 0), payload: 'x'.repeat(200) } },
  );
}

/** The same objects as one multi-document YAML file. */
export function manifest(ns: string, n: number, version: number): string {
  return objects(ns, n, version)
    .map((o) => dumpYaml(o))
    .join('---\n');
}

export const median = (xs: number[]): number => percentile(xs, 50);

/** Nearest-rank percentile: with 10 samples p95 is the largest, stated as such. */
export function percentile(xs: number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export function log(msg: string): void {
  console.error(`[bench] ${msg}`);
}

/** A repository holding one plain-YAML app of `n` objects, as the GitHub stand-in serves it. */
export function appRepo(app: string, ns: string, n: number, version: number): Record<string, string> {
  return {
    // wait: 0 because the test API server runs no controllers: Deployments never become ready.
    '.github/mergeops.yml': `apps:\n  - name: ${app}\n    path: deploy\n    namespace: ${ns}\n    wait: 0s\n`,
    'deploy/app.yaml': manifest(ns, n, version),
  };
}

/** The operator's clusters file for the harness: the test API server, bench namespaces only. */
export const CLUSTERS_YAML = 'clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["bench-*"]\n';

/** A target from issue 8 and what this run measured against it. */
export interface TargetResult {
  target: string;
  measured: string;
  met: boolean;
  /** When missed: by how much, why, and what would close it. */
  missNote?: string;
}

// Nothing here may import the GitHub stand-in (nock): once loaded, it hooks every HTTP
// request of the process, the API server's too. bench/harness.ts holds what needs it.

/** A mergeops cluster handle on the bench API server; `close()` when done. */
export async function connect(kubeconfig: string): Promise<Cluster> {
  const kc = new Kubeconfig();
  kc.loadFromFile(kubeconfig);
  const client = await KubeClient.create('bench', kc);
  return { client, own: client, discovery: new Discovery(client), target: { name: 'bench', inCluster: false, grants: null } };
}

/**
 * One deploy of an app as the engine runs it, without the health wait (the bench's objects
 * have none): the app's Lease, the staged apply under it (pending record, writes, prune),
 * the inventory record with the render's hash, the Lease given back. The bench times the
 * real path, bookkeeping included.
 */
export async function deployApp(cluster: Cluster, app: App, rendered: RenderedObject[], key: InventoryKey, opts: Omit<ApplyOptions, 'lease' | 'record'>): Promise<ApplyResult> {
  const lease = await acquireAppLease(cluster, key, { holder: leaseHolder('bench'), durationS: DEFAULT_LEASE_SECONDS, waitMs: DEFAULT_LEASE_WAIT_MS, log: opts.log });
  try {
    const staged = await applyStaged(cluster, app, rendered, key, { ...opts, lease, record: { desiredHash: desiredHash(app, rendered) } });
    await staged.record(true);
    return staged.result;
  } finally {
    await lease.release();
  }
}

export async function createNamespace(cluster: Cluster, name: string): Promise<void> {
  await cluster.client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
}


/** Deletes a run's keys from the shared Redis. */
export async function dropKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
