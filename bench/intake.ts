/**
 * Benchmark 4: webhook acknowledgements per second and their p99 latency at a fixed rate
 * of signed deliveries, against the real fastify server with the worker running in the
 * same process (MERGEOPS_MODE=all), busy with the previews the deliveries enqueue.
 */
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { WEBHOOK_SECRET } from '../test/support/github.js';
import { prPayload, sha, startHarness } from '../test/support/harness.js';
import { CLUSTERS_YAML, appRepo, connect, createNamespace, dropKeys, log, type BenchEnv, type Section } from './common.js';
import { harnessEnv, productionLog } from './harness.js';
import { PR_MARK, SHA_MARK, type LoadJob, type LoadResult } from './intake-shared.js';

const run = promisify(execFile);

interface Row {
  r: LoadResult;
  enqueued: number;
  previewsDone: number;
}

/** One load run against a fresh runtime in `mode` (all: receiver and worker in one process). */
async function loadRun(env: BenchEnv, ns: string, mode: 'all' | 'web', rate: number, seconds: number): Promise<Row> {
  // The test Probot (write throttle off) so the worker never idles on GitHub: the receiver
  // shares the CPU with as much preview work as the worker can do.
  // GitHub's contract holds as everywhere, except its per-installation secondary limits: the
  // deliveries here stand for many installations' traffic, not one installation's.
  const h = await startHarness(CLUSTERS_YAML, harnessEnv({ MERGEOPS_MODE: mode }), { log: productionLog(), secondaryLimits: false });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-intake-'));
  try {
    const shas = Array.from({ length: 8 }, (_, i) => sha(`${ns}-${i}`));
    for (const s of shas) await h.push(s, appRepo('intake', ns, 10, 1));
    const base = sha(`${ns}-base`);
    await h.push(base, appRepo('intake', ns, 10, 0));
    const templateFile = path.join(dir, 'payload.json');
    fs.writeFileSync(templateFile, JSON.stringify(prPayload('synchronize', Number(PR_MARK), SHA_MARK, base)));
    const job: LoadJob = { url: h.rt.url as string, secret: WEBHOOK_SECRET, rate, seconds, connections: CONNECTIONS, templateFile, shas };
    log(`webhook intake (${mode}): ${rate} deliveries/s for ${seconds} s`);
    const { stdout } = await run(process.execPath, [fileURLToPath(new URL('./intake-load.js', import.meta.url)), JSON.stringify(job)], { maxBuffer: 16 * 1024 * 1024 });
    const r = JSON.parse(stdout) as LoadResult;
    const counts = await h.rt.queues.preview.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    const enqueued = Object.values(counts).reduce((a, b) => a + b, 0);
    log(`webhook intake (${mode}): ${r.perSecond.toFixed(0)}/s, p99 ${r.p99} ms, ${r.non2xx} non-2xx, ${r.errors} errors; ${counts['completed']} previews done meanwhile`);
    return { r, enqueued, previewsDone: counts['completed'] ?? 0 };
  } finally {
    // Stops taking jobs and waits for the running ones; the thousands still queued go with the keys.
    await h.stop();
    await dropKeys(env.redisUrl, h.prefix);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const CONNECTIONS = 20;

export async function benchIntake(env: BenchEnv, rate: number, seconds: number): Promise<Section> {
  const cluster = await connect(env.kubeconfig);
  const ns = `bench-intake-${crypto.randomUUID().slice(0, 6)}`;
  try {
    await createNamespace(cluster, ns);
  } finally {
    cluster.client.close();
  }
  const all = await loadRun(env, ns, 'all', rate, seconds);
  const web = await loadRun(env, ns, 'web', rate, seconds);
  const row = (what: string, x: Row): string =>
    `| ${what} | ${rate}/s for ${seconds} s | ${x.r.perSecond.toFixed(0)} | ${x.r.p50} | ${x.r.p99} | ${x.r.correctedP99} | ${x.r.max} | ${x.r.non2xx} | ${x.r.errors} | ${x.enqueued} | ${x.previewsDone} |`;
  const r = all.r;
  return {
    title: '4. Webhook intake',
    table: [
      '| process | offered | acknowledged/s | p50 ms (raw) | p99 ms (raw) | p99 ms (corrected) | max ms | non-2xx | errors | previews enqueued | previews done meanwhile |',
      '|---|---|---|---|---|---|---|---|---|---|---|',
      row('receiver + worker (`MERGEOPS_MODE=all`)', all),
      row('receiver only (`MERGEOPS_MODE=web`)', web),
    ],
    notes: [
      `autocannon in a separate process, ${CONNECTIONS} connections, \`overallRate\` ${rate}; every delivery is a distinct signed \`pull_request\` event (own delivery id, PR number and HMAC, 21 KB), so each is verified, deduplicated in Redis and enqueued as its own preview job. In the first row the worker (concurrency 4) runs in the same process and works through those previews (10-object app against the API server) during the load; the second row has no worker in the process (how the chart deploys receivers). Latencies: p50/p99/max are raw, each answer's own time (autocannon with \`ignoreCoordinatedOmission: true\`); "corrected" back-fills for coordinated omission with the real per-connection send interval (${CONNECTIONS} × 1000 / ${rate} = ${((CONNECTIONS * 1000) / rate).toFixed(0)} ms) in our own HdrHistogram. autocannon 8's built-in correction is not used: it takes the interval as ceil(1 / per-connection rate) = 1 ms, which back-fills dozens of phantom samples per slow answer and inflates every percentile. Logging as in production (info, JSON, to /dev/null).`,
      'Each acknowledgement costs an HMAC over the body, a JSON parse, a Probot event with its Octokit, and at least four Redis round trips (delivery dedupe, PR head ordering, job lookup, job add). Why the first row misses: the receiver shares its event loop, and these 2 cores, with the worker it feeds — rendering, parsing API server answers, diffing — and with the API server, etcd and Redis that work drives; the second row is the receiver on the same machine without that. What would close it: run receivers as their own processes (`MERGEOPS_MODE=web`, as the Helm chart does) on cores the workers do not use, and fold the per-delivery Redis calls into one script.',
    ],
    targets: [
      {
        target: `webhook ack p99 ≤ 50 ms at ${rate} deliveries/s (worker running)`,
        measured: `p99 ${r.p99} ms raw (${r.correctedP99} ms corrected) at ${r.perSecond.toFixed(0)}/s acknowledged; receiver alone: p99 ${web.r.p99} ms raw (${web.r.correctedP99} ms corrected) at ${web.r.perSecond.toFixed(0)}/s`,
        met: r.p99 <= 50 && r.perSecond >= rate * 0.95 && r.non2xx === 0 && r.errors === 0,
        missNote: `${r.perSecond < rate * 0.95 ? `${r.perSecond.toFixed(0)} of ${rate}/s acknowledged, ` : ''}p99 ${r.p99} ms is ${(r.p99 / 50).toFixed(1)}× the target`,
      },
    ],
  };
}
