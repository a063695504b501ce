import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { Probot } from 'probot';
import { loadSettings } from './config/settings.js';
import { octokitClass } from './github/octokit.js';
import { startRuntime } from './runtime.js';
import { errorText } from './errors.js';

/** Process entry: `web`, `worker` or `all` (MERGEOPS_MODE), or setup mode; wiring only. */
async function main(): Promise<void> {
  const envFile = path.resolve('.env');
  if (fs.existsSync(envFile)) process.loadEnvFile(envFile);
  const settings = loadSettings();
  const log = pino({ level: settings.logLevel, name: 'mergeops' });

  if (!settings.appId || !settings.privateKey) {
    // First run on a laptop: register the GitHub App from app.yml (GitHub's manifest flow)
    // and write APP_ID, PRIVATE_KEY and WEBHOOK_SECRET into .env.
    // Loaded only here and below: a worker that needs neither does not carry them.
    const { setupServer } = await import('./setup/app-registration.js');
    const server = setupServer({ manifest: fs.readFileSync('app.yml', 'utf8'), envFile, env: process.env, log });
    await server.listen({ port: settings.port, host: settings.host });
    const shown = settings.host === '0.0.0.0' || settings.host === '::' ? 'localhost' : settings.host;
    log.warn(`APP_ID / PRIVATE_KEY not set: setup mode. Open http://${shown}:${settings.port}/ to register the GitHub App, then restart`);
    const stop = (): void => void server.close().then(() => process.exit(0));
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    return;
  }
  const probot = new Probot({
    appId: settings.appId,
    privateKey: settings.privateKey,
    ...(settings.webhookSecret ? { secret: settings.webhookSecret } : {}),
    log: log.child({ name: 'probot' }),
    ...(settings.githubBaseUrl ? { baseUrl: settings.githubBaseUrl } : {}),
    Octokit: octokitClass(settings.githubWritesPerMinute > 0),
  });
  const runtime = await startRuntime(settings, probot, log);
  const proxyUrl = settings.webhookProxyUrl;
  const proxy = proxyUrl && settings.mode !== 'worker' && runtime.url ? await (await import('./setup/webhook-proxy.js')).startWebhookProxy(proxyUrl, runtime.url, log) : undefined;

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'shutting down: no new jobs; finishing running ones');
    await proxy?.stop();
    await runtime.stop();
    log.info({ signal }, 'stopped');
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`mergeops failed to start: ${errorText(err)}`);
  process.exit(1);
});
