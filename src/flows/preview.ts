import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import type { App } from '../config/repo-config.js';
import { diffPlan } from '../diff/diff.js';
import type { DriftEntry } from '../diff/drift.js';
import type { AppEngine, AppTarget } from '../engine/engine.js';
import { appsOn, openRevision } from '../engine/revision.js';
import { errorText, toProblem } from '../errors.js';
import { timed } from '../metrics.js';
import { formatCheck } from '../report/check.js';
import { formatComment } from '../report/comment.js';
import type { AppReport, PreviewReport } from '../report/types.js';
import { mapLimit } from '../util/pool.js';
import type { CommentIdStore, RepoHost, RepoHosts } from './host.js';
import type { PreviewJob } from './jobs.js';

export interface PreviewDeps {
  hosts: RepoHosts;
  engine: AppEngine;
  log: Logger;
  /** False once a newer head SHA was pushed: an older job must not overwrite the comment. */
  isLatestHead(job: PreviewJob): Promise<boolean>;
  commentIds(job: PreviewJob): CommentIdStore;
  /** Check run ids survive retries of the same job, so a retry does not open a second one. */
  checkRunId: { get(): number | undefined; set(id: number): Promise<void> };
}

const APP_CONCURRENCY = 4;

/** The preview flow: fetch → config → render → plan (dry-run) → diff → report. */
export async function runPreview(job: PreviewJob, deps: PreviewDeps): Promise<PreviewReport> {
  const started = Date.now();
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, pr: job.pr, sha: job.headSha.slice(0, 7) });
  const host = await deps.hosts(job);
  let checkRunId = deps.checkRunId.get();
  if (checkRunId === undefined) {
    checkRunId = (await host.startCheck(CHECK_NAMES.preview, job.headSha)).id;
    await deps.checkRunId.set(checkRunId);
  }

  const timings: Record<string, number> = {};
  const report = await buildReport(job, host, deps.engine, log, timings);
  report.checkRunUrl = host.checkRunUrl(checkRunId);
  report.serverUrl = host.webUrl();
  await timed('preview', 'report', async () => {
    // Comment first: Octokit spaces an installation's writes a second apart, and the
    // comment is what people wait for; the check completes one write slot later.
    if (await deps.isLatestHead(job)) {
      await host.upsertPreviewComments(job.pr, formatComment(report), deps.commentIds(job));
    } else {
      log.info('a newer commit was pushed meanwhile; leaving the comment to its job');
    }
    await host.finishCheck(checkRunId, formatCheck(report));
  }, timings);
  log.info(
    { apps: report.apps.length, problems: report.problems.length + report.apps.reduce((n, a) => n + a.problems.length, 0), ms: Date.now() - started, timings },
    'preview done',
  );
  return report;
}

async function buildReport(job: PreviewJob, host: RepoHost, engine: AppEngine, log: Logger, timings: Record<string, number>): Promise<PreviewReport> {
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
  // The base revision is the drift baseline; without it the preview still works.
  const base = openRevision(() => host.cachedRevision(job.baseSha), job.defaultBranch).catch((err: unknown) => {
    log.warn({ err: errorText(err) }, 'base revision unavailable; drift not checked');
    return null;
  });
  let head;
  try {
    head = await timed('preview', 'fetch', () => openRevision(() => host.revision(job.headSha), job.defaultBranch), timings);
  } catch (err) {
    await (await base)?.close();
    throw err;
  }
  const baseRev = await base;
  try {
    if (!head.ok) {
      report.problems.push(head.problem);
      return report;
    }
    const baseApps = baseRev?.ok ? new Map(baseRev.config.apps.map((a) => [a.name, a])) : new Map<string, App>();
    const apps = appsOn(head.config, job.baseRef);
    log.info({ apps: apps.map((a) => a.name) }, 'rendering apps');
    const started = Date.now();
    const key = (app: App) => ({ repoId: job.repoId, repo: `${job.owner}/${job.repo}`, app: app.name });
    report.apps = await mapLimit(apps, APP_CONCURRENCY, async (app) => {
      const r = await previewApp({ app, dir: head.dir, key: key(app) }, engine, log);
      const baseApp = baseApps.get(app.name);
      if (baseRev?.ok && baseApp && r.problems.length === 0) {
        r.drift = await driftOf({ app: baseApp, dir: baseRev.dir, key: key(baseApp) }, engine, log);
        r.baseRef = job.baseRef;
      }
      return r;
    });
    // Apps render and diff in parallel, so per-stage sums would overstate the wall time.
    timings['apps'] = Date.now() - started;
    return report;
  } finally {
    await head.close();
    await baseRev?.close();
  }
}

/** Best effort: a base that no longer renders just means no drift section. */
async function driftOf(t: AppTarget, engine: AppEngine, log: Logger): Promise<DriftEntry[]> {
  try {
    return await engine.drift(t, { log });
  } catch (err) {
    log.info({ app: t.app.name, err: errorText(err) }, 'drift not checked: the base revision did not render');
    return [];
  }
}

async function previewApp(t: AppTarget, engine: AppEngine, log: Logger): Promise<AppReport> {
  const { app } = t;
  const out: AppReport = { app: app.name, cluster: app.cluster, diffs: [], problems: [], drift: [], merge: { prune: app.prune, waitMs: app.waitMs, force: app.force } };
  if (app.namespace) out.namespace = app.namespace;
  try {
    const { plan, problems } = await engine.plan(t, { log });
    out.diffs = diffPlan(plan.objects, plan.orphans);
    out.problems.push(...problems);
    log.info({ app: app.name, changes: out.diffs.filter((d) => d.action !== 'unchanged').length, problems: problems.length }, 'diffed');
  } catch (err) {
    out.problems.push(toProblem(err));
  }
  return out;
}
