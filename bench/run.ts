/**
 * `npm run bench`: mergeops vs `kubectl --server-side` on the same objects, same API
 * server, same run. Prints ratios (not absolute times, which depend on the machine) and
 * writes bench/RESULTS.md.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { applyApp } from '../src/cluster/apply.js';
import { KubeClient } from '../src/cluster/client.js';
import type { Cluster } from '../src/cluster/connect.js';
import { Discovery } from '../src/cluster/discovery.js';
import { planApp } from '../src/cluster/plan.js';
import type { App } from '../src/config/repo-config.js';
import { diffPlan } from '../src/diff/diff.js';
import type { KubeObject, RenderedObject } from '../src/render/types.js';
import { dumpYaml } from '../src/render/yaml.js';
import { binDir, startEnvTest } from '../test/support/global-setup.js';

const run = promisify(execFile);
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 3);
const SIZES = (process.env['BENCH_SIZES'] ?? '100,1000').split(',').map(Number);

function objects(ns: string, n: number, version: number): KubeObject[] {
  return Array.from({ length: n }, (_, i) =>
    i % 5 === 0
      ? {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: `web-${i}`, namespace: ns },
          spec: {
            replicas: 1 + ((i + (i % 10 === 0 ? version : 0)) % 3),
            selector: { matchLabels: { app: `web-${i}` } },
            template: { metadata: { labels: { app: `web-${i}` } }, spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] } },
          },
        }
      : { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `cm-${i}`, namespace: ns }, data: { value: String(i % 10 === 1 ? version : 0), payload: 'x'.repeat(200) } },
  );
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t = performance.now();
  await fn();
  return performance.now() - t;
}

async function kubectl(kubeconfig: string, args: string[]): Promise<void> {
  try {
    await run(path.join(binDir(), 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { maxBuffer: 256 * 1024 * 1024 });
  } catch (err) {
    // `kubectl diff` exits 1 when there are differences: that is its success.
    if ((err as { code?: number }).code !== 1 || args[0] !== 'diff') throw err;
  }
}

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(binDir(), 'kubectl'))) throw new Error('kubectl not built; run `bash scripts/setup-test-env.sh --with-kubectl`');
  const env = await startEnvTest();
  const kc = new KubeConfig();
  kc.loadFromFile(env.kubeconfig);
  const client = await KubeClient.create('bench', kc);
  const cluster: Cluster = { client, discovery: new Discovery(client), target: { name: 'bench', inCluster: false, grants: null } };
  const log = pino({ level: 'warn' });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-bench-'));
  const rows: string[] = [];
  try {
    for (const n of SIZES) {
      const nsM = `bench-m-${n}`;
      const nsK = `bench-k-${n}`;
      for (const ns of [nsM, nsK]) await client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
      const app: App = { name: `bench-${n}`, path: '.', cluster: 'bench', namespace: nsM, branch: 'main', prune: false, pruneEmpty: false, waitMs: 0, force: true, selfHeal: false };
      const key = { repoId: 1, repo: 'bench/bench', app: app.name };
      const rendered = (v: number): RenderedObject[] => objects(nsM, n, v).map((object) => ({ object, source: { file: 'bench.yaml', line: 1 } }));
      const file = (v: number): string => {
        const f = path.join(dir, `${nsK}-${v}.yaml`);
        fs.writeFileSync(f, objects(nsK, n, v).map((o) => dumpYaml(o)).join('---\n'));
        return f;
      };
      const opts = { force: true, prune: false, pruneEmpty: false, concurrency: 16, log };

      const firstM = await time(() => applyApp(cluster, app, rendered(0), key, opts));
      const firstK = await time(() => kubectl(env.kubeconfig, ['apply', '--server-side', '--field-manager', 'bench', '-f', file(0)]));
      let writes = -1;
      const againMs: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        againMs.push(
          await time(async () => {
            const r = await applyApp(cluster, app, rendered(0), key, opts);
            writes = r.created.length + r.configured.length;
          }),
        );
      }
      const againM = median(againMs);
      const againKs: number[] = [];
      for (let i = 0; i < REPEAT; i++) againKs.push(await time(() => kubectl(env.kubeconfig, ['apply', '--server-side', '--field-manager', 'bench', '-f', file(0)])));
      const diffMs: number[] = [];
      const diffKs: number[] = [];
      let changed = 0;
      for (let i = 0; i < REPEAT; i++) {
        diffMs.push(
          await time(async () => {
            const plan = await planApp(cluster, app, rendered(1), key, { concurrency: 16, orphans: true });
            changed = diffPlan(plan.objects, plan.orphans).filter((d) => d.action !== 'unchanged').length;
          }),
        );
        diffKs.push(await time(() => kubectl(env.kubeconfig, ['diff', '--server-side', '--field-manager', 'bench', '-f', file(1)])));
      }
      const ratio = (m: number, k: number): string => `${(m / k).toFixed(2)}×`;
      rows.push(`| diff (${changed} of ${n} changed) | ${n} | ${median(diffMs).toFixed(0)} | ${median(diffKs).toFixed(0)} | ${ratio(median(diffMs), median(diffKs))} |`);
      rows.push(`| first apply | ${n} | ${firstM.toFixed(0)} | ${firstK.toFixed(0)} | ${ratio(firstM, firstK)} |`);
      rows.push(`| second apply (mergeops writes: ${writes}) | ${n} | ${againM.toFixed(0)} | ${median(againKs).toFixed(0)} | ${ratio(againM, median(againKs))} |`);
      console.error(`[bench] ${n} objects done`);
    }
  } finally {
    client.close();
    await env.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const table = [
    `Machine: ${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}; kube-apiserver and kubectl v1.36.3 built from the same module; median of ${REPEAT} runs (first apply: one run).`,
    '',
    '| what | objects | mergeops ms | kubectl --server-side ms | ratio (lower is better) |',
    '|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  console.log(table);
  // Compiled to dist-bench/bench/: the results belong next to the source.
  fs.writeFileSync(new URL('../../bench/RESULTS.md', import.meta.url), `# Benchmarks\n\n${table}\n\nNot yet measured here (issue 8): time to comment, webhook intake, worker peak RSS, GitHub calls per flow.\n`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
