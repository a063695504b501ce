import fs from 'node:fs/promises';
import path from 'node:path';
import type { App } from '../config/repo-config.js';
import { DEFAULT_CAPS, type RepoCaps } from '../config/caps.js';
import { DEFAULT_TOOL_LIMITS, type ToolLimits } from './exec.js';
import { withConfigHashes } from './config-hash.js';
import { renderHelm } from './helm.js';
import { KUSTOMIZATION_FILES, kustomizeInputs, renderKustomize } from './kustomize.js';
import { isInside } from '../source/paths.js';
import { renderPlain } from './plain.js';
import { RenderError } from '../errors.js';
import { identity, objectRef, type RenderedObject } from '../objects.js';

export type RenderKind = 'plain' | 'kustomize' | 'helm';

/** Kustomize wins over Helm wins over plain, as DESIGN.md lists them. */
export async function detectKind(checkout: string, app: App): Promise<RenderKind> {
  const dir = path.join(checkout, app.path);
  const has = async (f: string): Promise<boolean> => (await fs.stat(path.join(dir, f)).catch(() => null))?.isFile() ?? false;
  for (const f of KUSTOMIZATION_FILES) if (await has(f)) return 'kustomize';
  if (await has('Chart.yaml')) return 'helm';
  return 'plain';
}

/** What one app's render may cost: the tools' limits, and how many objects it may yield. */
export interface RenderLimits extends ToolLimits {
  maxObjects: number;
}

export const DEFAULT_RENDER_LIMITS: RenderLimits = { ...DEFAULT_TOOL_LIMITS, maxObjects: DEFAULT_CAPS.maxObjectsPerApp };

/** The render limits an operator's caps make. */
export function renderLimits(caps: Pick<RepoCaps, 'maxObjectsPerApp' | 'renderMemoryBytes'>): RenderLimits {
  return { ...DEFAULT_TOOL_LIMITS, maxMemoryBytes: caps.renderMemoryBytes, maxObjects: caps.maxObjectsPerApp };
}

/** render(app, dir) → RenderedObject[]; the one entry point every flow uses. */
export async function render(app: App, checkout: string, limits: RenderLimits = DEFAULT_RENDER_LIMITS): Promise<RenderedObject[]> {
  const kind = await detectKind(checkout, app);
  const objects = kind === 'kustomize' ? await renderKustomize(app, checkout, limits) : kind === 'helm' ? await renderHelm(app, checkout, limits) : await renderPlain(app, checkout);
  // Every object costs a dry-run request to the API server and a line in the report.
  if (objects.length > limits.maxObjects) {
    throw new RenderError(
      `app ${app.name} renders ${objects.length} objects; the operator allows at most ${limits.maxObjects} per app (MERGEOPS_MAX_OBJECTS_PER_APP): split it into several apps`,
      objects[limits.maxObjects]?.source.file ?? app.path,
      objects[limits.maxObjects]?.source.line ?? 1,
    );
  }
  rejectDuplicates(objects);
  return app.restartOnConfigChange ? withConfigHashes(objects, app.namespace) : objects;
}

/**
 * What an app's render reads inside the repository, as repo-relative files and folders:
 * its path, plus kustomize bases and referenced files, plus Helm values files. Paths that
 * would leave the checkout are not listed (the render refuses them anyway).
 */
export async function renderInputs(app: App, checkout: string): Promise<string[]> {
  const kind = await detectKind(checkout, app);
  if (kind === 'kustomize') return kustomizeInputs(app, checkout);
  const inputs = [app.path];
  if (kind === 'helm') {
    const root = await fs.realpath(checkout);
    for (const f of app.helm?.valuesFiles ?? []) {
      const abs = path.resolve(root, app.path, f);
      if (isInside(root, abs)) inputs.push(path.relative(root, abs));
    }
  }
  return inputs;
}

function rejectDuplicates(objects: RenderedObject[]): void {
  const seen = new Map<string, RenderedObject>();
  for (const r of objects) {
    const o = r.object;
    const key = identity(o);
    const prev = seen.get(key);
    if (prev) {
      throw new RenderError(
        `${objectRef(o)} is defined twice (also at ${prev.source.file}:${prev.source.line})`,
        r.source.file,
        r.source.line,
      );
    }
    seen.set(key, r);
  }
}
