import fs from 'node:fs/promises';
import path from 'node:path';
import yaml from 'js-yaml';
import { configAppName, type App } from '../config/repo-config.js';
import { isInside } from '../source/paths.js';
import { DEFAULT_TOOL_LIMITS, ToolError, runTool, toolPath, type ToolLimits } from './exec.js';
import { scrub } from './kustomize.js';
import { renderOutput } from './output.js';
import { RenderError } from '../errors.js';
import { type RenderedObject, type SourceRef } from '../objects.js';

/**
 * Renders a local chart with the real `helm template`. Offline by construction: no
 * `dependency build` (subcharts must be vendored under charts/), no repositories, DNS
 * lookups left off, and a scratch HOME so no operator helm config is read.
 */
export async function renderHelm(app: App, checkout: string, limits: ToolLimits = DEFAULT_TOOL_LIMITS): Promise<RenderedObject[]> {
  const root = await fs.realpath(checkout);
  const dir = path.join(root, app.path);
  const helm = app.helm ?? { valuesFiles: [] };
  const args = ['template', helm.releaseName ?? configAppName(app), '.', '--namespace', app.namespace ?? 'default', '--skip-tests'];
  for (const f of helm.valuesFiles) {
    const target = path.resolve(dir, f);
    const real = await fs.realpath(target).catch(() => null);
    if (!isInside(root, target) || (real !== null && !isInside(root, real))) {
      throw new RenderError(`helm values file "${f}" is outside the repository`, '.github/mergeops.yml', 1);
    }
    if (real === null) throw new RenderError(`helm values file "${f}" does not exist in this revision`, `${app.path}/${f}`, 1);
    args.push('--values', real);
  }
  const scratchValues = helm.values ? path.join(dir, `.mergeops-values-${process.pid}-${Date.now()}.yaml`) : null;
  try {
    if (scratchValues) {
      await fs.writeFile(scratchValues, yaml.dump(helm.values));
      args.push('--values', scratchValues);
    }
    const out = await runTool(toolPath('helm'), args, dir, limits, { HELM_CACHE_HOME: '/nonexistent', HELM_CONFIG_HOME: '/nonexistent', HELM_DATA_HOME: '/nonexistent' });
    return renderOutput(out, `${app.path}/Chart.yaml`, sourcesFromComments(out, app.path));
  } catch (err) {
    if (err instanceof ToolError) {
      const msg = scrub(err.message, root);
      throw new RenderError(`helm template failed: ${msg}`, fileNamed(msg, app.path) ?? `${app.path}/Chart.yaml`, 1);
    }
    throw err;
  } finally {
    if (scratchValues) await fs.rm(scratchValues, { force: true });
  }
}

/** helm prefixes each document with `# Source: <chart>/templates/x.yaml`. */
function sourcesFromComments(out: string, appPath: string): (line: number) => SourceRef {
  const marks: { line: number; file: string }[] = [];
  out.split('\n').forEach((l, i) => {
    const m = /^# Source: [^/]+\/(.+)$/.exec(l);
    if (m?.[1]) marks.push({ line: i + 1, file: `${appPath}/${m[1]}` });
  });
  return (line) => {
    let file = `${appPath}/Chart.yaml`;
    for (const m of marks) if (m.line <= line) file = m.file;
    return { file, line: 1 };
  };
}

/** helm names the failing template as `<chart>/templates/x.yaml:12:3`. */
function fileNamed(message: string, appPath: string): string | undefined {
  const m = /[\w.-]+\/(templates\/[\w./-]+\.(?:ya?ml|tpl|txt))/.exec(message);
  return m?.[1] ? `${appPath}/${m[1]}` : undefined;
}
