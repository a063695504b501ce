import type { Logger } from 'pino';
import { errorText } from '../errors.js';
import { isMainResource, managedFields } from '../managed-fields.js';
import { objectRef, type KubeObject } from '../objects.js';
import { KubeApiError, type KubeClient } from './client.js';
import type { Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import { identityFor } from '../policy/grants.js';
import { APP_LABEL, LEGACY_FIELD_MANAGER, MANAGED_BY, MANAGED_BY_LABEL, REPO_ID_LABEL, fieldManager } from './inventory.js';
import { INVENTORY_APP_LABEL, INVENTORY_COMPONENT, INVENTORY_COMPONENT_LABEL, INVENTORY_REPO_ID_LABEL, inventoryName, inventoryNamespace, parseInventory, parseRef } from './inventory-store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** How long the server keeps one watch request open before we resume it (its `timeoutSeconds`). */
const WATCH_TIMEOUT_S = 300;
/**
 * The client's own limit on a silent watch: the server ends every watch by its
 * `timeoutSeconds` (bookmarks come more often), so a stream silent longer than that has a
 * dead connection under it and is resumed from its resourceVersion.
 */
export const WATCH_IDLE_MS = WATCH_TIMEOUT_S * 1000 + 30_000;
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;

export interface ResourceWatchOptions {
  labelSelector: string;
  onEvent(type: WatchEventType, object: KubeObject): void;
  /**
   * The watch missed events (410 Gone: its resourceVersion is older than the server keeps)
   * and listed again: what changed in between is known only from a full compare.
   */
  onGap(): void;
  /** When set, every list hands over its items (else the list is one item long, for its resourceVersion). */
  onList?(items: KubeObject[]): void;
  log: Logger;
  /** How long a watch may stay silent before it is cut and resumed (WATCH_IDLE_MS; tests shorten it). */
  idleMs?: number;
}

/**
 * One Kubernetes watch that keeps going: it lists (for a resourceVersion), then watches from
 * there; a watch the server ends or a connection that breaks resumes from the last
 * resourceVersion it saw (bookmarks keep it fresh), and one the server answers 410 Gone
 * lists again and reports the gap.
 */
export class ResourceWatch {
  /** The last resourceVersion seen; undefined before the first list or after a gap. */
  resourceVersion: string | undefined;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;

  constructor(
    private readonly client: KubeClient,
    /** The collection: `/api/v1/namespaces/shop/configmaps`. */
    readonly path: string,
    private readonly opts: ResourceWatchOptions,
  ) {}

  start(): void {
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  private async loop(): Promise<void> {
    let listed = false;
    let retryMs = RETRY_MIN_MS;
    const signal = this.abort.signal;
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) {
          const list = await this.client.request<{ metadata: { resourceVersion: string }; items: KubeObject[] }>('GET', this.path, {
            query: { labelSelector: this.opts.labelSelector, ...(this.opts.onList ? {} : { limit: '1' }) },
          });
          this.resourceVersion = list.metadata.resourceVersion;
          this.opts.onList?.(list.items);
          if (listed) this.opts.onGap();
          listed = true;
        }
        await this.client.watch(
          this.path,
          { labelSelector: this.opts.labelSelector, resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(WATCH_TIMEOUT_S) },
          (line) => this.handle(line as { type: string; object: KubeObject & { code?: number; reason?: string; message?: string } }),
          signal,
          this.opts.idleMs ?? WATCH_IDLE_MS,
        );
        retryMs = RETRY_MIN_MS;
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof KubeApiError && err.status === 410) {
          this.opts.log.info({ watch: this.path }, 'watch too old for the API server (410 Gone); listing again, then one full compare');
          this.resourceVersion = undefined;
          continue;
        }
        this.opts.log.warn({ watch: this.path, err: errorText(err), retryMs }, 'watch broke; resuming from its resourceVersion');
        await new Promise((r) => setTimeout(r, retryMs));
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      }
    }
  }

  private handle(e: { type: string; object: KubeObject & { code?: number; reason?: string; message?: string } }): void {
    if (e.type === 'ERROR') throw new KubeApiError(e.object.code ?? 500, e.object.reason ?? 'Unknown', e.object.message ?? 'watch error');
    const rv = e.object.metadata?.resourceVersion as string | undefined;
    if (rv) this.resourceVersion = rv;
    if (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') this.opts.onEvent(e.type, e.object);
  }
}

/** An object of a deployed app that someone other than the app wrote. */
export interface ForeignChange {
  repoId: number;
  app: string;
  ref: string;
  by: string;
}

/**
 * Who wrote this object last, from its managedFields (main resource only: a controller
 * writing status is not a change of what Git declares). A tie within the second counts for
 * the other writer: a drift check too many costs a dry-run, a hand edit missed costs drift.
 */
export function lastWriter(o: KubeObject): string | null {
  const entries = managedFields(o).filter(isMainResource);
  if (entries.length === 0) return null;
  const time = (t: string | undefined): number => (t ? Date.parse(t) : 0);
  const newest = Math.max(...entries.map((e) => time(e.time)));
  const latest = entries.filter((e) => time(e.time) === newest);
  return (latest.find((e) => !e.manager.startsWith('mergeops/')) ?? latest[0])?.manager ?? null;
}

/** The app an object of mergeops belongs to and whether its last write was the app's own, or null when not an app's object. */
export function foreignChange(o: KubeObject): ForeignChange | null {
  const labels = o.metadata.labels ?? {};
  const repoId = Number(labels[REPO_ID_LABEL]);
  const app = labels[APP_LABEL];
  if (labels[MANAGED_BY_LABEL] !== MANAGED_BY || !app || !Number.isInteger(repoId)) return null;
  const by = lastWriter(o);
  if (by === null || by === LEGACY_FIELD_MANAGER || by === fieldManager({ repoId, repo: '', app })) return null;
  return { repoId, app, ref: objectRef(o), by };
}

/** One watch target: a type at its apiVersion, in a namespace (`''`: cluster-scoped). */
export function watchKey(ref: string): string | null {
  const r = parseRef(ref);
  return r ? `${r.apiVersion} ${r.kind} ${r.namespace ?? ''}` : null;
}

export interface ClusterWatchHandlers {
  changed(c: ForeignChange): void;
  /** A watch missed events: the apps of this cluster need one full compare. */
  gap(): void;
  log: Logger;
}

/**
 * The drift watches of one cluster: one watch on the app inventories (so the set follows
 * every deploy), and one watch per (type, namespace) that some inventory names, selected by
 * mergeops' label and shared by every app. Only what others write reaches `changed`: the
 * apps' own applies, objects no inventory lists, and deletions (drift is of live objects)
 * are left out.
 */
export class ClusterWatches {
  /** Inventory ConfigMap name → the app, its repository and its refs. */
  private readonly inventories = new Map<string, { repoId: number; repo: string; app: string; refs: Set<string> }>();
  private readonly watches = new Map<string, ResourceWatch>();
  private readonly inventoryWatch: ResourceWatch;
  private reconciling: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly cluster: Cluster,
    private readonly handlers: ClusterWatchHandlers,
  ) {
    const ns = inventoryNamespace(cluster);
    // Inventories are mergeops' own record: watched as mergeops itself, never as a repository's identity.
    this.inventoryWatch = new ResourceWatch(cluster.own, `/api/v1/namespaces/${encodeURIComponent(ns)}/configmaps`, {
      labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY},${INVENTORY_COMPONENT_LABEL}=${INVENTORY_COMPONENT}`,
      log: handlers.log,
      onList: (items) => {
        this.inventories.clear();
        for (const cm of items) this.readInventory('ADDED', cm);
        this.reconcile();
      },
      onEvent: (type, cm) => {
        this.readInventory(type, cm);
        this.reconcile();
      },
      onGap: () => handlers.gap(),
    });
  }

  start(): void {
    this.inventoryWatch.start();
  }

  /** The (type, namespace) watches open now. */
  targets(): string[] {
    return [...this.watches.keys()].sort();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.reconciling;
    await Promise.all([this.inventoryWatch.stop(), ...[...this.watches.values()].map((w) => w.stop())]);
    this.watches.clear();
  }

  private readInventory(type: WatchEventType, cm: KubeObject): void {
    const name = cm.metadata.name ?? '';
    if (type === 'DELETED') {
      this.inventories.delete(name);
      return;
    }
    const labels = cm.metadata.labels ?? {};
    const repoId = Number(labels[INVENTORY_REPO_ID_LABEL]);
    const app = labels[INVENTORY_APP_LABEL] ?? '';
    try {
      const record = parseInventory(cm, { repoId, app, repo: '' });
      const repo = String((cm['data'] as Record<string, unknown> | undefined)?.['repo'] ?? '');
      this.inventories.set(name, { repoId, repo, app, refs: new Set(record.objects) });
    } catch (err) {
      this.handlers.log.warn({ inventory: name, err: errorText(err) }, 'not an inventory the drift watch can read; its app is not watched');
    }
  }

  /** Opens the watches the inventories name and closes the ones none names any more. */
  private reconcile(): void {
    this.reconciling = this.reconciling.then(async () => {
      if (this.stopped) return;
      // Watched as the identity the app's grants name (impersonated), like its deploys: one
      // watch per (type, namespace) and identity, so the API server checks that identity's RBAC.
      const wanted = new Map<string, { ref: string; client: KubeClient }>();
      for (const inv of this.inventories.values()) {
        const client = this.clientFor(inv.repo);
        if (!client) continue;
        for (const ref of inv.refs) {
          const key = watchKey(ref);
          const as = client.actingAs ? ` as ${client.actingAs.named}` : '';
          if (key && !wanted.has(`${key}${as}`)) wanted.set(`${key}${as}`, { ref, client });
        }
      }
      for (const [key, w] of this.watches) {
        if (wanted.has(key)) continue;
        this.watches.delete(key);
        await w.stop();
      }
      for (const [key, { ref, client }] of wanted) {
        if (this.watches.has(key)) continue;
        const r = parseRef(ref);
        const info = r ? await this.cluster.discovery.resolve(r.apiVersion, r.kind).catch(() => undefined) : undefined;
        if (!r || !info || !info.verbs.includes('watch')) continue;
        const w = new ResourceWatch(client, resourcePath(info, r.namespace), {
          labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY}`,
          log: this.handlers.log,
          onEvent: (type, o) => this.objectEvent(type, o),
          onGap: () => this.handlers.gap(),
        });
        this.watches.set(key, w);
        w.start();
      }
    });
  }

  /** The client `repo`'s objects are read with; null (not watched, the full compare still runs) when its grants name conflicting identities. */
  private clientFor(repo: string): KubeClient | null {
    try {
      const who = identityFor(repo, this.cluster.target.name, this.cluster.target.grants);
      return who ? this.cluster.own.impersonating(who) : this.cluster.client;
    } catch (err) {
      this.handlers.log.warn({ repo, err: errorText(err) }, 'not watching this repository\'s objects');
      return null;
    }
  }

  private objectEvent(type: WatchEventType, o: KubeObject): void {
    if (type === 'DELETED') return;
    const c = foreignChange(o);
    if (!c) return;
    if (this.inventories.get(inventoryName(c))?.refs.has(c.ref)) this.handlers.changed(c);
  }
}
