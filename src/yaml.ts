import yaml from 'js-yaml';
import { RenderError } from './errors.js';

export interface YamlLimits {
  /** Nodes after alias expansion; a billion-laughs document blows far past it. */
  maxNodes: number;
  maxDepth: number;
  maxBytes: number;
}

export const DEFAULT_YAML_LIMITS: YamlLimits = { maxNodes: 1_000_000, maxDepth: 100, maxBytes: 8 * 1024 * 1024 };

/**
 * YAML 1.2 core schema plus merge keys: no timestamp → Date conversion (the API server
 * wants strings), but `<<: *anchor` works as it does in kubectl.
 */
// @types/js-yaml omits the exported `types` table that js-yaml 4 ships.
const { merge } = (yaml as unknown as { types: { merge: yaml.Type } }).types;
const SCHEMA = yaml.CORE_SCHEMA.extend({ implicit: [merge] });

export interface YamlDocument {
  value: unknown;
  /** 1-based line where the document starts in the file. */
  line: number;
}

/**
 * Parses a multi-document YAML file, keeping each document's starting line so errors and
 * annotations can point at it. Documents are split at `---` lines ourselves because
 * js-yaml's loadAll does not report where each document begins.
 */
export function parseYamlDocuments(text: string, file: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): YamlDocument[] {
  if (Buffer.byteLength(text) > limits.maxBytes) {
    throw new RenderError(`file is larger than ${limits.maxBytes} bytes, the most mergeops reads from one YAML file; split it into smaller files`, file, 1);
  }
  const docs: YamlDocument[] = [];
  const lines = text.split(/\r?\n/);
  let start = 0;
  const flush = (end: number): void => {
    const chunk = lines.slice(start, end).join('\n');
    if (chunk.trim() !== '') {
      const value = loadOne(chunk, file, start);
      if (value !== null && value !== undefined) {
        const line = firstContentLine(lines, start, end) + 1;
        checkShape(value, file, line, limits);
        docs.push({ value, line });
      }
    }
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] ?? '';
    if (/^---(\s|$)/.test(l) || /^\.\.\.\s*$/.test(l)) {
      flush(i);
      // `--- foo: bar` carries content on the marker line itself.
      lines[i] = l.startsWith('---') ? l.slice(3) : '';
      start = i;
    }
  }
  flush(lines.length);
  return docs;
}

function firstContentLine(lines: string[], start: number, end: number): number {
  for (let i = start; i < end; i++) {
    const l = (lines[i] ?? '').trim();
    if (l !== '' && !l.startsWith('#')) return i;
  }
  return start;
}

function loadOne(chunk: string, file: string, lineOffset: number): unknown {
  try {
    return yaml.load(chunk, { schema: SCHEMA, filename: file, json: false });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      const line = lineOffset + (err.mark?.line ?? 0) + 1;
      throw new RenderError(`invalid YAML: ${err.reason}`, file, line);
    }
    if (err instanceof RangeError) {
      throw new RenderError('YAML is nested too deeply to parse', file, lineOffset + 1);
    }
    throw err;
  }
}

/**
 * Rejects alias bombs, cycles and absurd nesting before anything walks the value.
 * js-yaml shares one object per anchor, so the parse itself is cheap; the expansion
 * happens later (JSON.stringify, diffing), which is what this guards.
 */
export function checkShape(value: unknown, file: string, line: number, limits: YamlLimits): void {
  const sizes = new Map<object, number>();
  const active = new Set<object>();
  const measure = (v: unknown, depth: number): number => {
    if (v === null || typeof v !== 'object') return 1;
    if (depth > limits.maxDepth) {
      throw new RenderError(`YAML is nested deeper than ${limits.maxDepth} levels`, file, line);
    }
    const known = sizes.get(v);
    if (known !== undefined) return known;
    if (active.has(v)) throw new RenderError('YAML alias refers to itself (cyclic anchor)', file, line);
    active.add(v);
    let n = 1;
    for (const child of Array.isArray(v) ? v : Object.values(v)) {
      n += measure(child, depth + 1);
      if (n > limits.maxNodes) {
        throw new RenderError(
          `YAML expands to more than ${limits.maxNodes} nodes (alias bomb?); refusing to load it`,
          file,
          line,
        );
      }
    }
    active.delete(v);
    sizes.set(v, n);
    return n;
  };
  measure(value, 0);
}

/** Dumps in a stable, diff-friendly form: sorted keys, no line folding, no anchors. */
export function dumpYaml(value: unknown): string {
  return yaml.dump(value, { sortKeys: true, lineWidth: -1, noRefs: true, schema: SCHEMA });
}
