import { afterEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { RevisionCache } from '../../../src/source/revision-cache.js';

/** A fill that writes `bytes` bytes and counts how often it ran. */
function filler(bytes: number): { fill(dir: string): Promise<number>; runs: number } {
  const f = {
    runs: 0,
    fill: async (dir: string) => {
      f.runs++;
      fs.writeFileSync(path.join(dir, 'file'), 'x'.repeat(bytes));
      return bytes;
    },
  };
  return f;
}

describe('RevisionCache', () => {
  let cache: RevisionCache | undefined;
  afterEach(async () => {
    await cache?.close();
  });

  it('extracts a key once; later and concurrent gets share it', async () => {
    cache = await RevisionCache.create(1000);
    const f = filler(10);
    const [a, b] = await Promise.all([cache.get('1@aaa', f.fill), cache.get('1@aaa', f.fill)]);
    expect(f.runs).toBe(1);
    expect(a.dir).toBe(b.dir);
    await a.release();
    await b.release();
    const c = await cache.get('1@aaa', f.fill);
    expect(f.runs).toBe(1);
    expect(fs.readFileSync(path.join(c.dir, 'file'), 'utf8')).toBe('x'.repeat(10));
    expect((fs.statSync(path.dirname(c.dir)).mode & 0o777).toString(8)).toBe('700');
  });

  it('evicts the least recently used released entries beyond the byte cap, never one in use', async () => {
    cache = await RevisionCache.create(25);
    const one = await cache.get('1@one', filler(10).fill);
    const two = await cache.get('1@two', filler(10).fill);
    await one.release();
    await two.release();
    // `one` is used again, so `two` is now the least recently used.
    const oneAgain = await cache.get('1@one', filler(10).fill);
    const three = await cache.get('1@three', filler(10).fill);
    await three.release();
    expect(fs.existsSync(two.dir)).toBe(false);
    expect(fs.existsSync(oneAgain.dir)).toBe(true);
    expect(fs.existsSync(three.dir)).toBe(true);
    // Over the cap while `one` is in use: the older released entry goes instead.
    const four = await cache.get('1@four', filler(10).fill);
    await four.release();
    expect(fs.existsSync(three.dir)).toBe(false);
    expect(fs.existsSync(oneAgain.dir)).toBe(true);
    expect(fs.existsSync(four.dir)).toBe(true);
  });

  it('does not keep a failed extraction; the next get tries again', async () => {
    cache = await RevisionCache.create(1000);
    let dir = '';
    await expect(
      cache.get('1@bad', async (d) => {
        dir = d;
        throw new Error('tarball 404');
      }),
    ).rejects.toThrow('tarball 404');
    expect(fs.existsSync(dir)).toBe(false);
    const f = filler(5);
    await (await cache.get('1@bad', f.fill)).release();
    expect(f.runs).toBe(1);
  });

  it('with a cap of 0 keeps nothing once released', async () => {
    cache = await RevisionCache.create(0);
    const f = filler(5);
    const a = await cache.get('1@aaa', f.fill);
    await a.release();
    expect(fs.existsSync(a.dir)).toBe(false);
    await (await cache.get('1@aaa', f.fill)).release();
    expect(f.runs).toBe(2);
  });
});
