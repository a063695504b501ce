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
import { compiledMain } from '../../support/build.js';
import { spawnMain } from '../../support/main-process.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { INSTALLATION_ID, makeTarball, waitFor } from '../../support/github.js';
import { REPO, sha } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * main.ts's own SIGTERM handler, in `node dist/main.js` as a container runs it: the signal
 * arrives while a preview is mid-job (its download held open); the process takes no new job,
 * finishes the running one (check completed, comment posted), closes, and exits 0.
 */
describe('SIGTERM to node dist/main.js mid-job', () => {
  let main: string;
  let gh: FakeGitHub;
  let queues: Queues;
  let connection: ReturnType<typeof createRedis>;
  let dir: string;
  let ns: string;
  let child: ChildProcess | undefined;
  let output = '';
  const prefix = `mergeops-term-${crypto.randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    main = await compiledMain();
    const cluster = await testCluster();
    ns = uniqueName('relterm');
    await namespace(cluster, ns);
    cluster.client.close();
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relterm-'));
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${process.env['MERGEOPS_TEST_KUBECONFIG']}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relterm-*"]\n`);
    connection = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string, true);
    queues = createQueues(connection, prefix);
  }, 120_000);
  afterAll(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await queues?.close();
    connection?.disconnect();
    await gh?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

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

  it('finishes the running job, takes no new one, and exits 0', async () => {
    const s = sha(`term-${ns}`);
    const later = sha(`term-later-${ns}`);
    const files = { '.github/mergeops.yml': `apps:\n  - name: rel-term\n    path: deploy\n    namespace: ${ns}\n`, 'deploy/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n' };
    gh.tarballs.set(s, await makeTarball(files));
    gh.tarballs.set(later, await makeTarball(files));
    gh.hold = s;
    child = spawnMain(main, { dir, gh, prefix, mode: 'worker', output: 'pipe', env: { MERGEOPS_WORKER_CONCURRENCY: '1', LOG_LEVEL: 'info' } });
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => child?.once('exit', (code, signal) => r({ code, signal, at: Date.now() })));

    expect(await enqueuePreview(queues, job(81, s))).toBe(true);
    await waitFor(() => gh.calls.find((c) => c.path.endsWith(`/tarball/${s}`)), 'the worker mid-job (downloading)', 30_000);
    child.kill('SIGTERM');
    await waitFor(() => (output.includes('shutting down') ? true : undefined), 'the SIGTERM handler to log', 10_000);

    // A job queued after the signal is not taken: it stays waiting for another worker.
    expect(await enqueuePreview(queues, job(82, later))).toBe(true);
    const released = Date.now();
    gh.release();
    const { code, signal, at } = await exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(at).toBeGreaterThanOrEqual(released);
    expect(output).toContain('"msg":"stopped"');

    // The running job finished before the exit: check completed once, one comment.
    const preview = queues.preview as Queue<PreviewJob>;
    const done = await preview.getJob(previewJobId(job(81, s)));
    expect(await done?.getState()).toBe('completed');
    const completions = gh.calls.filter((c) => c.method === 'PATCH' && /\/check-runs\/\d+$/.test(c.path) && c.body.status === 'completed');
    expect(completions.map((c) => c.body.conclusion)).toEqual(['success']);
    expect(gh.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/issues/81/comments'))).toHaveLength(1);
    // …and the one queued after the signal was never started.
    const waiting = await preview.getJob(previewJobId(job(82, later)));
    expect(await waiting?.getState()).toBe('waiting');
    expect(gh.calls.some((c) => c.path.endsWith(`/tarball/${later}`))).toBe(false);
  }, 90_000);
});
