import type { Cluster } from '../cluster/connect.js';
import { KubeApiError } from '../cluster/client.js';
import type { RolloutFacts } from '../diff/rollout.js';
import { isTransient } from '../errors.js';
import type { KubeObject } from '../objects.js';

/** What the rollout analysis reads in a namespace, and where (list requests, read-only). */
const FACT_LISTS = [
  { key: 'quotas', kind: 'ResourceQuota', path: (ns: string) => `/api/v1/namespaces/${ns}/resourcequotas` },
  { key: 'limitRanges', kind: 'LimitRange', path: (ns: string) => `/api/v1/namespaces/${ns}/limitranges` },
  { key: 'pdbs', kind: 'PodDisruptionBudget', path: (ns: string) => `/apis/policy/v1/namespaces/${ns}/poddisruptionbudgets` },
  { key: 'hpas', kind: 'HorizontalPodAutoscaler', path: (ns: string) => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers` },
] as const;

/**
 * The live ResourceQuotas, LimitRanges, PodDisruptionBudgets and HPAs of the namespaces
 * where a workload changes, as the repository's identity reads them (four list requests a
 * namespace; none when no workload changes). A list the server refuses (the grant's
 * identity may not read it) is named in `unread` and its checks are skipped; the preview
 * goes on. An unreachable cluster is thrown, as every other request of the plan throws it.
 */
export async function readRolloutFacts(cluster: Cluster, namespaces: string[]): Promise<RolloutFacts> {
  const facts: RolloutFacts = { quotas: [], limitRanges: [], pdbs: [], hpas: [], unread: [] };
  await Promise.all(
    namespaces.flatMap((ns) =>
      FACT_LISTS.map(async (l) => {
        try {
          const list = await cluster.client.request<{ items?: KubeObject[] }>('GET', l.path(encodeURIComponent(ns)));
          // Lists leave out each item's kind and apiVersion.
          for (const item of list?.items ?? []) facts[l.key].push({ ...item, kind: l.kind, apiVersion: l.path(ns).startsWith('/api/v1') ? 'v1' : l.path(ns).split('/').slice(2, 4).join('/') });
        } catch (err) {
          if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
          facts.unread?.push(`${l.kind} in ${ns}: ${err.message}`);
        }
      }),
    ),
  );
  return facts;
}
