import fs from 'node:fs';
import { z } from 'zod';
import { errorText } from '../errors.js';
import type { RedisAuth, RedisNode, RedisTarget } from '../redis.js';
import { ConfigError } from './validate.js';

const DEFAULT_URL = 'redis://127.0.0.1:6379';

/** Set and not empty, else absent: an empty line in .env means "not set". */
const text = () =>
  z
    .string()
    .optional()
    .transform((v) => (v ? v : undefined));

/** `host:port,host:port` (IPv6 in brackets, `[::1]:26379`); a bare host takes `defaultPort`. */
function nodeList(defaultPort: number, example: string) {
  return text().transform((v, ctx) => {
    if (v === undefined) return undefined;
    const nodes: RedisNode[] = [];
    for (const part of v.split(',').map((p) => p.trim())) {
      const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+))(?::(\d+))?$/.exec(part);
      const port = m?.[3] === undefined ? defaultPort : Number(m[3]);
      if (!m || port < 1 || port > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${part}" is not host:port; expected a comma-separated list like ${example}` });
        return z.NEVER;
      }
      nodes.push({ host: (m[1] ?? m[2]) as string, port });
    }
    return nodes;
  });
}

/** The variables that say where Redis is; `.env.example` and the README document each. */
export const redisEnvironment = {
  REDIS_URL: text(),
  REDIS_SENTINELS: nodeList(26379, 'sentinel-0.redis:26379,sentinel-1.redis:26379'),
  REDIS_SENTINEL_NAME: text(),
  REDIS_SENTINEL_PASSWORD: text(),
  REDIS_CLUSTER_NODES: nodeList(6379, 'redis-0.redis:6379,redis-1.redis:6379'),
  REDIS_USERNAME: text(),
  REDIS_PASSWORD: text(),
  REDIS_TLS: text().transform((v, ctx) => {
    if (v === undefined || v === 'false') return false;
    if (v === 'true') return true;
    ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` });
    return z.NEVER;
  }),
  REDIS_TLS_CA_FILE: text(),
};

type RedisEnvironment = { [K in keyof typeof redisEnvironment]: z.output<(typeof redisEnvironment)[K]> };

/**
 * One server (REDIS_URL), a Sentinel group (REDIS_SENTINELS + REDIS_SENTINEL_NAME) or a
 * Redis Cluster (REDIS_CLUSTER_NODES); the errors name what to set instead.
 */
export function redisTarget(e: RedisEnvironment): RedisTarget {
  const chosen = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter((k) => e[k] !== undefined);
  if (chosen.length > 1) {
    throw new ConfigError(`${chosen.join(' and ')} are ${chosen.length === 2 ? 'both' : 'all'} set; set only one of REDIS_URL (one server), REDIS_SENTINELS (a Sentinel group) or REDIS_CLUSTER_NODES (a Redis Cluster) and empty the others`, chosen[0] as string);
  }
  if (e.REDIS_SENTINELS) {
    if (!e.REDIS_SENTINEL_NAME) throw new ConfigError('is required with REDIS_SENTINELS: the master name the sentinels monitor (`sentinel monitor <name> …`, often "mymaster")', 'REDIS_SENTINEL_NAME');
    return { kind: 'sentinel', sentinels: e.REDIS_SENTINELS, name: e.REDIS_SENTINEL_NAME, ...(e.REDIS_SENTINEL_PASSWORD !== undefined ? { sentinelPassword: e.REDIS_SENTINEL_PASSWORD } : {}), ...auth(e) };
  }
  for (const k of ['REDIS_SENTINEL_NAME', 'REDIS_SENTINEL_PASSWORD'] as const) {
    if (e[k] !== undefined) throw new ConfigError('is read only with REDIS_SENTINELS (host:port of each sentinel); set REDIS_SENTINELS or unset it', k);
  }
  if (e.REDIS_CLUSTER_NODES) return { kind: 'cluster', nodes: e.REDIS_CLUSTER_NODES, ...auth(e) };
  return { kind: 'single', url: e.REDIS_URL ?? DEFAULT_URL, ...auth(e) };
}

function auth(e: RedisEnvironment): RedisAuth {
  const a: RedisAuth = {};
  if (e.REDIS_USERNAME !== undefined) a.username = e.REDIS_USERNAME;
  if (e.REDIS_PASSWORD !== undefined) a.password = e.REDIS_PASSWORD;
  if (e.REDIS_TLS_CA_FILE !== undefined && !e.REDIS_TLS) throw new ConfigError('is read only with REDIS_TLS=true; set REDIS_TLS=true or unset it', 'REDIS_TLS_CA_FILE');
  if (e.REDIS_TLS) {
    a.tls = {};
    if (e.REDIS_TLS_CA_FILE !== undefined) {
      try {
        a.tls.ca = fs.readFileSync(e.REDIS_TLS_CA_FILE, 'utf8');
      } catch (err) {
        throw new ConfigError(`cannot read ${e.REDIS_TLS_CA_FILE}: ${errorText(err)}`, 'REDIS_TLS_CA_FILE');
      }
    }
  }
  return a;
}
