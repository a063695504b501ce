import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash, createHmac } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import type { Cluster } from '../../../src/cluster/connect.js';
import { INSTALLATION_ID, deliver, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';
import { ghcrStandIn, type GhcrStandIn } from '../../support/ghcr.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];

const CLUSTERS = `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["img-*"]\n`;
const WEBHOOK_TOKEN = 'registry-notify-secret';

/** A repo with a kustomize app (tag set in `images:`), a plain app and a Helm-free third image. */
function repoFiles(host: string, ns: string, webTag: string): Record<string, string> {
  return {
    '.github/mergeops.yml': [
      'apps:',
      // wait: 0 — no controllers run here, so nothing would ever turn healthy.
      // Apps are told apart by repo + name across test files: these names are this file's own.
      `  - { name: bump-web, path: apps/web, namespace: ${ns}, wait: 0 }`,
      `  - { name: bump-api, path: apps/api, namespace: ${ns}, wait: 0 }`,
      'images:',
      `  - repository: ${host}/acme/web`,
      '    policy: { semver: ">=1.0.0 <2" }',
      '    apps: [bump-web]',
      '    pullRequest: { labels: [deps, images], automerge: true }',
      `  - repository: ${host}/acme/api`,
      '    policy: { regex: "^build-(?<n>\\\\d+)$", order: numeric }',
      '    apps: [bump-api]',
      `  - repository: ${host}/acme/db`,
      '    policy: { semver: "^3" }',
      '    apps: [bump-api]',
    ].join('\n'),
    'apps/web/kustomization.yaml': `# web, production overlay\nresources:\n  - deployment.yaml\nimages:\n  - name: ${host}/acme/web\n    newTag: "${webTag}"   # moved by mergeops\n`,
    'apps/web/deployment.yaml': `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: ${host}/acme/web:0.1.0\n`,
    'apps/api/all.yaml': [
      'apiVersion: batch/v1',
      'kind: CronJob',
      'metadata: {name: nightly}',
      'spec:',
      '  schedule: "0 3 * * *"',
      '  jobTemplate:',
      '    spec:',
      '      template:',
      '        spec:',
      '          restartPolicy: Never',
      '          containers:',
      '            - name: job',
      `              image: '${host}/acme/api:build-9'   # same build as the server`,
      '---',
      'apiVersion: v1',
      'kind: Pod',
      'metadata: {name: api}',
      'spec:',
      '  initContainers:',
      '    - name: migrate',
      `      image: ${host}/acme/db:3.2.0`,
      '  containers:',
      '    - name: api',
      `      image: ${host}/acme/api:build-9`,
      '',
    ].join('\n'),
  };
}

const pullsCreated = (h: Harness): Recorded[] => h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/pulls'));
const treeOf = (h: Harness, head: string): Recorded | undefined => h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/git/trees')).find((c) => c.body.tree.some((e: { path: string }) => e.path.startsWith(head)));

/** Every line that differs between two texts, as [before, after] pairs. */
function changedLines(a: string, b: string): [string, string][] {
  const x = a.split('\n');
  const y = b.split('\n');
  expect(y).toHaveLength(x.length);
  return x.flatMap((l, i) => (l === y[i] ? [] : [[l, y[i] as string] as [string, string]]));
}

/** The commit an image build names (org.opencontainers.image.revision), per tag. */
const rev = (tag: string): string => createHash('sha1').update(tag).digest('hex');

describe('image bumps by polling a real registry', () => {
  let h: Harness;
  let reg: TestRegistry;
  let cluster: Cluster;
  let ns: string;
  let files: Record<string, string>;
  const main1 = sha('bump-main-1');

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('img');
    await namespace(cluster, ns);
    reg = await startRegistry();
    for (const t of ['0.9.0', '1.0.0', '1.1.0', '1.2.0-rc.1', '2.0.0']) {
      await reg.pushImage('acme/web', t, { 'org.opencontainers.image.revision': rev(t), 'org.opencontainers.image.source': 'https://github.com/acme/web' });
    }
    for (const t of ['build-9', 'build-10', 'build-8']) await reg.pushImage('acme/api', t);
    for (const t of ['3.1.0', '3.2.0']) await reg.pushImage('acme/db', t);
    h = await startHarness(CLUSTERS, { MERGEOPS_IMAGE_POLL_INTERVAL_MS: '700' });
    files = repoFiles(reg.host, ns, '1.0.0');
    await h.push(main1, files);
    h.git.refs.set('main', main1);
  });

  afterAll(async () => {
    await h?.stop();
    await reg?.stop();
    cluster?.client.close();
  });

  it('a push to main registers the images; the poll opens one PR per image with a one-token edit', async () => {
    expect(await h.pushEvent(main1)).toBe(202);
    const webBranch = `mergeops/bump/${reg.host.replace(':', '-')}-acme-web`;
    // Labels go on right after the PR is created: wait for the whole thing.
    await waitFor(() => h.git.pulls.find((p) => p.head === webBranch && p.labels.length > 0), 'web bump PR', 30_000);
    const web = h.git.pulls.find((p) => p.head === webBranch);
    // Newest in range: not 2.0.0 (outside), not 1.2.0-rc.1 (pre-release).
    expect(web).toMatchObject({ base: 'main', title: `Bump ${reg.host}/acme/web from 1.0.0 to 1.1.0`, labels: ['deps', 'images'], state: 'open' });
    expect(web?.body).toContain('- `apps/web/kustomization.yaml` (1 field)');
    expect(web?.body).toContain(`revision \`${rev('1.1.0')}\``);
    // The running build (1.0.0) and the new one name their commits: the exact compare link.
    expect(web?.body).toContain(`(https://github.com/acme/web/compare/${rev('1.0.0')}...${rev('1.1.0')}) (the commits between the two builds)`);
    expect(web?.body).toContain('**Closing this pull request without merging declines `1.1.0`:**');
    // The kustomization sets the tag, so the base manifest is not touched.
    const tree = treeOf(h, 'apps/web/');
    expect(tree?.body.tree.map((e: { path: string }) => e.path)).toEqual(['apps/web/kustomization.yaml']);
    expect(changedLines(files['apps/web/kustomization.yaml'] as string, tree?.body.tree[0].content)).toEqual([['    newTag: "1.0.0"   # moved by mergeops', '    newTag: "1.1.0"   # moved by mergeops']]);
    await waitFor(() => h.calls.find((c) => c.path === '/graphql' && String(c.body.query).includes('enablePullRequestAutoMerge') && c.body.variables.id === `PR_${web?.number}`), 'auto-merge enabled');

    const apiBranch = `mergeops/bump/${reg.host.replace(':', '-')}-acme-api`;
    const api = await waitFor(() => h.git.pulls.find((p) => p.head === apiBranch), 'api bump PR', 30_000);
    // Numeric order: build-10 beats build-9 (alphabetically it would not).
    expect(api.title).toBe(`Bump ${reg.host}/acme/api from build-9 to build-10`);
    const apiTree = treeOf(h, 'apps/api/');
    expect(changedLines(files['apps/api/all.yaml'] as string, apiTree?.body.tree[0].content)).toEqual([
      [`              image: '${reg.host}/acme/api:build-9'   # same build as the server`, `              image: '${reg.host}/acme/api:build-10'   # same build as the server`],
      [`      image: ${reg.host}/acme/api:build-9`, `      image: ${reg.host}/acme/api:build-10`],
    ]);
  });

  it('the bump PR gets its own live preview', async () => {
    const web = h.git.pulls.find((p) => p.title.includes('acme/web')) as { head: string; number: number };
    const head = h.git.refs.get(web.head) as string;
    const { check, comment } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    expect(comment.path).toContain(`/issues/${web.number}/comments`);
    expect(comment.body.body).toContain(`${reg.host}/acme/web:1.1.0`);
  });

  it('an image already at its newest allowed tag opens nothing', async () => {
    const job = await waitFor(async () => {
      const done = await h.rt.queues.image.getCompleted();
      return done.find((j) => j.data.kind === 'bump' && j.data.repository === `${reg.host}/acme/db`);
    }, 'db bump job', 30_000);
    expect(job.returnvalue).toEqual([{ key: `${reg.host}/acme/db`, base: 'main', result: 'current' }]);
    expect(h.git.pulls.filter((p) => p.title.includes('acme/db'))).toEqual([]);
  });

  it('a newer build updates the same PR instead of opening another', async () => {
    const before = pullsCreated(h).length;
    const web = h.git.pulls.find((p) => p.title.includes('acme/web')) as { head: string; number: number };
    const oldHead = h.git.refs.get(web.head);
    await reg.pushImage('acme/web', '1.4.0');
    await waitFor(() => (h.git.pulls.find((p) => p.number === web.number)?.title.endsWith('to 1.4.0') ? true : undefined), 'PR retitled to 1.4.0', 30_000);
    expect(pullsCreated(h).slice(before).map((c) => c.body.title)).toEqual([]);
    const newHead = h.git.refs.get(web.head) as string;
    expect(newHead).not.toBe(oldHead);
    expect(h.git.files.get(newHead)?.['apps/web/kustomization.yaml']).toContain('newTag: "1.4.0"   # moved by mergeops');
    expect(h.calls.some((c) => c.method === 'PATCH' && decodeURIComponent(c.path).endsWith(`/git/refs/heads/${web.head}`) && c.body.force === true)).toBe(true);
  });
});

describe('image bumps from registry webhooks', () => {
  let h: Harness;
  let reg: TestRegistry;
  let ghcr: GhcrStandIn;
  let ghcrPayload: unknown;
  let ns: string;
  const main1 = sha('bump-hook-main-1');

  beforeAll(async () => {
    ns = uniqueName('img');
    // Polling off: only the webhooks can trigger a bump here.
    h = await startHarness(CLUSTERS, { MERGEOPS_IMAGE_POLL_INTERVAL_MS: '0', MERGEOPS_REGISTRY_WEBHOOK_SECRET: WEBHOOK_TOKEN });
    reg = await startRegistry({ notify: { url: `${h.rt.url}/registry/webhook`, token: WEBHOOK_TOKEN } });
    ghcr = ghcrStandIn({ 'acme/guestbook': { '1.0.0': `sha256:${'0'.repeat(64)}`, '1.2.0': `sha256:${'b'.repeat(64)}` } });
    await reg.pushImage('acme/web', '1.0.0');
    const files = repoFiles(reg.host, ns, '1.0.0');
    files['.github/mergeops.yml'] += '\n  - repository: ghcr.io/acme/guestbook\n    policy: { semver: "^1" }\n    apps: [bump-web]\n    pullRequest: { group: guestbook }\n';
    files['apps/web/deployment.yaml'] += '        - name: guestbook\n          image: ghcr.io/acme/guestbook:1.0.0\n';
    await h.push(main1, files);
    h.git.refs.set('main', main1);
    // Installing the app on the repo is enough for mergeops to learn its images.
    const install = structuredClone(examples.find((e) => e.name === 'installation_repositories')?.examples[0]) as Record<string, any>; // fixture JSON is untyped
    install['installation'].id = INSTALLATION_ID;
    install['repositories_added'] = [{ id: REPO.id, node_id: 'R_1', name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, private: true }];
    expect((await deliver(h.rt.url as string, 'installation_repositories', install)).status).toBe(202);
    await waitFor(async () => ((await h.rt.queues.image.getCompleted()).some((j) => j.data.kind === 'sync') ? true : undefined), 'config sync', 20_000);
  });

  afterAll(async () => {
    await h?.stop();
    await reg?.stop();
  });

  it('a Distribution notification from the registry opens the bump PR', async () => {
    await reg.pushImage('acme/web', '1.5.0');
    const pr = await waitFor(() => h.git.pulls.find((p) => p.title.includes('acme/web') && p.labels.length > 0), 'PR from the notification', 30_000);
    expect(pr.title).toBe(`Bump ${reg.host}/acme/web from 1.0.0 to 1.5.0`);
    expect(pr.body).toContain('Noticed through: registry notification');
    await waitFor(() => h.calls.find((c) => c.path === '/graphql' && c.body.variables.id === `PR_${pr.number}`), 'auto-merge enabled');
  });

  it('a bump PR closed unmerged is not opened again for the same build', async () => {
    const pr = h.git.pulls.find((p) => p.title.includes('acme/web')) as { state: string; number: number };
    pr.state = 'closed';
    const before = h.calls.length;
    // The same build announced again (no digest this time, so it is a new job).
    const envelope = { events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'acme/web', tag: '1.5.0', url: `http://${reg.host}/v2/acme/web/manifests/1.5.0` }, request: { host: reg.host } }] };
    const res = await fetch(`${h.rt.url}/registry/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: JSON.stringify(envelope) });
    expect(await res.json()).toMatchObject({ events: 1, enqueued: 1 });
    const job = await waitFor(async () => (await h.rt.queues.image.getCompleted()).find((j) => j.data.kind === 'bump' && j.data.events[0]?.tag === '1.5.0' && !j.data.events[0]?.digest), 'second bump job', 20_000);
    expect(job.returnvalue).toEqual([{ key: `${reg.host}/acme/web`, base: 'main', result: 'declined', pr: pr.number }]);
    // No commit, branch move or PR write (the first PR's preview may still be posting meanwhile).
    expect(h.calls.slice(before).filter((c) => c.method !== 'GET' && /\/git\/|\/pulls|\/labels|graphql/.test(c.path)).map((c) => c.path)).toEqual([]);
  });

  it('refuses notifications without the shared secret', async () => {
    const body = JSON.stringify({ events: [] });
    const url = `${h.rt.url}/registry/webhook`;
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer nope' }, body })).status).toBe(401);
    const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/vnd.docker.distribution.events.v1+json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body });
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ ok: true, events: 0, refused: 0, enqueued: 0 });
    const bad = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: '{"hello":1}' });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error: 'not a Distribution, Harbor or Docker Hub notification' });
    // An HMAC of the body works too, for registries that sign instead of sending a token.
    const hub = JSON.stringify({ push_data: { tag: '9.9.9' }, repository: { repo_name: 'nobody/watches-this' } });
    const signed = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-hub-signature-256': `sha256=${createHmac('sha256', WEBHOOK_TOKEN).update(hub).digest('hex')}` }, body: hub });
    expect(await signed.json()).toEqual({ ok: true, events: 1, refused: 0, enqueued: 0 });
  });

  it('a notification announcing a tag the registry does not have puts nothing into a pull request', async () => {
    const before = h.calls.length;
    // Signed with the right secret (a leaked one, or a registry that lies): the claim is checked.
    const envelope = { events: [{ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'acme/web', tag: '1.9.9', digest: `sha256:${'e'.repeat(64)}`, url: `http://${reg.host}/v2/acme/web/manifests/1.9.9` }, request: { host: reg.host } }] };
    const res = await fetch(`${h.rt.url}/registry/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_TOKEN}` }, body: JSON.stringify(envelope) });
    expect(await res.json()).toMatchObject({ events: 1, enqueued: 1 });
    const job = await waitFor(async () => (await h.rt.queues.image.getCompleted()).find((j) => j.data.kind === 'bump' && j.data.events[0]?.tag === '1.9.9'), 'bump job of the forged tag', 20_000);
    // The registry's newest real tag (1.5.0, whose PR was declined above) is all it considered.
    expect(job.returnvalue).toEqual([{ key: `${reg.host}/acme/web`, base: 'main', result: 'declined', pr: expect.any(Number) }]);
    const written = JSON.stringify(h.calls.slice(before).filter((c) => c.method !== 'GET').map((c) => c.body));
    expect(written).not.toContain('1.9.9');
    expect(h.git.pulls.filter((p) => p.title.includes('1.9.9'))).toEqual([]);
  });

  it('a registry_package webhook from GHCR bumps the group branch once GHCR confirms the announced tag', async () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    const payload = {
      action: 'published',
      registry_package: {
        id: 1,
        name: 'guestbook',
        namespace: 'acme',
        description: '',
        ecosystem: 'CONTAINER',
        package_type: 'CONTAINER',
        html_url: 'https://github.com/orgs/acme/packages/container/package/guestbook',
        created_at: '2026-11-23T10:00:00Z',
        updated_at: '2026-11-23T10:00:00Z',
        owner: { login: 'acme', id: 1, type: 'Organization' },
        package_version: {
          id: 2,
          version: digest,
          name: digest,
          description: '',
          summary: '',
          html_url: 'https://github.com/orgs/acme/packages/container/guestbook/2',
          metadata: [],
          package_files: [],
          installation_command: 'docker pull ghcr.io/acme/guestbook:1.2.0',
          package_url: 'ghcr.io/acme/guestbook:1.2.0',
          container_metadata: { tag: { name: '1.2.0', digest }, labels: {}, manifest: {} },
        },
        registry: { about_url: 'https://docs.github.com/packages', name: 'GitHub CONTAINER registry', type: 'CONTAINER', url: 'https://ghcr.io/acme', vendor: 'GitHub Inc' },
      },
      repository: { id: REPO.id, name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, owner: { login: REPO.owner } },
      sender: { login: 'acme-ci', id: 9 },
      installation: { id: INSTALLATION_ID, node_id: 'I_1' },
    };
    ghcrPayload = payload;
    expect((await deliver(h.rt.url as string, 'registry_package', payload)).status).toBe(202);
    const pr = await waitFor(() => h.git.pulls.find((p) => p.head === 'mergeops/bump/guestbook'), 'guestbook PR', 30_000);
    expect(pr.title).toBe('Bump ghcr.io/acme/guestbook from 1.0.0 to 1.2.0');
    expect(pr.body).toContain('Noticed through: GHCR registry_package');
    const head = h.git.refs.get('mergeops/bump/guestbook') as string;
    expect(h.git.files.get(head)?.['apps/web/deployment.yaml']).toContain('image: ghcr.io/acme/guestbook:1.2.0\n');
    // Asked GHCR itself, with the anonymous token its challenge pointed to.
    expect(ghcr.requests.map((r) => `${r.method} ${r.path.split('?')[0]}`)).toEqual(expect.arrayContaining(['GET /token', 'GET /v2/acme/guestbook/tags/list']));
  });

  it('a registry_package webhook for a version GHCR does not have opens nothing', async () => {
    const before = h.calls.length;
    const payload = structuredClone(ghcrPayload) as Record<string, any>; // fixture JSON is untyped
    payload['registry_package'].package_version.container_metadata.tag = { name: '1.7.0', digest: `sha256:${'d'.repeat(64)}` };
    payload['registry_package'].package_version.version = `sha256:${'d'.repeat(64)}`;
    expect((await deliver(h.rt.url as string, 'registry_package', payload)).status).toBe(202);
    const job = await waitFor(async () => (await h.rt.queues.image.getCompleted()).find((j) => j.data.kind === 'bump' && j.data.events[0]?.tag === '1.7.0'), 'bump job of 1.7.0', 20_000);
    expect(job.returnvalue).toEqual([{ key: 'guestbook', base: 'main', result: 'unchanged', pr: expect.any(Number) }]);
    expect(ghcr.requests.some((r) => r.method === 'HEAD' && r.path === '/v2/acme/guestbook/manifests/1.7.0')).toBe(true);
    expect(JSON.stringify(h.calls.slice(before).filter((c) => c.method !== 'GET').map((c) => c.body))).not.toContain('1.7.0');
  });
});

describe('registry webhook secrets per registry host (MERGEOPS_REGISTRIES webhookSecret)', () => {
  let h: Harness;
  let dir: string;
  const A = 'registry-a.example:5000';
  const SECRET_A = 'secret-of-registry-a-0123456789';
  const SHARED = 'the-shared-fallback-secret-0123';

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-reg-secrets-'));
    const file = path.join(dir, 'registries.yaml');
    fs.writeFileSync(path.join(dir, 'a.secret'), `${SECRET_A}\n`);
    fs.writeFileSync(file, `registries:\n  ${A}: { webhookSecretFile: ${path.join(dir, 'a.secret')} }\n`);
    h = await startHarness(CLUSTERS, { MERGEOPS_MODE: 'web', MERGEOPS_REGISTRIES: file, MERGEOPS_REGISTRY_WEBHOOK_SECRET: SHARED });
  });
  afterAll(async () => {
    await h?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const notify = async (secret: string, hosts: string[]): Promise<{ status: number; body: unknown }> => {
    const events = hosts.map((host) => ({ action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'acme/web', tag: '1.0.0', url: `https://${host}/v2/acme/web/manifests/1.0.0` }, request: { host } }));
    const res = await fetch(`${h.rt.url}/registry/webhook`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${secret}` }, body: JSON.stringify({ events }) });
    return { status: res.status, body: await res.json() };
  };

  it("a host's own secret announces that host's images only", async () => {
    expect(await notify(SECRET_A, [A])).toEqual({ status: 202, body: { ok: true, events: 1, refused: 0, enqueued: 0 } });
    expect(await notify(SECRET_A, ['registry-b.example', A])).toEqual({ status: 202, body: { ok: true, events: 1, refused: 1, enqueued: 0 } });
  });

  it('the shared secret is the fallback for hosts without their own, and cannot speak for one that has it', async () => {
    expect(await notify(SHARED, ['registry-b.example'])).toEqual({ status: 202, body: { ok: true, events: 1, refused: 0, enqueued: 0 } });
    expect(await notify(SHARED, [A])).toEqual({ status: 202, body: { ok: true, events: 0, refused: 1, enqueued: 0 } });
    expect((await notify('not-a-secret-anyone-configured', [A])).status).toBe(401);
  });
});
