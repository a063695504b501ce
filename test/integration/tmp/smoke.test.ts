import { it, expect } from '@jest/globals';
import { loadSettings } from '../../../src/config/settings.js';
import { createRedis } from '../../../src/redis.js';
import { startSentinelGroup } from '../../support/redis-ha.js';

it('sentinel smoke', async () => {
  const t0 = Date.now();
  const g = await startSentinelGroup();
  console.log('started in', Date.now() - t0);
  try {
    const s = loadSettings(g.env);
    const r = createRedis(s.redis, true);
    await r.set('a', '1');
    const old = await g.killPrimary();
    const t1 = Date.now();
    const p = r.set('b', '2');
    const np = await g.promoted(old);
    console.log('promoted', old, '->', np, 'in', Date.now() - t1);
    await p;
    console.log('write after failover done in', Date.now() - t1);
    expect(await r.get('a')).toBe('1');
    expect(await r.get('b')).toBe('2');
    const t2 = Date.now();
    await g.rejoin();
    console.log('rejoined in', Date.now() - t2);
    const old2 = await g.killPrimary();
    const np2 = await g.promoted(old2);
    console.log('second failover', old2, '->', np2, Date.now() - t2);
    expect(await r.get('b')).toBe('2');
    r.disconnect();
  } finally {
    await g.stop();
  }
}, 90_000);
