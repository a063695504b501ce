import { describe, expect, it } from '@jest/globals';
import { LabelValues } from '../../src/metrics.js';

describe('LabelValues: label values from a list of fixed size', () => {
  it('keeps the first values, maps every later one to other, and keeps answering known ones', () => {
    const l = new LabelValues(2);
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => l.of(v))).toEqual(['a', 'b', 'other', 'a', 'other', 'b']);
  });
  it('10,000 distinct values make at most size + 1 label values', () => {
    const l = new LabelValues(50);
    expect(new Set(Array.from({ length: 10_000 }, (_, i) => l.of(`app-${i}`))).size).toBe(51);
  });
});
