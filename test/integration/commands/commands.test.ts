import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { queueIdle, sha, startHarness, type Harness } from '../../support/harness.js';
import { comment, commandsApi, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

describe('comment commands through the whole app (signed issue_comment → real Redis + API server → GitHub stand-in)', () => {
  let h: Harness;
  let gh: CommandStandIn;
  let cluster: Cluster;
  let ns: string;
  const config = (namespace: string) => `apps:\n  - name: web\n    path: deploy/web\n    namespace: ${namespace}\n    wait: 0s\n  - name: rogue\n    path: deploy/rogue\n    namespace: kube-system\n    wait: 0s\n`;
  const main = sha('commands-main');
  const commandQueue = () => {
    const q = h.rt.queues.all.find((x) => x.name === 'command');
    if (!q) throw new Error('no command queue');
    return q;
  };

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('cmd');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["cmd-*"]\n        commands: {rollback: maintain}\n`);
    gh = commandsApi(h);
    gh.roles.set('writer', 'write');
    gh.roles.set('reader', 'read');
    gh.roles.set('maintainer', 'maintain');
    await h.push(main, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '1'), 'deploy/rogue/a.yaml': cm('r', '1') });
    h.git.refs.set('main', main);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('help: 👀 on receipt, then the commands and who may run them, for anyone (no permission asked)', async () => {
    const since = h.calls.length;
    const { status, commentId } = await comment(h, '/mergeops help', { issue: 5, login: 'passer-by' });
    expect(status).toBe(202);
    const reply = await waitForReply(h, 5, since);
    expect(reply.body.body).toContain('> /mergeops help');
    expect(reply.body.body).toContain('| `/mergeops rollback <app> [environment] [to <sha>]` |');
    // The operator raised rollback to maintain on this cluster's grant: help says so, per app.
    expect(reply.body.body).toContain('write access (maintain for `web`)');
    await waitFor(() => gh.reactions.filter((r) => r.commentId === commentId).length === 2 || undefined, 'both reactions');
    expect(gh.reactions.filter((r) => r.commentId === commentId).map((r) => r.content)).toEqual(['eyes', 'rocket']);
    expect(h.calls.slice(since).some((c) => c.path.includes('/collaborators/'))).toBe(false);
  });

  it('unknown and malformed commands get the help text with the reason, never a crash; the worker keeps serving', async () => {
    let since = h.calls.length;
    await comment(h, '/mergeops frobnicate everything', { issue: 6, login: 'writer' });
    expect((await waitForReply(h, 6, since)).body.body).toContain('mergeops has no command `frobnicate`');
    since = h.calls.length;
    await comment(h, '/mergeops rollback web to not-a-sha', { issue: 6, login: 'writer' });
    const bad = await waitForReply(h, 6, since);
    // One :x:, the reply's (the help text adds none of its own).
    expect(bad.body.body).toContain('\n\n:x: `not-a-sha` is not a commit SHA');
    expect(bad.body.body).not.toContain(':x: :x:');
    expect(bad.body.body).toContain('Usage: `/mergeops rollback <app> [environment] [to <sha>]`');
    since = h.calls.length;
    await comment(h, `/mergeops lock web ${'x'.repeat(1200)}`, { issue: 6, login: 'writer' });
    expect((await waitForReply(h, 6, since)).body.body).toContain('mergeops reads at most 1000');
    since = h.calls.length;
    await comment(h, '/mergeops deploy nosuchapp', { issue: 6, login: 'writer' });
    expect((await waitForReply(h, 6, since)).body.body).toContain('no app named `nosuchapp`');
  });

  it('conversation, quoted commands, edited comments and bots are ignored: no job, no call', async () => {
    // Every command job in any state: the earlier tests' jobs may still be finishing.
    const commandJobs = async () => Object.values((await commandQueue().getJobCounts('completed', 'waiting', 'active', 'failed', 'delayed', 'prioritized')) ?? {}).reduce((a, b) => a + b, 0);
    // The last test saw its replies, not its jobs' last calls (the closing reaction comes after
    // the reply): counting calls from here before they finish was a race.
    await queueIdle(commandQueue());
    const jobsBefore = await commandJobs();
    const since = h.calls.length;
    expect((await comment(h, 'looks good to me', { issue: 7 })).status).toBe(202);
    expect((await comment(h, '> /mergeops deploy\nwhy did this not work?', { issue: 7 })).status).toBe(202);
    expect((await comment(h, '/mergeops deploy', { issue: 7, action: 'edited', login: 'writer' })).status).toBe(202);
    expect((await comment(h, '/mergeops deploy', { issue: 7, userType: 'Bot', login: 'other[bot]' })).status).toBe(202);
    expect(await commandJobs()).toBe(jobsBefore);
    expect(h.calls.slice(since)).toEqual([]);
  });

  it('preview: re-runs the PR preview on a new job for the same head commit; a reader is refused and nothing runs', async () => {
    const head = sha(`commands-pr-${ns}`);
    await h.push(head, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '2') });
    gh.pulls.set(11, { head, baseSha: main });
    await h.open(11, head, { baseSha: main });
    await h.waitForPreview(head);
    // Its job is marked done a moment after its last call; the queue is read below.
    await queueIdle(h.rt.queues.preview);
    const checksOf = () => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === head);
    expect(checksOf()).toHaveLength(1);

    let since = h.calls.length;
    await comment(h, '/mergeops preview web', { issue: 11, login: 'reader' });
    const refused = await waitForReply(h, 11, since);
    expect(refused.body.body).toContain(':x: `preview` needs write access to this repository; @reader has read access');
    expect(checksOf()).toHaveLength(1);
    expect(await h.rt.queues.preview.getJobs(['waiting', 'active', 'delayed'])).toEqual([]);

    since = h.calls.length;
    await comment(h, '/mergeops preview web', { issue: 11, login: 'writer' });
    const ok = await waitForReply(h, 11, since, 'Re-running the preview');
    expect(ok.body.body).toContain(`:white_check_mark: Re-running the preview of ${head.slice(0, 7)} for \`web\``);
    await waitFor(() => checksOf().length === 2 || undefined, 'second preview check run');
    // The re-run edits the same preview comment and completes its own check.
    const edited = await waitFor(() => h.calls.slice(since).find((c) => c.method === 'PATCH' && c.path.includes('/issues/comments/') && String(c.body.body).includes(head.slice(0, 7))), 'preview comment edited');
    expect(edited.body.body).toContain('<code>web</code>');
  });

  it('an app outside the repo grant is refused with the reason, before any permission is asked', async () => {
    const since = h.calls.length;
    await comment(h, '/mergeops lock rogue maintenance', { issue: 12, login: 'writer' });
    const reply = await waitForReply(h, 12, since);
    expect(reply.body.body).toContain(':x: `rogue` deploys to namespace `kube-system` on cluster `default`, which is not granted to acme/deploys (granted: cmd-*)');
    expect(h.calls.slice(since).some((c) => c.path.includes('/collaborators/'))).toBe(false);
  });

  it('a raised permission holds: rollback needs maintain, a writer is refused', async () => {
    const since = h.calls.length;
    await comment(h, '/mergeops rollback web', { issue: 12, login: 'writer' });
    expect((await waitForReply(h, 12, since)).body.body).toContain(':x: `rollback` needs maintain access to this repository; @writer has write access');
    expect(h.calls.slice(since).some((c) => c.path.endsWith('/pulls') && c.method === 'POST')).toBe(false);
  });

  it('a repository without .github/mergeops.yml gets nothing from us: no reaction, no reply', async () => {
    const bare = sha('commands-bare');
    await h.push(bare, { 'README.md': 'hello\n' });
    h.git.refs.set('main', bare);
    try {
      const since = h.calls.length;
      await comment(h, '/mergeops help', { issue: 13, login: 'writer' });
      await waitFor(() => h.calls.slice(since).find((c) => c.path.includes('/contents/')), 'config read');
      // The job ran to its end (its state says so), and the only call was the config read.
      await queueIdle(commandQueue());
      expect(h.calls.slice(since).map((c) => c.method)).toEqual(['GET']);
    } finally {
      h.git.refs.set('main', main);
    }
  });
});
