import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './global-setup.js';
import { waitFor } from './github.js';

/*
 * Redis HA for real, on loopback ports in the test's own temp folder: a Sentinel group
 * (primary + replica + three sentinels, Debian's redis-server and redis-sentinel) and a
 * three-node Redis Cluster. Both require passwords, as production ones do. Every wait is
 * on what the servers say (ROLE, INFO, SENTINEL, CLUSTER INFO), never a fixed time.
 */

/** Data nodes' password (REDIS_PASSWORD) and the sentinels' own (REDIS_SENTINEL_PASSWORD). */
export const DATA_PASSWORD = 'data-secret-7f3a';
export const SENTINEL_PASSWORD = 'sentinel-secret-91c2';
export const MASTER_NAME = 'mergeops-test';

interface Server {
  port: number;
  proc: ChildProcess;
  /** How to start it again (same port, same data folder). */
  restart?: () => ChildProcess;
}

function start(bin: string, args: string[], dir: string, name: string): ChildProcess {
  const log = fs.openSync(path.join(dir, `${name}.log`), 'a');
  const proc = spawn(bin, args, { cwd: dir, stdio: ['ignore', log, log] });
  fs.closeSync(log);
  return proc;
}

/** One command to one server, no retries: null when it does not answer. */
async function ask(port: number, password: string, ...args: string[]): Promise<unknown> {
  const r = new Redis({ port, host: '127.0.0.1', password, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500, enableOfflineQueue: false });
  try {
    await r.connect();
    return await r.call(args[0] as string, ...args.slice(1));
  } catch {
    return null;
  } finally {
    r.disconnect();
  }
}

async function kill(proc: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  await new Promise<void>((r) => {
    proc.once('exit', () => r());
    proc.kill(signal);
  });
}

function dataNodeArgs(port: number, dir: string): string[] {
  // AOF with fsync on every write, as the chart's bundled Redis: what a node acknowledged survives its own crash.
  return ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always', '--save', '', '--maxmemory-policy', 'noeviction', '--requirepass', DATA_PASSWORD, '--masterauth', DATA_PASSWORD];
}

export interface SentinelGroup {
  /** The settings mergeops runs with (REDIS_URL emptied: the harness's default server is not this). */
  env: Record<string, string>;
  /** The port of the node the sentinels name primary now. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the current primary (it stays down); returns its port. */
  killPrimary(): Promise<number>;
  /** Resolves with the new primary's port once every sentinel names a node other than `oldPort` and that node is a master. */
  promoted(oldPort: number): Promise<number>;
  /** Restarts killed nodes; resolves once each is the new primary's replica, in sync, and seen by every sentinel. */
  rejoin(): Promise<void>;
  stop(): Promise<void>;
}

/** A primary, one replica in sync with it, and three sentinels (quorum 2) that all see both and each other. */
export async function startSentinelGroup(): Promise<SentinelGroup> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-sentinel-'));
  const data: Server[] = [];
  const sentinels: Server[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all([...sentinels, ...data].map((s) => kill(s.proc, 'SIGTERM')));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [primary, replica] = [await freePort(), await freePort()] as [number, number];
    for (const [i, port] of [primary, replica].entries()) {
      const nodeDir = path.join(dir, `node-${i}`);
      fs.mkdirSync(nodeDir);
      const args = dataNodeArgs(port, nodeDir);
      if (port === replica) args.push('--replicaof', '127.0.0.1', String(primary));
      const restart = () => start('redis-server', args, nodeDir, 'redis');
      data.push({ port, proc: restart(), restart });
    }
    await waitFor(async () => String(await ask(replica, DATA_PASSWORD, 'INFO', 'replication')).includes('master_link_status:up'), `the replica on ${replica} in sync with the primary on ${primary}`, 20_000);
    for (let i = 0; i < 3; i++) {
      const port = await freePort();
      const conf = path.join(dir, `sentinel-${i}.conf`);
      // Sentinels rewrite their own file (what they learned), so each has one.
      fs.writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${dir}`,
          `requirepass ${SENTINEL_PASSWORD}`,
          `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primary} 2`,
          `sentinel auth-pass ${MASTER_NAME} ${DATA_PASSWORD}`,
          // A killed primary is declared down after 1 s; a failover may take 10 s before another is tried.
          `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
          `sentinel failover-timeout ${MASTER_NAME} 10000`,
          '',
        ].join('\n'),
      );
      sentinels.push({ port, proc: start('redis-sentinel', [conf], dir, `sentinel-${i}`) });
    }
    // Each sentinel knows the primary, the replica and the two other sentinels: a failover
    // can then be agreed (quorum 2) and carried out.
    for (const s of sentinels) {
      await waitFor(
        async () => {
          const [replicas, peers] = await Promise.all([ask(s.port, SENTINEL_PASSWORD, 'SENTINEL', 'REPLICAS', MASTER_NAME), ask(s.port, SENTINEL_PASSWORD, 'SENTINEL', 'SENTINELS', MASTER_NAME)]);
          return Array.isArray(replicas) && replicas.length === 1 && Array.isArray(peers) && peers.length === 2;
        },
        `sentinel on ${s.port} to see the replica and its two peers`,
        30_000,
      );
    }
    const masterOf = async (s: Server): Promise<number | null> => {
      const addr = await ask(s.port, SENTINEL_PASSWORD, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_NAME);
      return Array.isArray(addr) ? Number(addr[1]) : null;
    };
    const group: SentinelGroup = {
      env: {
        REDIS_URL: '',
        REDIS_SENTINELS: sentinels.map((s) => `127.0.0.1:${s.port}`).join(','),
        REDIS_SENTINEL_NAME: MASTER_NAME,
        REDIS_SENTINEL_PASSWORD: SENTINEL_PASSWORD,
        REDIS_PASSWORD: DATA_PASSWORD,
      },
      primaryPort: async () => waitFor(() => masterOf(sentinels[0] as Server).then((p) => p ?? undefined), 'the sentinels to name a primary'),
      killPrimary: async () => {
        const port = await group.primaryPort();
        const node = data.find((d) => d.port === port) as Server;
        await kill(node.proc, 'SIGKILL');
        return port;
      },
      promoted: async (oldPort) =>
        waitFor(
          async () => {
            const named = await Promise.all(sentinels.map(masterOf));
            const port = named[0];
            if (port === null || port === undefined || port === oldPort || named.some((p) => p !== port)) return undefined;
            const role = await ask(port, DATA_PASSWORD, 'ROLE');
            return Array.isArray(role) && role[0] === 'master' ? port : undefined;
          },
          `the sentinels to promote a replica of the primary on ${oldPort}`,
          30_000,
        ),
      rejoin: async () => {
        const primaryNow = await group.primaryPort();
        for (const node of data.filter((d) => d.proc.exitCode !== null || d.proc.signalCode !== null)) {
          node.proc = (node.restart as () => ChildProcess)();
          // It comes back believing it is a primary (or a replica of the dead one); the sentinels reconfigure it.
          await waitFor(async () => String(await ask(node.port, DATA_PASSWORD, 'INFO', 'replication')).includes(`master_port:${primaryNow}\r\nmaster_link_status:up`), `the node on ${node.port} to sync from the primary on ${primaryNow}`, 60_000);
          for (const s of sentinels) {
            await waitFor(
              async () => {
                const replicas = await ask(s.port, SENTINEL_PASSWORD, 'SENTINEL', 'REPLICAS', MASTER_NAME);
                if (!Array.isArray(replicas)) return false;
                return replicas.some((r) => {
                  const f = new Map<string, string>();
                  const kv = r as string[];
                  for (let i = 0; i + 1 < kv.length; i += 2) f.set(kv[i] as string, kv[i + 1] as string);
                  return f.get('port') === String(node.port) && f.get('flags') === 'slave' && f.get('master-link-status') === 'ok';
                });
              },
              `sentinel on ${s.port} to see the node on ${node.port} as a healthy replica`,
              60_000,
            );
          }
        }
      },
      stop,
    };
    return group;
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface RedisClusterNodes {
  env: Record<string, string>;
  ports: number[];
  /** Every key on every node (SCAN), with the node's port: what mergeops wrote, where it landed. */
  keys(): Promise<{ port: number; key: string }[]>;
  stop(): Promise<void>;
}

/** Three masters (no replicas) sharing the 16,384 slots, created by `redis-cli --cluster create`. */
export async function startRedisCluster(): Promise<RedisClusterNodes> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-cluster-'));
  const nodes: Server[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((s) => kill(s.proc, 'SIGTERM')));
    fs.rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < 3; i++) {
      for (let attempt = 1; ; attempt++) {
        // The bus port is chosen too: the default (port + 10000) may be taken or past 65535.
        const port = await freePort();
        let bus = await freePort();
        while (bus === port) bus = await freePort();
        const nodeDir = path.join(dir, `node-${i}-${attempt}`);
        fs.mkdirSync(nodeDir);
        const args = [...dataNodeArgs(port, nodeDir), '--cluster-enabled', 'yes', '--cluster-config-file', path.join(nodeDir, 'nodes.conf'), '--cluster-port', String(bus), '--cluster-node-timeout', '2000'];
        const node = { port, proc: start('redis-server', args, nodeDir, 'redis') };
        nodes.push(node);
        // A port freePort let go of can be taken again (by any connection's ephemeral port)
        // before redis-server binds it: then it exits, and another pair of ports is tried.
        const state = await waitFor(async () => ((await ask(port, DATA_PASSWORD, 'PING')) === 'PONG' ? 'up' : node.proc.exitCode !== null ? 'exited' : undefined), `cluster node on ${port} to answer`, 20_000);
        if (state === 'up') break;
        nodes.pop();
        if (attempt === 3) throw new Error(`redis-server for cluster node ${i} exited on three pairs of ports; the last said: ${fs.readFileSync(path.join(nodeDir, 'redis.log'), 'utf8').slice(-400)}`);
      }
    }
    const create = spawnSync('redis-cli', ['-a', DATA_PASSWORD, '--no-auth-warning', '--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed:\n${create.stdout}\n${create.stderr}`);
    for (const n of nodes) {
      await waitFor(
        async () => {
          const info = String(await ask(n.port, DATA_PASSWORD, 'CLUSTER', 'INFO'));
          return info.includes('cluster_state:ok') && info.includes('cluster_known_nodes:3') && info.includes('cluster_slots_ok:16384');
        },
        `cluster node on ${n.port} to report cluster_state:ok with 3 nodes`,
        30_000,
      );
    }
    return {
      env: { REDIS_URL: '', REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','), REDIS_PASSWORD: DATA_PASSWORD },
      ports: nodes.map((n) => n.port),
      keys: async () => {
        const out: { port: number; key: string }[] = [];
        for (const n of nodes) {
          const r = new Redis({ port: n.port, host: '127.0.0.1', password: DATA_PASSWORD });
          try {
            for await (const batch of r.scanStream({ count: 500 })) for (const key of batch as string[]) out.push({ port: n.port, key });
          } finally {
            r.disconnect();
          }
        }
        return out;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
