import { Queue, type ConnectionOptions, type Worker } from 'bullmq';
import type { Logger } from 'pino';
import { runDashboardActions, type DashboardActionJob } from '../commands/dashboard.js';
import type { CommandDeps } from '../commands/run.js';
import type { CommandHost } from '../commands/host.js';
import type { CommandRepo } from '../commands/jobs.js';
import { dashboardEnabled, refreshDashboard, type DashboardDeps, type DashboardHost, type DashboardMode } from '../flows/dashboard.js';
import type { DashboardState } from './dashboard-state.js';
import { startFlowWorker, type WorkerLimits } from './flow-worker.js';

export const DASHBOARD_QUEUE = 'dashboard';

/** Render a repository's dashboard from what is recorded now. */
export interface DashboardRefreshJob extends CommandRepo {
  kind: 'refresh';
}

export type DashboardJob = DashboardRefreshJob | DashboardActionJob;

/** How long one render may hold a repository's render lock (a page of GitHub writes, paced). */
const RENDER_LOCK_MS = 5 * 60_000;

export function createDashboardQueue(connection: ConnectionOptions, prefix: string): Queue<DashboardJob> {
  return new Queue<DashboardJob>(DASHBOARD_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 5000 },
      // Action jobs keep their id (the delivery) for three days: GitHub redelivers within them.
      removeOnComplete: { age: 3 * 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
}

/**
 * The dashboard's side of the queue: `touch` asks for a render after `delayMs`, and every
 * change until that render starts is the same render (one issue edit per burst of deploys,
 * locks and drift); `act` enqueues ticked boxes once per webhook delivery.
 */
export class DashboardQueue {
  constructor(
    readonly queue: Queue<DashboardJob>,
    private readonly state: Pick<DashboardState, 'markDue'>,
    private readonly delayMs: number,
  ) {}

  async touch(repo: CommandRepo, delayMs = this.delayMs): Promise<boolean> {
    // The mark outlives the wait by far: it only goes stale if the job itself is lost.
    if (!(await this.state.markDue(repo.repoId, delayMs + RENDER_LOCK_MS))) return false;
    const job: DashboardRefreshJob = { kind: 'refresh', installationId: repo.installationId, owner: repo.owner, repo: repo.repo, repoId: repo.repoId, defaultBranch: repo.defaultBranch };
    await this.queue.add('refresh', job, { jobId: `dashboard-${repo.repoId}-${Date.now()}`, delay: delayMs });
    return true;
  }

  async act(job: DashboardActionJob): Promise<boolean> {
    const id = `dashboard-action-${job.repoId}-${job.delivery.replace(/[^A-Za-z0-9-]/g, '')}`;
    if (await this.queue.getJob(id)) return false;
    await this.queue.add('action', job, { jobId: id });
    return true;
  }
}

export interface DashboardWorkerDeps {
  /**
   * `person`: the answer to someone's tick (the command it runs, the render that unticks
   * the box) goes before bookkeeping, as a command's reply does; `bookkeeping`: a render
   * after deploys, locks or drift, which nobody is waiting on.
   */
  host(job: CommandRepo, priority: 'person' | 'bookkeeping'): Promise<DashboardHost & CommandHost>;
  /** What a render reads besides the dashboard's own records (locks, deploy records). */
  render: Pick<DashboardDeps, 'locks' | 'deployedSha' | 'waiting'>;
  /** What a ticked box needs to run as its command. */
  commands: Omit<CommandDeps, 'host' | 'log'>;
  state: DashboardState;
  queue: DashboardQueue;
  mode: DashboardMode;
  log: Logger;
}

export function startDashboardWorker(connection: ConnectionOptions, prefix: string, limits: WorkerLimits, deps: DashboardWorkerDeps): Worker<DashboardJob> {
  const render = async (job: CommandRepo, host: DashboardHost): Promise<string> => {
    const release = await deps.state.renderLock(job.repoId, RENDER_LOCK_MS);
    if (!release) {
      // Another worker is writing this dashboard: render again after it, from the newest state.
      await deps.state.clearDue(job.repoId);
      await deps.queue.touch(job);
      return 'busy';
    }
    try {
      // From here on a change needs a render of its own; this one reads what is recorded now.
      await deps.state.clearDue(job.repoId);
      return await refreshDashboard({ ...job }, { ...deps.render, host, records: deps.state, mode: deps.mode, log: deps.log });
    } finally {
      await release();
    }
  };
  return startFlowWorker<DashboardJob, string>({ queue: DASHBOARD_QUEUE, flow: DASHBOARD_QUEUE, connection, prefix, limits, log: deps.log }, async (job) => {
    const host = await deps.host(job.data, job.data.kind === 'refresh' ? 'bookkeeping' : 'person');
    if (job.data.kind === 'refresh') return { outcome: 'completed', value: await render(job.data, host) };
    const action = job.data;
    // Only the issue mergeops keeps as the dashboard: a copy of its boxes elsewhere acts on nothing.
    if ((await deps.state.issue(action.repoId)) !== action.issue) return { outcome: 'completed', value: 'not-the-dashboard' };
    const out = await runDashboardActions(action, {
      ...deps.commands,
      host,
      log: deps.log,
      enabled: (config) => dashboardEnabled(config, deps.mode),
      actedOn: async (repoId, id) => !(await deps.state.unacted(repoId, id)),
      firstAction: (repoId, id) => deps.state.firstAction(repoId, id),
      recordAction: (repoId, line) => deps.state.recordAction(repoId, line),
    });
    // What was done (or refused) shows at once, and the ticked boxes are unticked with it.
    if (out.acted + out.refused > 0) await render(action, host);
    return { outcome: 'completed', value: `acted ${out.acted}, refused ${out.refused}, ignored ${out.ignored}` };
  });
}
