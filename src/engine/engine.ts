import type { Logger } from 'pino';
import { applyStaged } from '../cluster/apply.js';
import { appliedOf, planChanges, type Applied, type ChangeSet } from '../cluster/changes.js';
import { waitHealthy, type HealthReport } from '../cluster/wait.js';
import { DEFAULT_LEASE_SECONDS, DEFAULT_LEASE_WAIT_MS, acquireAppLease, leaseHolder, releaseAppLease, type AppLease } from '../cluster/app-lease.js';
import { CLUSTER_CONCURRENCY, type Cluster, type ClusterPool } from '../cluster/connect.js';
import type { InventoryKey } from '../cluster/inventory.js';
import { grantsFingerprint, readInventory } from '../cluster/inventory-store.js';
import { RepoDiscovery } from '../cluster/live.js';
import { planApp, renderedIdentities, type ClusterPlan, type ObjectError } from '../cluster/plan.js';
import type { OwnerConfigs } from '../cluster/ownership.js';
import { previewCluster } from '../cluster/preview-namespace.js';
import type { RepoCaps } from '../config/caps.js';
import { clusterAppName, type App } from '../config/repo-config.js';
import { detectDrift, type DriftEntry } from '../diff/drift.js';
import { changedWorkloadNamespaces, type RolloutFacts } from '../diff/rollout.js';
import type { Problem } from '../errors.js';
import { timed } from '../metrics.js';
import type { RenderedObject, SourceRef } from '../objects.js';
import { render, renderLimits } from '../render/index.js';
import { renderDeployed } from './deployed.js';
import { desiredHash } from './desired-hash.js';
import { readRolloutFacts } from './rollout-facts.js';

export interface EngineDeps {
  clusters: ClusterPool;
  log: Logger;
  /** The flow running the engine, as the stage-duration metric labels it. */
  flow: string;
  /** How often the health wait re-reads objects; tests shorten it. */
  healthPollMs?: number;
  /** The operator's caps on one app's render (objects, helm/kustomize memory). */
  caps?: Pick<RepoCaps, 'maxObjectsPerApp' | 'renderMemoryBytes'>;
  /** The app Lease every apply holds: how long it lasts unrenewed and how long to wait for another writer's (tests shorten them). */
  lease?: { durationS?: number; waitMs?: number };
}

/** One app of one revision, bound for its cluster under its inventory key. */
export interface AppTarget {
  app: App;
  /** The checkout the app's path is relative to. */
  dir: string;
  key: InventoryKey;
  /** The commit being deployed: the app's inventory records it. */
  commit?: string;
  /** Shared by the apps of one job: apps without an inventory look for their labels once. */
  discovery?: RepoDiscovery;
  /** Reads the default-branch config of another mergeops app that owns an object this one adopts. */
  owners?: OwnerConfigs;
  /**
   * Set for a preview environment: every request for the render acts as the namespace's own
   * ServiceAccount and the grant check allows this namespace only (see cluster/preview-namespace.ts).
   */
  preview?: { namespace: string; denyKinds: string[] };
}

export interface AppPlan {
  plan: ClusterPlan;
  /** The objects the server (or the operator's grant) refused, as the user reads them. */
  problems: Problem[];
  /** What the dry-run warned about (deprecations, fields it dropped, prunes it refuses). */
  warnings: Problem[];
  /** What applying would do to each object. */
  changes: ChangeSet;
  /** Live facts for the rollout analysis, when asked for and a workload changes (none read otherwise). */
  facts?: RolloutFacts;
}

/** An app's apply: its change set (what every flow and the CLI read), then its health. */
export interface AppApply extends Applied {
  /** Absent when nothing was waited for (an object failed, or the app's wait is 0). */
  health?: HealthReport;
  /** Why nothing was planned or applied (`unchanged since <sha7>`): the render's hash equals the one the inventory recorded. */
  skipped?: string;
  /** The apply's `ready` resolved false (the environments before it did not deploy): nothing was written, nothing is reported. */
  cancelled?: true;
}

/** Options of Engine.apply. */
export interface ApplyCall extends StageOptions {
  force?: boolean;
  skipUnchanged?: boolean;
  onHealthWait?(objects: number, waitMs: number): void;
  /**
   * Take the Lease and make the dry-run plan now; write once this resolves true. A later
   * environment plans while the ones before it apply, so its wave costs only its writes.
   * False gives the Lease back with nothing written (`cancelled`); so does an error met
   * before it resolved false (the unit is "not started", not failed).
   */
  ready?: Promise<boolean>;
  /**
   * Told the apply's outcome (written, pruned, health verdict) before its inventory record
   * is written: mergeops' own bookkeeping, which the environments after this one need not
   * wait for. The answer of apply itself comes after the record (and says if it was refused).
   */
  onVerdict?(applied: AppApply): void;
}

const CANCELLED: AppApply = { changes: [], warnings: [], cancelled: true };

interface StageOptions {
  /** The rendered objects, when the caller already rendered (the CLI prints them first). */
  rendered?: RenderedObject[];
  /** The job's own per-stage timings (ms), for its log line. */
  timings?: Record<string, number>;
  /** The job's logger (with its repo and commit); the engine's own otherwise. */
  log?: Logger;
}

/**
 * The one engine every flow and the CLI use, for one app on one cluster: render → plan
 * (server-side dry-run against the app's cluster, under its inventory key) → apply → prune
 * → health. Errors the user can act on are thrown as UserErrors (a render error, a
 * cluster the operator did not configure) or returned as problems (objects the server
 * refused); anything else is ours and thrown.
 */
export class Engine {
  /**
   * Who this engine is as a Lease holder: one identity for its whole life, so an attempt
   * that failed without giving its Lease back (the API server was gone) is retried here
   * at once instead of waiting for the Lease to lapse. Its own applies of one app take
   * turns in memory first, since the Lease cannot tell them apart.
   */
  private readonly holder: string;
  private readonly turns = new Map<string, Promise<unknown>>();
  /** Leases whose release failed (the API server did not answer): given back by close(). */
  private readonly unreleased = new Map<string, { cluster: Cluster; key: InventoryKey }>();

  constructor(private readonly deps: EngineDeps) {
    this.holder = leaseHolder(deps.flow);
  }

  /**
   * Runs `fn` after every earlier apply of this engine to the same app and cluster. `fn`
   * answers its value and when its turn is over (its Lease given back): the caller has the
   * value at once, the next apply of the app waits for the turn.
   */
  private async inTurn<T>(key: string, fn: () => Promise<{ value: T; done: Promise<void> }>): Promise<T> {
    const before = this.turns.get(key) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(fn);
    const turn = run.then((r) => r.done, () => undefined);
    this.turns.set(key, turn);
    void turn.finally(() => {
      if (this.turns.get(key) === turn) this.turns.delete(key);
    });
    return (await run).value;
  }

  /** The cluster as the target's requests see it: the repository's grant and identity, or a preview namespace's. */
  private async clusterFor(t: AppTarget): Promise<Cluster> {
    if (!t.preview) return this.deps.clusters.forRepo(t.app.cluster, t.key.repo);
    return previewCluster(await this.deps.clusters.get(t.app.cluster), t.preview.namespace, t.key.repo, t.preview.denyKinds);
  }

  render(t: AppTarget, timings?: Record<string, number>): Promise<RenderedObject[]> {
    return timed(this.deps.flow, 'render', () => renderTarget(t.app, t.dir, this.deps.caps), timings);
  }

  /**
   * What applying the render would change: the very requests the deploy will send, as a
   * dry run, so conflicts under the app's `conflicts: fail` show as a deploy meets them.
   * `force` overrides the app's setting (the drift scan asks what Git winning reverts).
   */
  async plan(t: AppTarget, opts: StageOptions & { force?: boolean; orphans?: boolean; rollout?: boolean } = {}): Promise<AppPlan> {
    const rendered = opts.rendered ?? (await this.render(t, opts.timings));
    (opts.log ?? this.deps.log).info({ app: t.app.name, objects: rendered.length }, 'rendered');
    const cluster = await this.clusterFor(t);
    // The stage keeps its first name, "diff": dashboards chart it.
    const plan = await timed(
      this.deps.flow,
      'diff',
      () => planApp(cluster, t.app, rendered, t.key, {
          concurrency: CLUSTER_CONCURRENCY,
          orphans: opts.orphans ?? true,
          ...(opts.force !== undefined ? { force: opts.force } : {}),
          ...(t.discovery ? { discovery: t.discovery } : {}),
          ...(t.owners ? { owners: t.owners } : {}),
        }),
      opts.timings,
    );
    const out: AppPlan = { plan, problems: plan.errors.map(objectProblem), warnings: plan.warnings.map(objectProblem), changes: planChanges(plan, t.app.prune) };
    // Cost follows the change: quotas, limits, PDBs and HPAs are read only where a workload changes.
    const namespaces = opts.rollout ? changedWorkloadNamespaces(plan.objects) : [];
    if (namespaces.length) out.facts = await timed(this.deps.flow, 'rollout', () => readRolloutFacts(cluster, namespaces), opts.timings);
    return out;
  }

  /** Each rendered object's identity on the app's cluster, and where Git declares it. */
  async identities(t: AppTarget, rendered: RenderedObject[]): Promise<{ id: string; ref: string; source: SourceRef }[]> {
    return renderedIdentities(await this.deps.clusters.get(t.app.cluster), t.app, rendered);
  }

  /**
   * Live objects that differ from what this revision renders (after a dry-run, so defaults
   * don't count): hand edits a deploy of the revision would revert. Forced: drift is what
   * Git winning would revert, whatever the app's conflicts setting.
   */
  async drift(t: AppTarget, opts: Pick<StageOptions, 'log'> = {}): Promise<DriftEntry[]> {
    const { plan } = await this.plan(t, { ...opts, orphans: false, force: true });
    return detectDrift(plan.objects, plan.ours).filter((e) => e.fields.length > 0);
  }

  /**
   * Applies the render (dry-run first, changed objects only, CRDs and Namespaces first),
   * prunes what Git dropped when the app prunes, then waits for health within the app's
   * `wait`. `force` overrides the app's `conflicts:` (self-heal takes back hand edits).
   */
  async apply(t: AppTarget, opts: ApplyCall = {}): Promise<AppApply> {
    if (!opts.ready) return this.applyNow(t, opts);
    try {
      return await this.applyNow(t, opts);
    } catch (err) {
      if (!(await opts.ready)) return CANCELLED;
      throw err;
    }
  }

  private async applyNow(t: AppTarget, opts: ApplyCall): Promise<AppApply> {
    const log = opts.log ?? this.deps.log;
    const rendered = opts.rendered ?? (await this.render(t, opts.timings));
    log.info({ app: t.app.name, objects: rendered.length }, 'rendered');
    const cluster = await this.clusterFor(t);
    const { app } = t;
    const hash = desiredHash(app, rendered);
    const record = t.commit ? { desiredHash: hash, commit: t.commit } : { desiredHash: hash };
    if (opts.skipUnchanged) {
      // One GET decides: the render is what the last successful deploy applied under the same
      // grants, so an apply would send the same requests (drift is self-heal's to take back).
      const inventory = await readInventory(cluster, t.key);
      if (inventory && renderDeployed(inventory, hash, grantsFingerprint(cluster.target, t.key.repo))) {
        const since = inventory.commit ? inventory.commit.slice(0, 7) : 'the last deploy';
        if (opts.ready && !(await opts.ready)) return CANCELLED;
        log.info({ app: app.name, desiredHash: hash, commit: inventory.commit }, 'render unchanged since the last deploy; not applied');
        return { changes: [...inventory.objects].sort().map((ref) => ({ ref, action: 'unchanged' as const })), warnings: [], skipped: `unchanged since ${since}` };
      }
    }
    return this.inTurn(`${app.cluster}\0${t.key.repoId}\0${app.name}`, () => this.applyHeld(cluster, t, rendered, record, log, opts));
  }

  /** Resolves once every apply's turn is over, its Lease given back (apply answers before that). */
  async idle(): Promise<void> {
    await Promise.allSettled([...this.turns.values()]);
  }

  /**
   * Gives back every Lease this engine may still hold because its release failed, so a
   * process stopped gracefully (SIGTERM) does not make the next writer of those apps wait
   * out a whole lease duration. Best effort: a Lease that cannot be given back lapses.
   * Call after the workers stopped taking jobs (running applies release their own).
   */
  async close(): Promise<void> {
    // Leases still being given back after their applies answered.
    await this.idle();
    for (const [k, { cluster, key }] of this.unreleased) {
      try {
        if (await releaseAppLease(cluster, key, this.holder)) this.unreleased.delete(k);
      } catch (err) {
        this.deps.log.warn({ app: key.app, cluster: cluster.target.name, err: (err as Error).message }, 'could not give back the app lease on stop; it lapses on its own');
      }
    }
  }

  private async applyHeld(cluster: Cluster, t: AppTarget, rendered: RenderedObject[], record: { desiredHash: string; commit?: string }, log: Logger, opts: ApplyCall): Promise<{ value: AppApply; done: Promise<void> }> {
    // One writer per app and cluster, whoever runs it (a worker of any fleet, the CLI): the
    // plan reads the inventory under the Lease, so every write of it is conditional on that.
    const lease = await acquireAppLease(cluster, t.key, {
      holder: this.holder,
      durationS: this.deps.lease?.durationS ?? DEFAULT_LEASE_SECONDS,
      waitMs: this.deps.lease?.waitMs ?? DEFAULT_LEASE_WAIT_MS,
      log,
    });
    const k = `${cluster.target.name}\0${t.key.repoId}\0${t.key.app}`;
    const giveBack = async (): Promise<void> => {
      if (await lease.release()) this.unreleased.delete(k);
      else this.unreleased.set(k, { cluster, key: t.key });
    };
    let value: AppApply;
    try {
      value = await this.applyLeased(cluster, t, rendered, record, log, opts, lease);
    } catch (err) {
      await giveBack();
      throw err;
    }
    // Given back after the caller has its answer: bookkeeping no environment after this one waits for.
    return { value, done: giveBack().catch((err: unknown) => log.warn({ app: t.app.name, err: (err as Error).message }, 'could not give back the app lease; it lapses on its own')) };
  }

  private async applyLeased(cluster: Cluster, t: AppTarget, rendered: RenderedObject[], record: { desiredHash: string; commit?: string }, log: Logger, opts: ApplyCall, lease: AppLease): Promise<AppApply> {
    const { app } = t;
    const staged = await timed(
      this.deps.flow,
      'apply',
      () =>
        applyStaged(cluster, app, rendered, t.key, {
          ...(opts.force !== undefined ? { force: opts.force } : {}),
          ...(t.discovery ? { discovery: t.discovery } : {}),
          ...(t.owners ? { owners: t.owners } : {}),
          ...(opts.ready ? { ready: opts.ready } : {}),
          prune: app.prune,
          pruneEmpty: app.pruneEmpty,
          concurrency: CLUSTER_CONCURRENCY,
          log,
          record,
          lease,
        }),
      opts.timings,
    );
    const { result } = staged;
    if (staged.cancelled) return CANCELLED;
    log.info({ app: app.name, created: result.created.length, configured: result.configured.length, unchanged: result.unchanged.length, pruned: result.pruned.length, errors: result.errors.length }, 'applied');
    const out: AppApply = { ...appliedOf(result, app.prune) };
    if (result.errors.length === 0 && app.waitMs > 0) {
      const watched = result.objects.filter((o) => !o.settled).length;
      if (watched > 0) opts.onHealthWait?.(watched, app.waitMs);
      out.health = await timed(this.deps.flow, 'health', () => waitHealthy(cluster, result.objects, app.waitMs, log, this.deps.healthPollMs), opts.timings);
    }
    opts.onVerdict?.(out);
    // The render counts as deployed (its hash recorded) only once its health wait succeeded.
    const problems = result.errors.length;
    await staged.record(out.health?.healthy ?? true);
    // The record refused (no access to the inventory): said on the app, as any refusal is.
    return result.errors.length === problems ? out : { ...out, ...appliedOf(result, app.prune) };
  }
}

/**
 * The inventory key of an app of a repository: one per app, and with environments one per
 * (app, environment), whatever clusters they share.
 */
export function appKey(repoId: number, repo: string, app: App): InventoryKey {
  return { repoId, repo, app: clusterAppName(app) };
}

/** Made once per job and put in every target of it: its apps share one label discovery. */
export function jobDiscovery(): RepoDiscovery {
  return new RepoDiscovery();
}

/** What flows ask of the engine; unit tests give them an in-memory one. */
export type AppEngine = Pick<Engine, 'plan' | 'drift' | 'apply' | 'identities'>;

/**
 * Renders an app of a checkout (plain manifests, kustomize or Helm), with no cluster
 * needed: `mergeops render` prints this.
 */
export function renderTarget(app: App, dir: string, caps?: Pick<RepoCaps, 'maxObjectsPerApp' | 'renderMemoryBytes'>): Promise<RenderedObject[]> {
  return render(app, dir, caps ? renderLimits(caps) : undefined);
}

/** An object the server refused, as a problem: file/line become a check-run annotation. */
export function objectProblem(e: ObjectError): Problem {
  const p: Problem = { message: e.message, ref: e.ref };
  if (e.source) Object.assign(p, { file: e.source.file, line: e.source.line });
  return p;
}
