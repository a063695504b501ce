/**
 * Benchmark 7 (issue 18): a monorepo of many plain-YAML apps — what a one-object merge, a
 * first deploy and a one-object PR cost in time, GitHub calls and API server requests, with
 * `kubectl apply --server-side` of the same objects in the same run. Each scenario runs in
 * its own process (bench/monorepo-worker.ts) on the in-process harness.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { DEFAULT_EXTRACT_LIMITS, extractTarball } from '../src/source/extract.js';
import { makeTarball } from '../test/support/tarball.js';
import { log, median, type BenchEnv, type Section, type TargetResult } from './common.js';
import { MonoRepo, shapeName, type MonorepoJob, type RunResult, type Scenario, type ScenarioResult, type Shape } from './monorepo-shared.js';

export interface MonorepoOptions {
  shapes: Shape[];
  runs: number;
  runWaitMs: number;
  applyWaitMs: number;
  githubWaitMs: number;
}

/**
 * Where the measured runtime unpacks checkouts (its TMPDIR): BENCH_CHECKOUT_TMPDIR, else
 * /dev/shm when there is one — tmpfs, as the chart's `worker.tmpMedium: Memory` mounts
 * /tmp. What the disk would cost instead is measured beside it (unpackTable).
 */
function checkoutTmpdir(): string {
  const named = process.env['BENCH_CHECKOUT_TMPDIR'];
  if (named) return named;
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

/** One scenario process; its progress goes to this process's stderr. */
async function scenario(env: BenchEnv, opts: MonorepoOptions, kind: Scenario, shape: Shape): Promise<ScenarioResult> {
  const job: MonorepoJob = { scenario: kind, shape, runs: opts.runs, runWaitMs: opts.runWaitMs, applyWaitMs: opts.applyWaitMs, githubWaitMs: opts.githubWaitMs, kubeconfig: env.kubeconfig, redisUrl: env.redisUrl };
  const child = spawn(process.execPath, [fileURLToPath(new URL('./monorepo-worker.js', import.meta.url)), JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TMPDIR: checkoutTmpdir() } });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`monorepo ${kind} ${shapeName(shape)}: scenario process exited with ${code}`);
  return JSON.parse(out.trim().split('\n').at(-1) as string) as ScenarioResult;
}

const s = (ms: number | null): string => (ms === null || Number.isNaN(ms) ? '—' : (ms / 1000).toFixed(2));
const p50 = (xs: number[]): number => (xs.length ? median(xs) : NaN);
const range = (xs: number[]): string => (xs.length ? `${Math.min(...xs)}–${Math.max(...xs)}` : '—');

/** The median ms of unpacking the shape's repository tarball (what each merge and PR downloads) into a folder under `root`. */
async function unpackMs(shape: Shape, root: string, runs = 5): Promise<number> {
  const tgz = await makeTarball(new MonoRepo(shape, 'unpack').files());
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const dir = fs.mkdtempSync(path.join(root, 'mergeops-bench-unpack-'));
    const t = performance.now();
    await extractTarball(Readable.from([tgz]), dir, DEFAULT_EXTRACT_LIMITS);
    times.push(performance.now() - t);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return median(times);
}

interface ShapeResult {
  shape: Shape;
  /** Unpacking its checkout, ms: where the runtime unpacked (tmp) and on the machine's disk. */
  unpack: { tmp: number; disk: number };
  first: ScenarioResult;
  merge: ScenarioResult;
  pr: ScenarioResult;
  /** The same PR in a repository of the changed app alone: what one app's preview costs. */
  control: ScenarioResult;
}

const applied = (runs: RunResult[]): number[] => runs.map((r) => r.ms).filter((x) => !Number.isNaN(x));

function perObjectOfChanged(r: ShapeResult): number {
  return p50(r.control.runs.map((x) => x.apiRequests)) / r.shape.perApp;
}

function perUnchangedApp(r: ShapeResult): number {
  if (r.shape.apps < 2) return NaN;
  return (p50(r.pr.runs.map((x) => x.apiRequests)) - p50(r.control.runs.map((x) => x.apiRequests))) / (r.shape.apps - 1);
}

function target(what: string, results: ShapeResult[], measure: (r: ShapeResult) => { text: string; value: number }, limit: number, unit: string, why: string): TargetResult {
  const m = results.map((r) => ({ r, ...measure(r) }));
  const missed = m.filter((x) => !(x.value <= limit));
  return {
    target: what,
    measured: m.map((x) => `${shapeName(x.r.shape)}: ${x.text}`).join('; '),
    met: missed.length === 0,
    missNote: missed.map((x) => `${shapeName(x.r.shape)} ${Number.isNaN(x.value) ? 'not measured' : `${(x.value / limit).toFixed(1)}× the target (${x.value.toFixed(unit === 's' ? 2 : 1)} ${unit} instead of ≤ ${limit} ${unit})`}`).join('; ') + (why ? `; ${why}` : ''),
  };
}

export async function benchMonorepo(env: BenchEnv, opts: MonorepoOptions): Promise<Section> {
  const results: ShapeResult[] = [];
  for (const shape of opts.shapes) {
    log(`monorepo ${shapeName(shape)}: ${shape.apps * shape.perApp} objects in ${shape.apps} apps`);
    const first = await scenario(env, opts, 'first', shape);
    const merge = await scenario(env, opts, 'merge', shape);
    const pr = await scenario(env, opts, 'pr', shape);
    const control = await scenario(env, opts, 'pr', { apps: 1, perApp: shape.perApp });
    // The disk: a folder beside this checkout of mergeops (os.tmpdir() may itself be a tmpfs).
    const disk = fs.mkdtempSync(path.join(process.cwd(), '.bench-unpack-'));
    const unpack = { tmp: await unpackMs(shape, checkoutTmpdir()), disk: await unpackMs(shape, disk).finally(() => fs.rmSync(disk, { recursive: true, force: true })) };
    results.push({ shape, first, merge, pr, control, unpack });
  }

  const stopped = results.flatMap((r) => [r.first, r.merge, r.pr, r.control].filter((x) => x.stopped).map((x) => `${shapeName(x.shape)} ${x.scenario}: ${x.stopped}`));
  const mergeTable = [
    '| shape (apps × objects) | runs | → object applied p50 / max s | → deploy check done p50 s | GitHub calls p50 (max) | Deployments created p50 | API server requests p50 (min–max) |',
    '|---|---|---|---|---|---|---|',
    ...results.map(({ shape, merge }) => {
      const ms = applied(merge.runs);
      const calls = merge.runs.map((r) => r.github.calls);
      const api = merge.runs.map((r) => r.apiRequests);
      return `| ${shapeName(shape)} | ${merge.runs.length} | ${s(p50(ms))} / ${s(ms.length ? Math.max(...ms) : NaN)} | ${s(p50(merge.runs.map((r) => r.doneMs).filter((x) => !Number.isNaN(x))))} | ${p50(calls)} (${calls.length ? Math.max(...calls) : '—'}) | ${p50(merge.runs.map((r) => r.github.deployments))} | ${p50(api)} (${range(api)}) |`;
    }),
  ];
  const firstTable = [
    '| shape | objects | mergeops → all applied s | `kubectl apply --server-side` s | ratio | → deploy check done s | API requests mergeops / kubectl | GitHub writes | max writes in 60 s | max writes in flight | min gap between writes ms | refused (403/429) |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map(({ shape, first }) => {
      const f = first.first;
      if (!f) return `| ${shapeName(shape)} | — | — | — | — | — | — | — | — | — | — | — |`;
      const ratio = f.appliedMs === null ? NaN : f.appliedMs / f.kubectlMs;
      const applied = f.appliedMs === null ? `not within ${opts.applyWaitMs / 1000} s (${f.appliedObjects} of ${f.objects})` : s(f.appliedMs);
      const refused = f.github.refused.length ? `${f.github.refused.length}: ${[...new Set(f.github.refused.map((x) => `${x.status} ${x.request}`))].join(', ')}` : '0';
      return `| ${shapeName(shape)} | ${f.objects} | ${applied} | ${s(f.kubectlMs)} | ${Number.isNaN(ratio) ? '—' : `${ratio.toFixed(2)}×`} | ${f.doneMs === null ? `not within ${opts.githubWaitMs / 1000} s after the apply` : s(f.doneMs)} | ${f.apiRequests} / ${f.kubectlApiRequests} | ${f.github.writes} (${f.github.deployments} Deployments) | ${f.github.maxWritesPerMinute} | ${f.github.maxWritesInFlight} | ${Number.isNaN(f.github.minWriteGapMs) ? '—' : f.github.minWriteGapMs} | ${refused} |`;
    }),
  ];
  const TMPFS_MAGIC = 0x01021994;
  const tmp = checkoutTmpdir();
  const tmpKind = fs.statfsSync(tmp).type === TMPFS_MAGIC ? 'tmpfs' : 'not tmpfs';
  const unpackTable = [
    `| shape | files | unpack into ${tmp} (${tmpKind}, where the runtime unpacked) ms | unpack on the disk of this checkout ms |`,
    '|---|---|---|---|',
    ...results.map(({ shape, unpack }) => `| ${shapeName(shape)} | ${shape.apps * shape.perApp + 1} | ${unpack.tmp.toFixed(0)} | ${unpack.disk.toFixed(0)} |`),
  ];
  const prTable = [
    '| shape | runs | → comment p50 / max s | API requests p50 | same PR, changed app alone: API requests p50 | per object of the changed app | per unchanged app | GitHub calls p50 |',
    '|---|---|---|---|---|---|---|---|',
    ...results.map((r) => {
      const ms = applied(r.pr.runs);
      return `| ${shapeName(r.shape)} | ${r.pr.runs.length} | ${s(p50(ms))} / ${s(ms.length ? Math.max(...ms) : NaN)} | ${p50(r.pr.runs.map((x) => x.apiRequests))} | ${p50(r.control.runs.map((x) => x.apiRequests))} | ${perObjectOfChanged(r).toFixed(1)} | ${perUnchangedApp(r).toFixed(1)} | ${p50(r.pr.runs.map((x) => x.github.calls))} |`;
    }),
  ];
  // What one run cost, to read a miss by: the median merge run's API requests and GitHub calls.
  const evidence = results.flatMap(({ shape, merge, pr }) => {
    const mid = (runs: RunResult[]): RunResult | undefined => [...runs].sort((a, b) => a.apiRequests - b.apiRequests)[Math.floor((runs.length - 1) / 2)];
    const m = mid(merge.runs);
    const p = mid(pr.runs);
    return [
      m ? `${shapeName(shape)}, one merge: API server requests ${m.apiRequests} (${m.apiBreakdown.slice(0, 8).join(', ')}${m.apiBreakdown.length > 8 ? ', …' : ''}); GitHub: ${compact(m.github.shape)}.` : '',
      p ? `${shapeName(shape)}, one PR: API server requests ${p.apiRequests} (${p.apiBreakdown.slice(0, 8).join(', ')}${p.apiBreakdown.length > 8 ? ', …' : ''}); GitHub: ${compact(p.github.shape)}.` : '',
    ].filter(Boolean);
  });
  const loads = results.flatMap((r) => [r.first, r.merge, r.pr, r.control]).map((x) => x.loadAvg);

  const targets: TargetResult[] = [
    target('monorepo: merge of a one-object change → object applied p50 ≤ 1 s', results, (r) => {
      const ms = applied(r.merge.runs);
      const v = ms.length === r.merge.runs.length && ms.length > 0 ? p50(ms) / 1000 : NaN;
      return { text: `${s(p50(ms))} s over ${ms.length} runs`, value: v };
    }, 1, 's', ''),
    target('monorepo: that merge ≤ 8 GitHub calls', results, (r) => {
      const calls = r.merge.runs.map((x) => x.github.calls);
      const v = calls.length ? Math.max(...calls) : NaN;
      return { text: `${calls.length ? v : '—'} (most of any run)`, value: v };
    }, 8, 'calls', ''),
    target('monorepo: that merge ≤ 100 API server requests', results, (r) => {
      const api = r.merge.runs.map((x) => x.apiRequests);
      return { text: `${p50(api)} p50`, value: p50(api) };
    }, 100, 'requests', ''),
    target('monorepo: first deploy → all applied ≤ 1.5× `kubectl apply --server-side`', results, (r) => {
      const f = r.first.first;
      const v = f?.appliedMs != null ? f.appliedMs / f.kubectlMs : NaN;
      return { text: f?.appliedMs != null ? `${v.toFixed(2)}× (${s(f.appliedMs)} s vs ${s(f.kubectlMs)} s)` : `not all applied within ${opts.applyWaitMs / 1000} s`, value: v };
    }, 1.5, '×', ''),
    {
      ...(() => {
        const bad = results.filter(({ first }) => {
          const g = first.first?.github;
          return !g || first.first?.doneMs == null || g.maxWritesPerMinute > 80 || g.maxWritesInFlight > 1 || g.refused.length > 0;
        });
        return {
          target: 'monorepo: first deploy\'s GitHub writes ≤ 80 per minute, one at a time, no 403/429',
          measured: results.map(({ shape, first }) => {
            const g = first.first?.github;
            return `${shapeName(shape)}: ${g ? `${g.writes} writes, max ${g.maxWritesPerMinute} in 60 s, ${g.maxWritesInFlight} in flight, ${g.refused.length} refused${first.first?.doneMs == null ? ', not finished' : ''}` : '—'}`;
          }).join('; '),
          met: bad.length === 0,
          missNote: bad.map(({ shape, first }) => {
            const g = first.first?.github;
            if (!g) return `${shapeName(shape)} not measured`;
            const parts = [g.maxWritesPerMinute > 80 ? `${g.maxWritesPerMinute} writes in one minute` : '', g.maxWritesInFlight > 1 ? `${g.maxWritesInFlight} in flight at once` : '', g.refused.length ? `${g.refused.length} refused` : '', first.first?.doneMs == null ? `GitHub's part not finished within ${opts.githubWaitMs / 1000} s after the apply (${g.writes} writes by then)` : ''].filter(Boolean);
            return `${shapeName(shape)}: ${parts.join(', ')}`;
          }).join('; '),
        };
      })(),
    },
    target('monorepo: PR changing one object of one app → comment p50 ≤ 1.5 s', results, (r) => {
      const ms = applied(r.pr.runs);
      const v = ms.length === r.pr.runs.length && ms.length > 0 ? p50(ms) / 1000 : NaN;
      return { text: `${s(p50(ms))} s`, value: v };
    }, 1.5, 's', ''),
    target('monorepo: that PR ≤ 3 API server requests per object of the changed app', results, (r) => ({ text: perObjectOfChanged(r).toFixed(1), value: perObjectOfChanged(r) }), 3, 'per object', ''),
    target('monorepo: that PR ≤ 2 API server requests per unchanged app', results, (r) => ({ text: perUnchangedApp(r).toFixed(1), value: perUnchangedApp(r) }), 2, 'per app', ''),
  ];

  return {
    title: '7. Monorepo scale (issue 18)',
    table: ['**Merge of a one-object change** (signed `push` of a merged PR, changing one ConfigMap of one app)', '', ...mergeTable, '', '**First deploy of every object**', '', ...firstTable, '', '**PR changing one object of one app** (Octokit\'s default write pacing on)', '', ...prTable, '', '**Unpacking one checkout** (the repository tarball every merge and PR downloads; median of 5)', '', ...unpackTable],
    notes: [
      `A generated repository per shape: \`.github/mergeops.yml\` lists every app (name, path, namespace; the rest at its defaults: prune on), each app a folder of plain-YAML ConfigMaps (one file per object, 200-byte payload), the apps spread over 4 namespaces. The runtime runs as an operator runs it — fastify + Probot with Octokit's default retries and write throttle, BullMQ worker (concurrency 4), GitHub writes paced at 80/min (\`MERGEOPS_GITHUB_WRITES_PER_MINUTE\`), \`MERGEOPS_MAX_APPS_PER_REPO\` raised to the shape's app count, drift scans off so none lands inside a measured run — on the in-process harness: real API server and Redis, GitHub stood in by nock (answers at once, held to GitHub's contract, secondary limits included). Each scenario runs in its own process with fresh namespaces and a fresh Redis prefix, so a flow still waiting on GitHub's pacing when its time is up (${opts.runWaitMs / 1000} s per run; first deploy: ${opts.applyWaitMs / 1000} s to apply, then ${opts.githubWaitMs / 1000} s for GitHub's part) ends with its process.`,
      `Merge: the steady state (every app deployed at one commit by the app itself, pacing off for that setup) is followed by ${opts.runs} merges, each changing one ConfigMap of a different app; the push webhook lists the commit's files as GitHub's does. "Applied" is the moment the benchmark's GET of that ConfigMap (every 20 ms) shows the new value; "done" is the deploy check run completed. First deploy: the same repository pushed into empty namespaces; "all applied" is the first of the benchmark's polls (4 LISTs every 200 ms) that finds every object with its value; \`kubectl apply --server-side -R -f\` of the same objects (kubectl v1.36.3, one process, namespaces of its own) ran just before, on the same API server. PR: ${opts.runs} PRs opened against the deployed commit, each changing one ConfigMap of one app; the time is to the comment's POST at the stand-in. Per object of the changed app = the API requests of the same PR in a repository holding only that app (same objects) ÷ its objects; per unchanged app = (the monorepo PR's requests − that) ÷ the other apps.`,
      'API server requests are the kube-apiserver\'s own `apiserver_request_total` (summed over verbs, resources and codes), scraped from its `/metrics` before and after each run, less the benchmark\'s own polls; the API server\'s loopback traffic (leases and the like, about 0.5 requests/s when idle) is in the figures. GitHub calls are everything the stand-in saw between the webhook and the next run (the installation token, cached by Probot, not counted; a tarball is one call, its redirect to the download host not counted). Writes are the content-creating ones (POST, PATCH, PUT, DELETE); "in flight" is the most of them the app had open at once, counted at its `fetch` (the stand-in answers within milliseconds, so writes show as overlapping only when they are sent together).',
      `Checkouts: the runtime's TMPDIR was ${tmp} (${tmpKind}; BENCH_CHECKOUT_TMPDIR names another), as the chart mounts the worker's /tmp with \`worker.tmpMedium: Memory\`. Each merge and PR unpacks the whole repository there; the last table shows what the same unpacking costs on this machine's disk, which a merge's time would grow by on a worker whose /tmp is that disk.`,
      ...evidence,
      ...(stopped.length ? [`Stopped early: ${stopped.join('; ')}.`] : []),
      `1-minute load average at each scenario's start and end: ${loads.map(([a, b]) => `${a.toFixed(1)}→${b.toFixed(1)}`).join(', ')}.`,
    ],
    targets,
  };
}

/** `GET /contents/…, POST /deployments ×40, …`: each kind of call once, with its count, in order of first use. */
function compact(shape: string[]): string {
  const counts = new Map<string, number>();
  for (const c of shape) counts.set(c, (counts.get(c) ?? 0) + 1);
  return [...counts].map(([c, n]) => (n > 1 ? `${c} ×${n}` : c)).join(', ') || 'none';
}
