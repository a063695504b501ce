import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App } from '../../../src/config/repo-config.js';
import { detectKind, render } from '../../../src/render/index.js';
import { RenderError } from '../../../src/errors.js';
import { objectRef } from '../../../src/objects.js';
import { rejection, writeFile } from '../../support/expect-error.js';

const write = (rel: string, text: string): void => writeFile(checkout, rel, text);
const renderError = (p: Promise<unknown>): Promise<RenderError> => rejection(p, RenderError);

function app(p: string): App {
  return { name: 'web', path: p, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 300_000, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false };
}

let checkout: string;

beforeEach(() => {
  checkout = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-render-'));
});

afterEach(() => {
  fs.rmSync(checkout, { recursive: true, force: true });
});



const obj = (apiVersion: string, kind: string, name: string, ns?: string): string =>
  `apiVersion: ${apiVersion}\nkind: ${kind}\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}`;

describe('render', () => {
  it('renders a plain folder', async () => {
    write('k8s/a.yaml', obj('v1', 'ConfigMap', 'a'));
    write('k8s/b.yaml', obj('apps/v1', 'Deployment', 'b', 'prod'));
    const out = await render(app('k8s'), checkout);
    expect(out.map((r) => objectRef(r.object))).toEqual(['v1 ConfigMap a', 'apps/v1 Deployment prod/b']);
  });

  it('rejects a duplicate object and names both locations', async () => {
    write('k8s/a.yaml', `${obj('v1', 'ConfigMap', 'x')}---\n${obj('v1', 'ConfigMap', 'y')}`);
    write('k8s/b.yaml', `# comment\n\n${obj('v1', 'ConfigMap', 'y')}`);
    const e = await renderError(render(app('k8s'), checkout));
    expect(e.file).toBe('k8s/b.yaml');
    expect(e.line).toBe(3);
    expect(e.message).toContain('v1 ConfigMap y');
    expect(e.message).toContain('defined twice');
    expect(e.message).toContain('k8s/a.yaml:6');
  });

  it('detects duplicates within one file', async () => {
    write('k8s/a.yaml', `${obj('apps/v1', 'Deployment', 'd', 'ns')}---\n${obj('apps/v1', 'Deployment', 'd', 'ns')}`);
    const e = await renderError(render(app('k8s'), checkout));
    expect(e.file).toBe('k8s/a.yaml');
    expect(e.line).toBe(7);
    expect(e.message).toContain('also at k8s/a.yaml:1');
  });

  it('treats the same group under different versions as a duplicate', async () => {
    write('k8s/a.yaml', `${obj('autoscaling/v1', 'HorizontalPodAutoscaler', 'h')}---\n${obj('autoscaling/v2', 'HorizontalPodAutoscaler', 'h')}`);
    const e = await renderError(render(app('k8s'), checkout));
    expect(e.message).toContain('defined twice');
  });

  it('allows the same name in different namespaces, kinds or groups', async () => {
    write(
      'k8s/a.yaml',
      [
        obj('v1', 'ConfigMap', 'same', 'a'),
        obj('v1', 'ConfigMap', 'same', 'b'),
        obj('v1', 'Secret', 'same', 'a'),
        obj('example.com/v1', 'ConfigMap', 'same', 'a'),
        obj('v1', 'ConfigMap', 'same'),
      ].join('---\n'),
    );
    expect(await render(app('k8s'), checkout)).toHaveLength(5);
  });
});

describe('detectKind', () => {
  it('prefers kustomize over helm over plain', async () => {
    write('a/kustomization.yml', '');
    write('a/Chart.yaml', '');
    write('b/Chart.yaml', '');
    write('c/x.yaml', '');
    write('d/Kustomization', '');
    expect(await detectKind(checkout, app('a'))).toBe('kustomize');
    expect(await detectKind(checkout, app('b'))).toBe('helm');
    expect(await detectKind(checkout, app('c'))).toBe('plain');
    expect(await detectKind(checkout, app('d'))).toBe('kustomize');
  });

  it('ignores a folder named like a marker file', async () => {
    fs.mkdirSync(path.join(checkout, 'e/Chart.yaml'), { recursive: true });
    expect(await detectKind(checkout, app('e'))).toBe('plain');
  });
});

describe('objectRef', () => {
  it('formats cluster-scoped, namespaced and unnamed objects', () => {
    expect(objectRef({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'n' } })).toBe('v1 Namespace n');
    expect(objectRef({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd', namespace: 'ns' } })).toBe('apps/v1 Deployment ns/d');
    expect(objectRef({ apiVersion: 'v1', kind: 'Pod', metadata: {} })).toBe('v1 Pod <unnamed>');
  });
});
