import { describe, expect, it } from '@jest/globals';
import { MASK, isSecret, maskSecretPair } from '../../../src/diff/mask.js';
import type { KubeObject } from '../../../src/objects.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function secret(fields: { data?: Record<string, string>; stringData?: Record<string, string> }): KubeObject {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'n' }, type: 'Opaque', ...fields };
}

describe('isSecret', () => {
  it('matches core v1 Secrets only', () => {
    expect(isSecret(secret({}))).toBe(true);
    expect(isSecret({ apiVersion: '', kind: 'Secret', metadata: {} })).toBe(true);
    expect(isSecret({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {} })).toBe(false);
    expect(isSecret({ apiVersion: 'bitnami.com/v1alpha1', kind: 'Secret', metadata: {} })).toBe(false);
    expect(isSecret(null)).toBe(false);
    expect(isSecret(undefined)).toBe(false);
  });
});

describe('maskSecretPair', () => {
  const OLD = 'old-password-7f3a9c';
  const NEW = 'new-password-2b8e1d';
  const KEEP = 'unchanged-token-5c4d';
  const GONE = 'removed-api-key-9a1b';
  const ADDED = 'added-cert-3e2f';

  const before = secret({ data: { password: b64(OLD), token: b64(KEEP), apiKey: b64(GONE) } });
  const after = secret({ data: { password: b64(NEW), token: b64(KEEP) }, stringData: { cert: ADDED } });

  it('reports added, changed and removed keys', () => {
    expect(maskSecretPair(before, after).keys).toEqual({ added: ['cert'], changed: ['password'], removed: ['apiKey'], hidden: [] });
  });

  it('replaces every value with a placeholder and drops stringData', () => {
    const m = maskSecretPair(before, after);
    expect(m.before?.['data']).toEqual({ apiKey: MASK, password: '*** (old value)', token: MASK });
    expect(m.after?.['data']).toEqual({ cert: MASK, password: '*** (new value)', token: MASK });
    expect(m.after).not.toHaveProperty('stringData');
  });

  it('never lets a value through, plain or base64', () => {
    const text = JSON.stringify(maskSecretPair(before, after));
    for (const v of [OLD, NEW, KEEP, GONE, ADDED]) {
      expect(text).not.toContain(v);
      expect(text).not.toContain(b64(v));
    }
  });

  it('does not modify its inputs', () => {
    const a = structuredClone(after);
    maskSecretPair(before, after);
    expect(after).toEqual(a);
  });

  it('treats stringData and data holding the same value as unchanged', () => {
    const m = maskSecretPair(secret({ data: { k: b64('same-value') } }), secret({ stringData: { k: 'same-value' } }));
    expect(m.keys).toEqual({ added: [], changed: [], removed: [], hidden: [] });
    expect(m.before?.['data']).toEqual(m.after?.['data']);
  });

  it('lets stringData win over data for the same key', () => {
    const m = maskSecretPair(secret({ data: { k: b64('v2') } }), secret({ data: { k: b64('v1') }, stringData: { k: 'v2' } }));
    expect(m.keys.changed).toEqual([]);
  });

  it('compares decoded bytes, including binary data', () => {
    const bin = Buffer.from([0, 255, 1, 254]).toString('base64');
    const m = maskSecretPair(secret({ data: { b: bin } }), secret({ data: { b: Buffer.from([0, 255, 1, 253]).toString('base64') } }));
    expect(m.keys.changed).toEqual(['b']);
  });

  it('handles create and delete (one side null)', () => {
    const c = maskSecretPair(null, secret({ stringData: { a: 'x' } }));
    expect(c.before).toBeNull();
    expect(c.keys).toEqual({ added: ['a'], changed: [], removed: [], hidden: [] });
    const d = maskSecretPair(secret({ data: { a: b64('x') } }), null);
    expect(d.after).toBeNull();
    expect(d.keys).toEqual({ added: [], changed: [], removed: ['a'], hidden: [] });
  });

  it('leaves a Secret without values alone', () => {
    const m = maskSecretPair(secret({}), secret({}));
    expect(m.before).not.toHaveProperty('data');
    expect(m.keys).toEqual({ added: [], changed: [], removed: [], hidden: [] });
  });

  it('compares a key only when this app wrote its live value: otherwise it is "set (value hidden)", identical on both sides', () => {
    const guessed = maskSecretPair(secret({ data: { DB_URL: b64('postgres://pay:s3cret@db') } }), secret({ data: { DB_URL: b64('postgres://pay:guess@db') } }), () => false);
    expect(guessed.keys).toEqual({ added: [], changed: [], removed: [], hidden: ['DB_URL'] });
    const right = maskSecretPair(secret({ data: { DB_URL: b64('same') } }), secret({ data: { DB_URL: b64('same') } }), () => false);
    // A right guess and a wrong one look exactly the same.
    expect(right).toEqual(guessed);
    expect(guessed.before?.['data']).toEqual(guessed.after?.['data']);
  });
});
