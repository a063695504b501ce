import { toObjects } from './plain.js';
import type { RenderedObject, SourceRef } from '../objects.js';
import { parseYamlDocuments } from '../yaml.js';

/** Parses a renderer's multi-document stdout into objects, attributing each to a source. */
export function renderOutput(text: string, label: string, sourceOf: (line: number) => SourceRef): RenderedObject[] {
  const out: RenderedObject[] = [];
  for (const doc of parseYamlDocuments(text, label, { maxNodes: 5_000_000, maxDepth: 100, maxBytes: 256 * 1024 * 1024 })) {
    const source = sourceOf(doc.line);
    for (const object of toObjects(doc.value, source.file, source.line)) out.push({ object, source });
  }
  return out;
}
