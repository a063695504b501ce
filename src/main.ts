import fs from 'node:fs';
import { pino } from 'pino';
import { Probot, ProbotOctokit, run } from 'probot';
import { loadClusterTargets } from './config/clusters.js';
import { loadSettings } from './config/settings.js';
import { ClusterPool } from './cluster/connect.js';
import { mergeopsApp } from './github/app.js';
import { buildServer } from './http/server.js';
import { createQueues, enqueuePreview } from './queue/queues.js';
import { createRedis } from './queue/redis.js';
import { SharedState } from './queue/state.js';
import { startPreviewWorker } from './queue/worker.js';

/** Process entry: `web`, `worker` or `all` (MERGEOPS_MODE), wiring only. */
async function main(): Promise<void> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  const settings = loadSettings();
  const log = pino({ level: settings.logLevel, name: 'mergeops', redact: ['req.headers.authorization', '*.token', '*.privateKey'] });

  if (!settings.appId || !settings.privateKey) {
    // First run on a laptop: Probot's manifest flow registers the GitHub App from
    // app.yml and writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET into .env.
    log.warn('APP_ID / PRIVATE_KEY not set: open the printed URL to register the GitHub App, then restart');
    await run(() => undefined, { env: { ...process.env, PORT: String(settings.port) } });
    return;
  }
  if (!settings.webhookSecret) throw new Error('WEBHOOK_SECRET is not set; copy it from the GitHub App settings into .env');

  const probot = new Probot({
    appId: settings.appId,
    privateKey: settings.privateKey,
    secret: settings.webhookSecret,
    log: log.child({ name: 'probot' }),
    ...(settings.githubBaseUrl ? { baseUrl: settings.githubBaseUrl } : {}),
    Octokit: ProbotOctokit,
  });
  const redis = createRedis(settings.redisUrl);
  const connection = createRedis(settings.redisUrl, true);
  const state = new SharedState(redis, settings.redisPrefix);
  const queues = createQueues(connection, settings.redisPrefix);
  const closers: (() => Promise<unknown>)[] = [];

  if (settings.mode !== 'worker') {
    await probot.load(
      mergeopsApp({
        enqueuePreview: async (job) => {
          await state.setHead(job);
          return enqueuePreview(queues, job);
        },
      }),
    );
    const server = await buildServer({ probot, webhookSecret: settings.webhookSecret, redis, state, logger: log });
    await server.listen({ port: settings.port, host: settings.host });
    closers.push(() => server.close());
  }
  if (settings.mode !== 'web') {
    const clusters = new ClusterPool(loadClusterTargets(settings.clustersFile));
    const worker = startPreviewWorker(connection, settings.redisPrefix, settings.workerConcurrency, {
      github: (id) => probot.auth(id),
      clusters,
      limits: { maxArchiveBytes: settings.maxArchiveBytes, maxExtractedBytes: settings.maxExtractedBytes, maxEntries: 100_000 },
      log,
      isLatestHead: (job) => state.isLatestHead(job),
      commentIds: (job) => state.commentIds(job),
    });
    closers.push(() => worker.close(), () => clusters.close());
    log.info({ concurrency: settings.workerConcurrency }, 'preview worker started');
  }

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down: no new jobs; finishing running ones');
    for (const close of closers) await close().catch((err: unknown) => log.error({ err }, 'close failed'));
    await queues.close();
    redis.disconnect();
    connection.disconnect();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`mergeops failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
