import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { previewJobId } from '../../../src/queue/jobs.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * Issue 29, "humans first", through the app against a stand-in that enforces GitHub's
 * secondary limits on GitHub's own clock (80 content-creating requests a minute per
 * installation, 60 s): a person's preview is not queued behind a deploy's bookkeeping, the
 * bookkeeping still completes without a 403, and a PR update costs a handful of requests.
 */
const APPS = 40;
const names = Array.from({ length: APPS }, (_, i) => `app-${String(i).padStart(3, '0')}`);
const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
/** The monorepo with every app's ConfigMap at `value`, and `first` (one app's) at `firstValue`. */
function monorepo(ns: string, value: string, firstValue = value): Record<string, string> {
  return {
    '.github/mergeops.yml': `apps:\n${names.map((n) => `  - name: ${n}\n    path: apps/${n}\n    namespace: ${ns}\n    wait: 0\n`).join('')}`,
    ...Object.fromEntries(names.map((n, i) => [`apps/${n}/cm.yaml`, cm(n, i === 0 ? firstValue : value)])),
  };
}

describe('people first: a preview is not held back by a deploy\'s GitHub bookkeeping', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  const s1 = sha('people-first-bootstrap');
  const s2 = sha('people-first-change-all');
  const writes = (pred: (c: Recorded) => boolean = () => true) => h.calls.filter((c) => c.method !== 'GET' && pred(c));
  /** Resolves once the deploy of `s` has applied and queued its GitHub bookkeeping. */
  const applied = (s: string) =>
    waitFor(async () => ((await h.rt.queues.deployReport.getJobs(['waiting', 'active', 'delayed', 'prioritized', 'completed'])).some((j) => j.data.sha === s) ? true : undefined), `the deploy of ${s.slice(0, 7)} applied`, 120_000);

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('first');
    await namespace(cluster, ns);
    h = await startHarness(
      `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["first-*"]\n`,
      // Writes back to back (no second between them): only so can a deploy's bookkeeping
      // fill its share of GitHub's minute, the case the second test needs. The spacing
      // itself is proven in write-pacer.test.ts, and the bench runs with it.
      { MERGEOPS_GITHUB_WRITES_PER_MINUTE: '80', MERGEOPS_GITHUB_WRITE_SPACING_MS: '0' },
      // A little of GitHub's answer time, so a write in flight is one a preview can wait on.
      { writeLatencyMs: 50 },
    );
    // A worker that has served a preview before, as in production: the first preview of a
    // process also pays for loading and connecting, which is not what is measured here.
    const warm = sha('people-first-warm-up');
    await h.push(warm, { '.github/mergeops.yml': `apps:\n  - name: warm\n    path: warm\n    namespace: ${ns}\n    wait: 0\n`, 'warm/cm.yaml': cm('warm', '1') });
    await h.open(80, warm, { baseSha: sha('people-first-warm-base') });
    await h.waitForPreview(warm);
  }, 120_000);

  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  }, 60_000);

  it('a PR opened right after a 40-app first deploy gets its comment within 3 s; the bootstrap folds its 40 Deployments into the check', async () => {
    await h.push(s1, monorepo(ns, '1'));
    await h.pushEvent(s1);
    await applied(s1);
    const head = sha('people-first-pr-1');
    await h.push(head, monorepo(ns, '1', 'pr'));
    const opened = Date.now();
    await h.open(81, head, { baseSha: s1 });
    const { comment } = await h.waitForPreview(head);
    expect(comment.at - opened).toBeLessThan(3000);

    const check = await h.waitForDeploy(s1);
    expect(check.body.conclusion).toBe('success');
    expect(check.body.output.summary).toContain(`${APPS} apps deployed for the first time (a bootstrap): no GitHub Deployment each`);
    expect(h.git.deployments.filter((d) => d.sha === s1)).toEqual([]);
    expect(h.calls.filter((c) => c.status === 403 || c.status === 429)).toEqual([]);
  }, 240_000);

  it('a PR opened when a 40-app change\'s 80 Deployment writes have used their share of GitHub\'s minute gets its comment within 3 s, ahead of the rest; they all complete, within GitHub\'s limits, no 403', async () => {
    await h.push(s2, monorepo(ns, '2'));
    await h.pushEvent(s2, { before: s1 });
    // The moment the issue measured 81 s at: the deploy's bookkeeping has filled the
    // installation's minute as far as it may (70 of 80) and the rest of it waits.
    const inLastMinute = () => writes((c) => c.at > Date.now() - 61_000).length;
    await waitFor(() => (inLastMinute() >= 70 && h.git.deployments.filter((d) => d.sha === s2 && d.statuses.length === 1).length < APPS ? true : undefined), 'the change\'s bookkeeping to use its share of the minute', 120_000);
    const head = sha('people-first-pr-2');
    await h.push(head, monorepo(ns, '2', 'pr'));
    const opened = Date.now();
    await h.open(82, head, { baseSha: s2 });
    const { comment, check } = await h.waitForPreview(head);
    expect(comment.at - opened).toBeLessThan(3000);
    expect(check.at - opened).toBeLessThan(3000);

    // The bookkeeping completes: every changed app's Deployment with its final status.
    await waitFor(() => (h.git.deployments.filter((d) => d.sha === s2 && d.statuses.length === 1).length === APPS ? true : undefined), `${APPS} Deployments of the change with their status`, 180_000);
    const statuses = writes((c) => /\/deployments\/\d+\/statuses$/.test(c.path));
    // The person's comment went before the bookkeeping that was waiting when it came.
    expect(statuses.filter((c) => c.at > comment.at).length).toBeGreaterThan(0);
    expect(h.git.deployments.filter((d) => d.sha === s2).every((d) => d.statuses[0]?.state === 'success')).toBe(true);
    expect(h.calls.filter((c) => c.status === 403 || c.status === 429)).toEqual([]);
    expect(h.rateLimited()).toBe(0);
    expect(h.maxWritesInFlight()).toBe(1);
    // Never more than 80 in any of GitHub's minutes, on the stand-in's clock.
    const at = writes().map((c) => c.at);
    expect(Math.max(...at.map((t) => at.filter((u) => u >= t && u < t + 60_000).length))).toBeLessThanOrEqual(80);
  }, 300_000);

  it('a PR update that leaves its labels as they are costs at most 5 GitHub requests, none of them about labels', async () => {
    const head = sha('people-first-pr-2-update');
    await h.push(head, { ...monorepo(ns, '2', 'pr'), 'README.md': 'docs only\n' });
    const from = h.calls.length;
    await h.open(82, head, { baseSha: s2, action: 'synchronize' });
    const { check } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    const job = await h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 82, headSha: head }));
    await waitFor(async () => ((await job?.getState()) === 'completed' ? true : undefined), 'the update\'s preview job completed');
    const made = h.calls.slice(from).filter((c) => !(c.method === 'POST' && c.path.endsWith('/deployments')) && !/\/deployments\/\d+\/statuses$/.test(c.path));
    const list = made.map((c) => `${c.method} ${c.path.split('?')[0]}`);
    // The list itself on failure: which request was one too many.
    expect(list.length <= 5 ? 'at most 5' : list).toBe('at most 5');
    expect(made.filter((c) => c.path.includes('/labels'))).toEqual([]);
  }, 120_000);
});
