import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { queueIdle, sha, startHarness, type Harness } from '../../support/harness.js';
import { clickAction, comment, commandsApi, waitForCheck, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/**
 * A kustomize app whose overlay reads a base outside its own folder: a rollback must
 * restore the base too ("anything its render read").
 */
const files = (ns: string, base: Record<string, string>, readme: string): Record<string, string> => ({
  '.github/mergeops.yml': `apps:\n  - name: web\n    path: apps/web/overlay\n    namespace: ${ns}\n    wait: 0s\n  - name: other\n    path: apps/other\n    namespace: ${ns}\n    wait: 0s\n`,
  'apps/web/overlay/kustomization.yaml': 'resources:\n  - ../../../bases/web\n',
  'bases/web/kustomization.yaml': `resources:\n${Object.keys(base)
    .map((f) => `  - ${f}\n`)
    .join('')}`,
  ...Object.fromEntries(Object.entries(base).map(([f, text]) => [`bases/web/${f}`, text])),
  'apps/other/o.yaml': cm('o', readme.length.toString()),
  'README.md': readme,
});

describe('deploy and rollback commands, and the Roll back button, through the whole app', () => {
  let h: Harness;
  let gh: CommandStandIn;
  let cluster: Cluster;
  let ns: string;
  const m1 = sha('rb-m1');
  const m2 = sha('rb-m2');
  const m3 = sha('rb-m3');

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('rb');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["rb-*"]\n`);
    gh = commandsApi(h);
    gh.roles.set('writer', 'write');
    gh.roles.set('reader', 'read');
    await h.push(m1, files(ns, { 'a.yaml': cm('a', '1') }, 'one\n'));
    // m2 changes the base's object, adds one to it, and changes a file no app reads.
    await h.push(m2, files(ns, { 'a.yaml': cm('a', '2'), 'b.yaml': cm('b', '2') }, 'two\n'));
    // m3 breaks the render of web.
    await h.push(m3, files(ns, { 'a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [oops\n' }, 'three\n'));
    for (const [s, pr] of [
      [m1, 31],
      [m2, 32],
    ] as const) {
      h.git.refs.set('main', s);
      const since = h.calls.length;
      await h.pushEvent(s, { mergedPr: pr });
      expect((await waitForCheck(h, s, 'mergeops / deploy', since)).body.conclusion).toBe('success');
    }
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('deploy re-applies the last deployed commit on a merged PR; a reader and an open PR are refused and nothing is enqueued', async () => {
    // Someone deleted the object by hand; a re-sync brings it back.
    await cluster.client.request('DELETE', `/api/v1/namespaces/${ns}/configmaps/b`);
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'b')).toBeNull();
    // Every deploy job there is, in any state: a refused command must not add one.
    const deployJobs = async () => Object.values(await h.rt.queues.deploy.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'paused', 'prioritized')).reduce((a, b) => a + b, 0);

    const before = await deployJobs();
    let since = h.calls.length;
    gh.pulls.set(32, { head: m2, merged: true });
    await comment(h, '/mergeops deploy web', { issue: 32, login: 'reader' });
    expect((await waitForReply(h, 32, since, '> /mergeops deploy')).body.body).toContain(':x: `deploy` needs write access');
    gh.pulls.set(40, { head: sha('open-pr') });
    since = h.calls.length;
    await comment(h, '/mergeops deploy web', { issue: 40, login: 'writer' });
    expect((await waitForReply(h, 40, since)).body.body).toContain(':x: #40 is not merged');
    expect(await deployJobs()).toEqual(before);

    since = h.calls.length;
    await comment(h, '/mergeops deploy web', { issue: 32, login: 'writer' });
    expect((await waitForReply(h, 32, since, '> /mergeops deploy')).body.body).toContain(`:white_check_mark: Re-applying ${m2.slice(0, 7)} (the last deployed commit) for \`web\``);
    const check = await waitForCheck(h, m2, 'mergeops / deploy', since);
    expect(check.body.conclusion).toBe('success');
    // Only the app named was deployed: one Deployment, for web.
    expect(h.calls.slice(since).filter((c) => c.method === 'POST' && c.path.endsWith('/deployments')).map((c) => c.body.environment)).toEqual(['web']);
    expect(check.body.output.summary).toContain('1 created, 0 configured, 1 unchanged');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'b')).not.toBeNull();
  });

  it('rollback opens a PR whose files for the app equal its previous deployed commit (base included), with labels, auto-merge and a preview of the reverse diff', async () => {
    let since = h.calls.length;
    await comment(h, '/mergeops rollback web', { issue: 50, login: 'reader', isPullRequest: false });
    expect((await waitForReply(h, 50, since)).body.body).toContain(':x: `rollback` needs write access');
    expect(h.git.pulls).toEqual([]);

    since = h.calls.length;
    await comment(h, '/mergeops rollback web', { issue: 50, login: 'writer', isPullRequest: false });
    const reply = await waitForReply(h, 50, since);
    expect(reply.body.body).toContain(`:white_check_mark: Opened #100 rolling \`web\` back to ${m1.slice(0, 7)} (3 files). Auto-merge is on`);
    const pr = h.git.pulls[0];
    expect(pr).toMatchObject({ number: 100, base: 'main', head: `mergeops/rollback-web-${m1.slice(0, 7)}`, title: `Roll back web to ${m1.slice(0, 7)}`, labels: ['mergeops', 'rollback'] });
    const head = h.git.refs.get(pr?.head ?? '') as string;
    const at = (s: string) => h.git.files.get(s) ?? {};
    const appFiles = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([k]) => k.startsWith('apps/web/') || k.startsWith('bases/web/')));
    expect(appFiles(at(head))).toEqual(appFiles(at(m1)));
    // Files no render of web reads stay as they are on main.
    expect(at(head)['README.md']).toBe('two\n');
    expect(at(head)['apps/other/o.yaml']).toBe(at(m2)['apps/other/o.yaml']);
    expect(at(head)['.github/mergeops.yml']).toBe(at(m2)['.github/mergeops.yml']);
    // Through the Git Data API: blobs, a tree on main's tree, a commit on main, a ref, the PR.
    const writes = h.calls.slice(since).filter((c) => c.method !== 'GET' && c.path.includes('/git/')).map((c) => `${c.method} ${c.path.replace(/.*\/git\//, 'git/')}`);
    expect(writes).toEqual(['POST git/blobs', 'POST git/blobs', 'POST git/trees', 'POST git/commits', 'POST git/refs']);
    const tree = h.calls.slice(since).find((c) => c.path.endsWith('/git/trees'));
    expect(tree?.body.tree).toEqual([
      { path: 'bases/web/b.yaml', mode: '100644', type: 'blob', sha: null },
      { path: 'bases/web/kustomization.yaml', mode: '100644', type: 'blob', sha: expect.stringMatching(/^[0-9a-f]{40}$/) },
      { path: 'bases/web/a.yaml', mode: '100644', type: 'blob', sha: expect.stringMatching(/^[0-9a-f]{40}$/) },
    ].sort((x, y) => (x.path < y.path ? -1 : 1)));
    expect(h.calls.slice(since).find((c) => c.path === '/graphql')?.body.query).toContain('enablePullRequestAutoMerge');

    // Its own preview: the reverse of m2's change, against the live cluster.
    const { comment: preview, check } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    expect(preview.path).toContain('/issues/100/comments');
    expect(preview.body.body).toContain('<code>data.value</code> <code>2</code> → <code>1</code>');
    expect(preview.body.body).toContain(`🗑️ **delete** <code>v1 ConfigMap ${ns}/b</code>: no longer in Git`);
    // The revert touches only web's files: the other app is named unchanged, not planned.
    expect(preview.body.body).toMatch(/\*\*1 app unchanged\*\*: no file its render reads changed; not planned[^\n]*<code>other<\/code>/);
    expect(preview.body.body).not.toContain('<code>other</code> → <code>default</code>');

    // Asked again: the open PR is named, no second one.
    since = h.calls.length;
    await comment(h, '/mergeops rollback web', { issue: 50, login: 'writer', isPullRequest: false });
    expect((await waitForReply(h, 50, since)).body.body).toContain('is open already: #100');
    expect(h.git.pulls).toHaveLength(1);
  });

  it('rollback to a named commit, and to one where the app did not exist, answers with the reason', async () => {
    let since = h.calls.length;
    await comment(h, `/mergeops rollback web to ${m2.slice(0, 10)}`, { issue: 51, login: 'writer', isPullRequest: false });
    expect((await waitForReply(h, 51, since)).body.body).toContain(`:x: \`web\`'s files at ${m2.slice(0, 7)} are the same as on \`main\` now`);
    since = h.calls.length;
    await comment(h, `/mergeops rollback web to ${'f'.repeat(40)}`, { issue: 51, login: 'writer', isPullRequest: false });
    expect((await waitForReply(h, 51, since)).body.body).toContain(`:x: there is no commit ffffff`);
  });

  it('a failed deploy offers a Roll back button; a click opens the revert PR to the last good deploy; a reader clicking is refused', async () => {
    h.git.refs.set('main', m3);
    let since = h.calls.length;
    await h.pushEvent(m3, { mergedPr: 33 });
    const failed = await waitForCheck(h, m3, 'mergeops / deploy', since);
    expect(failed.body.conclusion).toBe('failure');
    expect(failed.body.actions).toEqual([{ label: 'Roll back', description: 'Open a PR restoring the last good deploy', identifier: 'mergeops-rollback' }]);
    // Created completed (a deploy reports after its apply), or completed by a PATCH naming it.
    const checkRunId = failed.checkRunId ?? Number(failed.path.split('/').pop());

    since = h.calls.length;
    expect(await clickAction(h, { sha: m3, checkRunId, login: 'reader', identifier: 'mergeops-rollback' })).toBe(202);
    expect((await waitForReply(h, 33, since, 'clicked **Roll back**')).body.body).toContain('`web`: `rollback` needs write access');
    const pulls = h.git.pulls.length;
    expect(h.git.pulls).toHaveLength(pulls);

    since = h.calls.length;
    expect(await clickAction(h, { sha: m3, checkRunId, login: 'writer', identifier: 'mergeops-rollback' })).toBe(202);
    const reply = await waitForReply(h, 33, since, 'clicked **Roll back**');
    expect(reply.body.body).toContain(`@writer clicked **Roll back** on the failed deploy of ${m3.slice(0, 7)}`);
    expect(reply.body.body).toContain(`Opened #101 rolling \`web\` back to ${m2.slice(0, 7)}`);
    const pr = h.git.pulls.find((p) => p.number === 101);
    const head = h.git.refs.get(pr?.head ?? '') as string;
    const appFiles = (f: Record<string, unknown>) => Object.fromEntries(Object.entries(f).filter(([k]) => k.startsWith('apps/web/') || k.startsWith('bases/web/')));
    expect(appFiles(h.git.files.get(head) ?? {})).toEqual(appFiles(h.git.files.get(m2) ?? {}));
    await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === head), 'revert PR preview');
    // That preview goes on writing (its comment, its check); the calls counted below start after it.
    await queueIdle(h.rt.queues.preview);

    // Another check's button, or another action, is not ours to handle.
    since = h.calls.length;
    expect(await clickAction(h, { sha: m3, checkRunId, login: 'writer', identifier: 'something-else' })).toBe(202);
    expect(await clickAction(h, { sha: m3, checkRunId, login: 'writer', identifier: 'mergeops-rollback', name: 'ci / build' })).toBe(202);
    expect(h.calls.slice(since)).toEqual([]);
  });
});
