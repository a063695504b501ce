import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { loadSettings } from '../../../src/config/settings.js';
import { ConfigError } from '../../../src/config/validate.js';
import { clusterKeyPrefix, hashTag } from '../../../src/redis.js';
import { thrown } from '../../support/expect-error.js';

describe('where Redis is (REDIS_URL, REDIS_SENTINELS…, REDIS_CLUSTER_NODES…)', () => {
  it('is one server at 127.0.0.1:6379 by default, and REDIS_URL names another; keys keep the plain prefix', () => {
    expect(loadSettings({}).redis).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    const s = loadSettings({ REDIS_URL: 'rediss://:pw@redis.example:6380', REDIS_TLS: 'false' });
    expect(s.redis).toEqual({ kind: 'single', url: 'rediss://:pw@redis.example:6380' });
    expect(s.redisPrefix).toBe('mergeops');
    // The password (the chart's bundled Redis passes it apart from the URL) and TLS apply to one server too.
    expect(loadSettings({ REDIS_URL: 'redis://redis:6379', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' }).redis).toEqual({ kind: 'single', url: 'redis://redis:6379', password: 'pw', tls: {} });
  });

  it('reads a Sentinel group: sentinels (default port 26379, IPv6 in brackets), master name, both passwords, TLS with a CA file', () => {
    const ca = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-ca-')), 'ca.pem');
    fs.writeFileSync(ca, '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n');
    const s = loadSettings({
      REDIS_SENTINELS: 'sentinel-0.redis:26380, sentinel-1.redis,[::1]:26381',
      REDIS_SENTINEL_NAME: 'mymaster',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      REDIS_PASSWORD: 'data-pw',
      REDIS_TLS: 'true',
      REDIS_TLS_CA_FILE: ca,
    });
    expect(s.redis).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 'sentinel-0.redis', port: 26380 },
        { host: 'sentinel-1.redis', port: 26379 },
        { host: '::1', port: 26381 },
      ],
      name: 'mymaster',
      sentinelPassword: 'sentinel-pw',
      password: 'data-pw',
      tls: { ca: fs.readFileSync(ca, 'utf8') },
    });
    // A Sentinel group serves one keyspace: the keys stay those of a single server.
    expect(s.redisPrefix).toBe('mergeops');
  });

  it('reads a Redis Cluster, and hash-tags the key prefix there so every queue and script stays in one slot', () => {
    const s = loadSettings({ REDIS_CLUSTER_NODES: 'redis-0:7000,redis-1:7001', REDIS_USERNAME: 'mergeops', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true', MERGEOPS_REDIS_PREFIX: 'acme' });
    expect(s.redis).toEqual({ kind: 'cluster', nodes: [{ host: 'redis-0', port: 7000 }, { host: 'redis-1', port: 7001 }], username: 'mergeops', password: 'pw', tls: {} });
    expect(s.redisPrefix).toBe('{acme}');
    expect(loadSettings({ REDIS_CLUSTER_NODES: 'redis-0:7000' }).redisPrefix).toBe('{mergeops}');
    // An operator's own tag is kept.
    expect(loadSettings({ REDIS_CLUSTER_NODES: 'redis-0:7000', MERGEOPS_REDIS_PREFIX: 'mergeops-{prod}' }).redisPrefix).toBe('mergeops-{prod}');
  });

  it('says what to set when the settings do not fit together', () => {
    const err = (env: Record<string, string>) => thrown(() => loadSettings(env), ConfigError);
    expect(err({ REDIS_SENTINELS: 's0:26379' }).message).toBe('REDIS_SENTINEL_NAME: is required with REDIS_SENTINELS: the master name the sentinels monitor (`sentinel monitor <name> …`, often "mymaster")');
    expect(err({ REDIS_URL: 'redis://r:6379', REDIS_CLUSTER_NODES: 'r0:7000' }).message).toBe(
      'REDIS_URL: REDIS_URL and REDIS_CLUSTER_NODES are both set; set only one of REDIS_URL (one server), REDIS_SENTINELS (a Sentinel group) or REDIS_CLUSTER_NODES (a Redis Cluster) and empty the others',
    );
    expect(err({ REDIS_SENTINELS: 's0:26379', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: 'r0:7000' }).path).toBe('REDIS_SENTINELS');
    expect(err({ REDIS_SENTINELS: 's0:26379,s1:port', REDIS_SENTINEL_NAME: 'm' }).message).toBe('REDIS_SENTINELS: "s1:port" is not host:port; expected a comma-separated list like sentinel-0.redis:26379,sentinel-1.redis:26379');
    expect(err({ REDIS_CLUSTER_NODES: 'r0:70000' }).path).toBe('REDIS_CLUSTER_NODES');
    expect(err({ REDIS_CLUSTER_NODES: 'r0:7000,' }).message).toContain('"" is not host:port');
    expect(err({ REDIS_SENTINEL_NAME: 'mymaster' }).message).toBe('REDIS_SENTINEL_NAME: is read only with REDIS_SENTINELS (host:port of each sentinel); set REDIS_SENTINELS or unset it');
    expect(err({ REDIS_CLUSTER_NODES: 'r0:7000', REDIS_TLS: 'yes' }).message).toBe('REDIS_TLS: expected true or false, got "yes"');
    expect(err({ REDIS_CLUSTER_NODES: 'r0:7000', REDIS_TLS_CA_FILE: '/ca.pem' }).message).toBe('REDIS_TLS_CA_FILE: is read only with REDIS_TLS=true; set REDIS_TLS=true or unset it');
    expect(err({ REDIS_CLUSTER_NODES: 'r0:7000', REDIS_TLS: 'true', REDIS_TLS_CA_FILE: '/nonexistent/ca.pem' }).message).toMatch(/^REDIS_TLS_CA_FILE: cannot read \/nonexistent\/ca\.pem: /);
  });

  it('an empty variable is unset, as an empty line copied from .env.example', () => {
    expect(loadSettings({ REDIS_URL: '', REDIS_SENTINELS: 's0', REDIS_SENTINEL_NAME: 'm', REDIS_CLUSTER_NODES: '', REDIS_PASSWORD: '' }).redis).toEqual({ kind: 'sentinel', sentinels: [{ host: 's0', port: 26379 }], name: 'm' });
  });
});

describe('hash tags (Redis Cluster places keys by them)', () => {
  it('reads the tag as Redis does: the first {…} that is not empty', () => {
    expect(hashTag('{mergeops}:bull:preview:wait')).toBe('mergeops');
    expect(hashTag('mergeops:{a}{b}')).toBe('a');
    expect(hashTag('mergeops:{}:{x}')).toBeNull();
    expect(hashTag('mergeops:delivery:1')).toBeNull();
  });

  it('a cluster prefix puts every key built on it in the prefix slot', () => {
    for (const prefix of ['mergeops', 'mergeops-test-1a2b', 'a{', 'x{}y']) {
      const p = clusterKeyPrefix(prefix);
      expect(hashTag(`${p}:locks:1`)).toBe(hashTag(`${p}:deploy-report-seq`));
      expect(hashTag(`${p}:locks:1`)).not.toBeNull();
    }
  });
});
