import { describe, expect, it } from '@jest/globals';
import { mapLimit } from '../../../src/util/pool.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs mapLimit with a tracked fn; returns the results and the highest concurrency seen. */
async function tracked<T>(items: T[], limit: number, delay: (item: T, i: number) => number): Promise<{ out: string[]; peak: number; calls: number }> {
  let active = 0;
  let peak = 0;
  let calls = 0;
  const out = await mapLimit(items, limit, async (item, i) => {
    calls++;
    active++;
    peak = Math.max(peak, active);
    await sleep(delay(item, i));
    active--;
    return `${String(item)}@${i}`;
  });
  return { out, peak, calls };
}

describe('mapLimit', () => {
  it('keeps the input order even when later items finish first', async () => {
    const items = [50, 5, 30, 1, 20, 0, 10];
    const { out } = await tracked(items, 3, (ms) => ms);
    expect(out).toEqual(items.map((x, i) => `${x}@${i}`));
  });

  it.each([1, 2, 4, 7])('never runs more than %i at once, and reaches the limit', async (limit) => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const { out, peak, calls } = await tracked(items, limit, (i) => (i * 7) % 5);
    expect(peak).toBe(limit);
    expect(calls).toBe(20);
    expect(out).toHaveLength(20);
  });

  it('uses at most one worker per item when the limit is larger', async () => {
    const { out, peak } = await tracked(['a', 'b', 'c'], 10, () => 5);
    expect(peak).toBe(3);
    expect(out).toEqual(['a@0', 'b@1', 'c@2']);
  });

  it('calls fn once per item with the right index', async () => {
    const seen: [string, number][] = [];
    await mapLimit(['x', 'y', 'z'], 2, async (item, i) => {
      seen.push([item, i]);
      return null;
    });
    expect(seen.sort()).toEqual([
      ['x', 0],
      ['y', 1],
      ['z', 2],
    ]);
  });

  it('returns an empty array for no items without calling fn', async () => {
    let called = false;
    const out = await mapLimit([], 4, async () => {
      called = true;
      return 1;
    });
    expect(out).toEqual([]);
    expect(called).toBe(false);
  });

  it('rejects when fn rejects', async () => {
    await expect(
      mapLimit([1, 2, 3], 2, async (x) => {
        if (x === 2) throw new Error('boom');
        return x;
      }),
    ).rejects.toThrow('boom');
  });

  it('starts the next item as soon as a slot frees up', async () => {
    const started: number[] = [];
    const t0 = Date.now();
    await mapLimit([100, 10, 10, 10], 2, async (ms, i) => {
      started[i] = Date.now() - t0;
      await sleep(ms);
    });
    // Items 2 and 3 run in the slot item 1 frees; they must not wait for the slow item 0.
    expect(started[3]).toBeLessThan(80);
  });

  // Regression: a limit of 0 used to start no worker and resolve with holes; negatives and
  // fractions were accepted too.
  it.each([0, -1, -5, 1.5, 0.5, Number.NaN, Number.POSITIVE_INFINITY])('rejects with a RangeError for limit %p, calling nothing', async (limit) => {
    let called = 0;
    const run = mapLimit([1, 2, 3], limit, async (x) => {
      called++;
      return x;
    });
    await expect(run).rejects.toThrow(RangeError);
    await expect(run).rejects.toThrow(`mapLimit needs a limit of at least 1, got ${limit}`);
    expect(called).toBe(0);
  });

  it('checks the limit even for an empty list', async () => {
    await expect(mapLimit([], 0, async () => 1)).rejects.toBeInstanceOf(RangeError);
  });

  it('still accepts a limit of exactly 1', async () => {
    const { out, peak } = await tracked(['a', 'b'], 1, () => 1);
    expect(out).toEqual(['a@0', 'b@1']);
    expect(peak).toBe(1);
  });
});

// Regression: after a failure the other workers kept taking items, and the rejection came
// while items were still running, so a deploy reported "failed" (and released its lease)
// with writes still going on behind it.
describe('mapLimit after a failure', () => {
  it('starts no new item and rejects only once the running ones have settled', async () => {
    const started: number[] = [];
    let running = 0;
    let runningAtReject = -1;
    const run = mapLimit([0, 1, 2, 3, 4, 5], 2, async (x) => {
      started.push(x);
      running++;
      try {
        if (x === 0) throw new Error('boom');
        await sleep(50);
        return x;
      } finally {
        running--;
      }
    });
    await run.catch(() => {
      runningAtReject = running;
    });
    await expect(run).rejects.toThrow('boom');
    expect(runningAtReject).toBe(0);
    expect(started).toEqual([0, 1]);
  });
});
