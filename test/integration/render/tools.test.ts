import { afterEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App } from '../../../src/config/repo-config.js';
import { runTool } from '../../../src/render/exec.js';
import { render } from '../../../src/render/index.js';
import { RenderError } from '../../../src/render/types.js';
import { rejection } from '../../support/expect-error.js';

const dirs: string[] = [];
function checkout(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-render-'));
  dirs.push(dir);
  for (const [f, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
    fs.writeFileSync(path.join(dir, f), c);
  }
  return dir;
}
const app = (p: string, extra: Partial<App> = {}): App => ({ name: 'a', path: p, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...extra });

afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const renderError = (a: App, dir: string): Promise<RenderError> => rejection(render(a, dir), RenderError);

describe('real kustomize', () => {
  it('refuses remote bases before running anything', async () => {
    const dir = checkout({ 'k/kustomization.yaml': 'resources:\n  - https://github.com/acme/x//base?ref=main\n' });
    const err = await renderError(app('k'), dir);
    expect(err.message).toMatch(/remote reference .* is not allowed/);
    expect(err.file).toBe('k/kustomization.yaml');
  });

  it('turns kustomize stderr into a failure on the kustomization, without temp paths', async () => {
    const dir = checkout({ 'k/kustomization.yaml': 'resources:\n  - missing.yaml\n' });
    const err = await renderError(app('k'), dir);
    expect(err.message).toMatch(/^kustomize build failed: .*missing.yaml/);
    expect(err.message).not.toContain(os.tmpdir());
    expect(err.file).toBe('k/kustomization.yaml');
  });

  it('refuses a base folder outside the checkout even though kustomize would load it', async () => {
    const dir = checkout({ 'k/kustomization.yaml': 'resources:\n  - ../../\n' });
    const err = await renderError(app('k'), dir);
    expect(err.message).toMatch(/points outside the repository/);
  });
});

describe('real helm', () => {
  it('names the failing template', async () => {
    const dir = checkout({
      'c/Chart.yaml': 'apiVersion: v2\nname: c\nversion: 0.1.0\n',
      'c/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ required "set .Values.name" .Values.name }}\n',
    });
    const err = await renderError(app('c'), dir);
    expect(err.message).toMatch(/helm template failed: .*set .Values.name/);
    expect(err.file).toBe('c/templates/cm.yaml');
  });

  it('does not fetch missing dependencies: subcharts must be vendored', async () => {
    const dir = checkout({
      'c/Chart.yaml': 'apiVersion: v2\nname: c\nversion: 0.1.0\ndependencies:\n  - name: redis\n    version: 1.0.0\n    repository: https://charts.example.com\n',
    });
    const err = await renderError(app('c'), dir);
    expect(err.message).toMatch(/missing in charts\/ directory/);
  });
});

describe('runTool limits', () => {
  it('kills a renderer past its deadline', async () => {
    await expect(runTool('sleep', ['5'], os.tmpdir(), { timeoutMs: 200, maxOutputBytes: 1000 })).rejects.toThrow(/did not finish within 0.2 s/);
  });

  it('kills a renderer past its output cap', async () => {
    await expect(runTool('yes', [], os.tmpdir(), { timeoutMs: 5000, maxOutputBytes: 10_000 })).rejects.toThrow(/more than 10000 bytes/);
  });
});
