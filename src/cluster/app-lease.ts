import os from 'node:os';
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { TransientError, UserError } from '../errors.js';
import type { KubeObject } from '../objects.js';
import { KubeApiError } from './client.js';
import type { Cluster } from './connect.js';
import { MANAGED_BY, MANAGED_BY_LABEL, type InventoryKey } from './inventory.js';
import { INVENTORY_APP_LABEL, INVENTORY_REPO_ID_LABEL, ensureNamespace, inventoryName, inventoryNamespace } from './inventory-store.js';

/**
 * One writer per (repository, app, cluster): a `coordination.k8s.io/v1` Lease beside the
 * app's inventory, taken by every writer — each worker of every fleet and the CLI on a
 * laptop — for the whole apply, prune, health wait and inventory write, and renewed while
 * it runs. Kept in the cluster rather than in Redis because the cluster is the one thing
 * all writers share (the CLI has no Redis). Sent as mergeops itself (never a grant's impersonated identity), like the inventory. Expiry is judged the way client-go's leader
 * election does it: by how long the Lease has stayed at one resourceVersion on this
 * machine's clock, never by comparing the holder's clock with ours.
 */
export interface AppLease {
  readonly holder: string;
  /**
   * Renews now (a conditional update) and throws LeaseLostError when the Lease is no
   * longer ours: taken by another writer, or not renewed within its duration. Called
   * before prune and before the inventory write.
   */
  confirm(): Promise<void>;
  /**
   * Stops renewing and deletes the Lease if it is still ours. False when that could not be
   * done (the API server did not answer): the Lease may still be ours, and is given back by
   * releaseAppLease later (the engine does on stop) or lapses on its own.
   */
  release(): Promise<boolean>;
}

export interface LeaseOptions {
  /** Who takes it, as the Lease's holderIdentity shows (`deploy/<host>/<pid>/…`, `cli/…`). */
  holder: string;
  /** How long the Lease lasts unrenewed; renewed every third of it. */
  durationS: number;
  /** How long to wait for another writer's Lease before giving up (retried later). */
  waitMs: number;
  log: Logger;
}

export const DEFAULT_LEASE_SECONDS = 30;
export const DEFAULT_LEASE_WAIT_MS = 10 * 60_000;
const POLL_MS = 250;

/** A holder identity: which kind of writer, on which machine and process, plus a nonce per lease. */
export function leaseHolder(kind: string): string {
  return `${kind}/${os.hostname()}/${process.pid}/${crypto.randomBytes(3).toString('hex')}`;
}

/** The deploy lost its Lease: it stops before prune and the inventory write; the job is retried. */
export class LeaseLostError extends TransientError {
  constructor(cluster: Cluster, key: InventoryKey, why: string) {
    super(`the deploy of app "${key.app}" on cluster "${cluster.target.name}" lost its lease (${why}); it stopped before pruning or recording anything and is tried again`);
    this.name = 'LeaseLostError';
  }
}

interface LeaseObject extends KubeObject {
  spec?: { holderIdentity?: string | null; leaseDurationSeconds?: number; acquireTime?: string; renewTime?: string; leaseTransitions?: number };
}

/** Kubernetes MicroTime: RFC 3339 with exactly six fractional digits. */
function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function leasePath(cluster: Cluster, key: InventoryKey, withName = true): string {
  const base = `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(inventoryNamespace(cluster))}/leases`;
  return withName ? `${base}/${encodeURIComponent(inventoryName(key))}` : base;
}

/**
 * Takes the app's Lease, waiting while another writer holds a live one (up to
 * `waitMs`, then a TransientError: the job is retried). A Lease nobody renewed for its
 * duration is taken over.
 */
export async function acquireAppLease(cluster: Cluster, key: InventoryKey, opts: LeaseOptions): Promise<AppLease> {
  try {
    return await acquire(cluster, key, opts);
  } catch (err) {
    if (!(err instanceof KubeApiError && err.status === 403)) throw err;
    const ns = inventoryNamespace(cluster);
    throw new UserError(
      `mergeops may not take the deploy lease of app "${key.app}" in namespace "${ns}" of cluster "${cluster.target.name}" (the API server says: ${err.message}). ` +
        `Let mergeops' service account get, create, update and delete Leases (coordination.k8s.io) in "${ns}" (the chart's RBAC does); nothing was applied.`,
    );
  }
}

async function acquire(cluster: Cluster, key: InventoryKey, opts: LeaseOptions): Promise<AppLease> {
  const deadline = Date.now() + opts.waitMs;
  // The version of another holder's Lease last seen, and since when (our clock).
  let seen = null as { rv: string; at: number } | null;
  for (;;) {
    const live = await getLease(cluster, key);
    const now = Date.now();
    const spec = live?.spec ?? {};
    const rv = String(live?.metadata['resourceVersion'] ?? '');
    if (live && rv !== seen?.rv) seen = { rv, at: now };
    const free = !live || !spec.holderIdentity || spec.holderIdentity === opts.holder || (seen !== null && now - seen.at > (spec.leaseDurationSeconds ?? opts.durationS) * 1000);
    if (free) {
      const taken = await takeLease(cluster, key, live, opts);
      if (taken) {
        opts.log.debug({ app: key.app, holder: opts.holder }, 'app lease taken');
        return heldLease(cluster, key, taken, opts);
      }
      // Someone else wrote it between our read and our write: look again.
      continue;
    }
    if (now > deadline) {
      throw new TransientError(`app "${key.app}" on cluster "${cluster.target.name}" is being deployed by ${spec.holderIdentity} (its lease in namespace "${inventoryNamespace(cluster)}" is held); this deploy waits its turn and is tried again`);
    }
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

async function getLease(cluster: Cluster, key: InventoryKey): Promise<LeaseObject | null> {
  try {
    return await cluster.own.request<LeaseObject>('GET', leasePath(cluster, key));
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 404) return null;
    throw err;
  }
}

/** Creates or takes over the Lease; null when another writer won the race (409). */
async function takeLease(cluster: Cluster, key: InventoryKey, live: LeaseObject | null, opts: LeaseOptions): Promise<LeaseObject | null> {
  const now = microTime();
  const body: LeaseObject = {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: inventoryName(key),
      namespace: inventoryNamespace(cluster),
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY, [INVENTORY_REPO_ID_LABEL]: String(key.repoId), [INVENTORY_APP_LABEL]: key.app },
      ...(live ? { resourceVersion: live.metadata['resourceVersion'] } : {}),
    },
    spec: {
      holderIdentity: opts.holder,
      leaseDurationSeconds: opts.durationS,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (live?.spec?.leaseTransitions ?? 0) + (live && live.spec?.holderIdentity !== opts.holder ? 1 : 0),
    },
  };
  const send = (): Promise<LeaseObject> => (live ? cluster.own.request<LeaseObject>('PUT', leasePath(cluster, key), { body }) : cluster.own.request<LeaseObject>('POST', leasePath(cluster, key, false), { body }));
  try {
    return await send();
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.status === 409) return null;
    if (!(err.status === 404 && err.details.kind === 'namespaces')) throw err;
  }
  await ensureNamespace(cluster, inventoryNamespace(cluster), 'each app\'s inventory and deploy lease', 'get, create, update and delete Leases and ConfigMaps there');
  try {
    return await send();
  } catch (err) {
    if (err instanceof KubeApiError && err.status === 409) return null;
    throw err;
  }
}

function heldLease(cluster: Cluster, key: InventoryKey, taken: LeaseObject, opts: LeaseOptions): AppLease {
  let current = taken;
  let renewedAt = Date.now();
  let lost: string | null = null;
  // Renewals are conditional on the version we hold, so two at once would refuse each other: one at a time.
  let chain: Promise<void> = Promise.resolve();
  const renewOnce = async (): Promise<void> => {
    if (lost) return;
    try {
      // An update carrying the version we hold: 409 when anyone else wrote the Lease since.
      current = await cluster.own.request<LeaseObject>('PUT', leasePath(cluster, key), { body: { ...current, spec: { ...current.spec, renewTime: microTime() } } });
      renewedAt = Date.now();
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) {
        lost = err.status === 404 ? 'it was deleted' : 'another writer took it';
        return;
      }
      // A failed renewal is not yet a lost lease; one not renewed within its duration is.
      opts.log.warn({ app: key.app, err: (err as Error).message }, 'app lease renewal failed');
    }
    if (Date.now() - renewedAt > opts.durationS * 1000) lost = `not renewed for ${opts.durationS} s`;
  };
  const renew = (): Promise<void> => (chain = chain.then(renewOnce));
  const timer = setInterval(() => void renew(), (opts.durationS * 1000) / 3);
  timer.unref();
  return {
    holder: opts.holder,
    async confirm() {
      await renew();
      if (lost) throw new LeaseLostError(cluster, key, lost);
    },
    async release() {
      clearInterval(timer);
      await chain;
      if (lost) return true;
      try {
        await cluster.own.request('DELETE', leasePath(cluster, key), { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: current.metadata['resourceVersion'] } } });
        return true;
      } catch (err) {
        // Not ours any more (409), or gone (404): nothing to give back.
        if (err instanceof KubeApiError && (err.status === 409 || err.status === 404)) return true;
        opts.log.warn({ app: key.app, err: (err as Error).message }, 'app lease release failed; given back on stop, or it lapses on its own');
        return false;
      }
    },
  };
}

/**
 * Gives back a Lease a release could not (the API server was away): deleted only while
 * `holder` still holds it, conditional on the version read. A process stopping gracefully
 * calls this, so the next writer does not wait out the Lease's whole duration. True when
 * the Lease is not `holder`'s any more.
 */
export async function releaseAppLease(cluster: Cluster, key: InventoryKey, holder: string): Promise<boolean> {
  const live = await getLease(cluster, key);
  if (!live || live.spec?.holderIdentity !== holder) return true;
  try {
    await cluster.own.request('DELETE', leasePath(cluster, key), { body: { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: { resourceVersion: live.metadata['resourceVersion'] } } });
  } catch (err) {
    if (!(err instanceof KubeApiError && (err.status === 409 || err.status === 404))) throw err;
  }
  return true;
}
