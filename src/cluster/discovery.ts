import type { ResourceInfo } from '../objects.js';
import { KubeApiError, type KubeClient } from './client.js';


interface APIResourceList {
  groupVersion: string;
  resources: { name: string; kind: string; namespaced: boolean; verbs: string[] }[];
}
interface APIGroupList {
  groups: { name: string; versions: { groupVersion: string }[]; preferredVersion?: { groupVersion: string } }[];
}

const TTL_MS = 5 * 60_000;

/** The kind → resource map of one cluster, refreshed when stale or when a kind is unknown. */
export class Discovery {
  private byGvk = new Map<string, ResourceInfo>();
  private preferred: ResourceInfo[] = [];
  private loadedAt = 0;
  private loading: Promise<void> | null = null;

  constructor(private readonly client: KubeClient) {}

  /** Undefined when the server has no such kind (even after a refresh: a CRD may be new). */
  async resolve(apiVersion: string, kind: string): Promise<ResourceInfo | undefined> {
    await this.ensure(false);
    const hit = this.byGvk.get(`${apiVersion}/${kind}`);
    if (hit) return hit;
    await this.ensure(true);
    return this.byGvk.get(`${apiVersion}/${kind}`);
  }

  /** One listable resource per kind, at the group's preferred version. */
  async listable(): Promise<ResourceInfo[]> {
    await this.ensure(false);
    return this.preferred.filter((r) => r.verbs.includes('list'));
  }

  private async ensure(force: boolean): Promise<void> {
    if (!force && this.loadedAt > Date.now() - TTL_MS) return;
    this.loading ??= this.load().finally(() => (this.loading = null));
    await this.loading;
  }

  private async load(): Promise<void> {
    const groups = await this.client.request<APIGroupList>('GET', '/apis');
    const lists: { gv: string; preferred: boolean }[] = [{ gv: 'v1', preferred: true }];
    for (const g of groups.groups) {
      const pref = g.preferredVersion?.groupVersion ?? g.versions[0]?.groupVersion;
      for (const v of g.versions) lists.push({ gv: v.groupVersion, preferred: v.groupVersion === pref });
    }
    const byGvk = new Map<string, ResourceInfo>();
    const preferred: ResourceInfo[] = [];
    await Promise.all(
      lists.map(async ({ gv, preferred: isPreferred }) => {
        let list: APIResourceList;
        try {
          list = await this.client.request<APIResourceList>('GET', gv === 'v1' ? '/api/v1' : `/apis/${gv}`);
        } catch (err) {
          // An aggregated API whose backend is down answers 503; the rest of the
          // cluster is still usable.
          if (err instanceof KubeApiError) return;
          throw err;
        }
        const [group, version] = gv.includes('/') ? (gv.split('/') as [string, string]) : ['', gv];
        for (const r of list.resources) {
          if (r.name.includes('/')) continue;
          const info: ResourceInfo = { group, version, kind: r.kind, plural: r.name, namespaced: r.namespaced, verbs: r.verbs };
          byGvk.set(`${gv}/${r.kind}`, info);
          if (isPreferred) preferred.push(info);
        }
      }),
    );
    this.byGvk = byGvk;
    this.preferred = preferred;
    this.loadedAt = Date.now();
  }
}

export function resourcePath(r: ResourceInfo, namespace: string | undefined, name?: string): string {
  const base = r.group === '' ? `/api/${r.version}` : `/apis/${r.group}/${r.version}`;
  const ns = r.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${base}${ns}/${r.plural}${name ? `/${encodeURIComponent(name)}` : ''}`;
}
