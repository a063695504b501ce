import { describe as group, expect, it } from '@jest/globals';
import {
  ConfigError,
  at,
  describe,
  expectObj,
  isObj,
  optBool,
  optList,
  optString,
  optStringList,
  parseDuration,
  reqString,
} from '../../../src/config/validate.js';
import { thrown } from '../../support/expect-error.js';

const configError = (fn: () => unknown): ConfigError => thrown(fn, ConfigError);


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

group('expectObj', () => {
  it('returns the mapping when every key is allowed', () => {
    const o = { a: 1 };
    expect(expectObj(o, 'p', ['a', 'b'])).toBe(o);
  });

  it('names the unknown key and the allowed ones', () => {
    const e = configError(() => expectObj({ a: 1, zz: 2 }, 'apps[0]', ['a', 'b']));
    expect(e.path).toBe('apps[0]');
    expect(e.message).toBe('apps[0]: unknown key "zz" (allowed: a, b)');
  });

  it('rejects non-mappings', () => {
    expect(configError(() => expectObj([], 'x', [])).message).toBe('x: expected a mapping, got a list');
    expect(configError(() => expectObj(null, 'x', [])).message).toBe('x: expected a mapping, got null');
  });
});

group('optString / reqString', () => {
  it('returns undefined for missing or null', () => {
    expect(optString({}, 'k', 'p')).toBeUndefined();
    expect(optString({ k: null }, 'k', 'p')).toBeUndefined();
  });

  it('checks the type and the pattern', () => {
    expect(optString({ k: 'abc' }, 'k', 'p', /^a/)).toBe('abc');
    expect(configError(() => optString({ k: 1 }, 'k', 'p')).path).toBe('p.k');
    const e = configError(() => optString({ k: 'xyz' }, 'k', 'p', /^a/, 'start with a'));
    expect(e.message).toBe('p.k: "xyz" is not valid: start with a');
  });

  it('reqString requires the key', () => {
    expect(configError(() => reqString({}, 'name', 'apps[2]')).message).toBe('apps[2].name: is required');
    expect(reqString({ name: 'n' }, 'name', 'apps[2]')).toBe('n');
  });
});

group('optBool / optList / optStringList', () => {
  it('optBool', () => {
    expect(optBool({ k: false }, 'k', 'p')).toBe(false);
    expect(optBool({}, 'k', 'p')).toBeUndefined();
    expect(configError(() => optBool({ k: 'true' }, 'k', 'p')).message).toBe('p.k: expected true or false, got string "true"');
  });

  it('optList', () => {
    expect(optList({ k: [1] }, 'k', 'p')).toEqual([1]);
    expect(optList({ k: null }, 'k', 'p')).toBeUndefined();
    expect(configError(() => optList({ k: 'a' }, 'k', 'p')).path).toBe('p.k');
  });

  it('optStringList names the bad item', () => {
    expect(optStringList({ k: ['a', 'b'] }, 'k', 'p')).toEqual(['a', 'b']);
    expect(configError(() => optStringList({ k: ['a', {}] }, 'k', 'p')).path).toBe('p.k[1]');
  });
});

group('parseDuration', () => {
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
    expect(parseDuration(v, 'wait')).toBe(ms);
  });

  it.each(['', ' ', '5', '5 m', '5ms', '1s1m', 'm', null, true, -1, Number.NaN, Number.POSITIVE_INFINITY, [1]])(
    'rejects %p',
    (v) => {
      const e = configError(() => parseDuration(v, 'apps[0].wait'));
      expect(e.path).toBe('apps[0].wait');
    },
  );
});

// Regression: root-level keys (path '') were reported as '.apps'.
group('at / root-level key paths', () => {
  it('joins a key onto a path, with no leading dot at the root', () => {
    expect(at('', 'apps')).toBe('apps');
    expect(at('', 'images')).toBe('images');
    expect(at('apps[0]', 'wait')).toBe('apps[0].wait');
    expect(at('apps[0].helm', 'values')).toBe('apps[0].helm.values');
  });

  it('names a root-level key without a leading dot in every helper', () => {
    const list = configError(() => optList({ apps: { name: 'a' } }, 'apps', ''));
    expect(list.path).toBe('apps');
    expect(list.message).toBe('apps: expected a list, got a mapping');
    expect(configError(() => optString({ k: 1 }, 'k', '')).path).toBe('k');
    expect(configError(() => optString({ k: 'x' }, 'k', '', /^a/)).message).toBe('k: "x" is not valid');
    expect(configError(() => reqString({}, 'name', '')).message).toBe('name: is required');
    expect(configError(() => optBool({ k: 'no' }, 'k', '')).message).toBe('k: expected true or false, got string "no"');
    for (const e of [list, configError(() => reqString({}, 'name', ''))]) expect(e.message.startsWith('.')).toBe(false);
  });
});

