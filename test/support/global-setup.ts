// Jest loads global setup outside its module mapper, so this file imports nothing
// relative: the envtest and Redis helpers live here and tests import them from here.
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';

/**
 * A real kube-apiserver + etcd on loopback, like controller-runtime's envtest. No
 * controllers run: Deployments create no Pods; tests write status through the API.
 */
export interface EnvTest {
  kubeconfig: string;
  server: string;
  token: string;
  stop(): Promise<void>;
}

export function binDir(): string {
  const assets = process.env['KUBEBUILDER_ASSETS'];
  if (assets && fs.existsSync(path.join(assets, 'kube-apiserver'))) return assets;
  // Empty counts as unset, as in scripts/setup-test-env.sh and src/render/exec.ts's cacheDir.
  const cache = process.env['MERGEOPS_CACHE'] || path.join(process.env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache'), 'mergeops');
  return path.join(cache, 'bin');
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

/** `apiServerArgs`: more kube-apiserver flags (an audit policy and log, say). */
export async function startEnvTest(opts: { apiServerArgs?: string[] } = {}): Promise<EnvTest> {
  const bin = binDir();
  for (const b of ['etcd', 'kube-apiserver']) {
    if (!fs.existsSync(path.join(bin, b))) throw new Error(`${b} not found in ${bin}; run \`npm run setup:test-env\` first`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-envtest-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const procs: ChildProcess[] = [];
  const logFile = fs.openSync(path.join(dir, 'log.txt'), 'a');
  const launch = (cmd: string, args: string[]): ChildProcess => {
    const p = spawn(path.join(bin, cmd), args, { stdio: ['ignore', logFile, logFile] });
    procs.push(p);
    return p;
  };
  const stop = async (): Promise<void> => {
    for (const p of procs.reverse()) {
      if (p.exitCode === null) {
        p.kill('SIGTERM');
        await new Promise<void>((r) => {
          const t = setTimeout(() => {
            p.kill('SIGKILL');
            r();
          }, 5000);
          p.once('exit', () => {
            clearTimeout(t);
            r();
          });
        });
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };

  try {
    launch('etcd', [
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
      `--advertise-client-urls=http://127.0.0.1:${etcdPort}`,
      `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
      `--initial-cluster=default=http://127.0.0.1:${peerPort}`,
      '--unsafe-no-fsync=true',
      '--log-level=error',
    ]);
    const token = crypto.randomBytes(16).toString('hex');
    fs.writeFileSync(path.join(dir, 'tokens.csv'), `${token},admin,admin,"system:masters"\n`);
    const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    fs.writeFileSync(path.join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    fs.writeFileSync(path.join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
    const certDir = path.join(dir, 'certs');
    launch('kube-apiserver', [
      `--etcd-servers=http://127.0.0.1:${etcdPort}`,
      `--cert-dir=${certDir}`,
      `--secure-port=${apiPort}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--service-cluster-ip-range=10.0.0.0/24',
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      '--authorization-mode=RBAC',
      '--allow-privileged=true',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${path.join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(dir, 'sa.key')}`,
      '--disable-admission-plugins=ServiceAccount',
      '--v=0',
      ...(opts.apiServerArgs ?? []),
    ]);
    const server = `https://127.0.0.1:${apiPort}`;
    await waitReady(server, token, procs, path.join(dir, 'log.txt'));
    const kubeconfig = path.join(dir, 'kubeconfig.yaml');
    fs.writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        '- name: envtest',
        '  cluster:',
        `    server: ${server}`,
        // The API server's self-generated serving cert has no CA we could pin.
        '    insecure-skip-tls-verify: true',
        'users:',
        '- name: admin',
        '  user:',
        `    token: ${token}`,
        'contexts:',
        '- name: envtest',
        '  context: {cluster: envtest, user: admin}',
        'current-context: envtest',
        '',
      ].join('\n'),
    );
    return { kubeconfig, server, token, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

async function waitReady(server: string, token: string, procs: ChildProcess[], log: string): Promise<void> {
  const deadline = Date.now() + 90_000;

  while (Date.now() < deadline) {
    if (procs.some((p) => p.exitCode !== null)) {
      throw new Error(`envtest process exited early:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      import('node:https').then((https) => {
        const req = https.request(`${server}/readyz`, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        });
        req.on('error', () => resolve(false));
        req.on('timeout', () => req.destroy());
        req.end();
      }, () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 250));
  }

  throw new Error(`kube-apiserver not ready after 90 s:\n${fs.readFileSync(log, 'utf8').slice(-3000)}`);
}

/** True when a Redis at `url` answers PING within the timeout (no retries). */
export async function answers(url: string, connectTimeout = 1000): Promise<boolean> {
  const r = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

/** REDIS_URL (or 127.0.0.1:6379) when it answers; otherwise a redis-server of our own. */
export async function ensureRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const url = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
  if (await answers(url)) return { url, stop: async () => undefined };
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-redis-'));
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  const own = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await answers(own)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await answers(own))) throw new Error('no Redis at REDIS_URL and redis-server could not be started; install redis-server');
  return {
    url: own,
    stop: async () => {
      proc.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One API server and one Redis for the whole run; tests isolate by namespace and key prefix. */
export default async function globalSetup(): Promise<void> {
  // `npm run test:unit` needs neither: unit tests run before (and without) the binary builds.
  if (process.env['MERGEOPS_UNIT_ONLY'] === '1') {
    (globalThis as Record<string, unknown>)['__mergeopsStop'] = async () => undefined;
    return;
  }
  const [env, redis] = await Promise.all([startEnvTest(), ensureRedis()]);
  process.env['MERGEOPS_TEST_KUBECONFIG'] = env.kubeconfig;
  process.env['MERGEOPS_TEST_REDIS_URL'] = redis.url;
  (globalThis as Record<string, unknown>)['__mergeopsStop'] = async () => {
    await env.stop();
    await redis.stop();
  };
}
