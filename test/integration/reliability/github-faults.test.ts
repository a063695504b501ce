import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Probot } from 'probot';
import { pino } from 'pino';
import type { Cluster } from '../../../src/cluster/connect.js';
import { MergeopsOctokit } from '../../../src/github/octokit.js';
import { previewJobId } from '../../../src/queue/jobs.js';
import { APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type FaultReply, type Harness } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

/** Which GitHub call a fault is aimed at. */
type Target = 'check-create' | 'check-complete' | 'comment-create';

function target(method: string, path: string, body: unknown): Target | null {
  if (method === 'POST' && path.endsWith('/check-runs')) return 'check-create';
  if (method === 'PATCH' && /\/check-runs\/\d+$/.test(path) && (body as { status?: string }).status === 'completed') return 'check-complete';
  if (method === 'POST' && /\/issues\/\d+\/comments$/.test(path)) return 'comment-create';
  return null;
}

const secondaryLimit = (retryAfter: number): FaultReply => [
  403,
  { message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.', documentation_url: 'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits' },
  { 'retry-after': String(retryAfter), 'x-ratelimit-remaining': '4000' },
];

/**
 * GitHub misbehaving, answered the way GitHub documents: 5xx are retried, a secondary
 * rate limit waits out its retry-after, a 422 is not sent again unchanged. The app runs
 * with the Octokit production uses (Probot's retry and throttling plugins plus ours).
 */
describe('GitHub faults: 5xx, secondary rate limit, 422', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  const faults = new Map<Target, FaultReply[]>();
  const injected: { target: Target; status: number; at: number }[] = [];

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relgh');
    await namespace(cluster, ns);
    const log = pino({ level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
    const probot = new Probot({ appId: APP_ID, privateKey: PRIVATE_KEY, secret: WEBHOOK_SECRET, log, Octokit: MergeopsOctokit });
    h = await startHarness(
      `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relgh-*"]\n`,
      {},
      {
        probot,
        log,
        fault: (method, path, body) => {
          const t = target(method, path, body);
          const f = t ? faults.get(t)?.shift() : undefined;
          if (t && f) injected.push({ target: t, status: f[0], at: Date.now() });
          return f;
        },
      },
    );
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const files = (value: string) => ({
    '.github/mergeops.yml': `apps:\n  - name: rel-gh\n    path: deploy\n    namespace: ${ns}\n`,
    'deploy/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: "${value}"\n`,
  });
  const ok = (c: { status?: number }) => c.status === undefined;
  const commentPosts = (pr: number) => h.calls.filter((c) => ok(c) && c.method === 'POST' && c.path.endsWith(`/issues/${pr}/comments`));
  const checkCreates = (s: string) => h.calls.filter((c) => ok(c) && c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === s);

  it('5xx on creating the check, completing it and posting the comment: each retried, each done exactly once', async () => {
    const s = sha(`gh-5xx-${ns}`);
    await h.push(s, files('a'));
    faults.set('check-create', [[502, { message: 'Bad Gateway' }]]);
    faults.set('check-complete', [[503, { message: 'Service Unavailable' }]]);
    faults.set('comment-create', [[500, { message: 'Internal Server Error' }]]);
    const before = injected.length;
    expect(await h.open(41, s)).toBe(202);
    const { check, comment } = await h.waitForPreview(s);

    // In flow order: the check opens, the comment goes out, then the check completes.
    expect(injected.slice(before).map((f) => [f.target, f.status])).toEqual([
      ['check-create', 502],
      ['comment-create', 500],
      ['check-complete', 503],
    ]);
    expect(check.body.conclusion).toBe('success');
    expect(comment.body.body).toContain('· 1 created\n');
    expect(checkCreates(s)).toHaveLength(1);
    expect(commentPosts(41)).toHaveLength(1);
  });

  it('a secondary rate limit (403 + retry-after: 2) is waited out, then the same request goes once', async () => {
    const s = sha(`gh-403-${ns}`);
    await h.push(s, files('b'));
    faults.set('comment-create', [secondaryLimit(2)]);
    faults.set('check-complete', [secondaryLimit(1)]);
    const before = injected.length;
    expect(await h.open(42, s)).toBe(202);
    const { check, comment } = await h.waitForPreview(s);

    const limitCheck = injected.slice(before).find((f) => f.target === 'check-complete');
    const limitComment = injected.slice(before).find((f) => f.target === 'comment-create');
    expect(limitCheck?.status).toBe(403);
    expect(limitComment?.status).toBe(403);
    // GitHub's advice, measured on the wire: the retry came no sooner than it asked.
    expect((check.at as number) - (limitCheck?.at as number)).toBeGreaterThanOrEqual(1000);
    expect((comment.at as number) - (limitComment?.at as number)).toBeGreaterThanOrEqual(2000);
    expect(check.body.conclusion).toBe('success');
    expect(commentPosts(42)).toHaveLength(1);
    // Resent in place, not by retrying the job: each refused request went out exactly once
    // more, unchanged, and the preview job ran one attempt (a job retry would be a second
    // attempt, which re-runs the whole flow).
    const refusedComment = h.calls.filter((c) => c.status === 403 && c.method === 'POST' && c.path.endsWith('/issues/42/comments'));
    expect(refusedComment).toHaveLength(1);
    expect(commentPosts(42)[0]?.body).toEqual(refusedComment[0]?.body);
    const checkId = /check-runs\/(\d+)$/.exec(check.path)?.[1];
    const completions = h.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith(`/check-runs/${checkId}`) && c.body.status === 'completed');
    expect(completions.map((c) => c.status ?? 200)).toEqual([403, 200]);
    expect(completions[1]?.body).toEqual(completions[0]?.body);
    // The check's completion reaches GitHub just before the worker marks the job finished
    // (attemptsMade counts on finishing): read the job once it is.
    const job = await waitFor(async () => {
      const j = await h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 42, headSha: s }));
      return j && (await j.getState()) === 'completed' ? j : undefined;
    }, 'the preview job to complete', 10_000);
    expect(job.attemptsMade).toBe(1);
  });

  it('422 on the comment and on the check output: not resent as is, degraded to a pointer and a short output, posted once', async () => {
    const s = sha(`gh-422-${ns}`);
    await h.push(s, files('c'));
    faults.set('comment-create', [[422, { message: 'Validation Failed', errors: [{ resource: 'IssueComment', code: 'custom', field: 'body', message: 'body is too long (maximum is 65536 characters)' }] }]]);
    faults.set('check-complete', [[422, { message: 'Invalid request.\n\nOnly 65535 characters are allowed; 70000 were supplied.' }]]);
    const before = injected.length;
    expect(await h.open(43, s)).toBe(202);
    const { check, comment } = await h.waitForPreview(s);

    expect(injected.slice(before).map((f) => f.status)).toEqual([422, 422]);
    expect(check.body.conclusion).toBe('success');
    expect(check.body.output.summary).toContain('GitHub refused the full output (HTTP 422');
    expect(check.body.output.text).toBe('');
    expect(commentPosts(43)).toHaveLength(1);
    expect(comment.body.body).toMatch(/^<!-- mergeops:preview:part=1 -->\n/);
    expect(comment.body.body).toContain('GitHub refused this comment (HTTP 422');
    expect(comment.body.body).toContain('`mergeops / preview` check run');
  });
});
