import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App } from '../../../src/config/repo-config.js';
import { renderPlain, toObjects } from '../../../src/render/plain.js';
import { RenderError } from '../../../src/errors.js';
import { type RenderedObject } from '../../../src/objects.js';
import { DEFAULT_YAML_LIMITS } from '../../../src/yaml.js';
import { rejection, writeFile } from '../../support/expect-error.js';

const write = (rel: string, text: string): void => writeFile(checkout, rel, text);
const renderError = (p: Promise<unknown>): Promise<RenderError> => rejection(p, RenderError);

function app(p: string, overrides: Partial<App> = {}): App {
  return { name: 'web', path: p, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 300_000, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...overrides };
}

let parent: string;
let checkout: string;

beforeEach(() => {
  parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-plain-'));
  checkout = path.join(parent, 'checkout');
  fs.mkdirSync(checkout);
});

afterEach(() => {
  fs.rmSync(parent, { recursive: true, force: true });
});


function cm(name: string, extra = ''): string {
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}`;
}


const summary = (objs: RenderedObject[]): string[] => objs.map((o) => `${o.object.metadata.name}@${o.source.file}:${o.source.line}`);

describe('renderPlain', () => {
  it('reads *.yaml and *.yml recursively in sorted path order', async () => {
    write('deploy/web/b.yaml', cm('b'));
    write('deploy/web/a.yml', cm('a'));
    write('deploy/web/sub/c.yaml', cm('c'));
    write('deploy/web/sub/deeper/d.YAML', cm('d'));
    write('deploy/web/z.yaml', cm('z'));
    write('deploy/web/notes.txt', cm('not-a-manifest'));
    write('deploy/web/values.json', '{}');
    write('deploy/other/x.yaml', cm('other-app'));
    const out = await renderPlain(app('deploy/web'), checkout);
    expect(summary(out)).toEqual([
      'a@deploy/web/a.yml:1',
      'b@deploy/web/b.yaml:1',
      'c@deploy/web/sub/c.yaml:1',
      'd@deploy/web/sub/deeper/d.YAML:1',
      'z@deploy/web/z.yaml:1',
    ]);
    expect(out[0]?.object).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a' } });
  });

  it('uses paths relative to the checkout root with forward slashes', async () => {
    write('a/b/c.yaml', cm('x'));
    const [o] = await renderPlain(app('a'), checkout);
    expect(o?.source.file).toBe('a/b/c.yaml');
  });

  it('renders the whole repo for path "."', async () => {
    write('one.yaml', cm('one'));
    write('dir/two.yaml', cm('two'));
    expect(summary(await renderPlain(app('.'), checkout))).toEqual(['two@dir/two.yaml:1', 'one@one.yaml:1']);
  });

  it('splits multi-document files and keeps each document’s line', async () => {
    write(
      'k8s/all.yaml',
      ['# header', cm('first').trimEnd(), '---', '', '---', '# empty doc above', cm('second').trimEnd(), '---', '~', ''].join('\n'),
    );
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['first@k8s/all.yaml:2', 'second@k8s/all.yaml:10']);
  });

  it('returns nothing for an empty file and an empty folder', async () => {
    write('k8s/empty.yaml', '');
    write('k8s/comments.yaml', '# nothing here\n---\n');
    fs.mkdirSync(path.join(checkout, 'k8s/emptydir'));
    expect(await renderPlain(app('k8s'), checkout)).toEqual([]);
  });

  it('flattens kind: List (and typed lists), keeping the list’s location', async () => {
    write(
      'k8s/list.yaml',
      [
        'apiVersion: v1', // 1
        'kind: List',
        'items:',
        `  - {apiVersion: v1, kind: ConfigMap, metadata: {name: one}}`,
        `  - {apiVersion: v1, kind: Secret, metadata: {name: two}}`,
        '---', // 6
        'apiVersion: v1', // 7
        'kind: ConfigMapList',
        'items:',
        `  - {apiVersion: v1, kind: ConfigMap, metadata: {name: three}}`,
        '---',
        'apiVersion: v1', // 12
        'kind: List',
        'items: []',
      ].join('\n'),
    );
    const out = await renderPlain(app('k8s'), checkout);
    expect(summary(out)).toEqual(['one@k8s/list.yaml:1', 'two@k8s/list.yaml:1', 'three@k8s/list.yaml:7']);
    expect(out.map((o) => o.object.kind)).toEqual(['ConfigMap', 'Secret', 'ConfigMap']);
  });

  it('flattens nested lists', async () => {
    write('k8s/l.yaml', 'kind: List\nitems:\n  - kind: List\n    items:\n      - {apiVersion: v1, kind: ConfigMap, metadata: {name: inner}}\n');
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['inner@k8s/l.yaml:1']);
  });

  it.each([
    ['apiVersion', 'kind: ConfigMap\nmetadata: {name: a}\n', 'no apiVersion'],
    ['kind', 'apiVersion: v1\nmetadata: {name: a}\n', 'no kind'],
    ['metadata', 'apiVersion: v1\nkind: ConfigMap\n', 'ConfigMap has no metadata'],
    ['metadata.name', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {generateName: a-}\n', 'no metadata.name'],
    ['a non-empty name', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ""}\n', 'no metadata.name'],
    ['a string kind', 'apiVersion: v1\nkind: 3\nmetadata: {name: a}\n', 'no kind'],
  ])('rejects an object without %s, naming file and line', async (_what, doc, message) => {
    write('k8s/a.yaml', cm('ok'));
    write('k8s/b.yaml', `${cm('fine').trimEnd()}\n---\n# the bad one\n${doc}`);
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/b.yaml');
    expect(e.line).toBe(7);
    expect(e.message).toContain(message);
  });

  it('rejects a document that is not a mapping', async () => {
    write('k8s/x.yaml', '- a\n- b\n');
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/x.yaml');
    expect(e.line).toBe(1);
    expect(e.message).toContain('must be a mapping');
  });

  it('rejects a bad item inside a List with the list’s location', async () => {
    write('k8s/x.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: List\nitems:\n  - {kind: ConfigMap}\n');
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/x.yaml');
    expect(e.line).toBe(5);
    expect(e.message).toContain('no apiVersion');
  });

  it('reports invalid YAML with file and line', async () => {
    write('k8s/bad.yaml', `${cm('a').trimEnd()}\n---\nkey: [unclosed\nother: 1\n`);
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/bad.yaml');
    expect(e.message).toMatch(/invalid YAML/);
    expect(e.line).toBeGreaterThanOrEqual(6);
  });

  it('passes the limits on', async () => {
    write('k8s/big.yaml', cm('a', `data:\n  x: "${'x'.repeat(500)}"\n`));
    const e = await renderError(renderPlain(app('k8s'), checkout, { ...DEFAULT_YAML_LIMITS, maxBytes: 200 }));
    expect(e.file).toBe('k8s/big.yaml');
    expect(e.message).toContain('larger than 200 bytes');
  });

  it('gives a clear error for an app path that does not exist', async () => {
    const e = await renderError(renderPlain(app('deploy/missing'), checkout));
    expect(e.message).toBe('app path "deploy/missing" is not a folder in this revision');
    expect(e.file).toBe('deploy/missing');
  });

  it('gives a clear error for an app path that is a file', async () => {
    write('deploy/web.yaml', cm('a'));
    const e = await renderError(renderPlain(app('deploy/web.yaml'), checkout));
    expect(e.message).toContain('is not a folder');
  });

  it('refuses a symlinked manifest pointing outside the checkout', async () => {
    fs.writeFileSync(path.join(parent, 'outside.yaml'), cm('stolen'));
    write('k8s/ok.yaml', cm('ok'));
    fs.symlinkSync(path.join(parent, 'outside.yaml'), path.join(checkout, 'k8s/evil.yaml'));
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/evil.yaml');
    expect(e.message).toContain('outside the checkout');
    expect(e.message).not.toContain('stolen');
  });

  it('refuses a relative symlink that escapes through ..', async () => {
    fs.writeFileSync(path.join(parent, 'outside.yaml'), cm('stolen'));
    fs.mkdirSync(path.join(checkout, 'k8s'));
    fs.symlinkSync('../../outside.yaml', path.join(checkout, 'k8s/evil.yml'));
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.message).toContain('outside the checkout');
  });

  it('refuses a dangling symlinked manifest', async () => {
    fs.mkdirSync(path.join(checkout, 'k8s'));
    fs.symlinkSync('nowhere.yaml', path.join(checkout, 'k8s/dangling.yaml'));
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.file).toBe('k8s/dangling.yaml');
    expect(e.message).toContain('missing');
  });

  it('follows a symlinked manifest that stays inside the checkout', async () => {
    write('shared/cm.yaml', cm('shared'));
    fs.mkdirSync(path.join(checkout, 'k8s'));
    fs.symlinkSync('../shared/cm.yaml', path.join(checkout, 'k8s/link.yaml'));
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['shared@k8s/link.yaml:1']);
  });

  it('does not follow symlinked folders (no loops, no escapes)', async () => {
    write('k8s/a.yaml', cm('a'));
    fs.symlinkSync('.', path.join(checkout, 'k8s/loop'));
    fs.mkdirSync(path.join(parent, 'outside-dir'));
    fs.writeFileSync(path.join(parent, 'outside-dir/x.yaml'), cm('stolen'));
    fs.symlinkSync(path.join(parent, 'outside-dir'), path.join(checkout, 'k8s/out'));
    fs.mkdirSync(path.join(checkout, 'inside-dir'));
    fs.writeFileSync(path.join(checkout, 'inside-dir/y.yaml'), cm('via-folder-link'));
    fs.symlinkSync('../inside-dir', path.join(checkout, 'k8s/folder.yaml'));
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['a@k8s/a.yaml:1']);
  });

  it('refuses an app path that is a symlink to a folder outside', async () => {
    fs.mkdirSync(path.join(parent, 'outside-dir'));
    fs.writeFileSync(path.join(parent, 'outside-dir/x.yaml'), cm('stolen'));
    fs.symlinkSync(path.join(parent, 'outside-dir'), path.join(checkout, 'k8s'));
    const e = await renderError(renderPlain(app('k8s'), checkout));
    expect(e.message).toContain('outside the checkout');
  });

  it('skips hidden files and folders', async () => {
    write('k8s/a.yaml', cm('a'));
    write('k8s/.hidden.yaml', cm('hidden-file'));
    write('k8s/.git/config.yaml', cm('git'));
    write('k8s/sub/.cache/x.yaml', cm('cache'));
    write('k8s/sub/b.yaml', cm('b'));
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['a@k8s/a.yaml:1', 'b@k8s/sub/b.yaml:1']);
  });

  // Regression: isInside treated "..data/x.yaml" as outside the checkout.
  it('renders an app path whose name starts with ".." (like ..data)', async () => {
    write('..data/a.yaml', cm('a'));
    write('..data/sub/b.yml', cm('b'));
    expect(summary(await renderPlain(app('..data'), checkout))).toEqual(['a@..data/a.yaml:1', 'b@..data/sub/b.yml:1']);
  });

  it('renders files below a nested "..data" folder and follows inside symlinks to it', async () => {
    write('k8s/..data/cm.yaml', cm('cm'));
    fs.symlinkSync('..data/cm.yaml', path.join(checkout, 'k8s/link.yaml'));
    // Hidden entries (the "..data" folder) are skipped when walking k8s; the link into it is followed.
    expect(summary(await renderPlain(app('k8s'), checkout))).toEqual(['cm@k8s/link.yaml:1']);
    expect(summary(await renderPlain(app('k8s/..data'), checkout))).toEqual(['cm@k8s/..data/cm.yaml:1']);
  });

  it('works when the checkout path itself goes through a symlink', async () => {
    write('k8s/a.yaml', cm('a'));
    const alias = path.join(parent, 'alias');
    fs.symlinkSync(checkout, alias);
    expect(summary(await renderPlain(app('k8s'), alias))).toEqual(['a@k8s/a.yaml:1']);
  });
});

describe('toObjects', () => {
  it('returns a valid object as is', () => {
    const o = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'w', namespace: 'n' }, spec: {} };
    expect(toObjects(o, 'f', 1)).toEqual([o]);
  });

  it.each([null, 'str', 3, [1]])('rejects non-mapping %p', (v) => {
    expect(() => toObjects(v, 'f.yaml', 4)).toThrow(RenderError);
  });

  it('does not treat a kind ending in List without items as a list', () => {
    expect(() => toObjects({ kind: 'List' }, 'f', 1)).toThrow(/no apiVersion/);
  });
});
