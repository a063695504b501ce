import type { ConnectionOptions as TlsOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';

/** A Redis server mergeops can talk to: one server, a Sentinel group's primary, or a Redis Cluster. */
export type RedisClient = Redis | Cluster;

export interface RedisNode {
  host: string;
  port: number;
}

/** AUTH and TLS to the data nodes (a single server's URL may carry them too, and then wins). */
export interface RedisAuth {
  username?: string;
  password?: string;
  /** TLS to every Redis node (and to the sentinels); `ca` is a PEM bundle, else the system's. */
  tls?: { ca?: string };
}

/** Where Redis is, from the operator's settings (REDIS_URL, REDIS_SENTINELS…, REDIS_CLUSTER_NODES…). */
export type RedisTarget =
  | ({ kind: 'single'; url: string } & RedisAuth)
  | ({ kind: 'sentinel'; sentinels: RedisNode[]; name: string; sentinelPassword?: string } & RedisAuth)
  | ({ kind: 'cluster'; nodes: RedisNode[] } & RedisAuth);

/**
 * BullMQ needs maxRetriesPerRequest: null on worker connections (blocking commands must
 * wait out a Redis restart or a failover rather than fail).
 */
export function createRedis(target: RedisTarget | string, forWorker = false): RedisClient {
  const t: RedisTarget = typeof target === 'string' ? { kind: 'single', url: target } : target;
  const common: RedisOptions = { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false };
  switch (t.kind) {
    case 'single': {
      const tls = tlsOptions(t);
      // ioredis: what the URL says wins over these (a password in the URL is the one used).
      return new Redis(t.url, { ...common, ...auth(t), ...(tls ? { tls } : {}) });
    }
    case 'sentinel': {
      const tls = tlsOptions(t);
      return new Redis({
        ...common,
        ...auth(t),
        sentinels: t.sentinels,
        name: t.name,
        // The sentinels' own password (Redis 6+ may set one apart from the data nodes').
        ...(t.sentinelPassword !== undefined ? { sentinelPassword: t.sentinelPassword } : {}),
        // Subscribes to the sentinels' +switch-master: a failover moves the connection at
        // once, not only when the old primary's socket finally errors.
        failoverDetector: true,
        ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
      });
    }
    case 'cluster': {
      const tls = tlsOptions(t);
      const options: ClusterOptions = {
        enableReadyCheck: true,
        lazyConnect: false,
        redisOptions: { ...common, ...auth(t), ...(tls ? { tls } : {}) },
        // Managed clusters (TLS) announce IPs their certificates do not name: connect by the
        // address given, let TLS check the name the operator wrote.
        ...(tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
      };
      return new Cluster(t.nodes, options);
    }
  }
}

function auth(t: RedisAuth): Pick<RedisOptions, 'username' | 'password'> {
  return { ...(t.username !== undefined ? { username: t.username } : {}), ...(t.password !== undefined ? { password: t.password } : {}) };
}

function tlsOptions(t: RedisAuth): TlsOptions | undefined {
  if (!t.tls) return undefined;
  return t.tls.ca !== undefined ? { ca: t.tls.ca } : {};
}

/**
 * The hash tag Redis Cluster places a key by (the text between the first `{` and the next
 * `}`, when not empty), or null: keys with the same tag live in the same slot.
 */
export function hashTag(key: string): string | null {
  const open = key.indexOf('{');
  if (open < 0) return null;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : null;
}

/**
 * On a Redis Cluster every key mergeops writes (BullMQ's included) starts with a
 * hash-tagged prefix, `{mergeops}:…`: each queue, and each script's or transaction's keys,
 * then live in one slot, as BullMQ and multi-key commands need. mergeops's Redis traffic
 * is small; one slot costs nothing a replica per shard does not give back in availability.
 * A prefix that already has a tag is kept as it is.
 */
export function clusterKeyPrefix(prefix: string): string {
  return hashTag(prefix) !== null ? prefix : `{${prefix}}`;
}

export async function redisAnswers(redis: RedisClient, timeoutMs = 1000): Promise<boolean> {
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  }
}
