import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Probot } from 'probot';
import { loadClusterTargets } from './config/clusters.js';
import { checkApprovalRequired, checkDeployBranch, requiredApproval } from './policy/grants.js';
import { ApprovalStore, OpenDeployChecks } from './queue/approvals.js';
import type { Settings } from './config/settings.js';
import { ClusterPool } from './cluster/connect.js';
import { mergeopsApp } from './github/app.js';
import { RedisLabelDefinitions } from './queue/label-definitions.js';
import { WRITES_PER_HOUR, WritePacer, isContentCreating, priorityOf, type WritePriority } from './github/write-pacer.js';
import { retryAfterSeconds } from './github/octokit.js';
import { buildServer } from './http/server.js';
import type { RegistryWebhookSecrets } from './http/registry-webhook.js';
import { MAX_WEBHOOK_BYTES } from './http/webhooks.js';
import { createQueues, enqueueDeploy, enqueueHeal, enqueuePreview, enqueuePromotion, enqueueSync, type Queues } from './queue/queues.js';
import { startDriftWorker } from './queue/drift-worker.js';
import { githubRateLimitRemaining, installationLabel } from './metrics.js';
import { startDeployReportWorker, startDeployWorker } from './queue/deploy-worker.js';
import { DeployReports } from './queue/deploy-reports.js';
import { createRedis } from './redis.js';
import { CatchUpState, DeployState, Deliveries, DriftAlertState, Leases, PreviewState, WatchOwnership } from './queue/state.js';
import { RevisionCache } from './source/revision-cache.js';
import { DefaultsCache } from './queue/defaults-cache.js';
import { startPreviewWorker } from './queue/preview-worker.js';
import { ImageIndex } from './queue/image-index.js';
import { enqueueImageEvents, startImageWorkers } from './queue/image-worker.js';
import type { DeployJob, DeployReportJob, PreviewJob } from './flows/jobs.js';
import { appBotLogin } from './github/comments.js';
import { octokitHosts } from './github/host.js';
import { Engine } from './engine/engine.js';
import { loadRegistryAccess } from './config/registries.js';
import { OciDatasource } from './images/registry/oci.js';
import type { ImageEvent } from './images/events.js';
import { LockStore, exposeLocks } from './commands/locks.js';
import { CommandRateLimiter } from './commands/rate-limit.js';
import { createCommandQueue, enqueueCommand, startCommandWorker } from './queue/command-worker.js';
import { OctokitCommandHost } from './github/command-host.js';
import { LOCKS_CHECK, locksCheck, type CommandDeps } from './commands/run.js';
import { mergeGroupPreviewJobId } from './queue/jobs.js';
import { loadNotifications } from './notify/config.js';
import { Notifier, createNotifyQueue, startNotifyWorker } from './notify/worker.js';
import { ONBOARDING_QUEUE, onboardJobId, runOnboarding, type OnboardJob } from './flows/onboard.js';
import { Queue } from 'bullmq';
import { startFlowWorker } from './queue/flow-worker.js';
import { startCatchUpWorker } from './queue/catch-up-worker.js';
import { extendEnvironments, previewClusters } from './flows/preview-env.js';
import { createPreviewEnvQueue, previewEnvDownJobId, startPreviewEnvWorker } from './queue/preview-env-worker.js';
import { listHookDeliveries, redeliverHookDelivery } from './github/hook-deliveries.js';
import { DashboardQueue, createDashboardQueue, startDashboardWorker } from './queue/dashboard-worker.js';
import { DashboardState } from './queue/dashboard-state.js';
import { OctokitDashboardHost } from './github/dashboard-host.js';
import type { DashboardActionJob } from './commands/dashboard.js';
import type { CommandJob } from './commands/jobs.js';
import { dashboardEnabled, type DashboardDrift } from './flows/dashboard.js';
import type { DashboardDeploy } from './report/dashboard.js';

export interface Runtime {
  server?: FastifyInstance;
  /** Base URL of the HTTP server when this process serves webhooks. */
  url?: string;
  queues: Queues;
  /** Worker processes: per cluster, the drift watches (type and namespace) this process holds. */
  driftWatches?(): Map<string, string[]>;
  /** Stops taking jobs, lets running ones finish, closes servers and Redis. */
  stop(): Promise<void>;
}

/** Wires a process for its mode; main.ts and the integration tests both start here. */
export async function startRuntime(settings: Settings, probot: Probot, log: Logger): Promise<Runtime> {
  const redis = createRedis(settings.redis);
  const connection = createRedis(settings.redis, true);
  const deliveries = new Deliveries(redis, settings.redisPrefix);
  const previews = new PreviewState(redis, settings.redisPrefix);
  const deploys = new DeployState(redis, settings.redisPrefix);
  const queues = createQueues(connection, settings.redisPrefix);
  const index = new ImageIndex(redis, settings.redisPrefix);
  // Commands have their own queue; it joins the others for /metrics and the admin UI.
  const commandQueue = createCommandQueue(connection, settings.redisPrefix);
  queues.all.push(commandQueue);
  // Notifications have their own queue too; workers deliver, flows only enqueue.
  const notifyQueue = createNotifyQueue(connection, settings.redisPrefix);
  queues.all.push(notifyQueue);
  // Onboarding PRs (operator option): one job per repository ever, kept a month so a
  // reinstall does not ask again before the flow's own checks would.
  const onboardQueue =
    settings.onboarding === 'pr'
      ? new Queue<OnboardJob>(ONBOARDING_QUEUE, { connection, prefix: settings.redisPrefix, defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 30 * 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } } })
      : null;
  if (onboardQueue) queues.all.push(onboardQueue);
  // Preview environments' teardowns and sweep.
  const previewEnvQueue = createPreviewEnvQueue(connection, settings.redisPrefix);
  queues.all.push(previewEnvQueue);
  // Deploy dashboards (operator option, on by default for repositories that opt in).
  const dashboardQueue = settings.dashboard !== 'off' ? createDashboardQueue(connection, settings.redisPrefix) : null;
  if (dashboardQueue) queues.all.push(dashboardQueue);
  const webDashboards = dashboardQueue ? new DashboardQueue(dashboardQueue, new DashboardState(redis, settings.redisPrefix), settings.dashboardDelayMs) : null;
  const locks = new LockStore(redis, settings.redisPrefix);
  // A push to a defaults repository retires the cached organisation defaults (web side).
  const webDefaults = new DefaultsCache(redis, settings.redisPrefix);
  const unexposeLocks = exposeLocks(locks);
  const enqueuePreviewAt = async (job: PreviewJob, at: number): Promise<boolean> => {
    await previews.setHead(job, at);
    return enqueuePreview(queues, job);
  };
  // Read once by both halves: workers use the credentials, the web side the webhook secrets.
  const registryAccess = loadRegistryAccess(settings.registriesFile);
  const registrySecrets: RegistryWebhookSecrets = {
    perHost: new Map([...registryAccess].flatMap(([host, a]) => (a.webhookSecret !== undefined ? [[host, a.webhookSecret] as const] : []))),
  };
  if (settings.registryWebhookSecret) registrySecrets.shared = settings.registryWebhookSecret;
  const closers: (() => Promise<unknown>)[] = [];
  const runtime: Runtime = {
    queues,
    stop: async () => {
      for (const close of closers) await close().catch((err: unknown) => log.error({ err }, 'close failed'));
      await queues.close();
      await commandQueue.close();
      await notifyQueue.close();
      await onboardQueue?.close();
      await previewEnvQueue.close();
      await dashboardQueue?.close();
      unexposeLocks();
      redis.disconnect();
      connection.disconnect();
    },
  };

  if (settings.mode !== 'web') {
    // Job code reads and writes this state mid-job. On the worker connection (commands wait
    // for a reconnect instead of failing after 3 tries) a Redis restart pauses the job; on
    // the other, the job failed while Redis was away, BullMQ could not record that, and the
    // job sat "active" until stall recovery re-ran it a minute later.
    const jobPreviews = new PreviewState(connection, settings.redisPrefix);
    const jobDeploys = new DeployState(connection, settings.redisPrefix);
    const leases = new Leases(connection, settings.redisPrefix);
    const workerLimits = { concurrency: settings.workerConcurrency, lockMs: settings.jobLockMs };
    const targets = loadClusterTargets(settings.clustersFile);
    const clusters = new ClusterPool(targets);
    // Mid-job lock reads and writes use the worker connection, like the job state.
    const jobLocks = new LockStore(connection, settings.redisPrefix);
    const limits = { maxArchiveBytes: settings.maxArchiveBytes, maxExtractedBytes: settings.maxExtractedBytes, maxEntries: 100_000 };
    // On the worker connection, like the job state: a Redis restart pauses a write, not fails it.
    // The spacing is in GitHub's time: a test that shortens GitHub's minute shortens it alike.
    const spacingMs = Math.round((settings.githubWriteSpacingMs * settings.githubWriteWindowMs) / 60_000);
    const pacer = settings.githubWritesPerMinute > 0 ? new WritePacer(connection, settings.redisPrefix, { perMinute: settings.githubWritesPerMinute, perHour: WRITES_PER_HOUR, windowMs: settings.githubWriteWindowMs, spacingMs }) : null;
    // `priority`: whether a person waits for this client's writes (previews, commands) or
    // they are bookkeeping (a deploy's report); a request may name its own (labels).
    const octokit = async (id: number, priority: WritePriority = 'person') => {
      const client = await probot.auth(id);
      // Every worker shares one budget per installation: GitHub's secondary rate limits, one
      // write in flight at a time, people's writes first. Wrapped around Octokit's own
      // retry-after wait, so the turn is held while a refused write waits to go again; a wait
      // GitHub named that outlasts the request pauses every process's writes of this installation.
      client.hook.wrap('request', async (request, options) => {
        if (!pacer || !isContentCreating(options.method, options.url)) return request(options);
        const release = await pacer.acquire(id, priorityOf(options, priority));
        try {
          return await request(options);
        } catch (err) {
          const wait = retryAfterSeconds(err);
          if (wait !== null) await pacer.pause(id, wait * 1000);
          throw err;
        } finally {
          await release();
        }
      });
      client.hook.after('request', (res) => {
        const remaining = Number(res.headers['x-ratelimit-remaining']);
        if (Number.isFinite(remaining)) githubRateLimitRemaining.set({ installation: installationLabel.of(String(id)) }, remaining);
      });
      return client;
    };
    // The app's own bot login, asked once per process with the App JWT (GET /app); a failed
    // answer is not kept, so the next job asks again.
    let ownLogin: Promise<string> | undefined;
    const botLogin = (): Promise<string> => {
      ownLogin ??= probot.auth().then(appBotLogin).catch((err: unknown) => {
        ownLogin = undefined;
        throw err;
      });
      return ownLogin;
    };
    const revisions = await RevisionCache.create(settings.revisionCacheBytes);
    // The organisation's defaults files, shared by every worker until a push changes them.
    const defaults = new DefaultsCache(connection, settings.redisPrefix);
    const labelDefinitions = new RedisLabelDefinitions(connection, settings.redisPrefix);
    const hosts = octokitHosts({ octokit, limits, revisions, botLogin, defaults, labelDefinitions });
    // Deploys and their reports write bookkeeping only: nobody waits on a Deployment status.
    const bookkeepingHosts = octokitHosts({ octokit: (id) => octokit(id, 'bookkeeping'), limits, revisions, botLogin, defaults, labelDefinitions });
    const onboardWorker = onboardQueue
      ? startFlowWorker<OnboardJob, string>({ queue: ONBOARDING_QUEUE, flow: 'onboarding', connection, prefix: settings.redisPrefix, limits: workerLimits, log }, async (job) => {
          const outcome = await runOnboarding(job.data, { hosts, log });
          return { outcome: 'completed', value: outcome };
        })
      : null;
    if (onboardWorker) closers.push(() => onboardWorker.close());
    const receivers = loadNotifications(settings.notificationsFile);
    const notifier = new Notifier(receivers.length ? notifyQueue : null, receivers, log);
    const notify = (events: Parameters<Notifier['emit']>[0]) => notifier.emit(events);
    const notifyWorker = receivers.length ? startNotifyWorker(connection, { receivers, redis: connection, prefix: settings.redisPrefix, log }) : null;
    if (notifyWorker) log.info({ receivers: receivers.map((r) => `${r.name} (${r.type})`) }, 'notifications on');
    // Preview environments apply (and wait for health) like a deploy, under their own flow label.
    const previewEnvEngine = new Engine({ clusters, log, flow: 'preview-env', healthPollMs: settings.healthPollMs, caps: settings.caps, lease: { durationS: Math.max(2, Math.ceil((2 * settings.jobLockMs) / 1000)) } });
    const worker = startPreviewWorker(connection, settings.redisPrefix, workerLimits, {
      hosts,
      engine: new Engine({ clusters, log, flow: 'preview', caps: settings.caps }),
      log,
      caps: settings.caps,
      rolloutAnalysis: settings.rolloutAnalysis !== 'off',
      isLatestHead: (job) => jobPreviews.isLatestHead(job),
      commentIds: (job) => jobPreviews.commentIds(job),
      lockOf: (job, app) => jobLocks.lockOf(job.repoId, app),
      cancelled: async (job) => job.mergeGroup !== undefined && (await jobPreviews.mergeGroupCancelled(job)),
      previewEnvs: { clusters, engine: previewEnvEngine, log, caps: settings.caps, clusterNames: [...targets.keys()] },
    });
    const previewEnvWorker = await startPreviewEnvWorker(connection, settings.redisPrefix, settings.jobLockMs, previewEnvQueue, { clusters, log, hosts, clusterNames: [...targets.keys()], sweepMs: settings.previewEnvSweepMs });
    closers.push(() => previewEnvWorker.close());
    const deployReports = new DeployReports(connection, settings.redisPrefix);
    // The dashboard's records are kept for every repository (a dashboard turned on later
    // shows the history); a render is asked for only where dashboards can be on at all.
    const dashboardState = new DashboardState(connection, settings.redisPrefix);
    const dashboards = dashboardQueue ? new DashboardQueue(dashboardQueue, dashboardState, settings.dashboardDelayMs) : null;
    // Commits waiting for an environment's promotion, and their checks left in progress: durable, shared by every worker.
    const approvals = new ApprovalStore(connection, settings.redisPrefix);
    const openChecks = new OpenDeployChecks(connection, settings.redisPrefix);
    const grantsOf = (cluster: string) => (targets.has(cluster) ? (targets.get(cluster)?.grants ?? null) : []);
    // A dead worker's app Lease lapses when its job would be taken over (about twice the job lock);
    // one stopped gracefully gives back what it still holds (closed below, after its workers).
    const deployEngine = new Engine({ clusters, log, flow: 'deploy', healthPollMs: settings.healthPollMs, caps: settings.caps, lease: { durationS: Math.max(2, Math.ceil((2 * settings.jobLockMs) / 1000)) } });
    const deployWorker = startDeployWorker(connection, settings.redisPrefix, workerLimits, { deploys: jobDeploys, leases, reports: deployReports, reportQueue: queues.deployReport, queue: queues.deploy }, {
      hosts: bookkeepingHosts,
      engine: deployEngine,
      log,
      caps: settings.caps,
      recordDeployed: (job, app) => jobDeploys.recordDeployed(job, app),
      lastDeployed: (job, app) => jobDeploys.deployedSha(job, app),
      configAt: (job) => jobDeploys.configAt(job),
      recordConfigAt: (job) => jobDeploys.recordConfigAt(job),
      recordFirstDeploys: (job, apps) => jobDeploys.recordFirstDeploys(job, apps),
      // No clusters file is no policy (grants null: the default branch only); a cluster the file does not list, no grant.
      branchRefusal: (job, app) => {
        const grants = targets.has(app.cluster) ? (targets.get(app.cluster)?.grants ?? null) : [];
        const repo = `${job.owner}/${job.repo}`;
        const env = app.unit?.environment;
        return checkDeployBranch(repo, job.branch, job.defaultBranch, app.cluster, grants, env) ?? checkApprovalRequired(repo, app.cluster, grants, env);
      },
      operatorApproval: (job, env) => requiredApproval(`${job.owner}/${job.repo}`, grantsOf(env.cluster), env.name),
      awaitApproval: (w) => approvals.wait(w),
      holdIfLocked: (job, app, pushedAtMs) =>
        jobLocks.holdIfLocked({ app, installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, sha: job.sha, branch: job.branch, defaultBranch: job.defaultBranch, pushedAtMs }),
      promote: (job, environment, delayMs) =>
        enqueuePromotion(queues, { kind: 'promote', installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, defaultBranch: job.defaultBranch, environment, sha: job.sha, branch: job.branch }, delayMs),
    });
    // A deploy's GitHub bookkeeping, after its apply: paced writes never hold a deploy lease.
    const deployReportWorker = startDeployReportWorker(connection, settings.redisPrefix, workerLimits, deployReports, {
      hosts: bookkeepingHosts,
      log,
      openChecks,
      notify,
      reportLocks: async (job) => {
        const host = new OctokitCommandHost(job, await octokit(job.installationId, 'bookkeeping'), { limits, botLogin });
        await host.postCheck(LOCKS_CHECK, job.sha, locksCheck(await jobLocks.list(job.repoId)));
      },
      ...(dashboards
        ? {
            dashboard: async (job: DeployReportJob, entry: DashboardDeploy) => {
              await dashboardState.recordDeploy(job.repoId, entry);
              // The deployed config says whether the repository has a dashboard: one that has
              // none costs no render (and no read of its config) per deploy.
              if (dashboardEnabled({ ...(job.report.dashboard !== undefined ? { dashboard: job.report.dashboard } : {}) }, settings.dashboard) || (await dashboardState.issue(job.repoId)) !== null) await dashboards.touch(job);
            },
          }
        : {}),
    });
    // What commands need, shared by the comment commands and the dashboard's boxes.
    const commandDeps: Omit<CommandDeps, 'host' | 'log'> = {
      locks: jobLocks,
      rate: new CommandRateLimiter(connection, settings.redisPrefix, settings.commandRate),
      clusters: targets,
      enqueuePreview: async (job, jobId) => {
        // The comment is the command's answer too: this run must be allowed to edit it.
        await jobPreviews.setHead(job, Date.now());
        await queues.preview.add('preview', job, { jobId });
      },
      enqueueDeploy: async (job, jobId) => {
        await queues.deploy.add('deploy', job, { jobId });
      },
      previewEnvs: {
        down: async (job) => {
          await previewEnvQueue.add('down', job, { jobId: previewEnvDownJobId(job, `command-${Date.now()}`) });
        },
        extend: async (repoId, pr, ms) => extendEnvironments(await previewClusters(clusters, [...targets.keys()]), repoId, pr, ms),
      },
      isLatestDeploy: (job) => jobDeploys.isLatest(job),
      deployedSha: (job, app) => jobDeploys.deployedSha(job, app),
      firstDeploySha: (job, app) => jobDeploys.firstDeploySha(job, app),
      approvals,
      operatorApproval: (repo, env) => requiredApproval(repo, grantsOf(env.cluster), env.name),
    };
    const commandWorker = startCommandWorker(connection, settings.redisPrefix, workerLimits, {
      ...commandDeps,
      log,
      host: async (job) => new OctokitCommandHost(job, await octokit(job.installationId), { limits, botLogin, defaults }),
      // Locks, unlocks and promotions show on a dashboard the repository already has.
      ...(dashboards ? { changed: async (job: CommandJob) => void ((await dashboardState.issue(job.repoId)) !== null && (await dashboards.touch(job))) } : {}),
    });
    const dashboardWorker = dashboards
      ? startDashboardWorker(connection, settings.redisPrefix, workerLimits, {
          host: async (job, priority) => new OctokitDashboardHost({ installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId }, await octokit(job.installationId, priority), { limits, botLogin, defaults }),
          render: {
            locks: (repoId) => jobLocks.list(repoId),
            deployedSha: (repoId, unit) => jobDeploys.deployedSha({ repoId }, unit),
            waiting: async (repoId, branch) => (await approvals.waiting(repoId, branch)).map((w) => ({ sha: w.job.sha, units: w.job.apps, role: w.role, since: w.since })),
          },
          commands: commandDeps,
          state: dashboardState,
          queue: dashboards,
          mode: settings.dashboard,
          log,
        })
      : null;
    if (dashboardWorker) closers.push(() => dashboardWorker.close());
    const driftWorker = await startDriftWorker(
      connection,
      settings.redisPrefix,
      queues,
      { mode: settings.driftTrigger, intervalMs: settings.driftIntervalMs, lockMs: settings.jobLockMs },
      {
        // Drift checks and alerts: nobody is waiting on them at that moment.
        hosts: bookkeepingHosts,
        engine: new Engine({ clusters, log, flow: 'drift', caps: settings.caps }),
        log,
        deployedApps: () => jobDeploys.deployedApps(),
        isLatestDeploy: (job) => jobDeploys.isLatest(job),
        enqueueHeal: (job) => enqueueHeal(queues, job),
        notify,
        alerts: new DriftAlertState(connection, settings.redisPrefix),
        ...(dashboards
          ? {
              dashboard: async (d: DeployJob & { app: string }, drift: DashboardDrift | null) => {
                if ((await dashboardState.recordDrift(d.repoId, d.app, drift)) && (await dashboardState.issue(d.repoId)) !== null) await dashboards.touch(d);
              },
            }
          : {}),
      },
      { clusters, names: [...targets.keys()], ownership: new WatchOwnership(connection, settings.redisPrefix) },
    );
    runtime.driftWatches = () => driftWorker.watching();
    // Catch-up after an outage: GitHub's list of the app's deliveries is read with the App JWT;
    // a redelivery is a write of the delivery's installation, paced with its other writes.
    const catchUpState = new CatchUpState(connection, settings.redisPrefix);
    const catchUp = await startCatchUpWorker(connection, settings.redisPrefix, settings.jobLockMs, {
      hosts,
      log,
      intervalMs: settings.catchUpIntervalMs,
      lookbackMs: settings.catchUpLookbackMs,
      deliveries: async (since) => listHookDeliveries(await probot.auth(), since),
      redeliver: async (d) => {
        const release = await pacer?.acquire(d.installationId ?? 0);
        try {
          await redeliverHookDelivery(await probot.auth(), d.id);
        } finally {
          await release?.();
        }
      },
      firstRedelivery: (guid) => catchUpState.firstRedelivery(guid),
      swapLastRun: (now) => catchUpState.swapLastRun(now),
      deployedApps: () => jobDeploys.deployedApps(),
      enqueueDeploy: async (job, seenAtMs) => {
        // pushed_at is in whole seconds: a push GitHub takes after this read must still count as newer.
        if (!(await jobDeploys.setLatest(job, Math.floor(seenAtMs / 1000) * 1000 - 1000))) return false;
        return enqueueDeploy(queues, job);
      },
    });
    queues.all.push(catchUp.queue);
    const imageWorkers = await startImageWorkers(connection, settings.redisPrefix, {
      hosts,
      registry: new OciDatasource(registryAccess),
      log,
      // On the worker connection, like the job state: a Redis restart pauses a bump, not fails it.
      index: new ImageIndex(connection, settings.redisPrefix),
      queues,
      leases,
      lockMs: settings.jobLockMs,
      pollIntervalMs: settings.imagePollIntervalMs,
      enqueuePreview: async (job) => {
        await enqueuePreviewAt(job, Date.now());
      },
    });
    // Workers close first (on stop they wait for running jobs), then the pools they use.
    closers.push(async () => notifyWorker?.close(), () => worker.close(), () => deployWorker.close(), () => deployReportWorker.close(), () => commandWorker.close(), () => driftWorker.close(), () => catchUp.close(), ...imageWorkers.map((w) => () => w.close()), () => deployEngine.close(), async () => clusters.close(), () => revisions.close());
    log.info({ concurrency: settings.workerConcurrency }, 'preview worker started');
  }
  const web = settings.mode !== 'worker';
  const secret = settings.webhookSecret;
  if (web && !secret) throw new Error('WEBHOOK_SECRET is not set; copy it from the GitHub App settings into .env');
  if (web) {
    await probot.load(
      mergeopsApp({
        enqueuePreview: enqueuePreviewAt,
        enqueueDeploy: async (job, at) => {
          // A stale push (an older commit redelivered late) is not enqueued at all.
          if (!(await deploys.setLatest(job, at))) return false;
          return enqueueDeploy(queues, job);
        },
        enqueueSync: (job) => enqueueSync(queues, job),
        defaultsPushed: (installationId, owner, repo) => webDefaults.pushed(installationId, owner, repo),
        imageEvents: (events) => enqueueImageEvents(queues, index, events),
        enqueueCommand: (job) => enqueueCommand(commandQueue, job),
        ...(webDashboards ? { dashboardTicked: (job: DashboardActionJob) => webDashboards.act(job) } : {}),
        enqueueMergeGroup: async (job) => {
          const jobId = mergeGroupPreviewJobId(job);
          if (await queues.preview.getJob(jobId)) return false;
          await queues.preview.add('preview', job, { jobId });
          return true;
        },
        ...(onboardQueue
          ? {
              onboard: async (jobs: OnboardJob[]) => {
                for (const j of jobs) if (!(await onboardQueue.getJob(onboardJobId(j)))) await onboardQueue.add('onboard', j, { jobId: onboardJobId(j) });
              },
            }
          : {}),
        rerun: async (run, jobId) => {
          if (await (run.kind === 'preview' ? queues.preview : queues.deploy).getJob(jobId)) return false;
          if (run.kind === 'preview') {
            // The re-run is the newest word on this PR: its comment must be allowed to land.
            await previews.setHead(run.job, Date.now());
            await queues.preview.add('preview', run.job, { jobId });
            return true;
          }
          // Re-running an older commit's deploy would roll the branch back behind its head.
          if (!(await deploys.isLatest(run.job))) return false;
          await queues.deploy.add('deploy', run.job, { jobId });
          return true;
        },
        enqueuePreviewEnvUp: async (job, jobId, at) => {
          if (await queues.preview.getJob(jobId)) return false;
          // The label's preview is the newest word on this PR: its comment must be allowed to land.
          await previews.setHead(job, at);
          await queues.preview.add('preview', job, { jobId });
          return true;
        },
        enqueuePreviewEnvDown: async (job, eventId) => {
          const jobId = previewEnvDownJobId(job, eventId);
          if (await previewEnvQueue.getJob(jobId)) return false;
          await previewEnvQueue.add('down', job, { jobId });
          return true;
        },
        cancelMergeGroup: async (job) => {
          await previews.cancelMergeGroup(job);
          // A waiting preview is removed outright; a running one sees the flag and stops.
          const waiting = await queues.preview.getJob(mergeGroupPreviewJobId(job));
          await waiting?.remove().catch(() => undefined);
        },
      }),
    );
  }
  // Every mode listens: web for webhooks, workers for probes and their own /metrics.
  const server = await buildServer({
    ...(web && secret ? { webhooks: { probot, secret } } : {}),
    redis,
    state: deliveries,
    queues,
    logger: log,
    requestTimeoutMs: settings.httpRequestTimeoutMs,
    intake: { maxBodyBytes: MAX_WEBHOOK_BYTES, maxInflightBytes: Math.max(settings.webhookInflightBytes, MAX_WEBHOOK_BYTES) },
    ...(web && (registrySecrets.shared !== undefined || registrySecrets.perHost.size > 0) ? { registry: { secrets: registrySecrets, onEvents: (events: ImageEvent[]) => enqueueImageEvents(queues, index, events) } } : {}),
    ...(settings.adminUser && settings.adminPassword ? { admin: { user: settings.adminUser, password: settings.adminPassword } } : {}),
  });
  await server.listen({ port: settings.port, host: settings.host });
  const addr = server.server.address();
  runtime.server = server;
  if (addr && typeof addr === 'object') {
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    runtime.url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  }
  closers.unshift(() => server.close());
  log.info({ url: runtime.url, webhooks: web }, 'http server listening');
  return runtime;
}
