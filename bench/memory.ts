/**
 * Benchmark 5: peak resident memory of a worker process rendering and diffing a
 * 5,000-object plain-YAML app (head and base, as a preview does) against the API server.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { CLUSTERS_YAML, connect, createNamespace, deployApp, log, objects, type BenchEnv, type Section } from './common.js';
import type { MemoryJob, MemoryResult } from './memory-shared.js';

const run = promisify(execFile);
const MiB = (kib: number): string => (kib / 1024).toFixed(0);

export async function benchMemory(env: BenchEnv, n: number): Promise<Section> {
  const ns = `bench-mem-${crypto.randomUUID().slice(0, 6)}`;
  const app = 'big';
  const repoId = 5000;
  const cluster = await connect(env.kubeconfig);
  try {
    await createNamespace(cluster, ns);
    log(`memory: deploying ${n} objects first, so the preview diffs against live objects`);
    const rendered = objects(ns, n, 0).map((object) => ({ object, source: { file: 'deploy/app.yaml', line: 1 } }));
    const r = await deployApp(cluster, { name: app, path: 'deploy', cluster: 'default', namespace: ns, branch: 'main', prune: false, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false }, rendered, { repoId, repo: 'acme/memory', app }, { force: true, prune: false, pruneEmpty: false, concurrency: 16, log: pino({ level: 'silent' }) });
    if (r.errors.length) throw new Error(`deploy failed: ${r.errors[0]?.message}`);
  } finally {
    cluster.client.close();
  }
  log(`memory: a worker process previews a PR of the ${n}-object app`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-mem-'));
  let m: MemoryResult;
  try {
    const clustersFile = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(clustersFile, CLUSTERS_YAML.replace('$KUBECONFIG', env.kubeconfig));
    const job: MemoryJob = { n, ns, app, repoId, clustersFile };
    const { stdout } = await run(process.execPath, [fileURLToPath(new URL('./memory-worker.js', import.meta.url)), JSON.stringify(job)], { maxBuffer: 16 * 1024 * 1024 });
    m = JSON.parse(stdout) as MemoryResult;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  log(`memory: peak ${MiB(m.peakKiB)} MiB (idle ${MiB(m.idleKiB)} MiB), ${(m.ms / 1000).toFixed(1)} s, "${m.title}"`);
  const peakMiB = m.peakKiB / 1024;
  return {
    title: '5. Worker memory',
    table: [
      '| app | peak RSS MiB (VmHWM) | of which before the job | preview took s | result |',
      '|---|---|---|---|---|',
      `| ${n} objects, plain YAML | ${MiB(m.peakKiB)} | ${MiB(m.idleKiB)} | ${(m.ms / 1000).toFixed(1)} | ${m.title}; comment in ${m.commentParts} parts |`,
    ],
    notes: [
      `A worker process (the runtime's modules loaded) runs the preview flow (src/flows/preview.ts) for one PR: extract head and base tarballs, render both, list the app's objects and dry-run apply each against the API server, diff, drift check against the base, comment split into parts. The app (20% of it changed by the PR) was deployed beforehand. GitHub is an in-memory stub here, not nock, which would hook and hold on to every API server connection. VmHWM is read from /proc/self/status; getrusage's maxRSS agreed (${MiB(m.maxRssKiB)} MiB).`,
      `Where it goes: ${MiB(m.idleKiB)} MiB is the loaded runtime before any job (Probot and Octokit, BullMQ, fastify, prom-client, zod; of @kubernetes/client-node only its kubeconfig parsing and credential plugins, not its generated API models; Bull Board is loaded only where the admin UI is served); the ${n}-object preview adds ${MiB(m.peakKiB - m.idleKiB)} MiB (both revisions' rendered objects, the live and dry-run copy of every object, the diffs and the comment parts), much of it garbage not yet collected. What would bring it lower still: keep only each object's diff once computed instead of its live and dry-run copies.`,
    ],
    targets: [
      {
        target: `worker peak RSS ≤ 250 MiB at ${n} objects`,
        measured: `${peakMiB.toFixed(0)} MiB`,
        met: peakMiB <= 250,
        missNote: `${(peakMiB - 250).toFixed(0)} MiB over; see section 5`,
      },
    ],
  };
}
