import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

/**
 * The folder rules of src/: which folder may import which. A folder may import folders of
 * a lower layer, or of its own layer when that makes no cycle; nothing imports upward.
 * Entry points (runtime, main, cli) wire everything; the shared pieces at the root of
 * src/ (errors, objects, yaml, metrics, check names) and util/ sit below every stage.
 */
export const LAYERS: Readonly<Record<string, number>> = {
  '(root)': 0,
  util: 0,
  config: 1,
  source: 2,
  render: 2,
  cluster: 2,
  diff: 2,
  report: 2,
  policy: 2,
  images: 2,
  notify: 2,
  onboarding: 2,
  engine: 3,
  flows: 4,
  commands: 4,
  cli: 4,
  queue: 5,
  github: 6,
  http: 6,
  setup: 6,
  '(entry)': 7,
};

/** Files at the root of src/ that wire the app (and may import anything). */
const ENTRY_FILES = new Set(['runtime.ts', 'main.ts', 'cli.ts']);

export interface Violation {
  rule: 'upward' | 'cycle' | 'unknown-folder';
  message: string;
}

/** The folder a file of src/ belongs to: its first folder, `(root)` or `(entry)` for files directly in src/. */
export function folderOf(srcDir: string, file: string): string {
  const rel = path.relative(srcDir, file).split(path.sep);
  if (rel.length > 1) return rel[0] as string;
  return ENTRY_FILES.has(rel[0] as string) ? '(entry)' : '(root)';
}

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sourceFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Folder → folder → one import that makes the edge (file and specifier), for messages. */
export function folderGraph(srcDir: string): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(srcDir)) {
    const from = folderOf(srcDir, file);
    // TypeScript's own scanner: import/export/`import type`/dynamic import(), never a string in a comment.
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), fileName);
      if (!target.startsWith(srcDir + path.sep)) continue;
      const to = folderOf(srcDir, target);
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, `${path.relative(srcDir, file)} imports ${fileName}`);
      graph.set(from, edges);
    }
  }
  return graph;
}

/** Every break of the folder rules in `srcDir`; empty when the layout holds. */
export function checkFolders(srcDir: string, layers: Readonly<Record<string, number>> = LAYERS): Violation[] {
  const root = path.resolve(srcDir);
  const graph = folderGraph(root);
  const out: Violation[] = [];
  const folders = new Set(sourceFiles(root).map((f) => folderOf(root, f)));
  for (const f of [...folders].sort()) {
    if (layers[f] === undefined) out.push({ rule: 'unknown-folder', message: `src/${f}/ has no layer: add it to LAYERS in test/support/folder-rules.ts, below the folders that use it` });
  }
  for (const [from, edges] of graph) {
    for (const [to, why] of edges) {
      const a = layers[from];
      const b = layers[to];
      if (a !== undefined && b !== undefined && b > a) out.push({ rule: 'upward', message: `${from} → ${to} goes upward (layer ${a} imports layer ${b}): ${why}` });
    }
  }
  for (const cycle of cycles(graph)) {
    const steps = cycle.map((f, i) => `${f} → ${cycle[(i + 1) % cycle.length]} (${graph.get(f)?.get(cycle[(i + 1) % cycle.length] as string)})`);
    out.push({ rule: 'cycle', message: `folders import each other in a circle: ${steps.join('; ')}` });
  }
  return out;
}

/** The folder cycles (Tarjan's strongly connected components of more than one folder), each as a closed path. */
function cycles(graph: Map<string, Map<string, string>>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) as number, low.get(w) as number));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) as number, idx.get(w) as number));
    }
    if (low.get(v) !== idx.get(v)) return;
    const scc: string[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      scc.push(w);
      if (w === v) break;
    }
    if (scc.length > 1) out.push(pathThrough(graph, new Set(scc), v));
  };
  for (const v of [...graph.keys()].sort()) if (!idx.has(v)) visit(v);
  return out;
}

/** One cycle through `start` inside a strongly connected component (breadth-first back to start). */
function pathThrough(graph: Map<string, Map<string, string>>, scc: Set<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length) {
    const v = queue.shift() as string;
    for (const w of graph.get(v)?.keys() ?? []) {
      if (!scc.has(w)) continue;
      if (w === start) {
        const path = [v];
        for (let p = prev.get(v); p !== undefined; p = prev.get(p)) path.unshift(p);
        return path;
      }
      if (!prev.has(w) && w !== start) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [...scc];
}
