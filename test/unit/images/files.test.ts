import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import type { App, ImageRule } from '../../../src/config/repo-config.js';
import { collectImageFiles } from '../../../src/images/files.js';

function checkout(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-files-'));
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}
const app = (name: string, p: string, extra: Partial<App> = {}): App => ({ name, path: p, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false, ...extra });
const rule: ImageRule = { repository: 'ghcr.io/acme/web', policy: { kind: 'semver', range: '*', prerelease: false }, pinDigest: false, apps: [], pullRequest: { labels: [], automerge: false } };

describe('collectImageFiles', () => {
  it('offers a chart its values.yaml and the app values files, never templates', async () => {
    const dir = checkout({
      'charts/web/Chart.yaml': 'apiVersion: v2\nname: web\nversion: 1.0.0\n',
      'charts/web/values.yaml': 'image:\n  repository: ghcr.io/acme/web\n  tag: 1.0.0\n',
      'charts/web/values-prod.yaml': 'image:\n  tag: 1.0.0\n',
      'charts/web/templates/deploy.yaml': 'image: {{ .Values.image.repository }}:{{ .Values.image.tag }}\n',
    });
    const files = await collectImageFiles(dir, [app('web', 'charts/web', { helm: { valuesFiles: ['values-prod.yaml'] } })], rule);
    expect(files.map((f) => [f.path, f.kind])).toEqual([
      ['charts/web/values.yaml', 'helm-values'],
      ['charts/web/values-prod.yaml', 'helm-values'],
    ]);
  });

  it('uses only the kustomization when it sets the image, else the manifests too', async () => {
    const dir = checkout({
      'k/a/kustomization.yaml': 'resources: [deploy.yaml]\nimages:\n  - name: ghcr.io/acme/web\n    newTag: 1.0.0\n',
      'k/a/deploy.yaml': 'image: ghcr.io/acme/web:0.1\n',
      'k/b/kustomization.yaml': 'resources: [deploy.yaml]\n',
      'k/b/deploy.yaml': 'image: ghcr.io/acme/web:0.1\n',
    });
    expect((await collectImageFiles(dir, [app('a', 'k/a')], rule)).map((f) => f.path)).toEqual(['k/a/kustomization.yaml']);
    expect((await collectImageFiles(dir, [app('b', 'k/b')], rule)).map((f) => [f.path, f.kind])).toEqual([
      ['k/b/deploy.yaml', 'manifests'],
      ['k/b/kustomization.yaml', 'kustomization'],
    ]);
  });

  it('skips symlinks (the Git Data API would replace them with files) and non-UTF-8 files', async () => {
    const dir = checkout({ 'p/deploy.yaml': 'image: ghcr.io/acme/web:1\n', 'p/sub/x.yml': 'a: b\n' });
    fs.symlinkSync('deploy.yaml', path.join(dir, 'p/link.yaml'));
    fs.writeFileSync(path.join(dir, 'p/latin1.yaml'), Buffer.from([0x69, 0x6d, 0x61, 0x67, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    expect((await collectImageFiles(dir, [app('p', 'p')], rule)).map((f) => f.path)).toEqual(['p/deploy.yaml', 'p/sub/x.yml']);
  });
});
