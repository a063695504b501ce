import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { compiledMain } from './build.js';
import type { FakeGitHub } from './fake-github.js';
import { APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, waitFor } from './github.js';
import { freePort } from './global-setup.js';

export interface MainProcess {
  child: ChildProcess;
  /** Where it serves webhooks and /readyz. */
  url: string;
  /** SIGTERM, and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * `node dist/main.js` as an operator runs it (receiver and worker in one process), against
 * the test Redis and the HTTP GitHub stand-in, with `dir/clusters.yaml` as its clusters file;
 * resolves once /readyz answers. Drift, catch-up and image polls are off unless `env` turns
 * them on: a test counts what its own flow sends.
 */
export async function startMainProcess(opts: { dir: string; gh: FakeGitHub; prefix: string; port?: number; env?: Record<string, string> }): Promise<MainProcess> {
  const main = await compiledMain();
  const port = opts.port ?? (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [main], {
    cwd: opts.dir,
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      MERGEOPS_MODE: 'all',
      REDIS_URL: process.env['MERGEOPS_TEST_REDIS_URL'],
      MERGEOPS_REDIS_PREFIX: opts.prefix,
      MERGEOPS_CLUSTERS: path.join(opts.dir, 'clusters.yaml'),
      MERGEOPS_DRIFT_INTERVAL_MS: '0',
      MERGEOPS_CATCH_UP_INTERVAL_MS: '0',
      MERGEOPS_IMAGE_POLL_INTERVAL_MS: '0',
      APP_ID: String(APP_ID),
      PRIVATE_KEY,
      WEBHOOK_SECRET,
      GHE_HOST: opts.gh.host,
      GHE_PROTOCOL: 'http',
      PORT: String(port),
      HOST: '127.0.0.1',
      LOG_LEVEL: (process.env['TEST_LOG_LEVEL'] ?? 'error') as NodeJS.ProcessEnv['LOG_LEVEL'],
      ...opts.env,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  await waitFor(async () => (await fetch(`${url}/readyz`).catch(() => null))?.ok, 'dist/main.js ready', 60_000);
  return {
    child,
    url,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}
