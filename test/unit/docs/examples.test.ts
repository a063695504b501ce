import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import path from 'node:path';
import { parseRepoConfig, REPO_CONFIG_PATH } from '../../../src/config/repo-config.js';
import { renderPlain } from '../../../src/render/plain.js';


// The README's getting-started walkthrough copies examples/quickstart into a new repository
// and shows the preview of its three objects; this keeps the sample true to that text.
describe('examples/quickstart', () => {
  const root = path.resolve('examples/quickstart');

  it('has a config mergeops accepts and renders the three objects the README shows', async () => {
    const config = parseRepoConfig(fs.readFileSync(path.join(root, REPO_CONFIG_PATH), 'utf8'), 'main');
    expect(config.apps.map((a) => [a.name, a.path, a.namespace, a.prune])).toEqual([['hello', 'deploy/hello', 'hello', true]]);
    const objects = await renderPlain(config.apps[0]!, root);
    expect(objects.map((o) => `${o.object.kind}/${o.object.metadata.name}`).sort()).toEqual(['ConfigMap/hello', 'Deployment/hello', 'Namespace/hello']);
  });

  it('is the replicas: 1 the walkthrough edits with sed', () => {
    expect(fs.readFileSync(path.join(root, 'deploy/hello/deployment.yaml'), 'utf8')).toMatch(/^ {2}replicas: 1$/m);
  });
});
