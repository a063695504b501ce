import fs from 'node:fs';
import { pino } from 'pino';
import { Probot, run } from 'probot';
import { loadSettings } from './config/settings.js';
import { MergeopsOctokit } from './github/octokit.js';
import { startRuntime } from './runtime.js';
import { errorText } from './errors.js';

/** Process entry: `web`, `worker` or `all` (MERGEOPS_MODE), wiring only. */
async function main(): Promise<void> {
  if (fs.existsSync('.env')) process.loadEnvFile('.env');
  const settings = loadSettings();
  const log = pino({ level: settings.logLevel, name: 'mergeops' });

  if (!settings.appId || !settings.privateKey) {
    // First run on a laptop: Probot's manifest flow registers the GitHub App from
    // app.yml and writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET into .env.
    log.warn('APP_ID / PRIVATE_KEY not set: open the printed URL to register the GitHub App, then restart');
    await run(() => undefined, { env: { ...process.env, PORT: String(settings.port) } });
    return;
  }
  const probot = new Probot({
    appId: settings.appId,
    privateKey: settings.privateKey,
    ...(settings.webhookSecret ? { secret: settings.webhookSecret } : {}),
    log: log.child({ name: 'probot' }),
    ...(settings.githubBaseUrl ? { baseUrl: settings.githubBaseUrl } : {}),
    Octokit: MergeopsOctokit,
  });
  const runtime = await startRuntime(settings, probot, log);

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down: no new jobs; finishing running ones');
    await runtime.stop();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`mergeops failed to start: ${errorText(err)}`);
  process.exit(1);
});
