import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { registry } from '../../../src/metrics.js';
import { waitFor } from '../../support/github.js';
import { sha, startHarness, type Harness } from '../../support/harness.js';
import { comment, commandsApi, waitForCheck, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const value = async (cluster: Cluster, ns: string): Promise<unknown> => ((await get(cluster, 'v1', 'ConfigMap', ns, 'a'))?.['data'] as { value?: string } | undefined)?.value;

describe('lock → merge → nothing applied → unlock → applied, through the whole app', () => {
  let h: Harness;
  let gh: CommandStandIn;
  let cluster: Cluster;
  let ns: string;
  const config = (n: string) => `apps:\n  - name: web\n    path: deploy/web\n    namespace: ${n}\n    wait: 0s\n`;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('lck');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["lck-*"]\n`);
    gh = commandsApi(h);
    gh.roles.set('writer', 'write');
    gh.roles.set('reader', 'read');
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('a locked app records its merge instead of applying it, shows the lock in previews, the locks check and /metrics, and the unlock applies the newest held commit', async () => {
    const m1 = sha(`lock-m1-${ns}`);
    await h.push(m1, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '1') });
    h.git.refs.set('main', m1);
    await h.pushEvent(m1);
    expect((await h.waitForDeploy(m1)).body.conclusion).toBe('success');
    expect(await value(cluster, ns)).toBe('1');

    // A reader cannot lock; nothing is stored.
    let since = h.calls.length;
    await comment(h, '/mergeops lock web db migration', { issue: 20, login: 'reader', isPullRequest: false });
    expect((await waitForReply(h, 20, since)).body.body).toContain(':x: `lock` needs write access to this repository; @reader has read access');
    expect(await registry.getSingleMetricAsString('mergeops_locks')).not.toContain('app="web"');

    since = h.calls.length;
    await comment(h, '/mergeops lock web db migration @ops-team', { issue: 20, login: 'writer', isPullRequest: false });
    const locked = await waitForReply(h, 20, since);
    expect(locked.body.body).toContain(':white_check_mark: Locked `web`: merges are recorded, not applied, until `/mergeops unlock web`.');
    const locksCheck = await waitForCheck(h, m1, 'mergeops / locks', since);
    expect(locksCheck.body.conclusion).toBe('neutral');
    expect(locksCheck.body.output.summary).toContain('| `web` | @writer |');
    expect(locksCheck.body.output.summary).toContain('db migration');
    expect(await registry.getSingleMetricAsString('mergeops_locks')).toContain('mergeops_locks{repo="acme/deploys",app="web"} 1');

    // Every PR touching the app shows the lock in its preview.
    const head = sha(`lock-pr-${ns}`);
    await h.push(head, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '2') });
    await h.open(21, head, { baseSha: m1 });
    const { comment: preview, check } = await h.waitForPreview(head);
    expect(preview.body.body).toContain('🔒 locked by @writer: db migration');
    expect(check.body.output.summary).toContain('🔒 locked by @writer');

    // The merge: recorded, not applied; no GitHub Deployment claims it deployed.
    const m2 = head;
    h.git.refs.set('main', m2);
    since = h.calls.length;
    await h.pushEvent(m2, { mergedPr: 21 });
    const held = await waitForCheck(h, m2, 'mergeops / deploy', since);
    expect(held.body.conclusion).toBe('neutral');
    expect(held.body.output.summary).toContain('held: :lock: locked by @writer');
    expect(await value(cluster, ns)).toBe('1');
    expect(h.git.deployments.filter((d) => d.sha === m2)).toEqual([]);
    expect((await waitForCheck(h, m2, 'mergeops / locks', since)).body.output.summary).toContain('| `web` | @writer |');
    const mergedNote = await waitForReply(h, 21, since, 'mergeops deploy of');
    expect(mergedNote.body.body).toContain('🔒 held (locked)');

    // A reader cannot unlock either.
    since = h.calls.length;
    await comment(h, '/mergeops unlock web', { issue: 21, login: 'reader' });
    expect((await waitForReply(h, 21, since, '> /mergeops unlock')).body.body).toContain(':x: `unlock` needs write access');
    expect(await value(cluster, ns)).toBe('1');

    since = h.calls.length;
    await comment(h, '/mergeops unlock web', { issue: 21, login: 'writer' });
    const unlocked = await waitForReply(h, 21, since, '> /mergeops unlock');
    expect(unlocked.body.body).toContain(`Applying ${m2.slice(0, 7)}, merged while locked, to \`web\``);
    const applied = await waitForCheck(h, m2, 'mergeops / deploy', since);
    expect(applied.body.conclusion).toBe('success');
    expect(await value(cluster, ns)).toBe('2');
    expect((await waitForCheck(h, m2, 'mergeops / locks', since)).body.conclusion).toBe('success');
    await waitFor(async () => (!(await registry.getSingleMetricAsString('mergeops_locks')).includes('app="web"') ? true : undefined), 'lock gone from /metrics');

    // Unlocking again: nothing is locked, nothing is applied.
    since = h.calls.length;
    await comment(h, '/mergeops unlock web', { issue: 21, login: 'writer' });
    expect((await waitForReply(h, 21, since, '> /mergeops unlock')).body.body).toContain(':x: `web` is not locked');
    expect(h.calls.slice(since).filter((c) => c.body?.name === 'mergeops / deploy')).toEqual([]);
  });

  it('lock and unlock re-run the previews of open PRs into the app\'s branch: the 🔒 appears and goes without a push', async () => {
    const main = sha(`lock-rp-main-${ns}`);
    await h.push(main, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '5') });
    h.git.refs.set('main', main);
    // An open PR into main, as GitHub lists it (head branch → head commit).
    const head = sha(`lock-rp-pr-${ns}`);
    await h.push(head, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '6') });
    h.git.refs.set('feature-51', head);
    h.git.pulls.push({ number: 51, head: 'feature-51', base: 'main', title: 'web: a=6', body: '', state: 'open', labels: [], author: 'octocat' });
    await h.open(51, head, { baseSha: main });
    const first = await h.waitForPreview(head);
    expect(first.comment.body.body).not.toContain('🔒');
    const previewComment = h.lastCommentId();
    const edits = (since: number) => h.calls.slice(since).filter((c) => c.method === 'PATCH' && !c.status && c.path.endsWith(`/issues/comments/${previewComment}`));

    let since = h.calls.length;
    await comment(h, '/mergeops lock web release freeze', { issue: 50, login: 'writer', isPullRequest: false });
    const locked = await waitForReply(h, 50, since, '> /mergeops lock');
    expect(locked.body.body).toContain('Re-running the preview of #51, open into `main`, so their comments show the lock.');
    // No push: the lock's re-preview edits PR #51's comment in place.
    const shown = await waitFor(() => edits(since).find((c) => String(c.body.body).includes('🔒 locked by @writer: release freeze')), 'PR #51 comment shows the lock');
    expect(String(shown.body.body)).toContain(head.slice(0, 7));
    expect(h.calls.slice(since).filter((c) => c.path.endsWith(`/tarball/${head}`)).length).toBe(1);

    since = h.calls.length;
    await comment(h, '/mergeops unlock web', { issue: 50, login: 'writer', isPullRequest: false });
    const unlocked = await waitForReply(h, 50, since, '> /mergeops unlock');
    expect(unlocked.body.body).toContain('Re-running the preview of #51, open into `main`, so their comments no longer show the lock.');
    const cleared = await waitFor(() => edits(since).find((c) => !String(c.body.body).includes('🔒')), 'PR #51 comment without the lock');
    expect(String(cleared.body.body)).toContain(head.slice(0, 7));
    expect(String(cleared.body.body)).not.toContain('locked by');
  });
});
