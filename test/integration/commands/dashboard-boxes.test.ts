import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Queue } from 'bullmq';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitForCheck } from '../../support/commands.js';
import { dashboardWhen as dashboardAfter, edit, startDashboardStand, tick, type DashboardStand, type FakeIssue } from '../../support/dashboard.js';
import { waitFor } from '../../support/github.js';
import { queueIdle, sha, type Harness, type Recorded } from '../../support/harness.js';
import { get, namespace, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/**
 * The dashboard's promote and re-run boxes through the whole app: a writer's tick runs the
 * command's own code (`/mergeops promote`, a re-run of the failed deploy) under its
 * permission rules; a reader's is refused. staging and prod share the run's API server, in
 * namespaces of their own.
 */
describe('the deploy dashboard: promote and re-run boxes, through the whole app', () => {
  let h: Harness;
  let issues: FakeIssue[];
  let cluster: Cluster;
  let ns: string;
  let dashboardQueue: Queue;
  let stand: DashboardStand;
  const config = (ns: string): string =>
    `dashboard: true\nenvironments:\n  - name: staging\n    cluster: default\n  - name: prod\n    cluster: default\n    approval: write\napps:\n  - name: shop\n    path: deploy/shop/{env}\n    namespace: ${ns}-{env}\n    wait: 0s\n`;
  const dashboardWhen = (since: number, what: string, ok: (body: string) => boolean): Promise<Recorded> => dashboardAfter(h, since, what, ok);
  const value = async (env: string): Promise<unknown> => ((await get(cluster, 'v1', 'ConfigMap', `${ns}-${env}`, 'shop'))?.['data'] as { value?: string } | undefined)?.value;

  beforeAll(async () => {
    stand = await startDashboardStand('dshb-*');
    ({ h, issues, cluster, queue: dashboardQueue } = stand);
    ns = uniqueName('dshb');
    await namespace(cluster, `${ns}-staging`);
    await namespace(cluster, `${ns}-prod`);
  });
  afterAll(async () => stand?.stop());

  it('a merge waiting for approval gets a Promote box: a reader\'s tick is refused, a writer\'s promotes it to prod', async () => {
    const m1 = sha(`dshb-m1-${ns}`);
    await h.push(m1, { '.github/mergeops.yml': config(ns), 'deploy/shop/staging/a.yaml': cm('shop', '1'), 'deploy/shop/prod/a.yaml': cm('shop', '1') });
    h.git.refs.set('main', m1);
    let since = h.calls.length;
    await h.pushEvent(m1, { mergedPr: 81 });
    const waiting = await dashboardWhen(since, 'the approval box', (b) => b.includes('mergeops-box approve prod'));
    expect(waiting.body.body).toMatch(new RegExp(`^- \\[ \\] <!-- mergeops-box approve prod ${m1} --> Promote <code>${m1.slice(0, 7)}</code> to \\*\\*prod\\*\\* for <code>shop</code>`, 'm'));
    expect(await value('staging')).toBe('1');
    expect(await value('prod')).toBeUndefined();
    await queueIdle(dashboardQueue);
    const issue = issues[0] as FakeIssue;

    // A reader's tick: refused by the promote command's own rule, the box unticked, nothing applied.
    const page = issue.body;
    since = h.calls.length;
    await edit(h, issue, page, tick(page, /approve prod/), { login: 'reader' });
    const refused = await dashboardWhen(since, "the reader's refusal", (b) => b.includes('@reader ticked promote'));
    expect(refused.body.body).toMatch(/@reader ticked promote <code>[0-9a-f]{7}<\/code> to <code>prod<\/code>: ❌[^\n]*write/);
    expect(refused.body.body).toMatch(/^- \[ \] <!-- mergeops-box approve prod /m);
    await queueIdle(dashboardQueue);
    expect(await value('prod')).toBeUndefined();

    // A writer's tick: prod deployed, the line says who promoted what.
    const page2 = issue.body;
    since = h.calls.length;
    await edit(h, issue, page2, tick(page2, /approve prod/), { login: 'writer' }, 'dshb-writer-promote');
    await dashboardWhen(since, "the writer's promotion", (b) => /@writer ticked promote <code>[0-9a-f]{7}<\/code> to <code>prod<\/code>: ✅/.test(b));
    await waitFor(async () => ((await value('prod')) === '1' ? true : undefined), 'prod applied by the promotion');
    const promoted = await dashboardWhen(since, 'prod deployed', (b) => !b.includes('mergeops-box approve prod') && b.includes(m1.slice(0, 7)));
    expect(promoted.body.body).not.toMatch(/waits for approval/);
  });

  it('a failed deploy gets a Re-run box: a writer\'s tick deploys that commit again (a second deploy check for it)', async () => {
    const m2 = sha(`dshb-m2-${ns}`);
    // A key the API server refuses: staging fails, prod is not started.
    const bad = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shop\ndata:\n  "bad key!": "x"\n`;
    await h.push(m2, { '.github/mergeops.yml': config(ns), 'deploy/shop/staging/a.yaml': bad, 'deploy/shop/prod/a.yaml': cm('shop', '1') });
    h.git.refs.set('main', m2);
    let since = h.calls.length;
    await h.pushEvent(m2, { mergedPr: 82, before: sha(`dshb-m1-${ns}`) });
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('failure');
    const failed = await dashboardWhen(since, 'the re-run box', (b) => b.includes(`mergeops-box rerun ${m2}`));
    expect(failed.body.body).toMatch(new RegExp(`^- \\[ \\] <!-- mergeops-box rerun ${m2} \\S+ --> Re-run the failed deploy of <code>${m2.slice(0, 7)}</code> for <code>shop</code> in \\*\\*staging\\*\\*`, 'm'));
    await queueIdle(dashboardQueue);
    const issue = issues[0] as FakeIssue;
    const checksBefore = h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === m2 && c.body.name === 'mergeops / deploy').length;

    const page = issue.body;
    since = h.calls.length;
    await edit(h, issue, page, tick(page, /rerun /), { login: 'writer' }, 'dshb-writer-rerun');
    await dashboardWhen(since, "the writer's re-run", (b) => /@writer ticked re-run the deploy of <code>[0-9a-f]{7}<\/code>: ✅/.test(b));
    // The re-run is that commit's deploy again: a new deploy check for m2, failing as before.
    const rerun = await waitFor(() => h.calls.slice(since).find((c) => !c.status && c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === m2 && c.body.name === 'mergeops / deploy'), 'the re-run deploy check');
    expect(rerun).toBeDefined();
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === m2 && c.body.name === 'mergeops / deploy').length).toBe(checksBefore + 1);
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('failure');
  });
});
