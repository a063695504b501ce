import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fieldManager, withInventory } from '../../../src/cluster/inventory.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { render } from '../../../src/render/index.js';
import { fixtureRepo, type RepoFiles } from '../../support/github.js';
import { sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, put, testCluster } from '../../support/kube.js';

const CLUSTERS = `clusters:
  default:
    kubeconfig: $KUBECONFIG
    grants:
      - repos: ["acme/deploys"]
        namespaces: ["gb-*", "web"]
`;

/** The fixture with edits applied: path → new content (or a transform of the old). */
function edited(base: Record<string, string>, edits: Record<string, string | ((old: string) => string)>): Record<string, string> {
  const out = { ...base };
  for (const [file, e] of Object.entries(edits)) out[file] = typeof e === 'string' ? e : e(out[file] ?? '');
  return out;
}

/** Simulates an earlier deploy: renders every app and writes it with inventory marks. */
async function deploy(cluster: Cluster, files: Record<string, string>): Promise<void> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-deploy-'));
  try {
    for (const [f, c] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), c);
    }
    const config = parseRepoConfig(files['.github/mergeops.yml'] as string, 'main');
    for (const app of config.apps) {
      for (const r of await render(app, dir)) {
        const key = { repoId: 777, repo: 'acme/deploys', app: app.name };
        const o = withInventory(r.object, key);
        o.metadata.namespace ??= app.namespace;
        await put(cluster, o, fieldManager(key));
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function section(body: string, ref: string): string {
  const start = body.indexOf(`${ref}</code>`);
  if (start < 0) throw new Error(`no block for ${ref} in:\n${body}`);
  return body.slice(start, body.indexOf('</details>', start));
}

describe('kustomize and helm apps, operator grants and drift, end to end', () => {
  let h: Harness;
  let cluster: Cluster;
  const before = fixtureRepo('platform');
  const baseSha = sha('platform-main');

  beforeAll(async () => {
    cluster = await testCluster();
    for (const ns of ['gb-staging', 'gb-prod', 'web']) await namespace(cluster, ns);
    await deploy(cluster, before);
    h = await startHarness(CLUSTERS);
    await h.push(baseSha, before);
  });

  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('previews each overlay and the chart; a configMapGenerator change is a rename; hand edits show as drift first', async () => {
    // Someone ran `kubectl scale` on staging: the live object now differs from main.
    await cluster.client.request('PATCH', '/apis/apps/v1/namespaces/gb-staging/deployments/staging-guestbook', {
      body: { spec: { replicas: 7 } },
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'kubectl-scale' },
    });
    const head = sha('platform-pr');
    await h.push(
      head,
      edited(before, {
        'apps/guestbook/overlays/prod/kustomization.yaml': (k) => k.replace('LOG_LEVEL=warn', 'LOG_LEVEL=error'),
        'apps/guestbook/overlays/staging/kustomization.yaml': (k) => k.replace('newTag: 1.1.0', 'newTag: 1.2.0'),
        'charts/web/values-prod.yaml': 'replicas: 4\n',
      }),
    );
    expect(await h.open(21, head, { baseSha })).toBe(202);
    const { check, comment } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    const body: string = comment.body.body;

    // prod: the generated ConfigMap's new hashed name reads as one rename with its real
    // diff (not a create plus a delete), and the Deployment follows the rename.
    expect(body).toContain('#### ✅ <code>guestbook-prod</code> → <code>default</code> · 2 changed\n');
    const renamed = /↪️ <b>rename<\/b> <code>v1 ConfigMap gb-prod\/(prod-guestbook-config-[a-z0-9]+)<\/code> → <code>…-([a-z0-9]+)<\/code>: <code>data.LOG_LEVEL<\/code> <code>warn<\/code> → <code>error<\/code> \(kustomize configMapGenerator hash; the old one is pruned\)/.exec(body);
    const deleted = renamed?.[1];
    const created = `prod-guestbook-config-${renamed?.[2]}`;
    expect(deleted).toBeDefined();
    expect(created).not.toBe(deleted);
    expect(body).not.toContain('<b>create</b> <code>v1 ConfigMap gb-prod/');
    expect(body).not.toContain('**delete** <code>v1 ConfigMap gb-prod/');
    const rename = section(body, `v1 ConfigMap gb-prod/${deleted}`);
    expect(rename).toContain('+  LOG_LEVEL: error');
    expect(rename).toContain('-  LOG_LEVEL: warn');
    const prodDeploy = section(body, 'apps/v1 Deployment gb-prod/prod-guestbook');
    expect(prodDeploy).toContain('<code>containers[guestbook].envFrom[0].configMapRef.name</code> follows the rename');
    expect(prodDeploy).toContain(`-                name: ${deleted}`);
    expect(prodDeploy).toContain(`+                name: ${created}`);

    // staging: the image tag change, plus the reverted hand edit, plus the drift section naming it.
    expect(body).toContain('#### ⚠️ <code>guestbook-staging</code> → <code>default</code> · 1 changed · 1 drifted object reverted\n');
    const stagingDeploy = section(body, 'apps/v1 Deployment gb-staging/staging-guestbook');
    expect(stagingDeploy).toContain('-          image: ghcr.io/acme/guestbook:1.1.0');
    expect(stagingDeploy).toContain('+          image: ghcr.io/acme/guestbook:1.2.0');
    expect(stagingDeploy).toContain('-  replicas: 7');
    expect(body).toContain('**Drift:** 1 object in the live cluster was changed outside Git; Git wins on the fields it declares:');
    expect(body).toContain('> - <code>apps/v1 Deployment gb-staging/staging-guestbook</code>: the merge reverts <code>.spec.replicas</code>: live <code>7</code> (set by <code>kubectl-scale</code>) → Git <code>1</code>');
    // Drift comes first in its app, before the objects; the risk line names it and the scaling.
    const stagingStart = body.indexOf('<code>guestbook-staging</code> →');
    expect(body.indexOf('**Drift:**', stagingStart)).toBeLessThan(body.indexOf('<details>', stagingStart));
    expect(body).toContain('> **Review before merging:** 1 hand edit in the cluster the merge reverts: <code>Deployment gb-staging/staging-guestbook</code> · replicas of <code>Deployment gb-staging/staging-guestbook</code> 7 → 1 · replicas of <code>Deployment web/web</code> 2 → 4 · image (guestbook) <code>ghcr.io/acme/guestbook:1.1.0</code> → <code>1.2.0</code>');

    // helm: two values files and inline values applied, only replicas changes.
    expect(body).toContain('#### ⚠️ <code>web</code> → <code>default</code> / <code>web</code> · 1 changed\n');
    const web = section(body, 'apps/v1 Deployment web/web');
    expect(web.split('\n').filter((l) => /^[-+] /.test(l))).toEqual(['-  replicas: 2', '+  replicas: 4']);
    expect(web).toContain('charts/web/templates/deployment.yaml');
    const cm = await cluster.client.request<{ data: Record<string, string>; metadata: { labels: Record<string, string> } }>('GET', '/api/v1/namespaces/web/configmaps/web-settings');
    expect(cm.data['greeting']).toBe('hello from common');
    expect(cm.data['kubeVersion']).toBe('v1.36.0');
    // Only the drifted app has a drift section.
    expect(body.match(/Drift:/g)).toHaveLength(1);
  });

  it('refuses reads outside the checkout and objects outside the grant, naming file, object and rule', async () => {
    const head = sha('platform-evil');
    const files: RepoFiles = {
      ...before,
      '.github/mergeops.yml': `apps:
  - name: escape-kustomize
    path: evil/kz
  - name: escape-values
    path: charts/web
    namespace: web
    helm: {valuesFiles: [../../../secret.yaml]}
  - name: wrong-namespace
    path: evil/ns
    namespace: kube-system
  - name: cluster-role
    path: evil/rbac
    namespace: web
`,
      'evil/kz/kustomization.yaml': 'resources:\n  - ../../../etc/passwd\n',
      'secret.yaml': 'replicas: 1\n',
      'evil/ns/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: sneaky\n',
      'evil/rbac/role.yaml': 'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: all-powerful\nrules: []\n',
    };
    await h.push(head, files);
    await h.open(22, head, { baseSha });
    const { check, comment } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('failure');
    const summary: string = check.body.output.summary;
    expect(summary).toContain('"../../../etc/passwd" points outside the repository');
    expect(summary).toContain('helm values file "../../../secret.yaml" is outside the repository');
    expect(summary).toContain('`v1 ConfigMap kube-system/sneaky`: not allowed: namespace "kube-system" is not granted to acme/deploys on cluster "default" (granted: gb-*, web)');
    expect(summary).toContain('`rbac.authorization.k8s.io/v1 ClusterRole all-powerful`: not allowed: cluster-scoped kind rbac.authorization.k8s.io/ClusterRole is not granted');
    expect(check.body.output.annotations).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'evil/kz/kustomization.yaml' }),
        expect.objectContaining({ path: 'evil/ns/cm.yaml', start_line: 1 }),
        expect.objectContaining({ path: 'evil/rbac/role.yaml' }),
      ]),
    );
    expect(comment.body.body).not.toContain('root:x:0:0');
    // Nothing was sent to the server for the refused apps: the ConfigMap does not exist.
    await expect(cluster.client.request('GET', '/api/v1/namespaces/kube-system/configmaps/sneaky')).rejects.toMatchObject({ status: 404 });
  });

  it('a chart with a symlink out of the checkout is refused before anything renders', async () => {
    const head = sha('platform-symlink');
    await h.push(head, { ...before, 'charts/web/templates/passwd.yaml': { symlink: '../../../../../etc/passwd' } });
    await h.open(23, head, { baseSha });
    const { check } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.summary).toMatch(/repository archive was refused: symlink points outside the checkout .*charts\/web\/templates\/passwd.yaml/);
  });
});
