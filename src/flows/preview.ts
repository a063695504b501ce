import type { Logger } from 'pino';
import type { App } from '../config/repo-config.js';
import type { ClusterPool } from '../cluster/connect.js';
import { readConfig } from './common.js';
import { errorText, toProblem } from '../errors.js';
import { planApp } from '../cluster/plan.js';
import { diffPlan } from '../diff/diff.js';
import { PREVIEW_CHECK, cancelCheck, checkRunUrl, finishCheck, startCheck, webUrl } from '../github/checks.js';
import { upsertComments, type CommentIdStore } from '../github/comments.js';
import { fetchCachedRevision, fetchRevision } from '../github/tarball.js';
import type { Octokit } from '../github/types.js';
import type { PreviewJob } from '../queue/jobs.js';
import { render } from '../render/index.js';
import { detectDrift } from '../diff/drift.js';
import { formatCheck } from '../report/check.js';
import { formatComment } from '../report/comment.js';
import { previewLabels } from '../report/labels.js';
import { hasFile, syncLabels } from '../github/labels.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import type { AppReport, PreviewReport, Problem } from '../report/types.js';
import type { ExtractLimits } from '../source/extract.js';
import type { RevisionCache } from '../source/revision-cache.js';
import { mapLimit } from '../util/pool.js';
import { timed } from '../metrics.js';

export interface PreviewDeps {
  github(installationId: number): Promise<Octokit>;
  clusters: ClusterPool;
  limits: ExtractLimits;
  /**
   * Base revisions already extracted on this worker: every push to a PR previews against
   * the same base commit, so only the first push downloads it.
   */
  revisions: RevisionCache;
  log: Logger;
  /** False once a newer head SHA was pushed: an older job must not overwrite the comment. */
  isLatestHead(job: PreviewJob): Promise<boolean>;
  commentIds(job: PreviewJob): CommentIdStore;
  /** Check run ids survive retries of the same job, so a retry does not open a second one. */
  checkRunId: { get(): number | undefined; set(id: number): Promise<void> };
  /** The deploy freeze on an app, shown in its preview ("🔒 locked by @user: reason"). */
  lockOf?(job: PreviewJob, app: string): Promise<{ by: string; reason: string; at: string } | null>;
  /** True once the work was called off (its merge group left the queue): stop, report cancelled. */
  cancelled?(job: PreviewJob): Promise<boolean>;
}

const APP_CONCURRENCY = 4;

/** The preview flow: fetch → config → render → plan (dry-run) → diff → report. */
export async function runPreview(job: PreviewJob, deps: PreviewDeps): Promise<PreviewReport> {
  const started = Date.now();
  const repo = { owner: job.owner, repo: job.repo };
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, pr: job.pr, sha: job.headSha.slice(0, 7) });
  const octokit = await deps.github(job.installationId);
  if (deps.checkRunId.get() === undefined && (await deps.cancelled?.(job))) {
    log.info('called off before it started (the merge group left the queue)');
    return { repo: `${job.owner}/${job.repo}`, sha: job.headSha, apps: [], problems: [] };
  }
  let checkRunId = deps.checkRunId.get();
  // Installed on "All repositories": a repository that never had a config gets nothing from
  // us, no check and no comment (two contents reads instead of an archive download).
  // A PR that has our comment already is known to be ours: no probe on later pushes.
  const known = checkRunId !== undefined || (!job.mergeGroup && (await deps.commentIds(job).get()) !== null);
  if (!known && !(await hasFile(octokit, repo, REPO_CONFIG_PATH, job.headSha)) && !(await hasFile(octokit, repo, REPO_CONFIG_PATH, job.baseSha))) {
    log.info(`no ${REPO_CONFIG_PATH} at the head or the base; not a mergeops repository, staying quiet`);
    return { repo: `${job.owner}/${job.repo}`, sha: job.headSha, apps: [], problems: [] };
  }
  if (checkRunId === undefined) {
    checkRunId = (await startCheck(octokit, repo, PREVIEW_CHECK, job.headSha)).id;
    await deps.checkRunId.set(checkRunId);
  }

  const timings: Record<string, number> = {};
  const report = await buildReport(job, octokit, deps, log, timings);
  if (await deps.cancelled?.(job)) {
    log.info('called off (the merge group left the queue); check cancelled');
    await cancelCheck(octokit, repo, checkRunId, 'The merge group left the queue before its preview finished.');
    return report;
  }
  report.checkRunUrl = checkRunUrl(octokit, repo, checkRunId);
  if (job.riskAcceptedBy) {
    // The gate asks for a second look by someone who could merge: read and triage do not count.
    const level = await octokit.rest.repos.getCollaboratorPermissionLevel({ ...repo, username: job.riskAcceptedBy }).then((r) => r.data.permission, () => 'none');
    if (level === 'admin' || level === 'write') report.riskAcceptedBy = job.riskAcceptedBy;
    else log.info({ actor: job.riskAcceptedBy, level }, '"Accept risk" pressed without write access; the gate stays');
  }
  report.serverUrl = webUrl(octokit);
  await timed('preview', 'report', async () => {
    // Comment first: Octokit spaces an installation's writes a second apart, and the
    // comment is what people wait for; the check completes one write slot later.
    // A merge group has no pull request to comment on: its check is the whole report.
    if (job.mergeGroup) {
      log.info({ ref: job.mergeGroup.headRef }, 'merge group preview; check only');
    } else if (await deps.isLatestHead(job)) {
      const bodies = formatComment(report);
      await upsertComments(octokit, repo, job.pr, bodies, deps.commentIds(job));
      const labels = previewLabels(report);
      if (labels) {
        const changed = await syncLabels(octokit, repo, job.pr, labels, job.labels);
        if (changed.add.length || changed.remove.length) log.info(changed, 'labels updated');
      }
    } else {
      log.info('a newer commit was pushed meanwhile; leaving the comment to its job');
    }
    await finishCheck(octokit, repo, checkRunId, formatCheck(report));
  }, timings);
  log.info(
    { apps: report.apps.length, problems: report.problems.length + report.apps.reduce((n, a) => n + a.problems.length, 0), ms: Date.now() - started, timings },
    'preview done',
  );
  return report;
}

async function buildReport(job: PreviewJob, octokit: Octokit, deps: PreviewDeps, log: Logger, timings: Record<string, number>): Promise<PreviewReport> {
  const report: PreviewReport = {
    repo: `${job.owner}/${job.repo}`,
    sha: job.headSha,
    apps: [],
    problems: [],
    baseSha: job.baseSha,
    baseRef: job.baseRef,
    at: new Date().toISOString(),
    repoId: job.repoId,
  };
  let checkout;
  // The base revision says which apps are deployed (only those can have drifted); without it the preview still works.
  const base = fetchCachedRevision(deps.revisions, octokit, { owner: job.owner, repo: job.repo, repoId: job.repoId }, job.baseSha, deps.limits).catch((err: unknown) => {
    log.warn({ err: errorText(err) }, 'base revision unavailable; drift not checked');
    return null;
  });
  try {
    checkout = await timed('preview', 'fetch', () => fetchRevision(octokit, { owner: job.owner, repo: job.repo }, job.headSha, deps.limits), timings);
  } catch (err) {
    await (await base)?.remove();
    const problem = toProblem(err);
    report.problems.push(problem);
    return report;
  }
  const baseCheckout = await base;
  try {
    const config = await readConfig(checkout.dir, job.defaultBranch);
    if ('problem' in config) {
      report.problems.push(config.problem);
      return report;
    }
    const baseConfig = baseCheckout ? await readConfig(baseCheckout.dir, job.defaultBranch) : null;
    const baseApps = baseConfig && !('problem' in baseConfig) ? new Map(baseConfig.apps.map((a) => [a.name, a])) : new Map<string, App>();
    const apps = config.apps.filter((a) => a.branch === job.baseRef && (!job.apps || job.apps.includes(a.name)));
    log.info({ apps: apps.map((a) => a.name) }, 'rendering apps');
    const started = Date.now();
    // Only an app the base branch has can have been deployed, so only it can have drifted.
    report.apps = await mapLimit(apps, APP_CONCURRENCY, async (app) => {
      const r = await previewApp(job, app, checkout.dir, baseApps.has(app.name), deps, log);
      const lock = await deps.lockOf?.(job, app.name);
      if (lock) r.lock = lock;
      return r;
    });
    // Apps render and diff in parallel, so per-stage sums would overstate the wall time.
    timings['apps'] = Date.now() - started;
    return report;
  } finally {
    await checkout.remove();
    await baseCheckout?.remove();
  }
}

/**
 * Plans the app exactly as its deploy will (same requests, as a dry run). The plan's own
 * field records say what the merge reverts of others' changes (drift) and what it keeps.
 */
async function previewApp(job: PreviewJob, app: App, dir: string, deployedBefore: boolean, deps: PreviewDeps, log: Logger): Promise<AppReport> {
  const out: AppReport = { app: app.name, cluster: app.cluster, diffs: [], problems: [], drift: [], warnings: [], merge: { prune: app.prune, waitMs: app.waitMs, force: app.conflicts === 'overwrite' } };
  if (app.namespace) out.namespace = app.namespace;
  if (app.review) out.review = app.review;
  try {
    const rendered = await timed('preview', 'render', () => render(app, dir));
    log.info({ app: app.name, objects: rendered.length }, 'rendered');
    const cluster = await deps.clusters.get(app.cluster);
    const plan = await timed('preview', 'diff', () => planApp(cluster, app, rendered, { repoId: job.repoId, repo: `${job.owner}/${job.repo}`, app: app.name }));
    out.diffs = diffPlan(plan.objects, plan.orphans, plan.ours);
    log.info({ app: app.name, changes: out.diffs.filter((d) => d.action !== 'unchanged').length, problems: plan.errors.length, warnings: plan.warnings.length }, 'diffed');
    const problem = (e: { ref: string; message: string; source?: { file: string; line: number } }): Problem => {
      const p: Problem = { message: e.message, ref: e.ref };
      if (e.source) Object.assign(p, { file: e.source.file, line: e.source.line });
      return p;
    };
    out.problems.push(...plan.errors.map(problem));
    out.warnings = plan.warnings.map(problem);
    if (deployedBefore && plan.errors.length === 0) out.drift = detectDrift(plan.objects, plan.ours);
  } catch (err) {
    out.problems.push(toProblem(err));
  }
  return out;
}
