import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { deliver, waitFor } from '../../support/github.js';
import { pushPayload, sha, startHarness, type Harness, REPO } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

/** The repository's own file sets only apps: everything else comes from the organisation. */
const appsOnly = (ns: string) => `apps:\n  - name: shop\n    path: deploy\n    namespace: ${ns}\n`;
const ORG_DEFAULTS = 'appDefaults:\n  prune: false\n  wait: 0\n  review: { onRisk: action_required }\n';
const cm = (name: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "1"\n`;
/** No controller runs here: with the built-in 5m wait this Deployment would never turn healthy. */
const deployment = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: web}\n  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n`;
const pvc = `apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: data\nspec:\n  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 1Gi\n`;
const DEFAULTS_FILE = '/repos/acme/.github/contents/.github%2Fmergeops.yml';

describe("organisation-wide defaults through the app (the owner's .github repository)", () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  /** GitHub reads of the organisation's defaults file so far (its default branch: no ref; a ref is the .github repo's own push probing it). */
  const defaultsReads = () => h.calls.filter((c) => c.method === 'GET' && c.path === DEFAULTS_FILE);

  beforeAll(async () => {
    cluster = await testCluster();
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["orgdef-*"]\n`);
    ns = uniqueName('orgdef');
    await namespace(cluster, ns);
    h.otherRepos.set('.github', { '.github/mergeops.yml': ORG_DEFAULTS });
    h.serve([
      // What a push's own deploy and image-watch jobs ask of the .github repository (it deploys nothing).
      { method: 'GET', path: '/repos/acme/.github', handle: () => [200, DOT_GITHUB] },
      { method: 'GET', path: /^\/repos\/acme\/\.github\/git\/ref\//, handle: () => [200, { ref: 'refs/heads/main', object: { sha: dotGithubHead, type: 'commit' } }] },
      {
        // The pushed commit's file (its head is the default branch): the deploy's probe finds defaults only and downloads nothing.
        method: 'GET',
        path: /^\/repos\/acme\/\.github\/contents\/\.github%2Fmergeops\.yml\?ref=[0-9a-f]{40}$/,
        handle: (req) => {
          const text = req.url.searchParams.get('ref') === dotGithubHead ? h.otherRepos.get('.github')?.['.github/mergeops.yml'] : undefined;
          return text === undefined ? [404, { message: 'Not Found' }] : [200, text, { 'content-type': 'application/vnd.github.raw; charset=utf-8' }];
        },
      },
    ]);
  });
  const DOT_GITHUB = { id: 778, name: '.github', full_name: `${REPO.owner}/.github`, default_branch: 'main', owner: { login: REPO.owner } };
  let dotGithubHead = '';
  /** A signed push to acme/.github's default branch, as GitHub sends it when the organisation edits its defaults. */
  const pushDotGithub = async (seed: string): Promise<void> => {
    dotGithubHead = sha(seed);
    const p = pushPayload(dotGithubHead);
    Object.assign(p['repository'], { name: DOT_GITHUB.name, full_name: DOT_GITHUB.full_name, id: DOT_GITHUB.id });
    expect((await deliver(h.rt.url as string, 'push', p)).status).toBe(202);
  };
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const main1 = sha('orgdef-main-1');
  const main2 = sha('orgdef-main-2');

  it("a deploy takes wait and prune from the organisation's file: no health wait, and what Git dropped is kept", async () => {
    await h.push(main1, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a'), 'deploy/b.yaml': cm('b'), 'deploy/web.yaml': deployment });
    expect(await h.pushEvent(main1)).toBe(202);
    const first = await h.waitForDeploy(main1);
    // wait: 0 from the organisation: the Deployment no controller rolls out does not hold the deploy.
    expect(first.body.conclusion).toBe('success');
    expect(await get(cluster, 'apps/v1', 'Deployment', ns, 'web')).not.toBeNull();
    expect(defaultsReads()).toHaveLength(1);

    await h.push(main2, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a') });
    expect(await h.pushEvent(main2, { before: main1 })).toBe(202);
    const second = await h.waitForDeploy(main2);
    expect(second.body.conclusion).toBe('success');
    // prune: false from the organisation: b and web are no longer in Git and stay in the cluster.
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'b')).not.toBeNull();
    expect(await get(cluster, 'apps/v1', 'Deployment', ns, 'web')).not.toBeNull();
    // Cached in Redis: the second deploy asked GitHub nothing about the defaults.
    expect(defaultsReads()).toHaveLength(1);
  });

  it("a preview takes review.onRisk, prune and wait from it, says so in the footer, and reads the defaults again only after a push to .github", async () => {
    const head = sha('orgdef-head-1');
    await h.push(head, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a'), 'deploy/data.yaml': pvc });
    await h.open(41, head, { baseSha: main2 });
    const first = await h.waitForPreview(head);
    // A new PersistentVolumeClaim is a risk; review.onRisk: action_required came from the organisation.
    expect(first.check.body.conclusion).toBe('action_required');
    const body = String(first.comment.body.body);
    expect(body).toContain('keep what Git dropped (prune: false)');
    expect(body).toContain('not wait for health');
    expect(body).toContain('defaults from <code>acme/.github:.github/mergeops.yml</code>');
    expect(defaultsReads()).toHaveLength(1);

    // Another push to the PR: nothing changed in the defaults, so no read of them.
    const head2 = sha('orgdef-head-2');
    await h.push(head2, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a'), 'deploy/data.yaml': pvc, 'deploy/c.yaml': cm('c') });
    await h.open(41, head2, { baseSha: main2, action: 'synchronize' });
    expect((await h.waitForPreview(head2)).check.body.conclusion).toBe('action_required');
    expect(defaultsReads()).toHaveLength(1);

    // The organisation relaxes the gate: a push to acme/.github's default branch retires the cache.
    h.otherRepos.set('.github', { '.github/mergeops.yml': 'appDefaults:\n  prune: false\n  wait: 0\n  review: { onRisk: success }\n' });
    await pushDotGithub('orgdef-dotgithub-1');

    const head3 = sha('orgdef-head-3');
    await h.push(head3, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a'), 'deploy/data.yaml': pvc, 'deploy/d.yaml': cm('d') });
    await h.open(41, head3, { baseSha: main2, action: 'synchronize' });
    expect((await h.waitForPreview(head3)).check.body.conclusion).toBe('success');
    await waitFor(() => (defaultsReads().length === 2 ? true : undefined), 'the defaults read again after the push');
  });

  it("a broken organisation file fails the preview with a check that names it, and the worker keeps serving", async () => {
    h.otherRepos.set('.github', { '.github/mergeops.yml': 'appDefaults:\n  wait: soon\n' });
    await pushDotGithub('orgdef-dotgithub-2');
    const head = sha('orgdef-head-4');
    await h.push(head, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a') });
    await h.open(42, head, { baseSha: main2 });
    const r = await h.waitForPreview(head);
    expect(r.check.body.conclusion).toBe('failure');
    expect(JSON.stringify(r.check.body.output)).toContain("appDefaults.wait: expected a duration like");
    expect(JSON.stringify(r.check.body.output)).toContain("in acme/.github's .github/mergeops.yml, the organisation's mergeops defaults; fix it there");

    h.otherRepos.delete('.github');
    await pushDotGithub('orgdef-dotgithub-3');
    const head2 = sha('orgdef-head-5');
    await h.push(head2, { '.github/mergeops.yml': appsOnly(ns), 'deploy/a.yaml': cm('a'), 'deploy/e.yaml': cm('e') });
    await h.open(42, head2, { baseSha: main2, action: 'synchronize' });
    const ok = await h.waitForPreview(head2);
    // No .github repository any more (GitHub's 404): the built-in defaults, and the footer names none.
    expect(ok.check.body.conclusion).toBe('success');
    expect(String(ok.comment.body.body)).toContain('prune what Git dropped');
    expect(String(ok.comment.body.body)).not.toContain('defaults from');
  });
});
