import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { mergeGroupPreviewJobId } from '../../../src/queue/jobs.js';
import { mergeGroup, waitForCheck } from '../../support/commands.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

describe('merge queue: merge_group previews on the group head commit, through the whole app', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  const config = (n: string) => `apps:\n  - name: web\n    path: deploy/web\n    namespace: ${n}\n    wait: 0s\n`;
  const base = sha('mq-base');

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('mq');
    await namespace(cluster, ns);
    // Tarballs take a moment, so a group can be destroyed while its preview is in flight.
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["mq-*"]\n`, { TEST_TARBALL_DELAY_MS: '700' });
    await h.push(base, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '1') });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('checks_requested: mergeops / preview on the head SHA of the group, against the live cluster; no PR comment', async () => {
    const group = sha(`mq-ok-${ns}`);
    await h.push(group, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '2'), 'deploy/web/b.yaml': cm('b', '2') });
    const since = h.calls.length;
    expect(await mergeGroup(h, 'checks_requested', { headSha: group, baseSha: base, pr: 104 })).toBe(202);
    const check = await waitForCheck(h, group, 'mergeops / preview', since);
    expect(check.body.conclusion).toBe('success');
    expect(check.body.output.summary).toContain('`web` → `default`');
    expect(check.body.output.title).toMatch(/2 created/);
    // The group's commit is what was fetched; nothing was written to any PR.
    expect(h.calls.slice(since).some((c) => c.path.endsWith(`/tarball/${group}`))).toBe(true);
    expect(h.calls.slice(since).filter((c) => c.path.includes('/comments'))).toEqual([]);
  });

  it('a failing group fails the check', async () => {
    const group = sha(`mq-bad-${ns}`);
    await h.push(group, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: [broken\n' });
    const since = h.calls.length;
    await mergeGroup(h, 'checks_requested', { headSha: group, baseSha: base, pr: 105 });
    const check = await waitForCheck(h, group, 'mergeops / preview', since);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.annotations[0]).toMatchObject({ path: 'deploy/web/a.yaml' });
  });

  it('destroyed while the preview is in flight: the check ends cancelled, not with a verdict, and no job is left', async () => {
    const group = sha(`mq-gone-${ns}`);
    await h.push(group, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', '3') });
    const since = h.calls.length;
    await mergeGroup(h, 'checks_requested', { headSha: group, baseSha: base, pr: 106 });
    // In flight: its check run is open and its tarball is being fetched.
    await waitFor(() => h.calls.slice(since).find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === group), 'preview started');
    expect(await mergeGroup(h, 'destroyed', { headSha: group, baseSha: base, pr: 106 })).toBe(202);
    const check = await waitForCheck(h, group, 'mergeops / preview', since);
    expect(check.body.conclusion).toBe('cancelled');
    await waitFor(async () => ((await h.rt.queues.preview.getJobCounts('active', 'waiting', 'delayed')).active === 0 ? true : undefined), 'preview job finished');
    expect(h.calls.slice(since).filter((c) => c.method === 'PATCH' && c.body.conclusion && c.body.conclusion !== 'cancelled')).toEqual([]);
  });

  it('destroyed while its preview is still waiting for a worker: the job is removed from the queue and never posts a check', async () => {
    // Both worker slots (MERGEOPS_WORKER_CONCURRENCY=2) busy with groups whose tarballs take 700 ms.
    const busy = [sha(`mq-busy1-${ns}`), sha(`mq-busy2-${ns}`)];
    const waiting = sha(`mq-waiting-${ns}`);
    for (const s of [...busy, waiting]) await h.push(s, { '.github/mergeops.yml': config(ns), 'deploy/web/a.yaml': cm('a', s.slice(0, 6)) });
    const since = h.calls.length;
    for (const [i, s] of busy.entries()) await mergeGroup(h, 'checks_requested', { headSha: s, baseSha: base, pr: 110 + i });
    await waitFor(async () => ((await h.rt.queues.preview.getJobCounts('active')).active === 2 ? true : undefined), 'both worker slots busy');
    expect(await mergeGroup(h, 'checks_requested', { headSha: waiting, baseSha: base, pr: 112 })).toBe(202);
    const jobId = mergeGroupPreviewJobId({ repoId: REPO.id, headSha: waiting });
    expect(await (await h.rt.queues.preview.getJob(jobId))?.getState()).toBe('waiting');

    expect(await mergeGroup(h, 'destroyed', { headSha: waiting, baseSha: base, pr: 112 })).toBe(202);
    // Removed outright, not left for a worker to pick up and call off.
    await waitFor(async () => ((await h.rt.queues.preview.getJob(jobId)) === undefined ? true : undefined), 'waiting job removed');
    // The busy groups finish (their slots free up) and the queue drains: the removed one never ran.
    for (const s of busy) expect((await waitForCheck(h, s, 'mergeops / preview', since)).body.conclusion).toBe('success');
    await waitFor(async () => {
      const c = await h.rt.queues.preview.getJobCounts('active', 'waiting', 'delayed');
      return Object.values(c).every((n) => n === 0) ? true : undefined;
    }, 'preview queue drained');
    expect(await h.rt.queues.preview.getJob(jobId)).toBeUndefined();
    expect(h.calls.slice(since).filter((c) => c.path.endsWith('/check-runs') && c.body?.head_sha === waiting)).toEqual([]);
    expect(h.calls.slice(since).filter((c) => c.path.endsWith(`/tarball/${waiting}`))).toEqual([]);
  });
});
