import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { answers, freePort } from './global-setup.js';

/**
 * A redis-server the test owns (never the shared one): AOF on with fsync on every write,
 * as the chart's bundled Redis runs, so a SIGKILL loses nothing acknowledged. `kill()`
 * and `start()` restart it on the same port and data folder.
 */
export interface OwnRedis {
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOwnRedis(): Promise<OwnRedis> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-own-redis-'));
  const url = `redis://127.0.0.1:${port}`;
  let proc: ChildProcess | null = null;
  const up = (): Promise<boolean> => answers(url, 500);
  const self: OwnRedis = {
    url,
    start: async () => {
      proc = spawn('/usr/bin/redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction'], { stdio: 'ignore' });
      for (let i = 0; i < 100 && !(await up()); i++) await new Promise((r) => setTimeout(r, 50));
      if (!(await up())) throw new Error(`own redis-server did not start on port ${port}`);
    },
    kill: async (signal = 'SIGKILL') => {
      const p = proc;
      if (!p || p.exitCode !== null) return;
      await new Promise<void>((r) => {
        p.once('exit', () => r());
        p.kill(signal);
      });
    },
    stop: async () => {
      await self.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.start();
  return self;
}
