import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { runOnboarding } from '../../../src/flows/onboard.js';
import { ONBOARDING_BRANCH, ONBOARDING_TITLE, detectApps } from '../../../src/onboarding/detect.js';
import { FakeRepoHost } from '../fakes/repo-host.js';

const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n';
const files: Record<string, string> = {
  'README.md': '# shop\n',
  'apps/web/base/kustomization.yaml': 'resources:\n  - deploy.yaml\n',
  'apps/web/base/deploy.yaml': cm,
  'apps/web/overlays/prod/kustomization.yaml': 'resources:\n  - ../../base\n',
  'apps/web/overlays/staging/kustomization.yaml': 'resources:\n  - ../../base\n',
  'charts/api/Chart.yaml': 'apiVersion: v2\nname: api\nversion: 1.0.0\n',
  'charts/api/charts/redis/Chart.yaml': 'apiVersion: v2\nname: redis\nversion: 1.0.0\n',
  'charts/api/templates/cm.yaml': cm,
  'k8s/worker/worker.yaml': cm,
  'docs/example.yaml': cm,
  '.github/workflows/ci.yaml': 'on: push\n',
  'config/settings.yaml': 'key: value\n',
};

function checkout(f: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-onboard-'));
  for (const [rel, text] of Object.entries(f)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

describe('detectApps', () => {
  it('finds overlays (not their bases), charts (not subcharts) and manifest folders; skips docs, .github and plain YAML', async () => {
    expect(await detectApps(checkout(files))).toEqual([
      { name: 'web-prod', path: 'apps/web/overlays/prod', kind: 'kustomize' },
      { name: 'web-staging', path: 'apps/web/overlays/staging', kind: 'kustomize' },
      { name: 'api', path: 'charts/api', kind: 'helm' },
      { name: 'worker', path: 'k8s/worker', kind: 'plain' },
    ]);
  });
});

describe('runOnboarding', () => {
  const log = pino({ level: 'silent' });

  it('opens one PR whose config is valid and lists the detected apps', async () => {
    const host = new FakeRepoHost();
    host.push(files, 'main');
    expect(await runOnboarding(host.target, { hosts: async () => host, log })).toBe('opened');
    const [pr] = host.pulls;
    expect(pr).toMatchObject({ title: ONBOARDING_TITLE, head: ONBOARDING_BRANCH, base: 'main', state: 'open' });
    expect(pr?.body).toContain('| `web-prod` | `apps/web/overlays/prod` | kustomize |');
    expect(pr?.body).toContain('**Closing** it without merging is a "no"');
    const config = await host.readFile('.github/mergeops.yml', ONBOARDING_BRANCH);
    const parsed = parseRepoConfig(config ?? '', 'main');
    expect(parsed.apps.map((a) => [a.name, a.path])).toEqual([
      ['web-prod', 'apps/web/overlays/prod'],
      ['web-staging', 'apps/web/overlays/staging'],
      ['api', 'charts/api'],
      ['worker', 'k8s/worker'],
    ]);
    // Asked once: the open PR stops a second one.
    expect(await runOnboarding(host.target, { hosts: async () => host, log })).toBe('open');
    expect(host.pulls).toHaveLength(1);
  });

  it('does nothing for a configured repository, a declined onboarding, or nothing to deploy', async () => {
    const configured = new FakeRepoHost();
    configured.push({ ...files, '.github/mergeops.yml': 'apps:\n  - name: x\n    path: k8s/worker\n' }, 'main');
    expect(await runOnboarding(configured.target, { hosts: async () => configured, log })).toBe('configured');

    const declined = new FakeRepoHost();
    declined.push(files, 'main');
    await runOnboarding(declined.target, { hosts: async () => declined, log });
    Object.assign(declined.pulls[0] ?? {}, { state: 'closed', merged: false });
    expect(await runOnboarding(declined.target, { hosts: async () => declined, log })).toBe('declined');
    expect(declined.pulls).toHaveLength(1);

    const empty = new FakeRepoHost();
    empty.push({ 'README.md': 'hi\n', 'src/app.py': 'print(1)\n' }, 'main');
    expect(await runOnboarding(empty.target, { hosts: async () => empty, log })).toBe('nothing-found');
    expect(empty.pulls).toHaveLength(0);
  });
});
