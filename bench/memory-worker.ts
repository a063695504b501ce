/**
 * The process the memory benchmark measures: a worker running the preview flow for one
 * PR of a big app — extract head and base tarballs, render both, dry-run plan and drift
 * check against the API server, diff, format the comment. GitHub is a stub answering
 * from memory rather than nock, which would hook and hold every API server request.
 * Reads its job as JSON from argv[2]; prints a MemoryResult as JSON on stdout.
 */
import fs from 'node:fs';
import { Readable } from 'node:stream';
import { pino } from 'pino';
import { ClusterPool } from '../src/cluster/connect.js';
import { loadClusterTargets } from '../src/config/clusters.js';
import { Engine } from '../src/engine/engine.js';
import { runPreview } from '../src/flows/preview.js';
import { octokitHosts } from '../src/github/host.js';
import type { Octokit } from '../src/github/types.js';
import { DEFAULT_EXTRACT_LIMITS } from '../src/source/extract.js';
import { RevisionCache } from '../src/source/revision-cache.js';
import { makeTarball } from '../test/support/tarball.js';
import { appRepo } from './common.js';
import type { MemoryJob, MemoryResult } from './memory-shared.js';

/** The kernel's peak resident set of this process (VmHWM), in KiB. */
function vmHwmKiB(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as MemoryJob;
  // A worker process has the whole runtime loaded (Probot, BullMQ, fastify): count it.
  await import('../src/runtime.js');
  const tarballs = new Map([
    ['base', await makeTarball(appRepo(job.app, job.ns, job.n, 0))],
    ['head', await makeTarball(appRepo(job.app, job.ns, job.n, 1))],
  ]);
  const config = appRepo(job.app, job.ns, job.n, 1)['.github/mergeops.yml'] as string;
  const comments: string[] = [];
  let title = '';
  const github = {
    request: Object.assign(async (_route: string, params: { ref: string }) => ({ data: Readable.from([tarballs.get(params.ref) as Buffer]) }), {
      endpoint: { DEFAULTS: { baseUrl: 'https://api.github.com' } },
    }),
    paginate: async () => [],
    rest: {
      // The preview first reads the config file alone: a repository without one is not ours.
      repos: { getContent: async (p: { path: string }) => (p.path === '.github/mergeops.yml' ? { data: config } : Promise.reject(Object.assign(new Error('Not Found'), { status: 404 }))) },
      checks: {
        create: async () => ({ data: { id: 1, html_url: null } }),
        update: async (p: { output?: { title?: string } }) => {
          title = p.output?.title ?? title;
          return { data: {} };
        },
      },
      issues: {
        createComment: async (p: { body: string }) => ({ data: { id: comments.push(p.body) } }),
        updateComment: async () => ({ data: {} }),
        deleteComment: async () => ({ data: {} }),
      },
    },
  };
  const clusters = new ClusterPool(loadClusterTargets(job.clustersFile));
  const revisions = await RevisionCache.create(256 * 1024 * 1024);
  const idleKiB = vmHwmKiB();
  const t0 = performance.now();
  await runPreview(
    { installationId: 1, owner: 'acme', repo: 'memory', repoId: job.repoId, pr: 1, headSha: 'head', baseRef: 'main', baseSha: 'base', defaultBranch: 'main', fromFork: false },
    {
      // A stub of only the calls the preview flow makes; the host's types want the full client.
      hosts: octokitHosts({ octokit: async () => github as unknown as Octokit, limits: DEFAULT_EXTRACT_LIMITS, revisions, botLogin: async () => 'mergeops[bot]' }),
      engine: new Engine({ clusters, log: pino({ level: 'silent' }), flow: 'preview' }),
      log: pino({ level: 'info' }, pino.destination({ dest: '/dev/null', sync: false })),
      isLatestHead: async () => true,
      commentIds: () => ({ get: async () => null, set: async () => undefined }),
      checkRunId: { get: () => undefined, set: async () => undefined },
    },
  );
  const out: MemoryResult = { idleKiB, peakKiB: vmHwmKiB(), maxRssKiB: process.resourceUsage().maxRSS, ms: performance.now() - t0, title, commentParts: comments.length };
  await clusters.close();
  await revisions.close();
  console.log(JSON.stringify(out));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
