import { describe as group, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ConfigError, at, bool, check, describe, duration, isObj, keyPath, list, mapping, nearest, str, unset } from '../../../src/config/validate.js';
import { thrown } from '../../support/expect-error.js';

const configError = (fn: () => unknown): ConfigError => thrown(fn, ConfigError);
/** Checks `{ [key]: value }` against a one-key mapping, as a config would be read below `path`. */
const one = (key: string, schema: z.ZodType, value: unknown, path = 'p'): unknown => check(mapping({ [key]: schema }), value === undefined ? {} : { [key]: value }, path);


group('ConfigError', () => {
  it('prefixes the message with the key path', () => {
    const e = new ConfigError('is required', 'apps[0].name');
    expect(e.message).toBe('apps[0].name: is required');
    expect(e.path).toBe('apps[0].name');
    expect(e.name).toBe('ConfigError');
    expect(e).toBeInstanceOf(Error);
  });

  it('leaves the message alone without a path', () => {
    expect(new ConfigError('bad', '').message).toBe('bad');
  });
});

group('isObj / describe', () => {
  it('recognises mappings only', () => {
    expect(isObj({})).toBe(true);
    expect(isObj([])).toBe(false);
    expect(isObj(null)).toBe(false);
    expect(isObj('x')).toBe(false);
  });

  it('describes values for messages', () => {
    expect(describe(null)).toBe('null');
    expect(describe([1])).toBe('a list');
    expect(describe({})).toBe('a mapping');
    expect(describe('x')).toBe('string "x"');
    expect(describe(3)).toBe('number 3');
    expect(describe(true)).toBe('boolean true');
  });
});

group('mapping', () => {
  it('returns the mapping when every key is allowed', () => {
    expect(check(mapping({ a: z.number(), b: unset(z.number()) }), { a: 1 }, 'p')).toEqual({ a: 1 });
  });

  it('names the unknown key and the allowed ones', () => {
    const e = configError(() => check(mapping({ a: unset(z.number()), b: unset(z.number()) }), { a: 1, zz: 2 }, 'apps[0]'));
    expect(e.path).toBe('apps[0]');
    expect(e.message).toBe('apps[0]: unknown key "zz" (allowed: a, b)');
  });

  it('reports an unknown key before a wrong value beside it (the likelier typo)', () => {
    const e = configError(() => check(mapping({ prune: unset(bool()) }), { prune: 'yes', prunee: true }, 'apps[0]'));
    expect(e.message).toBe('apps[0]: unknown key "prunee"; did you mean "prune"? (allowed: prune)');
  });

  it('suggests the nearest allowed key for a typo, a swap or another case, and nothing for a stranger', () => {
    const keys = ['name', 'path', 'namespace', 'prune', 'pruneEmpty', 'selfHeal', 'wait'];
    expect(nearest('nmae', keys)).toBe('name');
    expect(nearest('namespce', keys)).toBe('namespace');
    expect(nearest('selfheal', keys)).toBe('selfHeal');
    expect(nearest('prune_empty', keys)).toBe('pruneEmpty');
    expect(nearest('replicas', keys)).toBeUndefined();
    expect(nearest('x', keys)).toBeUndefined();
    const e = configError(() => check(mapping({ namespace: unset(str()), name: unset(str()) }), { namespce: 'a' }, 'apps[0]'));
    expect(e.message).toBe('apps[0]: unknown key "namespce"; did you mean "namespace"? (allowed: namespace, name)');
  });

  it('rejects non-mappings', () => {
    expect(configError(() => check(mapping({}), [], 'x')).message).toBe('x: expected a mapping, got a list');
    expect(configError(() => check(mapping({}), null, 'x')).message).toBe('x: expected a mapping, got null');
  });
});

group('str', () => {
  it('returns undefined for missing or null when optional', () => {
    expect(one('k', unset(str()), undefined)).toEqual({});
    expect(check(mapping({ k: unset(str()) }), { k: null }, 'p')).toEqual({ k: undefined });
  });

  it('checks the type and the pattern', () => {
    expect(one('k', str(/^a/), 'abc')).toEqual({ k: 'abc' });
    expect(configError(() => one('k', str(), 1)).path).toBe('p.k');
    const e = configError(() => one('k', str(/^a/, 'start with a'), 'xyz'));
    expect(e.message).toBe('p.k: "xyz" is not valid: start with a');
  });

  it('a required string is required', () => {
    expect(configError(() => check(mapping({ name: str() }), {}, 'apps[2]')).message).toBe('apps[2].name: is required');
    expect(check(mapping({ name: str() }), { name: 'n' }, 'apps[2]')).toEqual({ name: 'n' });
  });
});

group('bool / list / string lists', () => {
  it('bool', () => {
    expect(one('k', unset(bool()), false)).toEqual({ k: false });
    expect(one('k', unset(bool()), undefined)).toEqual({});
    expect(configError(() => one('k', unset(bool()), 'true')).message).toBe('p.k: expected true or false, got string "true"');
  });

  it('list', () => {
    expect(one('k', unset(list(z.number())), [1])).toEqual({ k: [1] });
    expect(check(mapping({ k: unset(list(z.number())) }), { k: null }, 'p')).toEqual({ k: undefined });
    expect(configError(() => one('k', unset(list(z.number())), 'a')).path).toBe('p.k');
  });

  it('a string list names the bad item', () => {
    expect(one('k', unset(list(str())), ['a', 'b'])).toEqual({ k: ['a', 'b'] });
    const e = configError(() => one('k', unset(list(str())), ['a', {}]));
    expect(e.path).toBe('p.k[1]');
    expect(e.message).toBe('p.k[1]: expected a string, got a mapping');
  });
});

group('duration', () => {
  it.each([
    ['300s', 300_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1h30m', 5_400_000],
    ['1h2m3s', 3_723_000],
    [' 10s ', 10_000],
    ['0s', 0],
    [0, 0],
    [1.5, 1500],
  ])('%p → %p', (v, ms) => {
    expect(check(duration(), v, 'wait')).toBe(ms);
  });

  it.each(['', ' ', '5', '5 m', '5ms', '1s1m', 'm', null, true, -1, Number.NaN, Number.POSITIVE_INFINITY, [1]])(
    'rejects %p',
    (v) => {
      const e = configError(() => check(duration(), v, 'apps[0].wait'));
      expect(e.path).toBe('apps[0].wait');
      expect(e.message).toContain('expected a duration like "300s", "5m" or 0');
    },
  );
});

group('keyPath', () => {
  it('writes list indexes in brackets and keys with dots, with no leading dot at the root', () => {
    expect(keyPath('', ['apps', 1, 'helm', 'valuesFiles', 0])).toBe('apps[1].helm.valuesFiles[0]');
    expect(keyPath('MERGEOPS_CLUSTERS', ['clusters', 'prod'])).toBe('MERGEOPS_CLUSTERS.clusters.prod');
    expect(keyPath('', [])).toBe('');
  });
});

// Regression: root-level keys (path '') were reported as '.apps'.
group('at / root-level key paths', () => {
  it('joins a key onto a path, with no leading dot at the root', () => {
    expect(at('', 'apps')).toBe('apps');
    expect(at('', 'images')).toBe('images');
    expect(at('apps[0]', 'wait')).toBe('apps[0].wait');
    expect(at('apps[0].helm', 'values')).toBe('apps[0].helm.values');
  });

  it('names a root-level key without a leading dot in every block', () => {
    const list1 = configError(() => one('apps', unset(list(z.number())), { name: 'a' }, ''));
    expect(list1.path).toBe('apps');
    expect(list1.message).toBe('apps: expected a list, got a mapping');
    expect(configError(() => one('k', unset(str()), 1, '')).path).toBe('k');
    expect(configError(() => one('k', unset(str(/^a/)), 'x', '')).message).toBe('k: "x" is not valid');
    expect(configError(() => check(mapping({ name: str() }), {}, '')).message).toBe('name: is required');
    expect(configError(() => one('k', unset(bool()), 'no', '')).message).toBe('k: expected true or false, got string "no"');
    for (const e of [list1, configError(() => check(mapping({ name: str() }), {}, ''))]) expect(e.message.startsWith('.')).toBe(false);
  });
});
