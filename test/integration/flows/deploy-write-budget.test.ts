import { afterEach, describe, expect, it } from '@jest/globals';
import { Probot } from 'probot';
import { pino } from 'pino';
import type { Cluster } from '../../../src/cluster/connect.js';
import { MergeopsOctokit } from '../../../src/github/octokit.js';
import { APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { takeViolations } from '../../support/github-contract.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * GitHub's secondary limits for content-creating requests (80 a minute, 500 an hour, per
 * installation), run at a tenth of the time: the stand-in's minute and the app's pacer's
 * are both 6 s here (MERGEOPS_GITHUB_WRITE_WINDOW_MS), the counts are GitHub's. Production
 * keeps GitHub's 60 s.
 */
const WINDOW_MS = 6000;

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
/** `apps` apps of one ConfigMap each, at `value`: a new value changes every app. */
function monorepo(ns: string, apps: number, value = '1'): Record<string, string> {
  const names = Array.from({ length: apps }, (_, i) => `app-${String(i).padStart(3, '0')}`);
  return {
    '.github/mergeops.yml': `apps:\n${names.map((n) => `  - name: ${n}\n    path: apps/${n}\n    namespace: ${ns}\n    wait: 0\n`).join('')}`,
    ...Object.fromEntries(names.map((n) => [`apps/${n}/cm.yaml`, cm(n, value)])),
  };
}
const grants = `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["budget-*"]\n`;

describe('the GitHub write budget under a stand-in that enforces GitHub\'s secondary limits', () => {
  let h: Harness | undefined;
  let cluster: Cluster | undefined;
  afterEach(async () => {
    await h?.stop();
    cluster?.client.close();
  }, 60_000);

  const writes = (hh: Harness) => hh.calls.filter((c) => c.method !== 'GET');
  /** The deploy check of `s`: applying hundreds of apps on a shared 2-core machine takes a while before GitHub hears anything. */
  const deployCheck = (hh: Harness, s: string): Promise<Recorded> =>
    waitFor(() => hh.calls.find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s), `the deploy check of ${s.slice(0, 7)}`, 300_000);

  it('a first deploy of 200 apps folds its Deployments into the check (2 writes); a change to all 200 then completes without a single 403 or 429: paced under 80 a minute, one write at a time', async () => {
    cluster = await testCluster();
    const ns = uniqueName('budget');
    await namespace(cluster, ns);
    h = await startHarness(grants, { MERGEOPS_GITHUB_WRITES_PER_MINUTE: '80', MERGEOPS_GITHUB_WRITE_WINDOW_MS: String(WINDOW_MS), MERGEOPS_MAX_APPS_PER_REPO: '200' }, { rateWindowMs: WINDOW_MS, writeLatencyMs: 5 });
    const first = sha(`budget-200-first-${ns}`);
    await h.push(first, monorepo(ns, 200));
    await h.pushEvent(first, { mergedPr: 60 });
    const hh = h;
    const bootstrap = await deployCheck(hh, first);
    await waitFor(() => hh.calls.find((c) => c.method === 'POST' && c.path.endsWith('/issues/60/comments')), 'the bootstrap\'s PR comment', 30_000);
    expect(bootstrap.body.conclusion).toBe('success');
    expect(bootstrap.body.output.summary).toContain('200 apps deployed for the first time (a bootstrap)');
    // The bootstrap's bookkeeping: its check run and its comment, no Deployment.
    expect(writes(h)).toHaveLength(2);
    expect(hh.git.deployments).toEqual([]);

    const s = sha(`budget-200-${ns}`);
    const from = writes(h).length;
    await h.push(s, monorepo(ns, 200, '2'));
    await h.pushEvent(s, { mergedPr: 61, before: first });
    const check = await deployCheck(hh, s);
    await waitFor(() => (hh.git.deployments.filter((d) => d.sha === s && d.statuses.length === 1).length === 200 ? true : undefined), '200 Deployments with their status', 150_000);
    await waitFor(() => hh.calls.find((c) => c.method === 'POST' && c.path.endsWith('/issues/61/comments')), 'the PR comment', 30_000);

    expect(check.body.conclusion).toBe('success');
    expect(h.rateLimited()).toBe(0);
    expect(h.calls.filter((c) => c.status === 403 || c.status === 429)).toEqual([]);
    // 1 check run + 200 × (Deployment + its status) + 1 comment, nothing more.
    expect(writes(h).slice(from)).toHaveLength(402);
    expect(h.maxWritesInFlight()).toBe(1);
    // Never more than 80 in any window, measured on the stand-in's clock.
    const at = writes(h).map((c) => c.at);
    const busiest = Math.max(...at.map((t) => at.filter((u) => u >= t && u < t + WINDOW_MS).length));
    expect(busiest).toBeLessThanOrEqual(80);
  }, 480_000);

  it('when GitHub does answer 403 with retry-after, the write waits it out and goes again: nothing is lost, nothing doubled', async () => {
    cluster = await testCluster();
    const ns = uniqueName('budget');
    await namespace(cluster, ns);
    // The app's own pacing off (a GitHub Enterprise with stricter limits than configured),
    // and the Octokit production uses (our retry-after plugin), Probot's throttle off so
    // only GitHub's answer paces.
    const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
    const Octokit = MergeopsOctokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false }, throttle: { ...(options['throttle'] as object | undefined), enabled: false } }));
    const probot = new Probot({ appId: APP_ID, privateKey: PRIVATE_KEY, secret: WEBHOOK_SECRET, log, Octokit });
    h = await startHarness(grants, { MERGEOPS_GITHUB_WRITES_PER_MINUTE: '0' }, { probot, log, rateWindowMs: WINDOW_MS });
    // A bootstrap first (2 writes: its Deployments are folded into the check), then a change
    // to every app, whose bookkeeping is past GitHub's 80.
    const first = sha(`budget-403-first-${ns}`);
    await h.push(first, monorepo(ns, 45));
    await h.pushEvent(first);
    const hh = h;
    await deployCheck(hh, first);
    const s = sha(`budget-403-${ns}`);
    await h.push(s, monorepo(ns, 45, '2'));
    await h.pushEvent(s, { before: first });
    await deployCheck(hh, s);
    await waitFor(() => (hh.git.deployments.filter((d) => d.sha === s && d.statuses.length > 0).length === 45 ? true : undefined), '45 Deployments with their status', 90_000);

    // 1 + 45 × 2 = 91 writes: past 80 in one window, so GitHub refused some.
    const refused = h.calls.filter((c) => c.status === 403);
    expect(refused.length).toBeGreaterThan(0);
    expect(h.rateLimited()).toBe(refused.length);
    // Each refused request went again, once GitHub's wait was over, and was taken.
    for (const r of refused) {
      const again = h.calls.find((c) => !c.status && c.at > r.at && c.method === r.method && c.path === r.path && JSON.stringify(c.body) === JSON.stringify(r.body));
      expect(again).toBeDefined();
      expect((again?.at ?? 0) - r.at).toBeGreaterThanOrEqual(1000);
    }
    const ds = h.git.deployments.filter((d) => d.sha === s);
    expect(ds).toHaveLength(45);
    expect(new Set(ds.map((d) => d.environment)).size).toBe(45);
    expect(ds.every((d) => d.statuses.length === 1 && d.statuses[0]?.state === 'success')).toBe(true);
    // Read once completed: attemptsMade counts an attempt when it ends, and the report still
    // has its last reads to make after the last status.
    const jobId = `report-deploy-${REPO.id}-main-${s}`;
    await waitFor(async () => ((await hh.rt.queues.deployReport.getJobState(jobId)) === 'completed' ? true : undefined), 'the report job completed', 30_000);
    const job = await h.rt.queues.deployReport.getJob(jobId);
    // Waited out in place, not by failing the job.
    expect(job?.attemptsMade).toBe(1);
    // The contract recorded exactly those refusals (the guard fails a test for any it did not expect).
    const violations = takeViolations();
    expect(violations).toHaveLength(refused.length);
    expect(violations.every((v) => v.status === 403 && v.reason.startsWith('You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID '))).toBe(true);
  }, 420_000);
});
