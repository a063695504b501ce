import type { ConnectionOptions } from 'bullmq';
import type { ClusterPool } from '../cluster/connect.js';
import { ClusterWatches } from '../cluster/watch.js';
import { errorText } from '../errors.js';
import { driftAppKey, runDriftScan, type DriftDeps } from '../flows/drift.js';
import { startFlowWorker } from './flow-worker.js';
import { DRIFT_QUEUE, DRIFT_SCHEDULER_ID, type DriftJob } from './jobs.js';
import type { Queues } from './queues.js';
import type { WatchOwnership } from './state.js';

/** How long a worker holds a cluster's watches without renewing (it renews every third of it). */
const WATCH_LEASE_MS = 15_000;
/** Events of this long are gathered into one check (an apply of several objects by hand). */
const SETTLE_MS = 20;

export interface DriftTrigger {
  /** `interval`: a full compare every `intervalMs`; `watch`: Kubernetes watches start each check. 0 turns drift off. */
  mode: 'watch' | 'interval';
  intervalMs: number;
  lockMs: number;
}

export interface DriftWatchDeps {
  clusters: ClusterPool;
  /** The configured cluster names. */
  names: string[];
  ownership: WatchOwnership;
}

export interface DriftWorker {
  /** Per cluster, the (type, namespace) watches this worker holds open (empty where another worker holds them). */
  watching(): Map<string, string[]>;
  close(): Promise<void>;
}

/**
 * The drift watch. With `interval`, one job scheduler in Redis (so N worker replicas still
 * compare once per interval). With `watch`, each cluster's watches live in one worker (a
 * Redis lease per cluster; the others stand by): a change someone else made to an app's
 * object becomes a check of that app, and the full compare runs only when the watches start
 * (nothing was watched before) or after a gap. Checks run here, two at a time.
 */
export async function startDriftWorker(connection: ConnectionOptions, prefix: string, queues: Queues, trigger: DriftTrigger, deps: DriftDeps, watch: DriftWatchDeps): Promise<DriftWorker> {
  if (trigger.intervalMs > 0 && trigger.mode === 'interval') await queues.drift.upsertJobScheduler(DRIFT_SCHEDULER_ID, { every: trigger.intervalMs }, { name: 'drift-scan', data: {} });
  else await queues.drift.removeJobScheduler(DRIFT_SCHEDULER_ID);
  const worker = startFlowWorker<DriftJob, number>({ queue: DRIFT_QUEUE, flow: 'drift', connection, prefix, limits: { concurrency: 2, lockMs: trigger.lockMs }, log: deps.log }, async (job) => ({
    outcome: 'completed',
    value: (await runDriftScan(deps, job.data.apps ? new Set(job.data.apps) : undefined)).length,
  }));
  const watchers = trigger.mode === 'watch' && trigger.intervalMs > 0 ? new DriftWatchers(queues, deps, watch) : null;
  watchers?.start();
  return {
    watching: () => watchers?.watching() ?? new Map(),
    close: async () => {
      await watchers?.close();
      await worker.close();
    },
  };
}

/** This worker's share of the clusters' watches, kept by renewing each cluster's lease. */
class DriftWatchers {
  private readonly held = new Map<string, ClusterWatches>();
  private readonly pending = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private renewing: Promise<void> = Promise.resolve();

  constructor(
    private readonly queues: Queues,
    private readonly deps: DriftDeps,
    private readonly watch: DriftWatchDeps,
  ) {}

  start(): void {
    const tick = (): void => {
      this.renewing = this.renew().finally(() => {
        if (!this.closed) this.renewTimer = setTimeout(tick, WATCH_LEASE_MS / 3);
      });
    };
    tick();
  }

  watching(): Map<string, string[]> {
    return new Map([...this.held].map(([name, w]) => [name, w.targets()]));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.flushTimer);
    await this.renewing;
    for (const [name, w] of this.held) {
      await w.stop();
      await this.watch.ownership.release(name).catch(() => undefined);
    }
    this.held.clear();
  }

  private async renew(): Promise<void> {
    for (const name of this.watch.names) {
      const log = this.deps.log.child({ cluster: name, flow: 'drift-watch' });
      let mine: boolean;
      try {
        mine = await this.watch.ownership.hold(name, WATCH_LEASE_MS);
      } catch (err) {
        // Without Redis this worker cannot tell whether another took over: it lets go.
        log.warn({ err: errorText(err) }, 'could not renew the drift-watch lease; stopping this cluster`s watches');
        mine = false;
      }
      const held = this.held.get(name);
      if (mine && !held && !this.closed) {
        try {
          const w = new ClusterWatches(await this.watch.clusters.get(name), {
            log,
            changed: (c) => this.changed(driftAppKey(c)),
            gap: () => void this.fullCompare(log),
          });
          this.held.set(name, w);
          w.start();
          log.info('drift watches started on this worker; one full compare first');
          await this.fullCompare(log);
        } catch (err) {
          log.warn({ err: errorText(err) }, 'could not start the drift watches');
          await this.watch.ownership.release(name).catch(() => undefined);
        }
      } else if (!mine && held) {
        this.held.delete(name);
        await held.stop();
        log.info('drift watches of this cluster went to another worker');
      }
    }
  }

  /** Someone else changed an app's object: its check goes out after a moment's gathering. */
  private changed(key: string): void {
    this.pending.add(key);
    this.flushTimer ??= setTimeout(() => {
      this.flushTimer = undefined;
      const apps = [...this.pending].sort();
      this.pending.clear();
      this.queues.drift.add('drift-check', { apps }).catch((err: unknown) => this.deps.log.warn({ err: errorText(err), apps }, 'could not queue a drift check'));
    }, SETTLE_MS);
  }

  private async fullCompare(log: DriftDeps['log']): Promise<void> {
    await this.queues.drift.add('drift-scan', {}).catch((err: unknown) => log.warn({ err: errorText(err) }, 'could not queue the full drift compare'));
  }
}
