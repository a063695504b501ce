/**
 * Benchmark 5: peak resident memory of a worker process rendering and diffing a
 * 5,000-object plain-YAML app (head and base, as a preview does) against the API server.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { applyApp } from '../src/cluster/apply.js';
import { REPO } from '../test/support/harness.js';
import { connect, createNamespace, log, objects, type BenchEnv, type Section } from './common.js';
import type { MemoryResult } from './memory-shared.js';

const run = promisify(execFile);
const MiB = (kib: number): string => (kib / 1024).toFixed(0);

export async function benchMemory(env: BenchEnv, n: number): Promise<Section> {
  const ns = `bench-mem-${crypto.randomUUID().slice(0, 6)}`;
  const app = 'big';
  const cluster = await connect(env.kubeconfig);
  try {
    await createNamespace(cluster, ns);
    log(`memory: deploying ${n} objects first, so the preview diffs against live objects`);
    const rendered = objects(ns, n, 0).map((object) => ({ object, source: { file: 'deploy/app.yaml', line: 1 } }));
    const r = await applyApp(cluster, { name: app, path: 'deploy', cluster: 'default', namespace: ns, branch: 'main', prune: false, pruneEmpty: false, waitMs: 0, force: true, selfHeal: false }, rendered, { repoId: REPO.id, repo: `${REPO.owner}/${REPO.name}`, app }, { force: true, prune: false, pruneEmpty: false, concurrency: 16, log: pino({ level: 'silent' }) });
    if (r.errors.length) throw new Error(`deploy failed: ${r.errors[0]?.message}`);
  } finally {
    cluster.client.close();
  }
  log(`memory: a worker process previews a PR of the ${n}-object app`);
  const { stdout } = await run(process.execPath, [fileURLToPath(new URL('./memory-worker.js', import.meta.url)), JSON.stringify({ n, ns, app })], {
    env: { ...process.env },
    maxBuffer: 16 * 1024 * 1024,
  });
  const m = JSON.parse(stdout) as MemoryResult;
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
      `One process running the whole runtime (\`MERGEOPS_MODE=all\`: receiver and worker) receives a signed \`pull_request\` and previews it: download and extract head and base tarballs, render both, one dry-run apply per object, diff, drift check against the base, comment split into parts. The app (20% of it changed by the PR) was deployed beforehand. VmHWM is read from /proc/self/status; getrusage's maxRSS agreed (${MiB(m.maxRssKiB)} MiB).`,
    ],
    targets: [{ target: `worker peak RSS ≤ 250 MiB at ${n} objects`, measured: `${peakMiB.toFixed(0)} MiB`, met: peakMiB <= 250, missNote: `${(peakMiB - 250).toFixed(0)} MiB over` }],
  };
}
