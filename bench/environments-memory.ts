/**
 * The environments benchmark's memory figure: the deploy worker as an operator runs it
 * (`node dist/main.js`, MERGEOPS_MODE=worker, its own process), GitHub over HTTP (the
 * stand-in the process tests use), real Redis and three API servers. A first deploy of
 * `objects` objects to each of staging, prod-eu and prod-us is queued as the webhook
 * receiver queues it; the worker's peak resident set (VmHWM of its /proc status) is read
 * once the deploy and its report are done. Nothing of the bench's own process is counted.
 */
import type { ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { DeployJob } from '../src/flows/jobs.js';
import { CHECK_NAMES } from '../src/check-names.js';
import { deployJobId } from '../src/queue/jobs.js';
import { createQueues, enqueueDeploy } from '../src/queue/queues.js';
import { createRedis } from '../src/redis.js';
import { compiledMain } from '../test/support/build.js';
import { startFakeGitHub } from '../test/support/fake-github.js';
import { INSTALLATION_ID, makeTarball, waitFor } from '../test/support/github.js';
import { REPO } from '../test/support/harness.js';
import { spawnMain } from '../test/support/main-process.js';
import { connect, createNamespace, dropKeys, log, manifest } from './common.js';
import { ENVIRONMENTS } from './environments-shared.js';

export interface WorkerMemory {
  /** VmHWM once the worker was ready, before the deploy (KiB). */
  idleKiB: number;
  /** VmHWM after the deploy and its report (KiB). */
  peakKiB: number;
  ms: number;
  conclusion: string;
}

/** A line of a process's /proc status, in KiB. */
function statusKiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export async function workerMemory(opts: { objects: number; kubeconfigs: Record<(typeof ENVIRONMENTS)[number], string>; redisUrl: string }): Promise<WorkerMemory> {
  const main = await compiledMain();
  const gh = await startFakeGitHub();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-envmem-'));
  const prefix = `mergeops-bench-envmem-${crypto.randomUUID().slice(0, 8)}`;
  const ns = `bench-envmem-${crypto.randomUUID().slice(0, 6)}`;
  const clusters = await Promise.all(ENVIRONMENTS.map((e) => connect(opts.kubeconfigs[e])));
  const connection = createRedis(opts.redisUrl, true);
  const queues = createQueues(connection, prefix);
  let child: ChildProcess | undefined;
  try {
    for (const [i, e] of ENVIRONMENTS.entries()) await createNamespace(clusters[i] as (typeof clusters)[number], `${ns}-${e}`);
    const grants = '    grants:\n      - repos: ["acme/*"]\n        namespaces: ["bench-*"]\n';
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n${ENVIRONMENTS.map((e) => `  ${e}:\n    kubeconfig: ${opts.kubeconfigs[e]}\n${grants}`).join('')}`);
    const config = 'environments:\n  - name: staging\n    cluster: staging\n  - name: prod-eu\n    cluster: prod-eu\n    after: [staging]\n    soak: 0s\n  - name: prod-us\n    cluster: prod-us\n    after: [staging]\n    soak: 0s\n' + `apps:\n  - name: big\n    path: deploy/big/{env}\n    namespace: ${ns}-{env}\n    wait: 0s\n`;
    const files: Record<string, string> = { '.github/mergeops.yml': config };
    for (const e of ENVIRONMENTS) files[`deploy/big/${e}/app.yaml`] = manifest(`${ns}-${e}`, opts.objects, 0);
    const s = crypto.createHash('sha1').update(ns).digest('hex');
    gh.tarballs.set(s, await makeTarball(files, `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    gh.refs.set('main', s);

    const worker = spawnMain(main, { dir, gh, prefix, mode: 'worker' });
    child = worker;
    // Ready: its workers are listening on the queue (the worker mode serves no port to ask).
    await waitFor(async () => ((await queues.deploy.getWorkers()).length > 0 ? true : undefined), 'the worker process started', 60_000);
    const pid = worker.pid as number;
    const idleKiB = statusKiB(pid, 'VmHWM');
    log(`environments memory: worker ${pid} ready at ${(statusKiB(pid, 'VmRSS') / 1024).toFixed(0)} MiB; deploying ${opts.objects} objects × ${ENVIRONMENTS.length} environments`);

    const job: DeployJob = { installationId: INSTALLATION_ID, owner: REPO.owner, repo: REPO.name, repoId: REPO.id, sha: s, branch: 'main', defaultBranch: 'main', reason: 'push' };
    const t0 = Date.now();
    if (!(await enqueueDeploy(queues, job))) throw new Error('environments memory: the deploy job was already queued');
    await waitFor(async () => {
      const j = await queues.deploy.getJob(deployJobId(job));
      if (j && (await j.isFailed())) throw new Error(`environments memory: the deploy failed: ${j.failedReason}`);
      return j && (await j.isCompleted()) ? true : undefined;
    }, 'the deploy', 600_000);
    // Then its report: the check run on the commit (the report worker runs in the same process).
    const check = await waitFor(() => gh.calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body?.head_sha === s && c.body?.name === CHECK_NAMES.deploy && !c.status), 'the deploy check', 120_000);
    const ms = Date.now() - t0;
    return { idleKiB, peakKiB: statusKiB(pid, 'VmHWM'), ms, conclusion: String(check.body.conclusion) };
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await queues.close();
    connection.disconnect();
    await gh.close();
    for (const [i, e] of ENVIRONMENTS.entries()) {
      const c = clusters[i] as (typeof clusters)[number];
      await c.client.request('DELETE', `/api/v1/namespaces/${ns}-${e}/configmaps`).catch(() => undefined);
      await c.client.request('DELETE', `/apis/apps/v1/namespaces/${ns}-${e}/deployments`).catch(() => undefined);
      c.client.close();
    }
    await dropKeys(opts.redisUrl, prefix);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
