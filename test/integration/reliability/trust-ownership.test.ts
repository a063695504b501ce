import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fieldManager, withInventory, type InventoryKey } from '../../../src/cluster/inventory.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { KubeObject } from '../../../src/objects.js';
import type { Recorded } from '../../support/harness.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const OUR_REPO = `${REPO.owner}/${REPO.name}`;
/** Another repository of the same installation, and one of another installation. */
const BILLING = { owner: 'acme', name: 'billing', id: 888 };
const ELSEWHERE = { owner: 'globex', name: 'payments', id: 999 };

/**
 * Issue #24 item 1, end to end through the real receiver, queue, workers and API server
 * (RBAC on), GitHub stood in: an object another mergeops app owns — another repository's,
 * or another app of this one — is never taken over by `adopt:` alone; its owner releases it
 * (`release:` on its default branch, or the annotation its own deploy wrote), and only the
 * new owner's prune may then delete it. Every outcome is read back from the API server.
 */
describe('trust: adopt: never crosses ownership between mergeops apps', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  /** acme/billing's `.github/mergeops.yml` on its default branch, as GitHub serves it. */
  let billingConfig = '';

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('tow');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["${ns}"]\n`);
    const repoReply = (r: typeof BILLING) => ({ id: r.id, name: r.name, full_name: `${r.owner}/${r.name}`, default_branch: 'main', owner: { login: r.owner } });
    const notFound = { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/repos/repos#get-a-repository', status: '404' };
    const record = (req: { method: string; uri: string }) => void h.calls.push({ at: Date.now(), method: req.method, path: req.uri, body: null });
    h.serve([
      { method: 'GET', path: `/repos/${BILLING.owner}/${BILLING.name}`, handle: (req) => (record(req), [200, repoReply(BILLING)]) },
      {
        method: 'GET',
        path: new RegExp(`^/repos/${BILLING.owner}/${BILLING.name}/contents/`),
        handle: (req) => {
          record(req);
          const ok = decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? '') === '.github/mergeops.yml' && req.url.searchParams.get('ref') === 'main' && billingConfig !== '';
          return ok ? [200, billingConfig, { 'content-type': 'text/plain; charset=utf-8' }] : [404, { message: 'Not Found' }];
        },
      },
      // Not installed on the installation's token: GitHub answers 404, as for a repository that does not exist.
      { method: 'GET', path: `/repos/${ELSEWHERE.owner}/${ELSEWHERE.name}`, handle: (req) => (record(req), [404, notFound]) },
    ]);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const live = (name: string) => get(cluster, 'v1', 'ConfigMap', ns, name);
  const value = async (name: string) => ((await live(name))?.['data'] as { value?: string } | undefined)?.value;
  const owner = async (name: string) => {
    const l = (await live(name))?.metadata.labels ?? {};
    return `${l['mergeops.dev/repo-id']}/${l['mergeops.dev/app']}`;
  };
  /** What another repository's mergeops deploy writes: its marks, under its own field manager. */
  const deployedBy = (key: InventoryKey, name: string, v: string, annotations: Record<string, string> = {}): Promise<KubeObject> =>
    put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns, annotations }, data: { value: v } }, key), fieldManager(key));
  const billing: InventoryKey = { repoId: BILLING.id, repo: `${BILLING.owner}/${BILLING.name}`, app: 'pay' };
  const elsewhere: InventoryKey = { repoId: ELSEWHERE.id, repo: `${ELSEWHERE.owner}/${ELSEWHERE.name}`, app: 'ledger' };
  const config = (apps: string): string => `apps:\n${apps}`;
  const app = (name: string, extra = ''): string => `  - name: ${name}\n    path: ${name}\n    namespace: ${ns}\n    wait: 0\n${extra}`;
  let n = 0;
  /** Pushes these files to main and returns the finished deploy's check run. */
  const deploy = async (files: Record<string, string>): Promise<Recorded> => {
    const s = sha(`${ns}-${++n}`);
    await h.push(s, files);
    expect(await h.pushEvent(s)).toBe(202);
    return h.waitForDeploy(s);
  };
  /** A check run's words, as a person reads them (Markdown escapes undone). */
  const text = (check: Recorded): string => `${check.body.output.title}\n${check.body.output.summary}\n${check.body.output.text ?? ''}`.replace(/\\([\\`*_[\]<>&|~#!{}])/g, '$1');

  it("another repository's object: adopt: alone is refused in the preview and the deploy, naming the owner and both ways; its release: on its default branch makes the same deploy succeed", async () => {
    await deployedBy(billing, 'shared', 'from-billing');
    const files = { '.github/mergeops.yml': config(app('tow-b', `    adopt: [ConfigMap/${ns}/shared]\n`)), 'tow-b/cm.yaml': cm('shared', 'from-deploys') };
    const refusal = [
      `which belongs to app "pay" of acme/billing, another mergeops app; its live content is not shown`,
      `the owner adds { object: ConfigMap/${ns}/shared, to: ${OUR_REPO}/tow-b } under release: of app "pay" in acme/billing's .github/mergeops.yml on its default branch`,
      `or app "pay" declares the annotation mergeops.dev/adopt: "${OUR_REPO}/tow-b" on the object in its own Git and deploys it`,
    ];

    // The preview of a PR that adds it says so before anything merges.
    const base = sha(`${ns}-pr-base`);
    const head = sha(`${ns}-pr-head`);
    await h.push(base, { '.github/mergeops.yml': config(app('tow-b')), 'tow-b/other.yaml': cm('other', 'x') });
    await h.push(head, files);
    expect(await h.open(61, head, { baseSha: base })).toBe(202);
    const preview = await h.waitForPreview(head);
    expect(preview.check.body.conclusion).toBe('failure');
    for (const part of refusal) expect(text(preview.check)).toContain(part);

    // acme/billing has no config on main yet: mergeops read it, and it releases nothing.
    const refused = await deploy(files);
    expect(refused.body.conclusion).toBe('failure');
    for (const part of refusal) expect(text(refused)).toContain(part);
    expect(text(refused)).toContain('(mergeops read it on main: it does not release this object to this app)');
    expect(await owner('shared')).toBe(`${BILLING.id}/pay`);
    expect(await value('shared')).toBe('from-billing');

    // A release to another repository is no release to this one.
    billingConfig = config(`  - name: pay\n    path: pay\n    release:\n      - object: ConfigMap/${ns}/shared\n        to: acme/someone-else\n`);
    const stillRefused = await deploy(files);
    expect(stillRefused.body.conclusion).toBe('failure');
    expect(text(stillRefused)).toContain('(mergeops read it on main: app "pay" does not release this object to this app)');
    expect(await owner('shared')).toBe(`${BILLING.id}/pay`);

    billingConfig = config(`  - name: pay\n    path: pay\n    release:\n      - object: ConfigMap/${ns}/shared\n        to: ${OUR_REPO}/tow-b\n`);
    const taken = await deploy(files);
    expect(taken.body.conclusion).toBe('success');
    expect(await owner('shared')).toBe(`${REPO.id}/tow-b`);
    expect(await value('shared')).toBe('from-deploys');
    // Read from the owner's default branch, never from a pull request or another ref.
    expect(h.calls.filter((c) => c.path.startsWith(`/repos/${BILLING.owner}/${BILLING.name}/contents/`)).every((c) => c.path.endsWith('?ref=main'))).toBe(true);
  });

  it("the annotation releases only when the owner's own field manager wrote it; an owner outside the installation is named, with the annotation as the only way", async () => {
    // The taker (or anyone with kubectl) writing the annotation on the owner's object counts for nothing.
    await deployedBy(billing, 'noted', 'from-billing');
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'noted', namespace: ns, annotations: { 'mergeops.dev/adopt': `${OUR_REPO}/tow-c` } } }, 'mallory');
    await deployedBy(elsewhere, 'foreign', 'from-globex');
    const files = {
      '.github/mergeops.yml': config(app('tow-c', `    adopt: [ConfigMap/${ns}/noted, ConfigMap/${ns}/foreign]\n`)),
      'tow-c/noted.yaml': cm('noted', 'from-deploys'),
      'tow-c/foreign.yaml': cm('foreign', 'from-deploys'),
    };
    const refused = await deploy(files);
    expect(refused.body.conclusion).toBe('failure');
    expect(text(refused)).toContain("(the live object carries it, but the owner's deploy did not write it, so it does not count)");
    expect(text(refused)).toContain('which belongs to app "ledger" of globex/payments');
    expect(text(refused)).toContain("globex/payments is not in this repository's GitHub App installation, so mergeops cannot read its config; only the annotation can release the object");
    expect(await owner('noted')).toBe(`${BILLING.id}/pay`);
    expect(await owner('foreign')).toBe(`${ELSEWHERE.id}/ledger`);

    // Both owners' own deploys now declare the annotation: the same deploy takes both.
    await deployedBy(billing, 'noted', 'from-billing', { 'mergeops.dev/adopt': `${OUR_REPO}/tow-c` });
    await deployedBy(elsewhere, 'foreign', 'from-globex', { 'mergeops.dev/adopt': `${OUR_REPO}/tow-c` });
    const taken = await deploy(files);
    expect(taken.body.conclusion).toBe('success');
    expect(await owner('noted')).toBe(`${REPO.id}/tow-c`);
    expect(await owner('foreign')).toBe(`${REPO.id}/tow-c`);
    expect(await value('foreign')).toBe('from-deploys');
  });

  it("another app of this repository: refused until released; the releasing app's prune keeps it, the old owner never deletes it again, the new owner's prune does", async () => {
    const a = (extra = '') => app('own-a', extra);
    const b = (extra = '') => app('own-b', extra);
    const adopt = `    adopt: [ConfigMap/${ns}/handed]\n`;
    const release = `    release:\n      - object: ConfigMap/${ns}/handed\n        to: ${OUR_REPO}/own-b\n`;
    const first = await deploy({ '.github/mergeops.yml': config(a() + b()), 'own-a/handed.yaml': cm('handed', 'from-a'), 'own-a/keep.yaml': cm('keep-a', 'a'), 'own-b/keep.yaml': cm('keep-b', 'b') });
    expect(first.body.conclusion).toBe('success');
    expect(await owner('handed')).toBe(`${REPO.id}/own-a`);

    // Both declare it in one push: refused before any write, naming both files.
    const both = await deploy({ '.github/mergeops.yml': config(a() + b(adopt)), 'own-a/handed.yaml': cm('handed', 'from-a'), 'own-a/keep.yaml': cm('keep-a', 'a'), 'own-b/keep.yaml': cm('keep-b', 'b'), 'own-b/handed.yaml': cm('handed', 'from-b') });
    expect(both.body.conclusion).toBe('failure');
    expect(text(both)).toContain('is declared by app "own-a" (own-a/handed.yaml:1) and by app "own-b" (own-b/handed.yaml:1)');
    expect(await value('handed')).toBe('from-a');

    // own-a stops declaring it (prune: false leaves it live, still own-a's); own-b lists it
    // under adopt: and in its files: refused, naming own-a of this repository.
    const refused = await deploy({ '.github/mergeops.yml': config(a('    prune: false\n') + b(adopt)), 'own-a/keep.yaml': cm('keep-a', 'a'), 'own-b/keep.yaml': cm('keep-b', 'b'), 'own-b/handed.yaml': cm('handed', 'from-b') });
    expect(refused.body.conclusion).toBe('failure');
    expect(text(refused)).toContain(`which belongs to app "own-a" of this repository (${OUR_REPO}), another mergeops app`);
    expect(await value('handed')).toBe('from-a');

    // own-a releases it and drops it from Git: its prune leaves it (named in the check), still own-a's.
    const released = await deploy({ '.github/mergeops.yml': config(a(release) + b()), 'own-a/keep.yaml': cm('keep-a', 'a'), 'own-b/keep.yaml': cm('keep-b', 'b') });
    expect(released.body.conclusion).toBe('success');
    expect(text(released)).toContain(`not pruned although Git no longer has it: app "own-a" releases it (release: in .github/mergeops.yml, to ${OUR_REPO}/own-b), so it is left for its next owner`);
    expect(await owner('handed')).toBe(`${REPO.id}/own-a`);

    // own-b takes it.
    const taken = await deploy({ '.github/mergeops.yml': config(a(release) + b(adopt)), 'own-a/keep.yaml': cm('keep-a', 'a'), 'own-b/keep.yaml': cm('keep-b', 'b'), 'own-b/handed.yaml': cm('handed', 'from-b') });
    expect(taken.body.conclusion).toBe('success');
    expect(await owner('handed')).toBe(`${REPO.id}/own-b`);
    expect(await value('handed')).toBe('from-b');

    // own-a forgets the release (and changes, so it deploys and prunes): the object is own-b's, not its to delete.
    const forgotten = await deploy({ '.github/mergeops.yml': config(a() + b(adopt)), 'own-a/keep.yaml': cm('keep-a', 'a2'), 'own-b/keep.yaml': cm('keep-b', 'b'), 'own-b/handed.yaml': cm('handed', 'from-b') });
    expect(forgotten.body.conclusion).toBe('success');
    expect(await value('keep-a')).toBe('a2');
    expect(await owner('handed')).toBe(`${REPO.id}/own-b`);

    // own-b drops it: its prune deletes it.
    const dropped = await deploy({ '.github/mergeops.yml': config(a() + b()), 'own-a/keep.yaml': cm('keep-a', 'a2'), 'own-b/keep.yaml': cm('keep-b', 'b') });
    expect(dropped.body.conclusion).toBe('success');
    expect(await live('handed')).toBeNull();
  });
});
