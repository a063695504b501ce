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
import { CLUSTERS_YAML, appRepo, connect, createNamespace, dropKeys, harnessEnv, log, productionLog, type BenchEnv, type Section } from './common.js';
import { PR_MARK, SHA_MARK, type LoadJob, type LoadResult } from './intake-shared.js';

const run = promisify(execFile);

export async function benchIntake(env: BenchEnv, rate: number, seconds: number): Promise<Section> {
  const cluster = await connect(env.kubeconfig);
  const ns = `bench-intake-${crypto.randomUUID().slice(0, 6)}`;
  try {
    await createNamespace(cluster, ns);
  } finally {
    cluster.client.close();
  }
  // Throttle off so the worker never idles on GitHub: the receiver shares the CPU with
  // as much preview work as the worker can do.
  const h = await startHarness(CLUSTERS_YAML, harnessEnv(), { log: productionLog() });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-intake-'));
  let r: LoadResult;
  let enqueued: number;
  try {
    const shas = Array.from({ length: 8 }, (_, i) => sha(`${ns}-${i}`));
    for (const s of shas) await h.push(s, appRepo('intake', ns, 10, 1));
    const base = sha(`${ns}-base`);
    await h.push(base, appRepo('intake', ns, 10, 0));
    const templateFile = path.join(dir, 'payload.json');
    fs.writeFileSync(templateFile, JSON.stringify(prPayload('synchronize', Number(PR_MARK), SHA_MARK, base)));
    const job: LoadJob = { url: h.rt.url as string, secret: WEBHOOK_SECRET, rate, seconds, connections: 20, templateFile, shas };
    log(`webhook intake: ${rate} deliveries/s for ${seconds} s`);
    const { stdout } = await run(process.execPath, [fileURLToPath(new URL('./intake-load.js', import.meta.url)), JSON.stringify(job)], { maxBuffer: 16 * 1024 * 1024 });
    r = JSON.parse(stdout) as LoadResult;
    const counts = await h.rt.queues.preview.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed', 'prioritized');
    enqueued = Object.values(counts).reduce((a, b) => a + b, 0);
    log(`webhook intake: ${r.perSecond.toFixed(0)}/s, p99 ${r.p99} ms, ${r.non2xx} non-2xx, ${r.errors} errors; ${counts['completed']} previews done meanwhile`);
  } finally {
    // Stops taking jobs and waits for the running ones; the thousands still queued are dropped with the keys.
    await h.stop();
    await dropKeys(env.redisUrl, h.prefix);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return {
    title: '4. Webhook intake',
    table: [
      '| offered rate | acknowledged/s | p50 ms | p99 ms | max ms | non-2xx | errors | previews enqueued |',
      '|---|---|---|---|---|---|---|---|',
      `| ${rate}/s for ${seconds} s | ${r.perSecond.toFixed(0)} | ${r.p50} | ${r.p99} | ${r.max} | ${r.non2xx} | ${r.errors} | ${enqueued} |`,
    ],
    notes: [
      `autocannon in a separate process, ${20} connections, \`overallRate\` ${rate}; every delivery is a distinct signed \`pull_request\` event (own delivery id, PR number and HMAC), so each is verified, deduplicated in Redis and enqueued as its own preview job. The worker (concurrency 4) runs in the same process and works through those previews (10-object app against the API server) during the load. Latencies are corrected for coordinated omission (autocannon's default at a fixed rate).`,
    ],
    targets: [
      {
        target: `webhook ack p99 ≤ 50 ms at ${rate} deliveries/s`,
        measured: `p99 ${r.p99} ms at ${r.perSecond.toFixed(0)}/s acknowledged`,
        met: r.p99 <= 50 && r.perSecond >= rate * 0.95 && r.non2xx === 0 && r.errors === 0,
        missNote: `p99 ${r.p99} ms (${(r.p99 - 50).toFixed(0)} ms over) or the rate was not sustained`,
      },
    ],
  };
}
