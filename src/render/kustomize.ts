import fs from 'node:fs/promises';
import path from 'node:path';
import type { App } from '../config/repo-config.js';
import { isInside } from '../source/paths.js';
import { DEFAULT_TOOL_LIMITS, ToolError, runTool, toolPath, type ToolLimits } from './exec.js';
import { renderOutput } from './output.js';
import { RenderError } from '../errors.js';
import { type RenderedObject } from '../objects.js';
import { parseYamlDocuments } from '../yaml.js';

export const KUSTOMIZATION_FILES = ['kustomization.yaml', 'kustomization.yml', 'Kustomization'];

/** Keys whose values are paths kustomize will read, relative to the kustomization. */
const PATH_LISTS = ['resources', 'bases', 'components', 'crds', 'patchesStrategicMerge', 'configurations', 'generators', 'transformers', 'validators'];
const GENERATORS = ['configMapGenerator', 'secretGenerator'];

/**
 * Renders with the real `kustomize build`, load restrictor on. Kustomize lets a
 * kustomization pull bases from any folder (and from the network), which the restrictor
 * does not stop, so every referenced path is checked first to stay inside the checkout.
 */
export async function renderKustomize(app: App, checkout: string, limits: ToolLimits = DEFAULT_TOOL_LIMITS): Promise<RenderedObject[]> {
  const root = await fs.realpath(checkout);
  const dir = path.join(root, app.path);
  await checkKustomization(root, dir, new Set());
  const kfile = await findKustomization(dir);
  const rel = `${app.path}/${kfile ?? 'kustomization.yaml'}`;
  let out: string;
  try {
    out = await runTool(toolPath('kustomize'), ['build', '--load-restrictor', 'LoadRestrictionsRootOnly', '.'], dir, limits);
  } catch (err) {
    if (err instanceof ToolError) throw new RenderError(`kustomize build failed: ${scrub(err.message, root)}`, rel, 1);
    throw err;
  }
  return renderOutput(out, rel, () => ({ file: rel, line: 1 }));
}

async function findKustomization(dir: string): Promise<string | undefined> {
  for (const f of KUSTOMIZATION_FILES) if ((await fs.stat(path.join(dir, f)).catch(() => null))?.isFile()) return f;
  return undefined;
}

/**
 * The files and folders (repo-relative) a kustomize app reads: its own folder and every
 * path its kustomizations reference, bases included. A rollback restores all of them.
 */
export async function kustomizeInputs(app: App, checkout: string): Promise<string[]> {
  const root = await fs.realpath(checkout);
  const inputs = new Set<string>();
  await checkKustomization(root, path.join(root, app.path), new Set(), inputs);
  return [...inputs];
}

async function checkKustomization(root: string, dir: string, seen: Set<string>, inputs?: Set<string>): Promise<void> {
  if (seen.has(dir)) return;
  inputs?.add(path.relative(root, dir) || '.');
  seen.add(dir);
  const kfile = await findKustomization(dir);
  if (!kfile) return;
  const relFile = path.relative(root, path.join(dir, kfile));
  const docs = parseYamlDocuments(await fs.readFile(path.join(dir, kfile), 'utf8'), relFile);
  const k = (docs[0]?.value ?? {}) as Record<string, unknown>;
  if (k['helmCharts'] || k['helmGlobals']) {
    throw new RenderError('helmCharts in a kustomization are not supported (they download charts); use a Helm app instead', relFile, 1);
  }
  const refs: string[] = [];
  for (const key of PATH_LISTS) for (const v of asList(k[key])) if (typeof v === 'string') refs.push(v);
  for (const key of ['patches', 'patchesJson6902', 'replacements']) {
    for (const v of asList(k[key])) if (v && typeof v === 'object' && typeof (v as { path?: unknown }).path === 'string') refs.push((v as { path: string }).path);
  }
  for (const key of GENERATORS) {
    for (const g of asList(k[key])) {
      if (!g || typeof g !== 'object') continue;
      const o = g as Record<string, unknown>;
      for (const f of [...asList(o['files']), ...asList(o['envs']), o['env']]) {
        if (typeof f === 'string') refs.push(f.includes('=') ? f.slice(f.indexOf('=') + 1) : f);
      }
    }
  }
  const openapi = k['openapi'] as { path?: unknown } | undefined;
  if (typeof openapi?.path === 'string') refs.push(openapi.path);

  for (const ref of refs) {
    if (/^[a-z]+:\/\//i.test(ref) || ref.startsWith('git@') || ref.startsWith('github.com/') || ref.includes('?ref=')) {
      throw new RenderError(`remote reference "${ref}" is not allowed: mergeops renders offline; vendor it into the repository`, relFile, 1);
    }
    const target = path.resolve(dir, ref);
    const real = await fs.realpath(target).catch(() => null);
    if (!isInside(root, target) || (real !== null && !isInside(root, real))) {
      throw new RenderError(`"${ref}" points outside the repository; kustomizations may only use files in the checkout`, relFile, 1);
    }
    // A reference to a path that does not exist (a base deleted in this very change) is an
    // input too: the change that deleted it affects this app, whose render now fails.
    inputs?.add(path.relative(root, real ?? target) || '.');
    if (real && (await fs.stat(real)).isDirectory()) await checkKustomization(root, real, seen, inputs);
  }
}

function asList(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Temp paths mean nothing to the user and reveal the worker's layout. */
export function scrub(message: string, root: string): string {
  return message.split(`${root}/`).join('').split(root).join('.');
}
