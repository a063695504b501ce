import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bullmq';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { dashboardWhen as dashboardAfter, edit, startDashboardStand, tick, type DashboardStand, type FakeIssue } from '../../support/dashboard.js';
import { REPO, queueIdle, sha, type Harness, type Recorded } from '../../support/harness.js';
import { comment, waitForCheck, waitForReply } from '../../support/commands.js';
import { get, namespace, uniqueName } from '../../support/kube.js';
import { BOT_LOGIN } from '../../support/stand-in.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const value = async (cluster: Cluster, ns: string, name: string): Promise<unknown> => ((await get(cluster, 'v1', 'ConfigMap', ns, name))?.['data'] as { value?: string } | undefined)?.value;

describe('the deploy dashboard issue, through the whole app', () => {
  let h: Harness;
  let issues: FakeIssue[];
  let cluster: Cluster;
  let ns: string;
  let dashboardQueue: Queue;
  let stand: DashboardStand;
  const config = `dashboard: true\napps:\n  - name: web\n    path: deploy/web\n    namespace: NS\n    wait: 0s\n  - name: api\n    path: deploy/api\n    namespace: NS\n    wait: 0s\n`;
  const issueEdits = (since: number): Recorded[] => h.calls.slice(since).filter((c) => c.method === 'PATCH' && /\/issues\/\d+$/.test(c.path) && !c.status);
  const dashboardWhen = (since: number, what: string, ok: (body: string) => boolean): Promise<Recorded> => dashboardAfter(h, since, what, ok);

  beforeAll(async () => {
    stand = await startDashboardStand('dsh-*');
    ({ h, issues, cluster, queue: dashboardQueue } = stand);
    ns = uniqueName('dsh');
    await namespace(cluster, ns);
  });
  afterAll(async () => stand?.stop());

  it('shows the deploys, a lock and a drift; unlock ticked by a reader is refused and unticked, by a writer unlocks and deploys, and a second tick does nothing twice', async () => {
    const conf = config.replace(/NS/g, ns);
    const m1 = sha(`dash-m1-${ns}`);
    await h.push(m1, { '.github/mergeops.yml': conf, 'deploy/web/a.yaml': cm('web', '1'), 'deploy/api/a.yaml': cm('api', '1') });
    h.git.refs.set('main', m1);
    let since = h.calls.length;
    await h.pushEvent(m1);
    expect((await h.waitForDeploy(m1)).body.conclusion).toBe('success');

    // The first deploy makes the issue (one, labelled), with both apps deployed at m1.
    const created = await dashboardWhen(since, 'the first deploy', (b) => b.includes('<code>web</code>') && b.includes('<code>api</code>'));
    expect(created.method).toBe('POST');
    expect(created.body.title).toBe('mergeops dashboard');
    expect(created.body.labels).toEqual(['mergeops-dashboard']);
    expect(issues).toHaveLength(1);
    const issue = issues[0] as FakeIssue;
    const row = (b: string, app: string): string => b.split('\n').find((l) => l.startsWith(`| <code>${app}</code> |`)) ?? '';
    expect(row(created.body.body, 'web')).toContain(`<code>${m1.slice(0, 7)}</code>`);
    expect(row(created.body.body, 'web')).toContain('✅');
    expect(created.body.body).toContain('### Recent deploys');
    expect(created.body.body).toContain('✅ 2');

    // A lock: who and why in the table, and a box to lift it.
    since = h.calls.length;
    await comment(h, '/mergeops lock web db migration', { issue: 40, login: 'writer', isPullRequest: false });
    await waitForReply(h, 40, since, '> /mergeops lock');
    const locked = await dashboardWhen(since, 'the lock', (b) => row(b, 'web').includes('🔒 @writer: db migration'));
    expect(locked.path).toBe(`/repos/${REPO.owner}/${REPO.name}/issues/${issue.number}`);
    expect(locked.body.body).toMatch(/^- \[ \] <!-- mergeops-box unlock web \d+ --> Unlock <code>web<\/code> \(locked by @writer/m);

    // A drift: a hand edit of api, found by the drift check, shown with a box to re-deploy.
    await cluster.client.request('PATCH', `/api/v1/namespaces/${ns}/configmaps/api`, { body: { data: { value: 'hand-edited' } }, contentType: 'application/merge-patch+json', query: { fieldManager: 'kubectl-edit' } });
    since = h.calls.length;
    await h.rt.queues.drift.add('drift-scan', {});
    const drifted = await dashboardWhen(since, 'the drift', (b) => row(b, 'api').includes('⚠️ drift (1)'));
    expect(drifted.body.body).toMatch(/^- \[ \] <!-- mergeops-box redeploy api [0-9a-f]{40} --> Re-deploy <code>api<\/code>/m);
    expect(row(drifted.body.body, 'web')).toContain('🔒 @writer');

    // A merge while web is locked: held, shown as held.
    const m2 = sha(`dash-m2-${ns}`);
    await h.push(m2, { '.github/mergeops.yml': conf, 'deploy/web/a.yaml': cm('web', '2'), 'deploy/api/a.yaml': cm('api', '1') });
    h.git.refs.set('main', m2);
    since = h.calls.length;
    await h.pushEvent(m2, { before: m1 });
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('neutral');
    await dashboardWhen(since, 'the held merge', (b) => row(b, 'web').includes('🔒 held'));
    expect(await value(cluster, ns, 'web')).toBe('1');
    await queueIdle(dashboardQueue);

    // A reader ticks "unlock": refused, said so, the box unticked; nothing applied.
    const page = issue.body;
    expect(page).toMatch(/^- \[ \] <!-- mergeops-box unlock web /m);
    const readerTick = tick(page, /unlock web/);
    since = h.calls.length;
    await edit(h, issue, page, readerTick, { login: 'reader' });
    const refused = await dashboardWhen(since, "the reader's refusal", (b) => b.includes('@reader ticked unlock <code>web</code>: ❌'));
    expect(refused.body.body).toContain('`unlock` needs write access to this repository; @reader has read access');
    expect(refused.body.body).toMatch(/^- \[ \] <!-- mergeops-box unlock web /m);
    expect(refused.body.body).not.toMatch(/^- \[x\]/m);
    expect(await value(cluster, ns, 'web')).toBe('1');

    // A writer ticks it: unlocked, the held merge applied, the line says who did what.
    const page2 = issue.body;
    const writerTick = tick(page2, /unlock web/);
    since = h.calls.length;
    await edit(h, issue, page2, writerTick, { login: 'writer' }, 'dash-writer-tick');
    const done = await dashboardWhen(since, "the writer's unlock", (b) => b.includes('@writer ticked unlock <code>web</code>: ✅'));
    expect(done.body.body).toContain(`Applying ${m2.slice(0, 7)}, merged while locked, to \`web\``);
    expect(done.body.body).not.toContain('mergeops-box unlock');
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('success');
    expect(await value(cluster, ns, 'web')).toBe('2');
    await waitFor(() => (row(issue.body, 'web').includes(`<code>${m2.slice(0, 7)}</code>`) && !row(issue.body, 'web').includes('🔒') ? true : undefined), 'the dashboard to show web deployed at m2, unlocked');
    await queueIdle(dashboardQueue);
    await queueIdle(h.rt.queues.deploy);

    // The same box ticked again (the writer's page was stale, or GitHub redelivered): nothing twice.
    const deploysBefore = h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.name === 'mergeops / deploy').length;
    const bodyBefore = issue.body;
    since = h.calls.length;
    await edit(h, issue, page2, writerTick, { login: 'writer' });
    await edit(h, issue, page2, writerTick, { login: 'writer' }, 'dash-writer-tick');
    // Proven from the queue: the second tick's job ran and acted on nothing.
    const secondTick = async (): Promise<true | undefined> => {
      const jobs = await dashboardQueue.getJobs(['completed']);
      return jobs.some((j) => j?.data.kind === 'action' && j.data.delivery !== 'dash-writer-tick' && j.data.actor === 'writer' && String(j.returnvalue).startsWith('acted 0, refused 0')) || undefined;
    };
    await waitFor(secondTick, 'the second tick to be handled');
    await queueIdle(dashboardQueue);
    await queueIdle(h.rt.queues.deploy);
    expect(issueEdits(since)).toEqual([]);
    expect(issue.body).toBe(bodyBefore);
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.name === 'mergeops / deploy').length).toBe(deploysBefore);
    expect(h.calls.slice(since).filter((c) => c.path.includes('/collaborators/'))).toEqual([]);

    // Our own edits (the bot unticking) never act, so the dashboard cannot loop on itself.
    since = h.calls.length;
    const botTick = tick(issue.body, /redeploy api/);
    await edit(h, issue, issue.body, botTick, { login: BOT_LOGIN, type: 'Bot' });
    await queueIdle(dashboardQueue);
    expect(h.calls.slice(since).filter((c) => c.path.includes('/collaborators/') || c.path.endsWith('/issues/' + issue.number))).toEqual([]);
    expect(issues).toHaveLength(1);
  });
});
