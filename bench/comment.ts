/**
 * Benchmarks 1 and 6: time from a signed `pull_request` webhook to the preview comment
 * reaching the GitHub stand-in, and the GitHub calls one PR update and one deploy cost.
 * The whole runtime runs as in production (fastify + Probot + BullMQ worker, real API
 * server); only GitHub is nock.
 */
import crypto from 'node:crypto';
import { pino } from 'pino';
import { deliver, waitFor } from '../test/support/github.js';
import { REPO, prPayload, sha, startHarness, type Harness, type Recorded } from '../test/support/harness.js';
import { CLUSTERS_YAML, appRepo, connect, createNamespace, deployApp, dropKeys, log, objects, percentile, sleep, type BenchEnv, type Section } from './common.js';
import { harnessEnv, productionLog, productionProbot } from './harness.js';

/** Octokit's throttle spaces writes of one installation 1 s apart, comment POSTs 3 s. */
const WRITE_GAP_MS = 1100;
const NOTIFICATION_GAP_MS = 3100;

interface Run {
  ms: number;
  calls: Recorded[];
}

const isCommentWrite = (c: Recorded): boolean => c.method !== 'GET' && /\/issues\/(\d+\/)?comments/.test(c.path);
const isCheckDone = (c: Recorded): boolean => c.method === 'PATCH' && c.path.includes('/check-runs/') && c.body?.status === 'completed';

/** One delivery, timed until the stand-in sees the comment; `calls` are everything the job did. */
async function previewRun(h: Harness, action: 'opened' | 'synchronize', pr: number, head: string, base: string): Promise<Run> {
  const from = h.calls.length;
  const t0 = Date.now();
  const res = await deliver(h.rt.url as string, 'pull_request', prPayload(action, pr, head, base));
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
  const comment = await waitFor(() => h.calls.slice(from).find(isCommentWrite), `comment for ${head}`, 120_000);
  await waitFor(() => h.calls.slice(from).find(isCheckDone), `check for ${head}`, 120_000);
  // The throttle must be idle before the next run starts, or the next run measures it.
  await sleep(WRITE_GAP_MS);
  return { ms: comment.at - t0, calls: h.calls.slice(from) };
}

const shape = (calls: Recorded[]): string => calls.map((c) => `${c.method} ${c.path.replace(`/repos/${REPO.owner}/${REPO.name}`, '').replace(/[0-9a-f]{40}|\d+/g, '…')}`).join(', ');

interface SizeResult {
  n: number;
  opened: number[];
  pushed: number[];
  pushCalls: Recorded[];
}

async function measure(h: Harness, env: BenchEnv, sizes: number[], runs: number, label: string): Promise<SizeResult[]> {
  const cluster = await connect(env.kubeconfig);
  const out: SizeResult[] = [];
  try {
    for (const n of sizes) {
      const tag = crypto.randomUUID().slice(0, 6);
      const ns = `bench-ttc-${n}-${tag}`;
      // Apps are identified by repo + name across namespaces: a fresh name per round keeps
      // the previous round's objects from showing up as this app's orphans.
      const app = `app-${n}-${tag}`;
      await createNamespace(cluster, ns);
      // Steady state: the app is deployed at version 0 and each PR changes 20% of it.
      const deployed = objects(ns, n, 0).map((object) => ({ object, source: { file: 'deploy/app.yaml', line: 1 } }));
      const applied = await deployApp(cluster, { name: app, path: 'deploy', cluster: 'default', namespace: ns, branch: 'main', prune: false, pruneEmpty: false, waitMs: 0, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false }, deployed, { repoId: REPO.id, repo: `${REPO.owner}/${REPO.name}`, app }, { force: true, prune: false, pruneEmpty: false, concurrency: 16, log: pino({ level: 'silent' }) });
      if (applied.errors.length) throw new Error(`pre-deploy failed: ${applied.errors[0]?.message}`);
      const base = sha(`base-${tag}`);
      await h.push(base, appRepo(app, ns, n, 0));
      const r: SizeResult = { n, opened: [], pushed: [], pushCalls: [] };
      let lastPost = 0;
      for (let i = 0; i < runs; i++) {
        const pr = 1000 + Math.floor(Math.random() * 1e6);
        const [h1, h2] = [sha(`${tag}-${i}-a`), sha(`${tag}-${i}-b`)];
        await h.push(h1, appRepo(app, ns, n, 1));
        await h.push(h2, appRepo(app, ns, n, 2));
        await sleep(Math.max(0, lastPost + NOTIFICATION_GAP_MS - Date.now()));
        const opened = await previewRun(h, 'opened', pr, h1, base);
        lastPost = opened.calls.find((c) => c.method === 'POST' && isCommentWrite(c))?.at ?? lastPost;
        const pushed = await previewRun(h, 'synchronize', pr, h2, base);
        r.opened.push(opened.ms);
        r.pushed.push(pushed.ms);
        r.pushCalls = pushed.calls;
      }
      log(`time to comment (${label}) at ${n} objects: opened p50 ${percentile(r.opened, 50).toFixed(0)} ms, push p50 ${percentile(r.pushed, 50).toFixed(0)} ms; a push costs ${r.pushCalls.length} calls: ${shape(r.pushCalls)}`);
      out.push(r);
    }
  } finally {
    cluster.client.close();
  }
  return out;
}

/** A merged PR's push to main: every GitHub call the deploy makes. */
async function deployCalls(h: Harness, env: BenchEnv): Promise<Recorded[]> {
  const cluster = await connect(env.kubeconfig);
  const ns = `bench-deploy-${crypto.randomUUID().slice(0, 6)}`;
  try {
    await createNamespace(cluster, ns);
  } finally {
    cluster.client.close();
  }
  const s = sha(`deploy-${ns}`);
  await h.push(s, appRepo('deployed', ns, 100, 0));
  const from = h.calls.length;
  const status = await h.pushEvent(s, { mergedPr: 77 });
  if (status !== 202) throw new Error(`push webhook answered ${status}`);
  await waitFor(() => h.calls.slice(from).find((c) => c.method === 'POST' && c.path.endsWith('/issues/77/comments')), 'deploy comment', 120_000);
  await sleep(WRITE_GAP_MS);
  return h.calls.slice(from);
}

export async function benchComment(env: BenchEnv, sizes: number[], runs: number): Promise<Section[]> {
  log('time to comment with Probot defaults (write throttle on)');
  const real = await startHarness(CLUSTERS_YAML, harnessEnv(), { probot: productionProbot(), log: productionLog() });
  let withThrottle: SizeResult[];
  let deploy: Recorded[];
  try {
    withThrottle = await measure(real, env, sizes, runs, 'throttle on');
    deploy = await deployCalls(real, env);
  } finally {
    await real.stop();
    await dropKeys(env.redisUrl, real.prefix);
  }
  log('time to comment with the write throttle off (the work itself)');
  // GitHub's per-installation limit off here only: without Octokit's throttle these runs
  // send more than 80 writes a minute, and the stand-in's 403s (no retries in the test
  // Probot) left the 1,000-object runs without a comment. The column measures the work; the
  // throttle-on runs above are held to the limit.
  const bare = await startHarness(CLUSTERS_YAML, harnessEnv(), { log: productionLog(), secondaryLimits: false });
  let noThrottle: SizeResult[];
  try {
    noThrottle = await measure(bare, env, sizes, Math.max(3, Math.ceil(runs / 2)), 'throttle off');
  } finally {
    await bare.stop();
    await dropKeys(env.redisUrl, bare.prefix);
  }

  log('time to comment with the write throttle off and the rollout analysis off (what the analysis costs)');
  // The same work without the rollout analysis (MERGEOPS_ROLLOUT_ANALYSIS=off): the columns
  // side by side say what it adds (its four list requests per namespace and the analysis).
  const noRollout = await startHarness(CLUSTERS_YAML, harnessEnv({ MERGEOPS_ROLLOUT_ANALYSIS: 'off' }), { log: productionLog(), secondaryLimits: false });
  let withoutRollout: SizeResult[];
  try {
    withoutRollout = await measure(noRollout, env, sizes, Math.max(3, Math.ceil(runs / 2)), 'throttle off, rollout analysis off');
  } finally {
    await noRollout.stop();
    await dropKeys(env.redisUrl, noRollout.prefix);
  }

  const fmt = (xs: number[]): string => `${(percentile(xs, 50) / 1000).toFixed(2)} / ${(percentile(xs, 95) / 1000).toFixed(2)}`;
  // Both previews of each PR (opened and pushed) count: each plans the whole app.
  const both = (r: SizeResult | undefined): number[] => [...(r?.opened ?? []), ...(r?.pushed ?? [])];
  const table = [
    '| objects | PR opened p50 / p95 s | push to the PR p50 / p95 s | same, write throttle off p50 / p95 s | throttle off, opened and pushed p50 s: with the rollout analysis / without / added |',
    '|---|---|---|---|---|',
    ...withThrottle.map((r, i) => {
      const w = percentile(both(noThrottle[i]), 50);
      const wo = percentile(both(withoutRollout[i]), 50);
      return `| ${r.n} | ${fmt(r.opened)} | ${fmt(r.pushed)} | ${fmt(noThrottle[i]?.pushed ?? [])} | ${(w / 1000).toFixed(2)} / ${(wo / 1000).toFixed(2)} / ${(((w - wo) / wo) * 100).toFixed(1)}% |`;
    }),
  ];
  const biggest = noThrottle.length - 1;
  const rolloutWith = percentile(both(noThrottle[biggest]), 50);
  const rolloutWithout = percentile(both(withoutRollout[biggest]), 50);
  const rolloutAdded = ((rolloutWith - rolloutWithout) / rolloutWithout) * 100;
  const at100 = withThrottle.find((r) => r.n === 100) ?? withThrottle[0];
  const p50 = at100 ? percentile(at100.opened, 50) / 1000 : NaN;
  const p50push = at100 ? percentile(at100.pushed, 50) / 1000 : NaN;
  const ttc: Section = {
    title: '1. Time to comment',
    table,
    notes: [
      `Signed \`pull_request\` webhook sent → the stand-in sees the comment write (POST for an opened PR, PATCH for a push), ${runs} runs per size (${Math.max(3, Math.ceil(runs / 2))} with the throttle off), each PR changing 20% of an already deployed plain-YAML app; worker concurrency 4.`,
      'Octokit (Probot\'s default, kept here) spaces one installation\'s writes ≥ 1 s apart and comment POSTs ≥ 3 s apart, as GitHub asks of integrations to stay clear of its secondary rate limits. A preview writes three times (check started, comment, check completed), so its comment cannot land earlier than 1 s after the check started even when the work takes 100 ms; the throttle-off column shows the work alone. Runs are spaced so that no run waits for the previous one\'s throttle. On github.com, GitHub\'s own API latency (typically 100–300 ms per call, 3–4 calls before the comment) comes on top.',
      'A comment too long for GitHub (65,536 characters) is split into parts, each its own write 1 s after the previous one; the time here is to the first part. At 1,000 objects with 200 changes the work itself takes seconds: every object gets a dry-run apply, and the base revision is rendered and planned again for the drift section.',
      'The last column compares two runtimes with the write throttle off, one with the rollout analysis (the default) and one with `MERGEOPS_ROLLOUT_ANALYSIS=off`, over the same PRs (each PR changes the replicas of 100 of its 200 Deployments, so every preview reads the namespace\'s ResourceQuotas, LimitRanges, PDBs and HPAs and analyses every workload). On a shared machine two medians of a few runs differ by noise of several percent either way.',
    ],
    targets: [
      {
        target: 'time to comment at 100 objects p50 ≤ 2 s',
        measured: `${p50.toFixed(2)} s opened, ${p50push.toFixed(2)} s push`,
        met: Math.max(p50, p50push) <= 2,
        missNote: `missed by ${(Math.max(p50, p50push) - 2).toFixed(2)} s; compare the throttle-off column for how much is the write throttle's 1 s spacing`,
      },
      {
        target: `the rollout analysis adds ≤ 10% to the preview at ${noThrottle[biggest]?.n ?? '?'} objects`,
        measured: `${rolloutAdded.toFixed(1)}% (${(rolloutWith / 1000).toFixed(2)} s with, ${(rolloutWithout / 1000).toFixed(2)} s without)`,
        met: rolloutAdded <= 10,
        missNote: `${rolloutAdded.toFixed(1)}% added`,
      },
    ],
  };
  const at100Calls = at100?.pushCalls ?? [];
  const calls: Section = {
    title: '6. GitHub API calls',
    table: [
      '| flow | calls | which |',
      '|---|---|---|',
      ...withThrottle.map((r) => `| push to an open PR, ${r.n} objects | ${r.pushCalls.length} | ${shape(r.pushCalls)} |`),
      `| deploy of a merged PR (1 app, 100 objects) | ${deploy.length} | ${shape(deploy)} |`,
    ],
    notes: [
      'Counted at the stand-in; the installation token (one POST per hour per installation, cached by Probot) is not counted. The base revision of a PR is downloaded on its first preview and then served from the worker\'s revision cache (`MERGEOPS_REVISION_CACHE_BYTES`), so a push with an unchanged base costs one tarball. A comment longer than GitHub\'s 65,536 characters is split, one write per part.',
    ],
    targets: [{ target: '≤ 4 GitHub API calls per PR update', measured: `${at100Calls.length} at 100 objects`, met: at100Calls.length <= 4, missNote: `missed by ${at100Calls.length - 4}: ${shape(at100Calls)}` }],
  };
  return [ttc, calls];
}
