import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { RenderError } from '../../src/errors.js';
import { dumpYaml, parseYamlDocuments, type YamlLimits } from '../../src/yaml.js';

/**
 * Property tests of the YAML limits: whatever the text, parsing returns documents or
 * throws RenderError (never a RangeError, a hang or another type), aliases that would
 * expand past maxNodes are refused while smaller sharing is allowed, nesting is refused
 * exactly past maxDepth, and ordinary values round-trip.
 */
const RUNS = 300;
const LIMITS: YamlLimits = { maxNodes: 2000, maxDepth: 20, maxBytes: 64 * 1024 };

const token = fc.constantFrom('a', 'b: ', '- ', '[', ']', '{', '}', ', ', '&x ', '*x', '&y ', '*y', '<<: ', '\n', '  ', '---\n', '"', "'", '!!str ', '!!js/function ', '|', '#', ':', '?', '0x1F', '~');

/** `levels` anchors, each a list of `fanOut` aliases of the previous one: fanOut^levels nodes. */
function aliasBomb(levels: number, fanOut: number): string {
  const lines = ['a0: &a0 [x]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${i}: &a${i} [${Array.from({ length: fanOut }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\n`;
}

/** Expanded node count of aliasBomb(levels, fanOut), the way checkShape counts (lists count as 1 + children). */
function expandedNodes(levels: number, fanOut: number): number {
  let n = 2; // [x]
  let total = 1 + n; // root mapping + a0
  for (let i = 1; i <= levels; i++) {
    n = 1 + fanOut * n;
    total += n;
  }
  return total;
}

function nested(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}\n`;
}

describe('YAML parsing limits (property)', () => {
  it(`${RUNS} token soups: documents or RenderError, nothing else`, () => {
    fc.assert(
      fc.property(fc.array(token, { maxLength: 60 }), (parts) => {
        try {
          parseYamlDocuments(parts.join(''), 'soup.yaml', LIMITS);
        } catch (err) {
          expect(err).toBeInstanceOf(RenderError);
          expect((err as RenderError).file).toBe('soup.yaml');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it(`${RUNS} alias trees: refused exactly when the expansion passes maxNodes, accepted below`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 9 }), (levels, fanOut) => {
        const text = aliasBomb(levels, fanOut);
        const started = Date.now();
        const tooBig = expandedNodes(levels, fanOut) > LIMITS.maxNodes;
        if (tooBig) expect(() => parseYamlDocuments(text, 'bomb.yaml', LIMITS)).toThrow(/alias bomb/);
        else expect(parseYamlDocuments(text, 'bomb.yaml', LIMITS)).toHaveLength(1);
        // 9^12 nodes if expanded: the refusal must come from counting, not from expanding.
        expect(Date.now() - started).toBeLessThan(1000);
      }),
      { numRuns: RUNS },
    );
  });

  it(`${RUNS} nesting depths up to 10,000: refused exactly past maxDepth, with a RenderError`, () => {
    fc.assert(
      fc.property(fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 41, max: 10_000 })), (depth) => {
        // The outermost list sits at depth 0, so `depth` brackets reach depth - 1.
        if (depth - 1 > LIMITS.maxDepth) expect(() => parseYamlDocuments(nested(depth), 'deep.yaml', LIMITS)).toThrow(RenderError);
        else expect(parseYamlDocuments(nested(depth), 'deep.yaml', LIMITS)).toHaveLength(1);
      }),
      { numRuns: RUNS },
    );
  });

  it(`${RUNS} JSON-like values round-trip through dumpYaml and the parser`, () => {
    const value = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 });
    fc.assert(
      fc.property(value, (v) => {
        const [doc] = parseYamlDocuments(dumpYaml(v), 'v.yaml', { ...LIMITS, maxBytes: 1024 * 1024 });
        // Through JSON on both sides: YAML keeps -0, JSON (the generator's model) has none.
        const json = (x: unknown): unknown => JSON.parse(JSON.stringify(x));
        expect(json(doc?.value ?? {})).toEqual(json(v));
      }),
      { numRuns: RUNS },
    );
  });
});
