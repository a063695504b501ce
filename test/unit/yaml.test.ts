import { describe, expect, it } from '@jest/globals';
import { DEFAULT_YAML_LIMITS, checkShape, dumpYaml, parseYamlDocuments } from '../../src/yaml.js';
import { RenderError } from '../../src/errors.js';
import { thrown } from '../support/expect-error.js';

const renderError = (fn: () => unknown): RenderError => thrown(fn, RenderError);

describe('parseYamlDocuments: documents and lines', () => {
  it('parses a single document starting on line 1', () => {
    expect(parseYamlDocuments('a: 1\nb: two\n', 'f.yaml')).toEqual([{ value: { a: 1, b: 'two' }, line: 1 }]);
  });

  it('gives each document its 1-based starting line, skipping comments, markers and empty docs', () => {
    const text = [
      '# leading comment', // 1
      'apiVersion: v1', // 2
      'kind: A', // 3
      '---', // 4
      '# comment about B', // 5
      '', // 6
      'kind: B', // 7
      '---', // 8
      '---', // 9  (empty document)
      '# only a comment', // 10
      '---', // 11
      '--- {kind: C}', // 12 (content on the marker line)
      '...', // 13
      'kind: D', // 14
      '--- # trailing marker comment', // 15
      '  ', // 16
      'kind: E', // 17
      '---', // 18
      '', // 19
    ].join('\n');
    const docs = parseYamlDocuments(text, 'multi.yaml');
    expect(docs).toEqual([
      { value: { apiVersion: 'v1', kind: 'A' }, line: 2 },
      { value: { kind: 'B' }, line: 7 },
      { value: { kind: 'C' }, line: 12 },
      { value: { kind: 'D' }, line: 14 },
      { value: { kind: 'E' }, line: 17 },
    ]);
  });

  it('handles a leading --- marker', () => {
    expect(parseYamlDocuments('---\na: 1\n---\nb: 2\n', 'f.yaml')).toEqual([
      { value: { a: 1 }, line: 2 },
      { value: { b: 2 }, line: 4 },
    ]);
  });

  it('handles CRLF line endings', () => {
    expect(parseYamlDocuments('a: 1\r\n---\r\nb: 2\r\n', 'f.yaml')).toEqual([
      { value: { a: 1 }, line: 1 },
      { value: { b: 2 }, line: 3 },
    ]);
  });

  it('skips null documents and returns nothing for an empty file', () => {
    expect(parseYamlDocuments('', 'f.yaml')).toEqual([]);
    expect(parseYamlDocuments('\n\n# nothing\n', 'f.yaml')).toEqual([]);
    expect(parseYamlDocuments('---\n~\n---\nnull\n---\n', 'f.yaml')).toEqual([]);
  });

  it('does not split on --- that is not at the start of a line or is part of a word', () => {
    const docs = parseYamlDocuments('a: "x --- y"\nb: ----\n  c\n', 'f.yaml');
    expect(docs).toHaveLength(1);
    expect(docs[0]?.value).toEqual({ a: 'x --- y', b: '---- c' });
  });

  it('keeps scalars and lists as document values', () => {
    expect(parseYamlDocuments('- 1\n- 2\n---\nhello\n', 'f.yaml')).toEqual([
      { value: [1, 2], line: 1 },
      { value: 'hello', line: 4 },
    ]);
  });
});

describe('parseYamlDocuments: schema', () => {
  it('keeps timestamps as strings', () => {
    const [doc] = parseYamlDocuments('d: 2020-01-01\nt: 2001-12-14T21:59:43.10-05:00\n', 'f.yaml');
    expect(doc?.value).toEqual({ d: '2020-01-01', t: '2001-12-14T21:59:43.10-05:00' });
    expect(typeof (doc?.value as Record<string, unknown>)['d']).toBe('string');
  });

  it('uses YAML 1.2 core booleans: yes/no/on/off stay strings', () => {
    const [doc] = parseYamlDocuments('a: yes\nb: off\nc: true\nd: 0x1F\ne: 012\n', 'f.yaml');
    expect(doc?.value).toEqual({ a: 'yes', b: 'off', c: true, d: 31, e: 12 });
  });

  // Plain `<<: *base` merge keys are covered in 'parseYamlDocuments: merge keys' below.
  it('merges an explicitly tagged !!merge key', () => {
    const [doc] = parseYamlDocuments('base: &b {image: nginx, replicas: 1}\nweb:\n  !!merge <<: *b\n  replicas: 3\n', 'f.yaml');
    expect(doc?.value).toEqual({ base: { image: 'nginx', replicas: 1 }, web: { image: 'nginx', replicas: 3 } });
  });

  it('allows ordinary aliases', () => {
    const [doc] = parseYamlDocuments('a: &x [1, 2]\nb: *x\n', 'f.yaml');
    expect(doc?.value).toEqual({ a: [1, 2], b: [1, 2] });
  });

  it('rejects !!js types (safe schema)', () => {
    const e = renderError(() => parseYamlDocuments('a: !!js/function "function(){}"\n', 'f.yaml'));
    expect(e.message).toMatch(/invalid YAML/);
  });
});

describe('parseYamlDocuments: errors', () => {
  it('reports the file and the line of the error in the whole file', () => {
    const text = [
      'a: 1', // 1
      '---', // 2
      'b: 2', // 3
      '---', // 4
      'c: 3', // 5
      'd: 4', // 6
      'd: 5', // 7  duplicated key
    ].join('\n');
    const e = renderError(() => parseYamlDocuments(text, 'apps/web/deploy.yaml'));
    expect(e.file).toBe('apps/web/deploy.yaml');
    expect(e.line).toBe(7);
    expect(e.message).toMatch(/^invalid YAML: duplicated mapping key/);
  });

  it('reports a bad indentation line in a later document', () => {
    const text = ['x: 1', '---', 'spec:', '  a: 1', ' b: 2', ''].join('\n');
    const e = renderError(() => parseYamlDocuments(text, 'f.yaml'));
    expect(e.line).toBe(5);
  });

  it('reports a tab error on the first line of the first document', () => {
    const e = renderError(() => parseYamlDocuments('\tkey: value\n', 'x.yml'));
    expect(e.file).toBe('x.yml');
    expect(e.line).toBe(1);
  });

  it('rejects a file over maxBytes before parsing it', () => {
    const limits = { ...DEFAULT_YAML_LIMITS, maxBytes: 100 };
    const e = renderError(() => parseYamlDocuments(`a: "${'x'.repeat(200)}"\n`, 'big.yaml', limits));
    expect(e.file).toBe('big.yaml');
    expect(e.line).toBe(1);
    expect(e.message).toContain('larger than 100 bytes');
    // Counted in bytes, not characters.
    expect(() => parseYamlDocuments(`a: "${'é'.repeat(60)}"\n`, 'f.yaml', limits)).toThrow(RenderError);
    expect(parseYamlDocuments(`a: "${'x'.repeat(40)}"\n`, 'f.yaml', limits)).toHaveLength(1);
  });

  it('rejects a billion-laughs alias bomb quickly, mentioning aliases', () => {
    const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i <= 9; i++) {
      const refs = Array.from({ length: 9 }, () => `*a${i - 1}`).join(',');
      lines.push(`a${i}: &a${i} [${refs}]`);
    }
    const text = `kind: Bomb\n${lines.join('\n')}\n`;
    const started = Date.now();
    const e = renderError(() => parseYamlDocuments(text, 'bomb.yaml'));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(e.message).toMatch(/alias/i);
    expect(e.file).toBe('bomb.yaml');
    expect(e.line).toBe(1);
  });

  it('rejects an alias bomb in a later document, pointing into that document', () => {
    const lines = ['a0: &a0 [x,x,x,x,x,x,x,x,x,x]'];
    for (let i = 1; i <= 8; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]`);
    const e = renderError(() => parseYamlDocuments(`ok: 1\n---\n${lines.join('\n')}\n`, 'f.yaml'));
    expect(e.message).toMatch(/alias/i);
    // Points into the second document (its `---` marker on line 2 or its first line 3), not line 1.
    expect(e.line).toBeGreaterThanOrEqual(2);
    expect(e.line).toBeLessThanOrEqual(3);
  });

  it('honours a smaller maxNodes', () => {
    const limits = { ...DEFAULT_YAML_LIMITS, maxNodes: 10 };
    expect(() => parseYamlDocuments(`a: [${Array.from({ length: 20 }, (_, i) => i).join(',')}]\n`, 'f.yaml', limits)).toThrow(
      /more than 10 nodes/,
    );
  });

  it('rejects 5000 levels of flow nesting', () => {
    const text = `${'['.repeat(5000)}${']'.repeat(5000)}\n`;
    const e = renderError(() => parseYamlDocuments(text, 'deep.yaml'));
    expect(e.file).toBe('deep.yaml');
    expect(e.message).toMatch(/nest/i);
  });

  it('rejects very deep unclosed nesting without crashing', () => {
    const e = renderError(() => parseYamlDocuments('['.repeat(100_000), 'deep.yaml'));
    expect(e.file).toBe('deep.yaml');
  });

  it('rejects deep block nesting past maxDepth', () => {
    const limits = { ...DEFAULT_YAML_LIMITS, maxDepth: 5 };
    let text = '';
    for (let i = 0; i < 10; i++) text += `${'  '.repeat(i)}k${i}:\n`;
    text += `${'  '.repeat(10)}v: 1\n`;
    const e = renderError(() => parseYamlDocuments(text, 'f.yaml', limits));
    expect(e.message).toContain('nested deeper than 5 levels');
  });

  it.each([
    ['a self-referencing flow sequence', '&a [ *a ]'],
    ['a self-referencing mapping', 'a: &x\n  b: *x\n'],
    ['a root anchor referenced inside', '&r\nkey: *r\n'],
  ])('rejects %s (cyclic alias)', (_label, text) => {
    const started = Date.now();
    const e = renderError(() => parseYamlDocuments(text, 'cycle.yaml'));
    expect(e.message).toMatch(/alias|cycl/i);
    expect(e.file).toBe('cycle.yaml');
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('parseYamlDocuments: merge keys (regression: plain `<<` used to stay a literal key)', () => {
  it('merges a plain `<<: *anchor`, the local key winning', () => {
    const [doc] = parseYamlDocuments('base: &b {image: nginx, replicas: 1}\nweb:\n  <<: *b\n  replicas: 3', 'f.yaml');
    expect(doc?.value).toEqual({ base: { image: 'nginx', replicas: 1 }, web: { image: 'nginx', replicas: 3 } });
    expect(Object.keys((doc?.value as Record<string, Record<string, unknown>>)['web'] ?? {})).not.toContain('<<');
  });

  it('lets a local key win even when it comes before the merge', () => {
    const [doc] = parseYamlDocuments('base: &b {image: nginx, replicas: 1}\nweb:\n  replicas: 3\n  <<: *b\n', 'f.yaml');
    expect((doc?.value as Record<string, unknown>)['web']).toEqual({ image: 'nginx', replicas: 3 });
  });

  it('merges a list of anchors, earlier ones winning', () => {
    const [doc] = parseYamlDocuments('a: &a {x: 1}\nb: &b {y: 2, x: 9}\nc:\n  <<: [*a, *b]\n  z: 3\n', 'f.yaml');
    expect((doc?.value as Record<string, unknown>)['c']).toEqual({ x: 1, y: 2, z: 3 });
  });

  it('merges inside a later document of a multi-document file', () => {
    const text = ['kind: A', '---', 'defaults: &d {cpu: 100m, memory: 64Mi}', 'limits:', '  <<: *d', '  memory: 128Mi', ''].join('\n');
    const docs = parseYamlDocuments(text, 'f.yaml');
    expect(docs[1]).toEqual({ value: { defaults: { cpu: '100m', memory: '64Mi' }, limits: { cpu: '100m', memory: '128Mi' } }, line: 3 });
  });

  it('dumps a merged value without any merge key or anchor', () => {
    const [doc] = parseYamlDocuments('base: &b {image: nginx}\nweb:\n  <<: *b\n  replicas: 3\n', 'f.yaml');
    const out = dumpYaml(doc?.value);
    expect(out).not.toContain('<<');
    expect(out).not.toMatch(/[&*]ref/);
    expect(parseYamlDocuments(out, 'f.yaml')[0]?.value).toEqual(doc?.value);
  });
});

describe('parseYamlDocuments: shape errors in a later document (regression: used to point at the --- line)', () => {
  const bomb = ['a0: &a0 [x,x,x,x,x,x,x,x,x,x]'];
  for (let i = 1; i <= 8; i++) bomb.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(',')}]`);

  it('reports the first content line of the document holding an alias bomb', () => {
    const e = renderError(() => parseYamlDocuments(`ok: 1\n---\n${bomb.join('\n')}\n`, 'f.yaml'));
    expect(e.message).toMatch(/alias/i);
    expect(e.file).toBe('f.yaml');
    expect(e.line).toBe(3);
  });

  it('skips comments and blank lines, matching the line the document gets when it is valid', () => {
    const prefix = 'ok: 1\n---\n# the bomb\n\n';
    const e = renderError(() => parseYamlDocuments(`${prefix}${bomb.join('\n')}\n`, 'f.yaml'));
    expect(e.line).toBe(5);
    const valid = parseYamlDocuments(`${prefix}${bomb[0]}\n`, 'f.yaml');
    expect(valid[1]?.line).toBe(e.line);
  });

  it('reports the first content line for a too-deep document after a --- marker', () => {
    const limits = { ...DEFAULT_YAML_LIMITS, maxDepth: 2 };
    const text = ['ok: 1', '---', '', '# deep', 'a:', '  b:', '    c:', '      d: 1', ''].join('\n');
    const e = renderError(() => parseYamlDocuments(text, 'f.yaml', limits));
    expect(e.message).toContain('nested deeper than 2 levels');
    expect(e.line).toBe(5);
  });

  it('reports the third document, not the second, for a bomb in the third', () => {
    const text = `ok: 1\n---\nalso: ok\n---\n\n${bomb.join('\n')}\n`;
    expect(renderError(() => parseYamlDocuments(text, 'f.yaml')).line).toBe(6);
  });
});

describe('checkShape', () => {
  it('accepts shared (non-cyclic) subtrees and counts them expanded', () => {
    const shared = { a: 1, b: 2 };
    expect(() => checkShape({ x: shared, y: shared }, 'f', 1, DEFAULT_YAML_LIMITS)).not.toThrow();
    // {x, y} + 2×(shared + 2 leaves) = 1 + 2×3 = 7 nodes
    expect(() => checkShape({ x: shared, y: shared }, 'f', 1, { ...DEFAULT_YAML_LIMITS, maxNodes: 6 })).toThrow(RenderError);
    expect(() => checkShape({ x: shared, y: shared }, 'f', 1, { ...DEFAULT_YAML_LIMITS, maxNodes: 7 })).not.toThrow();
  });

  it('rejects a cycle built in code', () => {
    const o: Record<string, unknown> = {};
    o['self'] = [o];
    const e = renderError(() => checkShape(o, 'c.yaml', 9, DEFAULT_YAML_LIMITS));
    expect(e.line).toBe(9);
    expect(e.file).toBe('c.yaml');
  });
});

describe('dumpYaml', () => {
  it('sorts keys, never folds lines and never emits anchors', () => {
    const shared = { z: 1, a: 2 };
    const long = 'x'.repeat(300);
    const out = dumpYaml({ b: shared, a: shared, long, date: '2020-01-01', flag: 'yes' });
    expect(out.indexOf('a:')).toBeLessThan(out.indexOf('b:'));
    expect(out).not.toMatch(/[&*]ref/);
    expect(out).toContain(`long: ${long}\n`);
    expect(parseYamlDocuments(out, 'round-trip.yaml')[0]?.value).toEqual({
      a: { a: 2, z: 1 },
      b: { a: 2, z: 1 },
      long,
      date: '2020-01-01',
      flag: 'yes',
    });
  });
});
