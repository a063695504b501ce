/**
 * Benchmark 9 (issue 26): environments. A one-object merge to staging, prod-eu and prod-us on
 * three API servers against the same merge to one; a 40-app preview of a one-app change with
 * three environments against one; a worker's peak memory through a 3 × 1,000-object deploy.
 * Two more API servers are started for it (staging is the run's own); each scenario runs in
 * its own process (bench/environments-worker.ts).
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startEnvTest } from '../test/support/global-setup.js';
import { log, median, type BenchEnv, type Section, type TargetResult } from './common.js';
import { workerMemory } from './environments-memory.js';
import { ENVIRONMENTS, type EnvironmentsJob, type EnvironmentsResult } from './environments-shared.js';

export interface EnvironmentsOptions {
  runs: number;
  apps: number;
  objects: number;
  /** The round trip added to every API server request in the "remote clusters" merge (ms). */
  rttMs: number;
}

/**
 * Each API server behind a proxy that holds every request `rttMs` first: clusters reached
 * over a network. The proxies run in a process of their own (bench/latency-proxies.ts).
 */
async function remote(kubeconfigs: EnvironmentsJob['kubeconfigs'], rttMs: number): Promise<{ kubeconfigs: EnvironmentsJob['kubeconfigs']; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./latency-proxies.js', import.meta.url)), String(rttMs), ...ENVIRONMENTS.map((e) => kubeconfigs[e])], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString('utf8');
      if (out.includes('\n')) resolve(out.split('\n')[0] as string);
    });
    child.on('exit', (code) => reject(new Error(`latency proxies exited with ${code}`)));
  });
  const proxied = JSON.parse(line) as string[];
  return {
    kubeconfigs: Object.fromEntries(ENVIRONMENTS.map((e, i) => [e, proxied[i] as string])) as EnvironmentsJob['kubeconfigs'],
    stop: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.end();
      await exited;
    },
  };
}

async function scenario(job: EnvironmentsJob): Promise<EnvironmentsResult> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./environments-worker.js', import.meta.url)), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`environments ${job.scenario} ×${job.environments}: scenario process exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string) as EnvironmentsResult;
}

const s = (ms: number): string => (ms / 1000).toFixed(2);
const MiB = (kib: number): number => kib / 1024;

export async function benchEnvironments(env: BenchEnv, opts: EnvironmentsOptions): Promise<Section> {
  log('environments: starting two more API servers (prod-eu, prod-us)');
  const [eu, us] = await Promise.all([startEnvTest(), startEnvTest()]);
  try {
    const base = { runs: opts.runs, apps: opts.apps, kubeconfigs: { staging: env.kubeconfig, 'prod-eu': eu.kubeconfig, 'prod-us': us.kubeconfig }, redisUrl: env.redisUrl };
    const merge1 = await scenario({ ...base, scenario: 'merge', environments: 1 });
    const merge3 = await scenario({ ...base, scenario: 'merge', environments: 3 });
    log(`environments: the merges again with ${opts.rttMs} ms added to every API server request (clusters reached over a network)`);
    const far = await remote(base.kubeconfigs, opts.rttMs);
    let remote1: EnvironmentsResult;
    let remote3: EnvironmentsResult;
    try {
      remote1 = await scenario({ ...base, appKubeconfigs: far.kubeconfigs, scenario: 'merge', environments: 1 });
      remote3 = await scenario({ ...base, appKubeconfigs: far.kubeconfigs, scenario: 'merge', environments: 3 });
    } finally {
      await far.stop();
    }
    const preview1 = await scenario({ ...base, scenario: 'preview', environments: 1 });
    const preview3 = await scenario({ ...base, scenario: 'preview', environments: 3 });
    log(`environments: worker memory through a 3 × ${opts.objects}-object deploy (node dist/main.js, worker mode)`);
    const m = await workerMemory({ objects: opts.objects, kubeconfigs: base.kubeconfigs, redisUrl: env.redisUrl });
    const m1 = median(merge1.runs);
    const m3 = median(merge3.runs);
    const p1 = median(preview1.runs);
    const p3 = median(preview3.runs);
    const mergeRatio = m3 / m1;
    const r1 = median(remote1.runs);
    const r3 = median(remote3.runs);
    const remoteRatio = r3 / r1;
    const previewRatio = p3 / p1;
    const peak = MiB(m.peakKiB);
    const targets: TargetResult[] = [
      {
        target: 'environments: one-object merge to 3 environments on 3 API servers (soak 0) → last applied ≤ 1.3× one environment + health waits (API servers on this machine\'s 2 cores)',
        measured: `${mergeRatio.toFixed(2)}× (${s(m3)} s vs ${s(m1)} s, p50 of ${opts.runs}; no health wait: ConfigMaps)`,
        met: mergeRatio <= 1.3,
        missNote: `${mergeRatio.toFixed(2)}× instead of 1.3× with the three API servers sharing the worker's 2 cores; see section 10`,
      },
      {
        target: `environments: the same merge, clusters reached over a network (${opts.rttMs} ms per API server request) ≤ 1.3× one environment`,
        measured: `${remoteRatio.toFixed(2)}× (${s(r3)} s vs ${s(r1)} s, p50 of ${opts.runs})`,
        met: remoteRatio <= 1.3,
        missNote: `${remoteRatio.toFixed(2)}× instead of 1.3×; see section 10`,
      },
      {
        target: `environments: ${opts.apps}-app × 3-environment preview of a one-app change ≤ 1.5× the one-environment preview`,
        measured: `${previewRatio.toFixed(2)}× (${s(p3)} s vs ${s(p1)} s to the comment, p50 of ${opts.runs})`,
        met: previewRatio <= 1.5,
        missNote: `${previewRatio.toFixed(2)}× instead of 1.5×; see section 10`,
      },
      {
        target: `environments: worker RSS ≤ 200 MiB through a 3-environment × ${opts.objects.toLocaleString('en')}-object deploy`,
        measured: `${peak.toFixed(0)} MiB peak of the worker process (node dist/main.js, worker mode), ${MiB(m.idleKiB).toFixed(0)} MiB when ready; check ${m.conclusion}`,
        met: peak <= 200 && m.conclusion === 'success',
        missNote: `the worker peaked at ${peak.toFixed(0)} MiB (check ${m.conclusion}); see section 10`,
      },
    ];
    const runs = (xs: number[]): string => xs.map((x) => s(x)).join(', ');
    return {
      title: '10. Environments',
      table: [
        '| what | one environment | three environments | ratio |',
        '|---|---|---|---|',
        `| merge of one changed object → last environment applied, p50 s | ${s(m1)} | ${s(m3)} | ${mergeRatio.toFixed(2)}× |`,
        `| the same, ${opts.rttMs} ms added to every API server request, p50 s | ${s(r1)} | ${s(r3)} | ${remoteRatio.toFixed(2)}× |`,
        `| ${opts.apps}-app PR changing one object of one app → comment, p50 s | ${s(p1)} | ${s(p3)} | ${previewRatio.toFixed(2)}× |`,
        `| first deploy of ${opts.objects.toLocaleString('en')} objects per environment: peak RSS MiB (VmHWM) / took s / check | — | ${peak.toFixed(0)} / ${s(m.ms)} / ${m.conclusion} | — |`,
      ],
      notes: [
        `Runs (s): merge ×1 ${runs(merge1.runs)}; merge ×3 ${runs(merge3.runs)}; remote merge ×1 ${runs(remote1.runs)}; remote merge ×3 ${runs(remote3.runs)}; preview ×1 ${runs(preview1.runs)}; preview ×3 ${runs(preview3.runs)}.`,
        `Three kube-apiserver + etcd pairs on this machine (staging is the run's own, prod-eu and prod-us started for this section). "One environment" is today's config: the app without \`environments:\`, on the staging cluster. "Three": staging, then prod-eu and prod-us both \`after: [staging]\` with \`soak: 0\`; the app is 10 ConfigMaps per environment (\`wait: 0\`, and a ConfigMap is healthy once applied, so the figure has no health wait in it), each merge changes one of them in every overlay. Timed from the signed push webhook sent to the watch event carrying the new value from the last environment's API server (a watch per environment, opened before the webhook: nothing is polled meanwhile). prod-eu and prod-us take their Leases and make their dry-runs while staging applies (they have no soak or approval), and start writing on staging's verdict (written, healthy) while staging's inventory record is written, so once staging is deployed their wave is only their writes. Each environment dry-runs only what may have changed: the other nine ConfigMaps are still at the version the last deploy left them (the inventory's stamps). The remote rows put each API server behind a proxy that holds every request ${opts.rttMs} ms first, as a cluster in another zone or region answers: there the dry-runs are round trips rather than shared CPU, which is what pipelining hides; on this machine the three API servers and etcds share the worker's two cores, so a dry-run made early slows staging's own by about as much as it saves.`,
        `The preview: ${opts.apps} apps of 5 ConfigMaps, each PR changing one object of one app (in every environment's overlay); only that app is planned — once per environment, each against its own API server — the others are one unchanged line. Timed from the signed \`pull_request\` webhook to the comment's write at the stand-in; Octokit's write spacing (1 s after the check run started) is in both columns.`,
        `Memory: the deploy worker as an operator runs it — \`node dist/main.js\` with MERGEOPS_MODE=worker, in its own process, GitHub over HTTP (the process tests' stand-in), the run's Redis and the three API servers — through the first deploy of ${opts.objects.toLocaleString('en')} objects (every 5th a Deployment, the rest ConfigMaps) to each of the three environments, queued as the webhook receiver queues a push, until its deploy check is written. The figure is the kernel's peak resident set of that process (VmHWM from /proc/<pid>/status): the whole worker, its runtime included, nothing of the bench's own process.`,
      ],
      targets,
    };
  } finally {
    await Promise.all([eu.stop(), us.stop()]);
  }
}
