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

export interface MainOptions {
  /** Its working directory, holding `clusters.yaml` (its clusters file). */
  dir: string;
  gh: FakeGitHub;
  prefix: string;
  /** `all` (receiver and worker, the default) or `worker`, as a container runs it. */
  mode?: 'all' | 'worker';
  /** 0: any free port, not waited for. */
  port?: number;
  env?: Record<string, string>;
  /** `pipe`: the test reads its output (child.stdout/stderr); the default passes it through. */
  output?: 'inherit' | 'pipe';
}

/**
 * `node dist/main.js` (`main`, from compiledMain()) as an operator runs it, against the test
 * Redis and the HTTP GitHub stand-in, with `dir/clusters.yaml` as its clusters file; not
 * waited for. Drift, catch-up and image polls are off unless `env` turns them on: a test
 * counts what its own flow sends. The one set-up every process test shares (deploy-crash,
 * deploy-race, worker-kill, sigterm, catch-up and deploy processes).
 */
export function spawnMain(main: string, opts: MainOptions): ChildProcess {
  return spawn(process.execPath, [main], {
    cwd: opts.dir,
    env: {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      MERGEOPS_MODE: opts.mode ?? 'all',
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
      PORT: String(opts.port ?? 0),
      HOST: '127.0.0.1',
      LOG_LEVEL: (process.env['TEST_LOG_LEVEL'] ?? 'error') as NodeJS.ProcessEnv['LOG_LEVEL'],
      ...opts.env,
    },
    stdio: ['ignore', opts.output ?? 'inherit', opts.output ?? 'inherit'],
  });
}

/** spawnMain on a free port (unless given); resolves once its /readyz answers. */
export async function startMainProcess(opts: MainOptions): Promise<MainProcess> {
  const main = await compiledMain();
  const port = opts.port || (await freePort());
  const url = `http://127.0.0.1:${port}`;
  const child = spawnMain(main, { ...opts, port });
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
