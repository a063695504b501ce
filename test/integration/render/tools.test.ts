import { afterEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App } from '../../../src/config/repo-config.js';
import { runTool } from '../../../src/render/exec.js';
import { DEFAULT_RENDER_LIMITS, render } from '../../../src/render/index.js';
import { RenderError } from '../../../src/errors.js';
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

describe('render caps', () => {
  it('a chart that builds a 256 MiB string without printing it fails with the memory limit, not a worker out of memory', async () => {
    const dir = checkout({
      'c/Chart.yaml': 'apiVersion: v2\nname: c\nversion: 0.1.0\n',
      // 16 bytes doubled 24 times: a 256 MiB string that is never written out (about 1 GiB of RSS unlimited).
      'c/templates/cm.yaml': '{{- $s := "xxxxxxxxxxxxxxxx" }}\n{{- range until 24 }}{{ $s = printf "%s%s" $s $s }}{{ end }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n  n: {{ len $s | quote }}\n',
    });
    const started = Date.now();
    const err = await rejection(render(app('c'), dir, { ...DEFAULT_RENDER_LIMITS, maxMemoryBytes: 128 * 1024 * 1024 }), RenderError);
    expect(err.message).toMatch(/^helm template failed: helm ran out of memory: a render may use at most 128 MiB \(the operator's MERGEOPS_RENDER_MEMORY_BYTES\)/);
    expect(err.file).toBe('c/Chart.yaml');
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('the default memory limit leaves ordinary charts and kustomizations alone', async () => {
    const dir = checkout({
      'c/Chart.yaml': 'apiVersion: v2\nname: c\nversion: 0.1.0\n',
      'c/templates/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n',
      'k/kustomization.yaml': 'resources: [cm.yaml]\n',
      'k/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ok\n',
    });
    expect((await render(app('c'), dir)).map((r) => r.object.metadata.name)).toEqual(['ok']);
    expect((await render(app('k'), dir)).map((r) => r.object.metadata.name)).toEqual(['ok']);
  });

  it('an app rendering more objects than the cap fails naming the count, the cap and the setting', async () => {
    const docs = Array.from({ length: 30 }, (_, i) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c${i}\n`).join('---\n');
    const dir = checkout({ 'p/all.yaml': docs });
    const err = await rejection(render(app('p'), dir, { ...DEFAULT_RENDER_LIMITS, maxObjects: 25 }), RenderError);
    expect(err.message).toBe('app a renders 30 objects; the operator allows at most 25 per app (MERGEOPS_MAX_OBJECTS_PER_APP): split it into several apps');
    expect(err.file).toBe('p/all.yaml');
    expect((await render(app('p'), dir, { ...DEFAULT_RENDER_LIMITS, maxObjects: 30 })).length).toBe(30);
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
