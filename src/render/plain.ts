import fs from 'node:fs/promises';
import path from 'node:path';
import { isInside } from '../source/paths.js';
import type { App } from '../config/repo-config.js';
import { parseYamlDocuments, type YamlLimits, DEFAULT_YAML_LIMITS } from '../yaml.js';
import { RenderError } from '../errors.js';
import { type KubeObject, type RenderedObject } from '../objects.js';

const MANIFEST = /\.ya?ml$/i;

/** Renders a folder of plain manifests: every *.yaml / *.yml below it, in path order. */
export async function renderPlain(app: App, checkout: string, limits: YamlLimits = DEFAULT_YAML_LIMITS): Promise<RenderedObject[]> {
  const root = await fs.realpath(checkout);
  const dir = path.join(root, app.path);
  const files = await listManifests(root, dir, app.path);
  const out: RenderedObject[] = [];
  for (const rel of files) {
    const text = await fs.readFile(path.join(root, rel), 'utf8');
    for (const doc of parseYamlDocuments(text, rel, limits)) {
      for (const object of toObjects(doc.value, rel, doc.line)) out.push({ object, source: { file: rel, line: doc.line } });
    }
  }
  return out;
}

async function listManifests(root: string, dir: string, appPath: string): Promise<string[]> {
  const st = await fs.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new RenderError(`app path "${appPath}" is not a folder in this revision`, appPath);
  const found: string[] = [];
  const walk = async (abs: string): Promise<void> => {
    const entries = await fs.readdir(abs, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const child = path.join(abs, e.name);
      if (e.isDirectory()) await walk(child);
      else if (MANIFEST.test(e.name) && (e.isFile() || e.isSymbolicLink())) {
        // Symlinked files are fine when they stay inside the checkout; symlinked folders
        // are not followed, so a link loop cannot hang the walk.
        const real = await fs.realpath(child).catch(() => null);
        const rel = path.relative(root, child);
        if (real === null) throw new RenderError('symlink points to a missing file', rel);
        if (!isInside(root, real)) throw new RenderError('symlink points outside the checkout', rel);
        if ((await fs.stat(real)).isFile()) found.push(rel.split(path.sep).join('/'));
      }
    }
  };
  await walk(dir);
  // Whole-path order (b.yaml before b/c.yaml), the same on every machine.
  return found.sort();
}

/** Checks the minimum every object needs and flattens `kind: List`. */
export function toObjects(value: unknown, file: string, line: number): KubeObject[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new RenderError('a manifest document must be a mapping (an object)', file, line);
  }
  const o = value as Record<string, unknown>;
  if (typeof o['kind'] === 'string' && o['kind'].endsWith('List') && Array.isArray(o['items'])) {
    return o['items'].flatMap((item) => toObjects(item, file, line));
  }
  if (typeof o['apiVersion'] !== 'string' || o['apiVersion'] === '') throw new RenderError('object has no apiVersion', file, line);
  if (typeof o['kind'] !== 'string' || o['kind'] === '') throw new RenderError('object has no kind', file, line);
  const meta = o['metadata'];
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw new RenderError(`${o['kind']} has no metadata`, file, line);
  const name = (meta as Record<string, unknown>)['name'];
  if (typeof name !== 'string' || name === '') {
    throw new RenderError(`${o['kind']} has no metadata.name (generateName cannot be applied declaratively)`, file, line);
  }
  return [o as KubeObject];
}
