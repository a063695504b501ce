/**
 * `npm run bench`: every benchmark of issue 8 in one run on one machine, against one real
 * API server and Redis; prints the tables and writes bench/RESULTS.md. Not part of
 * `npm test`. BENCH_ONLY=kubectl,comment,intake,memory,selfheal,people,monorepo,previewenv,environments runs a subset (printed,
 * not written to RESULTS.md, which always holds a complete run).
 */
// First: it keeps Node's HTTP functions from before nock loads (see bench/harness.ts).
import './http-originals.js';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binDir, ensureRedis, startEnvTest } from '../test/support/global-setup.js';
import type { BenchEnv, Section, TargetResult } from './common.js';

const ALL = ['kubectl', 'comment', 'intake', 'memory', 'selfheal', 'people', 'monorepo', 'previewenv', 'environments'] as const;
type Bench = (typeof ALL)[number];

const num = (key: string, fallback: number): number => Number(process.env[key] ?? fallback);
const list = (key: string, fallback: string): string[] => (process.env[key] ?? fallback).split(',').map((s) => s.trim()).filter(Boolean);

function versions(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  const v = (name: string): string => `${name} ${pkg.dependencies[name] ?? pkg.devDependencies[name]}`;
  return [`Node ${process.version}`, 'kube-apiserver, kubectl v1.36.3', 'etcd v3.6.8', v('probot'), v('fastify'), v('bullmq'), v('autocannon')].join(', ');
}

/** The commit measured (and whether the checkout had changes of its own), for RESULTS.md. */
function commit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `commit ${sha}${dirty ? ' with local changes' : ''}`;
  } catch {
    return 'commit unknown (not a git checkout)';
  }
}

function targetRow(t: TargetResult): string {
  return `| ${t.target} | ${t.measured} | ${t.met ? 'met' : `**missed**: ${t.missNote ?? ''}`} |`;
}

async function main(): Promise<void> {
  // The compiled code reads its version from package.json beside it, as an install lays it
  // out (src/version.ts); the previews the bench runs put it in their footer.
  fs.copyFileSync(new URL('../../package.json', import.meta.url), new URL('../package.json', import.meta.url));
  // Read before the run: the checkout may move while it runs.
  const measured = commit();
  const only = list('BENCH_ONLY', ALL.join(','));
  for (const b of only) if (!(ALL as readonly string[]).includes(b)) throw new Error(`BENCH_ONLY: unknown benchmark "${b}"; known: ${ALL.join(', ')}`);
  const selected = (b: Bench): boolean => only.includes(b);
  if ((selected('kubectl') || selected('monorepo')) && !fs.existsSync(path.join(binDir(), 'kubectl'))) throw new Error('kubectl not built; run `bash scripts/setup-test-env.sh --with-kubectl`');

  const [api, redis] = await Promise.all([startEnvTest(), ensureRedis()]);
  const env: BenchEnv = { kubeconfig: api.kubeconfig, redisUrl: redis.url };
  // The harness (and the child processes it runs in) find the API server and Redis here.
  process.env['MERGEOPS_TEST_KUBECONFIG'] = api.kubeconfig;
  process.env['MERGEOPS_TEST_REDIS_URL'] = redis.url;
  const sections: Section[] = [];
  const started = Date.now();
  const loadBefore = os.loadavg()[0] ?? NaN;
  try {
    // Imported one by one, those without the GitHub stand-in first: nock hooks every HTTP
    // request of this process once loaded, the API server's too.
    if (selected('kubectl')) sections.push(await (await import('./kubectl.js')).benchKubectl(env, list('BENCH_SIZES', '100,1000').map(Number), num('BENCH_REPEAT', 3)));
    if (selected('memory')) sections.push(await (await import('./memory.js')).benchMemory(env, num('BENCH_MEMORY_OBJECTS', 5000)));
    if (selected('comment')) sections.push(...(await (await import('./comment.js')).benchComment(env, list('BENCH_COMMENT_SIZES', '10,100,1000').map(Number), num('BENCH_COMMENT_RUNS', 10))));
    if (selected('intake')) sections.push(await (await import('./intake.js')).benchIntake(env, num('BENCH_INTAKE_RATE', 500), num('BENCH_INTAKE_SECONDS', 10)));
    if (selected('previewenv')) sections.push(await (await import('./preview-env.js')).benchPreviewEnv(env, num('BENCH_PREVIEWENV_OBJECTS', 100), num('BENCH_PREVIEWENV_RUNS', 5)));
    if (selected('selfheal')) sections.push(await (await import('./selfheal.js')).benchSelfHeal(env, num('BENCH_SELFHEAL_RUNS', 10), num('BENCH_SELFHEAL_POLL_S', 20) * 1000));
    if (selected('people')) sections.push(await (await import('./people-first.js')).benchPeopleFirst(env, { small: num('BENCH_PEOPLE_APPS', 40), large: num('BENCH_PEOPLE_LARGE_APPS', 200) }));
    if (selected('environments')) {
      sections.push(await (await import('./environments.js')).benchEnvironments(env, { runs: num('BENCH_ENVIRONMENTS_RUNS', 5), apps: num('BENCH_ENVIRONMENTS_APPS', 40), objects: num('BENCH_ENVIRONMENTS_OBJECTS', 1000), rttMs: num('BENCH_ENVIRONMENTS_RTT_MS', 20) }));
    }
    // Last: its scenarios run in processes of their own and leave the API server busiest.
    if (selected('monorepo')) {
      const { parseShapes } = await import('./monorepo-shared.js');
      sections.push(
        await (await import('./monorepo.js')).benchMonorepo(env, {
          shapes: parseShapes(process.env['BENCH_MONOREPO_SHAPES'] ?? '40x25,200x5'),
          runs: num('BENCH_MONOREPO_RUNS', 5),
          runWaitMs: num('BENCH_MONOREPO_RUN_WAIT_S', 120) * 1000,
          applyWaitMs: num('BENCH_MONOREPO_APPLY_WAIT_S', 300) * 1000,
          githubWaitMs: num('BENCH_MONOREPO_GITHUB_WAIT_S', 360) * 1000,
        }),
      );
    }
  } finally {
    await api.stop();
    await redis.stop();
  }
  const loadAfter = os.loadavg()[0] ?? NaN;
  // The benchmarks drive the app against the same GitHub contract as the tests: a request
  // GitHub would have refused makes the figures meaningless, so the run fails naming it.
  const { takeViolations } = await import('../test/support/github-contract.js');
  const refused = takeViolations();
  if (refused.length) {
    console.error(`[bench] GitHub would have refused ${refused.length} request(s):\n${refused.slice(0, 20).map((v) => `  ${v.status} ${v.request}: ${v.reason}`).join('\n')}`);
    process.exitCode = 1;
  }
  sections.sort((a, b) => a.title.localeCompare(b.title, 'en', { numeric: true }));

  const targets = sections.flatMap((s) => s.targets);
  const text = [
    '# Benchmarks',
    '',
    `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}), ${Math.round(os.totalmem() / 2 ** 30)} GiB; ${versions()}. One \`npm run bench\` of ${measured}, ${Math.round((Date.now() - started) / 1000)} s, ${new Date().toISOString().slice(0, 10)}. The API server, etcd, Redis and the benchmark share the machine (1-minute load average ${loadBefore.toFixed(1)} at the start, ${loadAfter.toFixed(1)} at the end: other work on the machine shows there); GitHub is nock (test/support/harness.ts), so GitHub's own latency is not in these figures.`,
    '',
    '## Targets (issues 8, 18, 25, 26 and 29)',
    '',
    '| target | measured | |',
    '|---|---|---|',
    ...targets.map(targetRow),
    '',
    ...sections.flatMap((s) => [`## ${s.title}`, '', ...s.table, '', ...s.notes.flatMap((n) => [n, '']),]),
  ].join('\n');
  console.log(text);
  if (only.length === ALL.length) {
    // Compiled to dist-bench/bench/: the results belong next to the source.
    fs.writeFileSync(new URL('../../bench/RESULTS.md', import.meta.url), `${text.trimEnd()}\n`);
    console.error('[bench] wrote bench/RESULTS.md');
  } else console.error('[bench] a subset ran (BENCH_ONLY): bench/RESULTS.md left as it was');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
