import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { renderInputs } from '../../../src/render/index.js';
import fs from 'node:fs';

const root = fileURLToPath(new URL('../../fixtures/repos/platform', import.meta.url));
const config = parseRepoConfig(fs.readFileSync(`${root}/.github/mergeops.yml`, 'utf8'), 'main');
const app = (name: string) => config.apps.find((a) => a.name === name) ?? (() => { throw new Error(name); })();

describe('renderInputs', () => {
  it('a kustomize overlay reads its folder, its patch files and its bases', async () => {
    expect((await renderInputs(app('guestbook-prod'), root)).sort()).toEqual([
      'apps/guestbook/base',
      'apps/guestbook/base/deployment.yaml',
      'apps/guestbook/base/service.yaml',
      'apps/guestbook/overlays/prod',
      'apps/guestbook/overlays/prod/replicas.yaml',
    ]);
  });

  it('a Helm app reads its chart folder and its values files', async () => {
    expect(await renderInputs(app('web'), root)).toEqual(['charts/web', 'charts/web/values-common.yaml', 'charts/web/values-prod.yaml']);
  });

  it('a plain app reads its folder', async () => {
    expect(await renderInputs({ ...app('web'), path: 'apps/guestbook/base/x', helm: undefined } as never, root)).toEqual(['apps/guestbook/base/x']);
  });
});
