import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Queue } from 'bullmq';
import type { PreviewJob } from '../../../src/flows/jobs.js';
import { previewJobId } from '../../../src/queue/jobs.js';
import { createQueues, enqueuePreview, type Queues } from '../../../src/queue/queues.js';
import { createRedis } from '../../../src/redis.js';
import { INSTALLATION_ID, makeTarball, waitFor } from '../../support/github.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { compiledMain } from '../../support/build.js';
import { spawnMain } from '../../support/main-process.js';
import { REPO, sha } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const LOCK_MS = 1500;

/**
 * A worker process SIGKILLed in the middle of a preview: BullMQ's stalled-job check hands
 * the job to another worker process, which finishes the same check run and posts the one
 * comment. The result is compared with a clean run of the same commit on another PR.
 */
describe('worker process killed (SIGKILL) mid-job', () => {
  let gh: FakeGitHub;
  let queues: Queues;
  let connection: ReturnType<typeof createRedis>;
  let dir: string;
  let ns: string;
  const prefix = `mergeops-kill-${crypto.randomUUID().slice(0, 8)}`;
  const children: ChildProcess[] = [];
  let main: string;

  beforeAll(async () => {
    main = await compiledMain();
    const cluster = await testCluster();
    ns = uniqueName('relkill');
    await namespace(cluster, ns);
    cluster.client.close();
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relkill-'));
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${process.env['MERGEOPS_TEST_KUBECONFIG']}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relkill-*"]\n`);
    connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
    queues = createQueues(connection, prefix);
  }, 120_000);
  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await queues?.close();
    connection?.disconnect();
    await gh?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** `node dist/main.js` in worker mode, as a container would run it. */
  function worker(name: string): ChildProcess {
    const child = spawnMain(main, { dir, gh, prefix, mode: 'worker', env: { MERGEOPS_JOB_LOCK_MS: String(LOCK_MS), MERGEOPS_WORKER_CONCURRENCY: '1' } });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL' && signal !== 'SIGTERM' && code !== 0) process.stderr.write(`worker ${name} exited with ${code ?? signal}\n`);
    });
    children.push(child);
    return child;
  }

  const job = (pr: number, headSha: string): PreviewJob => ({
    installationId: INSTALLATION_ID,
    owner: REPO.owner,
    repo: REPO.name,
    repoId: REPO.id,
    pr,
    headSha,
    baseRef: 'main',
    baseSha: sha('no-base'),
    defaultBranch: 'main',
    fromFork: false,
  });
  const writes = (pr: number, headSha: string) =>
    gh.calls.filter((c) => (c.method === 'POST' && c.path.endsWith('/check-runs') && c.body.head_sha === headSha) || (c.method !== 'GET' && c.path.endsWith(`/issues/${pr}/comments`)));

  it('the job is taken over by another worker process and ends exactly like a clean run: one check run, one completion, one comment', async () => {
    const s = sha(`kill-${ns}`);
    const files = { '.github/mergeops.yml': `apps:\n  - name: rel-kill\n    path: deploy\n    namespace: ${ns}\n`, 'deploy/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n' };
    gh.tarballs.set(s, await makeTarball(files));
    gh.hold = s;
    const a = worker('A');
    expect(await enqueuePreview(queues, job(71, s))).toBe(true);
    // A has opened the check run and is downloading the commit: kill it there.
    await waitFor(() => gh.calls.find((c) => c.path.endsWith(`/tarball/${s}`)), 'worker A mid-job', 30_000);
    const checkRun = gh.calls.find((c) => c.method === 'POST' && c.body?.head_sha === s);
    expect(checkRun).toBeDefined();
    a.kill('SIGKILL');
    await new Promise((r) => a.once('exit', r));
    gh.release();

    worker('B');
    const preview = queues.preview as Queue<PreviewJob>;
    const done = await waitFor(async () => {
      const j = await preview.getJob(previewJobId(job(71, s)));
      return j && (await j.isCompleted()) ? j : undefined;
    }, 'worker B finishing the job', 30_000);
    expect(done.attemptsStarted).toBeGreaterThanOrEqual(2);

    // A clean run of the same commit on another PR, by B, for comparison.
    expect(await enqueuePreview(queues, job(72, s))).toBe(true);
    // The comment goes out before the check completes: the completion marks the run's end.
    await waitFor(() => gh.calls.find((c) => c.method === 'PATCH' && c.path.endsWith('/check-runs/1002') && c.body.status === 'completed'), 'clean run', 30_000);

    const killed = writes(71, s);
    const completions = gh.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith('/check-runs/1001') && c.body.status === 'completed');
    expect(killed.filter((c) => c.path.endsWith('/check-runs'))).toHaveLength(2); // PR 71's run and PR 72's
    expect(completions).toHaveLength(1);
    expect(completions[0]?.body.conclusion).toBe('success');
    expect(killed.filter((c) => c.path.endsWith('/issues/71/comments'))).toHaveLength(1);
    const comment = (pr: number) => gh.calls.find((c) => c.method === 'POST' && c.path.endsWith(`/issues/${pr}/comments`))?.body.body as string;
    // Same comment, but for its own check run's link and the minute it ran.
    const same = (body: string): string => body.replace(/\/runs\/\d+/g, '/runs/N').replace(/ at \d{4}-\d\d-\d\d \d\d:\d\d UTC/, ' at T');
    expect(same(comment(71))).toBe(same(comment(72)));
    const clean = gh.calls.filter((c) => c.method === 'PATCH' && c.path.endsWith('/check-runs/1002') && c.body.status === 'completed');
    expect({ ...completions[0]?.body, completed_at: 0 }).toEqual({ ...clean[0]?.body, completed_at: 0 });
  }, 90_000);
});
