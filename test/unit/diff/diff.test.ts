import { describe, expect, it } from '@jest/globals';
import { diffObject, diffPlan, secretKeysWrittenBy, unified } from '../../../src/diff/diff.js';
import { isUnchanged, type KubeObject, type PlannedObject } from '../../../src/objects.js';

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');

function cm(data: Record<string, string>, extra: Partial<KubeObject> = {}): KubeObject {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cfg', namespace: 'prod' }, data, ...extra };
}

function withServerFields(o: KubeObject): KubeObject {
  const c = structuredClone(o);
  c.metadata = {
    ...c.metadata,
    uid: 'abc',
    resourceVersion: '99',
    generation: 4,
    creationTimestamp: '2024-01-01T00:00:00Z',
    managedFields: [{ manager: 'mergeops' }],
    annotations: { ...(c.metadata.annotations ?? {}), 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify(o) },
  };
  c['status'] = { phase: 'Whatever' };
  return c;
}

describe('diffObject', () => {
  it('create: live is null', () => {
    const d = diffObject(null, cm({ a: '1' }));
    expect(d.action).toBe('create');
    expect(d.ref).toBe('v1 ConfigMap prod/cfg');
    expect(d.kind).toBe('ConfigMap');
    expect(d.diff).toMatch(/^@@ -\d+,0 \+1,\d+ @@/);
    expect(d.diff).toContain('+apiVersion: v1');
    expect(d.diff).toContain("+  a: '1'");
    expect(d.diff.split('\n').filter((l) => l.startsWith('-'))).toEqual([]);
  });

  it('delete: merged is null', () => {
    const d = diffObject(withServerFields(cm({ a: '1' })), null);
    expect(d.action).toBe('delete');
    expect(d.ref).toBe('v1 ConfigMap prod/cfg');
    expect(d.diff).toContain('-kind: ConfigMap');
    expect(d.diff.split('\n').filter((l) => l.startsWith('+'))).toEqual([]);
    // normalised before diffing: no server bookkeeping in the output
    expect(d.diff).not.toMatch(/resourceVersion|managedFields|uid:|status:|last-applied/);
  });

  it('unchanged: only server-owned fields differ', () => {
    const d = diffObject(withServerFields(cm({ a: '1' })), cm({ a: '1' }));
    expect(d.action).toBe('unchanged');
    expect(d.diff).toBe('');
  });

  it('unchanged does not depend on key order', () => {
    const a: KubeObject = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { namespace: 'prod', name: 'cfg' }, data: { y: '2', x: '1' } };
    expect(diffObject(a, cm({ x: '1', y: '2' })).action).toBe('unchanged');
  });

  it('update: shows only the changed lines with context', () => {
    const d = diffObject(withServerFields(cm({ a: '1', b: '2' })), cm({ a: '1', b: '3' }));
    expect(d.action).toBe('update');
    const lines = d.diff.split('\n');
    expect(lines[0]).toMatch(/^@@ -\d+,\d+ \+\d+,\d+ @@$/);
    expect(lines.filter((l) => l.startsWith('-'))).toEqual(["-  b: '2'"]);
    expect(lines.filter((l) => l.startsWith('+'))).toEqual(["+  b: '3'"]);
    expect(d.diff).not.toContain('--- live');
    expect(d).not.toHaveProperty('secretKeys');
  });

  it('uses the live object for the ref when deleting', () => {
    const live: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'old' } };
    expect(diffObject(live, null).ref).toBe('apps/v1 Deployment old');
  });

  it('does not modify its inputs', () => {
    const live = withServerFields(cm({ a: '1' }));
    const copy = structuredClone(live);
    diffObject(live, cm({ a: '2' }));
    expect(live).toEqual(copy);
  });
});

describe('diffObject on Secrets', () => {
  const OLD = 'hunter2-old-S3cr3t!';
  const NEW = 'correct-horse-battery-staple';
  const SAME = 'tok_live_4242424242';
  const GONE = 'AKIAIOSFODNN7EXAMPLE';
  const ADDED = '-----BEGIN CERTIFICATE-----MIIB';

  function sec(data?: Record<string, string>, stringData?: Record<string, string>): KubeObject {
    const s: KubeObject = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: 'prod' }, type: 'Opaque' };
    if (data) s['data'] = data;
    if (stringData) s['stringData'] = stringData;
    return s;
  }

  const values = [OLD, NEW, SAME, GONE, ADDED];

  function expectNoValues(o: unknown): void {
    const text = JSON.stringify(o);
    for (const v of values) {
      expect(text).not.toContain(v);
      expect(text).not.toContain(b64(v));
      expect(text).not.toContain(Buffer.from(v).toString('hex'));
    }
  }

  it('update: reports changed/added/removed keys and never shows a value', () => {
    const live = withServerFields(sec({ password: b64(OLD), token: b64(SAME), awsKey: b64(GONE) }));
    const merged = sec({ password: b64(NEW), token: b64(SAME), cert: b64(ADDED) });
    const d = diffObject(live, merged);
    expect(d.action).toBe('update');
    expect(d.secretKeys).toEqual({ added: ['cert'], changed: ['password'], removed: ['awsKey'], hidden: [] });
    expect(d.diff).toContain("-  password: '*** (old value)'");
    expect(d.diff).toContain("+  password: '*** (new value)'");
    expect(d.diff).toContain("+  cert: '***'");
    expect(d.diff).toContain("-  awsKey: '***'");
    expectNoValues(d);
  });

  it('the last-applied annotation of a live Secret does not leak values', () => {
    const live = withServerFields(sec({ password: b64(OLD) }, { plain: SAME }));
    const d = diffObject(live, sec({ password: b64(NEW) }));
    expectNoValues(d);
  });

  it('create and delete never show values', () => {
    const c = diffObject(null, sec(undefined, { password: NEW, token: SAME }));
    expect(c.action).toBe('create');
    expect(c.secretKeys).toEqual({ added: ['password', 'token'], changed: [], removed: [], hidden: [] });
    expect(c.diff).toContain("+  password: '***'");
    expectNoValues(c);
    const del = diffObject(withServerFields(sec({ password: b64(OLD), awsKey: b64(GONE) })), null);
    expect(del.action).toBe('delete');
    expect(del.secretKeys).toEqual({ added: [], changed: [], removed: ['password', 'awsKey'], hidden: [] });
    expectNoValues(del);
  });

  it('stringData vs data with the same value is unchanged', () => {
    const d = diffObject(sec({ password: b64(SAME) }), sec(undefined, { password: SAME }));
    expect(d.action).toBe('unchanged');
    expect(d.diff).toBe('');
    expect(d.secretKeys).toEqual({ added: [], changed: [], removed: [], hidden: [] });
    expectNoValues(d);
  });

  it('a changed value is visible as a change even though both sides are masked', () => {
    const d = diffObject(sec({ password: b64(OLD) }), sec({ password: b64(NEW) }));
    expect(d.action).toBe('update');
    expect(d.secretKeys?.changed).toEqual(['password']);
    expectNoValues(d);
  });

  it('non-value fields of a Secret still diff normally', () => {
    const a = sec({ k: b64(SAME) });
    const b = { ...sec({ k: b64(SAME) }), type: 'kubernetes.io/tls' };
    const d = diffObject(a, b);
    expect(d.action).toBe('update');
    expect(d.diff).toContain('+type: kubernetes.io/tls');
    expectNoValues(d);
  });
});

describe('diffPlan', () => {
  it('diffs planned objects and orphans, sorted by ref, carrying source and note', () => {
    const planned: PlannedObject[] = [
      { desired: cm({ a: '1' }), source: { file: 'k8s/cm.yaml', line: 3 }, live: null, merged: cm({ a: '1' }) },
      {
        desired: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } },
        source: { file: 'k8s/web.yaml', line: 1 },
        live: null,
        merged: { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' } },
        note: 'dry-run failed',
      },
    ];
    const orphan: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'gone', namespace: 'prod' } };
    const out = diffPlan(planned, [orphan], new Set(['mergeops/1/web']));
    expect(out.map((d) => [d.ref, d.action])).toEqual([
      ['apps/v1 Deployment web', 'create'],
      ['v1 ConfigMap prod/cfg', 'create'],
      ['v1 Service prod/gone', 'delete'],
    ]);
    expect(out[0]?.note).toBe('dry-run failed');
    expect(out[1]?.source).toEqual({ file: 'k8s/cm.yaml', line: 3 });
    expect(out[2]?.source).toBeUndefined();
  });
});

describe('unified', () => {
  it('returns hunks only, without file headers', () => {
    const out = unified('a\nb\nc\n', 'a\nB\nc\n');
    expect(out).toBe('@@ -1,3 +1,3 @@\n a\n-b\n+B\n c');
  });

  it('returns an empty string for equal input', () => {
    expect(unified('same\n', 'same\n')).toBe('');
  });

  it('honours the context size and splits far-apart changes into hunks', () => {
    const a = Array.from({ length: 30 }, (_, i) => `line${i}`).join('\n') + '\n';
    const b = a.replace('line2\n', 'LINE2\n').replace('line27\n', 'LINE27\n');
    const out = unified(a, b, 1);
    expect(out.split('\n').filter((l) => l.startsWith('@@'))).toEqual(['@@ -2,3 +2,3 @@', '@@ -27,3 +27,3 @@']);
    expect(out).not.toContain('line10');
  });
});

describe('Secrets in a planned diff: compared only where this app wrote the value', () => {
  const OURS = new Set(['mergeops/777/web']);
  const secret = (data: Record<string, string>, managedFields: object[]): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: 'shop', managedFields }, data });
  const by = (manager: string, keys: string[], via = 'f:data') => ({ manager, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { [via]: Object.fromEntries(keys.map((k) => [`f:${k}`, {}])) } });

  it('keys the app wrote (through data or stringData) are compared; others are hidden', () => {
    const live = secret({ user: b64('admin'), password: b64('old'), token: b64('theirs') }, [by('mergeops/777/web', ['user']), by('mergeops/777/web', ['password'], 'f:stringData'), by('kubectl-edit', ['token'])]);
    const merged = secret({ user: b64('admin'), password: b64('new'), token: b64('guess') }, []);
    const written = secretKeysWrittenBy(live, OURS);
    expect(['user', 'password', 'token'].map(written)).toEqual([true, true, false]);
    // The app wrote password through stringData, then kubectl edit changed data.password: not ours any more.
    const edited = secret({ password: b64('theirs') }, [by('mergeops/777/web', ['password'], 'f:stringData'), by('kubectl-edit', ['password'])]);
    expect(secretKeysWrittenBy(edited, OURS)('password')).toBe(false);
    const [d] = diffPlan([{ desired: merged, source: { file: 's.yaml', line: 1 }, live, merged }], [], OURS);
    expect(d?.secretKeys).toEqual({ added: [], changed: ['password'], removed: [], hidden: ['token'] });
    // Same value or not, a hidden key makes the Secret an update: "unchanged" would confirm a guess.
    const guess = secret({ token: b64('theirs') }, [by('kubectl-edit', ['token'])]);
    for (const value of ['theirs', 'other']) expect(diffPlan([{ desired: guess, source: { file: 's.yaml', line: 1 }, live: guess, merged: secret({ token: b64(value) }, []) }], [], OURS)[0]?.action).toBe('update');
    for (const v of ['old', 'new', 'theirs', 'guess']) expect(JSON.stringify(d)).not.toContain(b64(v));
  });
});

describe('isUnchanged: the deploy\'s "unchanged"', () => {
  const OURS = new Set(['mergeops/777/web']);
  const mf = (manager: string) => [{ manager, operation: 'Apply', fieldsType: 'FieldsV1', fieldsV1: { 'f:data': { 'f:a': {} } } }];
  const p = (live: KubeObject | null, merged: KubeObject): PlannedObject => ({ desired: merged, source: { file: 'a.yaml', line: 1 }, live, merged });

  it('is true only when values and this app\'s fields stay as they are', () => {
    expect(isUnchanged(p(cm({ a: '1' }, { metadata: { name: 'cfg', managedFields: mf('mergeops/777/web') } }), cm({ a: '1' }, { metadata: { name: 'cfg', managedFields: mf('mergeops/777/web') } })), OURS)).toBe(true);
    expect(isUnchanged(p(cm({ a: '1' }), cm({ a: '2' })), OURS)).toBe(false);
    // Same values, but another manager wrote them: the apply makes them this app's.
    expect(isUnchanged(p(cm({ a: '1' }, { metadata: { name: 'cfg', managedFields: mf('kubectl-edit') } }), cm({ a: '1' }, { metadata: { name: 'cfg', managedFields: mf('mergeops/777/web') } })), OURS)).toBe(false);
    expect(isUnchanged(p(null, cm({ a: '1' })), OURS)).toBe(false);
  });

  it('compares Secret values unmasked, so a hidden change is still applied', () => {
    const s = (v: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { k: b64(v) } });
    expect(isUnchanged(p(s('a'), s('b')), OURS)).toBe(false);
    expect(diffPlan([p(s('a'), s('b'))], [], OURS)[0]?.secretKeys?.hidden).toEqual(['k']);
  });

  it('a replace or a field-manager migration is never "unchanged"', () => {
    const same = p(cm({ a: '1' }), cm({ a: '1' }));
    expect(isUnchanged({ ...same, replace: true }, OURS)).toBe(false);
    expect(isUnchanged({ ...same, migrate: true }, OURS)).toBe(false);
    expect(diffPlan([{ ...same, replace: true, note: 'replaced' }], [], OURS)[0]?.action).toBe('replace');
  });
});
