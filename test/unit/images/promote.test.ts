import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { ImageFile } from '../../../src/images/plan.js';
import { planPromotion, promotedRepositories, type PromotedImage } from '../../../src/images/promote.js';

const kustomization = (tag: string, comment = '   # staging build'): string =>
  `# overlay\nresources:\n  - ../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: "${tag}"${comment}\n  - name: ghcr.io/acme/sidecar\n    newTag: 2.0.0\n`;
const file = (path: string, text: string, kind: ImageFile['kind'] = 'kustomization'): ImageFile => ({ path, kind, text });

/** Every [before, after] pair of lines that differ (the texts keep their line count). */
function changedLines(a: string, b: string): [string, string][] {
  const x = a.split('\n');
  const y = b.split('\n');
  expect(y).toHaveLength(x.length);
  return x.flatMap((l, i) => (l === y[i] ? [] : [[l, y[i] as string] as [string, string]]));
}

describe('planPromotion', () => {
  it("carries the source environment's tag into the target with only the tag characters changed (comment and quoting kept)", () => {
    const target = file('deploy/web/prod-eu/kustomization.yaml', kustomization('1.2.0', '   # moved by promotion'));
    const plan = planPromotion([{ repository: 'ghcr.io/acme/web', source: [file('deploy/web/staging/kustomization.yaml', kustomization('1.3.0'))], target: [target] }]);
    expect(plan.images).toEqual([{ repository: 'ghcr.io/acme/web', from: ['1.2.0'], to: '1.3.0' }]);
    expect(plan.files.map((f) => [f.path, f.fields])).toEqual([['deploy/web/prod-eu/kustomization.yaml', 1]]);
    expect(changedLines(target.text, plan.files[0]?.text ?? '')).toEqual([['    newTag: "1.2.0"   # moved by promotion', '    newTag: "1.3.0"   # moved by promotion']]);
    expect(plan.notes).toEqual([]);
  });

  it('edits plain manifests and Helm values the same way, digest included', () => {
    const manifest = "containers:\n  - name: web\n    image: 'ghcr.io/acme/web:1.2.0'  # pinned\n";
    const values = 'image:\n  repository: ghcr.io/acme/web\n  tag: 1.2.0\nreplicas: 3\n';
    const plan = planPromotion([
      {
        repository: 'ghcr.io/acme/web',
        source: [file('s/app.yaml', "containers:\n  - image: ghcr.io/acme/web:1.3.0@sha256:" + 'a'.repeat(64) + '\n', 'manifests')],
        target: [file('p/app.yaml', manifest, 'manifests'), file('p/values.yaml', values, 'helm-values')],
      },
    ]);
    const byPath = new Map(plan.files.map((f) => [f.path, f.text]));
    expect(changedLines(manifest, byPath.get('p/app.yaml') ?? '')).toEqual([["    image: 'ghcr.io/acme/web:1.2.0'  # pinned", `    image: 'ghcr.io/acme/web:1.3.0@sha256:${'a'.repeat(64)}'  # pinned`]]);
    // Helm keeps tags without digests: the tag moves, nothing else.
    expect(changedLines(values, byPath.get('p/values.yaml') ?? '')).toEqual([['  tag: 1.2.0', '  tag: 1.3.0']]);
  });

  it('proposes nothing when the target already runs what the source runs', () => {
    const plan = planPromotion([{ repository: 'ghcr.io/acme/web', source: [file('s/k.yaml', kustomization('1.3.0'))], target: [file('p/k.yaml', kustomization('1.3.0', ''))] }]);
    expect(plan).toEqual({ images: [], copied: [], files: [], notes: [] });
  });

  it('leaves an image the source sets to several values alone, and says so', () => {
    const source = [file('s/a.yaml', 'image: ghcr.io/acme/web:1.3.0\n', 'manifests'), file('s/b.yaml', 'image: ghcr.io/acme/web:1.4.0\n', 'manifests')];
    const plan = planPromotion([{ repository: 'ghcr.io/acme/web', source, target: [file('p/a.yaml', 'image: ghcr.io/acme/web:1.2.0\n', 'manifests')] }]);
    expect(plan.files).toEqual([]);
    expect(plan.notes).toEqual(['`ghcr.io/acme/web` is not carried: the source sets it to `1.3.0` and `1.4.0`, not one value']);
  });

  it('copies listed files whole, and notes one the source lacks', () => {
    const plan = planPromotion([], [
      { source: { path: 's/config.env', text: 'POOL=10\n' }, target: { path: 'p/config.env', text: 'POOL=5\n' } },
      { source: { path: 's/same.env', text: 'A=1\n' }, target: { path: 'p/same.env', text: 'A=1\n' } },
      { source: { path: 's/gone.env', text: null }, target: { path: 'p/gone.env', text: 'B=2\n' } },
    ]);
    expect(plan.files).toEqual([{ path: 'p/config.env', text: 'POOL=10\n', fields: 0 }]);
    expect(plan.copied).toEqual(['p/config.env']);
    expect(plan.notes).toEqual(['`s/gone.env` (listed under promote.files) does not exist in the source; `p/gone.env` is left as it is']);
  });

  it('only ever changes tag characters: any tags, any surrounding text', () => {
    const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
    fc.assert(
      fc.property(tag, tag, fc.stringMatching(/^[ a-z#]{0,12}$/), (from, to, comment) => {
        const text = `images:\n  - name: ghcr.io/acme/web\n    newTag: "${from}"${comment ? `  #${comment}` : ''}\n`;
        const image: PromotedImage = { repository: 'ghcr.io/acme/web', source: [file('s/k.yaml', `images:\n  - name: ghcr.io/acme/web\n    newTag: "${to}"\n`)], target: [file('p/k.yaml', text)] };
        const out = planPromotion([image]).files[0]?.text ?? text;
        expect(out).toBe(text.replace(`"${from}"`, `"${to}"`));
      }),
    );
  });
});

describe('promotedRepositories', () => {
  it('carries the images the rules name and every image the source environment sets, once each', () => {
    expect(promotedRepositories(['ghcr.io/acme/web'], [file('s/k.yaml', kustomization('1.3.0'))])).toEqual(['ghcr.io/acme/sidecar', 'ghcr.io/acme/web']);
    expect(promotedRepositories(['nginx'], [file('s/a.yaml', 'image: docker.io/library/nginx:1.27\n', 'manifests')])).toEqual(['nginx']);
  });
});
