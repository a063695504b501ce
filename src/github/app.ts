import type { ApplicationFunction } from 'probot';
import { fromRegistryPackage, type ImageEvent } from '../images/events.js';
import type { DeployJob, PreviewEnvJob, PreviewJob, PushChanges, SyncJob } from '../flows/jobs.js';
import { PREVIEW_ENV_LABEL } from '../engine/preview-env.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { commandLineOf } from '../commands/parse.js';
import type { CommandJob } from '../commands/jobs.js';
import { ROLLBACK_ACTION, promoteActionIndex } from '../report/deploy.js';
import { CHECK_NAMES, isPreviewCheck } from '../check-names.js';
import { ACCEPT_RISK_ACTION } from '../report/check.js';
import type { OnboardJob } from '../flows/onboard.js';
import type { DashboardActionJob } from '../commands/dashboard.js';
import { DASHBOARD_MARKER, tickedBoxes } from '../report/dashboard.js';

export interface AppDeps {
  /** `eventAtMs` orders events for the same PR/branch: a late redelivery must not win. */
  enqueuePreview(job: PreviewJob, eventAtMs: number): Promise<boolean>;
  enqueueDeploy(job: DeployJob, eventAtMs: number): Promise<boolean>;
  /** Re-read a repo's `images:` (its default branch moved, or the app was installed). */
  enqueueSync(job: SyncJob): Promise<void>;
  /**
   * A default-branch push that may have changed `repo`'s `.github/mergeops.yml`: retire the
   * cached organisation defaults if they were read from it (the owner's `.github`, or the
   * file it extends).
   */
  defaultsPushed?(installationId: number, owner: string, repo: string): Promise<boolean>;
  /** A registry has a new build: bump every repo watching the image. */
  imageEvents(events: ImageEvent[]): Promise<number>;
  /** A `/mergeops` comment or a clicked check-run button. */
  enqueueCommand(job: CommandJob): Promise<boolean>;
  /** A merge queue group to preview on its head commit. */
  enqueueMergeGroup(job: PreviewJob): Promise<boolean>;
  /** The group left the queue: drop its waiting preview and stop one in flight. */
  cancelMergeGroup(job: Pick<PreviewJob, 'repoId' | 'headSha'>): Promise<void>;
  /**
   * GitHub's "Re-run" on one of our checks: run that preview or deploy again, as a new job
   * (`jobId` is per delivery, so a redelivered event re-runs once).
   */
  rerun(run: { kind: 'preview'; job: PreviewJob } | { kind: 'deploy'; job: DeployJob }, jobId: string): Promise<boolean>;
  /** Boxes ticked on a deploy dashboard issue (absent: the operator turned dashboards off). */
  dashboardTicked?(job: DashboardActionJob): Promise<boolean>;
  /** Set when the operator turned onboarding on: newly installed repositories to offer a config to. */
  onboard?(jobs: OnboardJob[]): Promise<void>;
  /** The PR got the preview-environment label: preview its head again (a job of its own), which brings the environments up. */
  enqueuePreviewEnvUp?(job: PreviewJob, jobId: string, eventAtMs: number): Promise<boolean>;
  /** The PR closed, or lost the label: remove its environments. `eventId` makes a redelivery a no-op. */
  enqueuePreviewEnvDown?(job: Extract<PreviewEnvJob, { kind: 'down' }>, eventId: string): Promise<boolean>;
}

interface CheckRunEvent {
  check_run: { head_sha: string; pull_requests: { number: number; head: { sha: string; repo: { id: number } }; base: { ref: string; sha: string } }[] };
  repository: { id: number; name: string; default_branch: string; owner: { login: string } };
}

/** The repository fields every job carries, from any event's `repository`. */
function repoOf(r: { id: number; name: string; default_branch: string; owner: { login: string } }): { owner: string; repo: string; repoId: number; defaultBranch: string } {
  return { owner: r.owner.login, repo: r.name, repoId: r.id, defaultBranch: r.default_branch };
}

/** The preview a check run belongs to; null for a fork's PR, which GitHub does not list on check runs. */
function previewJobOf(installationId: number, p: CheckRunEvent): PreviewJob | null {
  const run = p.check_run;
  const pr = run.pull_requests.find((x) => x.head.sha === run.head_sha) ?? run.pull_requests[0];
  if (!pr) return null;
  return {
    installationId,
    ...repoOf(p.repository),
    pr: pr.number,
    headSha: run.head_sha,
    baseRef: pr.base.ref,
    baseSha: pr.base.sha,
    fromFork: pr.head.repo.id !== p.repository.id,
  };
}

/**
 * Paths a job may carry: a push listing more (a vendored chart, a mass rename) makes the
 * worker ask the compare API instead, so a job stays small in Redis.
 */
export const MAX_JOB_PATHS = 500;

/**
 * GitHub's push payload lists at most 20 commits in some deliveries (2,048 in others), and
 * may leave a huge commit's file lists empty; a push at either limit is asked of the
 * compare API instead of trusted.
 */
const TRUSTED_COMMITS = 20;

interface PushPayload {
  before: string;
  created: boolean;
  forced: boolean;
  commits: { added?: string[]; modified?: string[]; removed?: string[] }[];
}

/**
 * What a push changed, from its payload: the commits' added, modified and removed files
 * when the list is complete; the `before` commit alone for the worker to compare when it
 * may not be; or why no list can be trusted (a new branch has no before, a force-push's
 * before is not an ancestor).
 */
export function pushChanges(p: PushPayload): PushChanges {
  if (p.created || /^0+$/.test(p.before)) return { untrusted: 'the push created the branch' };
  if (p.forced) return { untrusted: 'a force-push' };
  const lists = p.commits.map((c) => [...(c.added ?? []), ...(c.modified ?? []), ...(c.removed ?? [])]);
  if (lists.length === 0 || lists.length >= TRUSTED_COMMITS || lists.some((l) => l.length === 0)) return { before: p.before };
  const paths = [...new Set(lists.flat())];
  return paths.length > MAX_JOB_PATHS ? { before: p.before } : { before: p.before, paths };
}

/** False only when the push's own file list is trusted and does not name the repository config. */
export function configMayHaveChanged(changes: PushChanges | undefined): boolean {
  return !changes || !('paths' in changes) || changes.paths === undefined || changes.paths.includes(REPO_CONFIG_PATH);
}

/** Probot handlers stay thin: turn an event into a job reference and enqueue it. */
export function mergeopsApp(deps: AppDeps): ApplicationFunction {
  return (app) => {
    app.on(['pull_request.opened', 'pull_request.synchronize', 'pull_request.reopened'], async (context) => {
      const pr = context.payload.pull_request;
      const repo = context.payload.repository;
      const installationId = context.payload.installation?.id;
      if (installationId === undefined) {
        context.log.warn('pull_request event without an installation; ignoring');
        return;
      }
      const job: PreviewJob = {
        installationId,
        ...repoOf(repo),
        pr: pr.number,
        headSha: pr.head.sha,
        baseRef: pr.base.ref,
        baseSha: pr.base.sha,
        fromFork: pr.head.repo?.full_name !== repo.full_name,
        labels: pr.labels.map((l) => l.name),
      };
      const added = await deps.enqueuePreview(job, Date.parse(pr.updated_at) || Date.now());
      context.log.info({ pr: pr.number, sha: pr.head.sha.slice(0, 7), added }, added ? 'preview enqueued' : 'preview already queued for this commit');
    });

    // Preview environments: the label brings them up (a preview of the head, as a job of its
    // own since the head's preview may have run already); closing or unlabelling removes them.
    app.on('pull_request.labeled', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      if (installationId === undefined || p.label?.name !== PREVIEW_ENV_LABEL || !deps.enqueuePreviewEnvUp || p.pull_request.state !== 'open') return;
      const pr = p.pull_request;
      const job: PreviewJob = {
        installationId,
        ...repoOf(p.repository),
        pr: pr.number,
        headSha: pr.head.sha,
        baseRef: pr.base.ref,
        baseSha: pr.base.sha,
        fromFork: pr.head.repo?.full_name !== p.repository.full_name,
        labels: pr.labels.map((l) => l.name),
      };
      const added = await deps.enqueuePreviewEnvUp(job, `preview-env-up-${job.repoId}-${job.pr}-${job.headSha}-${context.id.replace(/[^A-Za-z0-9-]/g, '')}`, Date.parse(pr.updated_at) || Date.now());
      context.log.info({ pr: pr.number, fork: job.fromFork, added }, job.fromFork ? 'preview-env label on a fork PR: previewed, no environment (a writer may /mergeops env up)' : 'preview environment requested by label');
    });

    app.on(['pull_request.unlabeled', 'pull_request.closed'], async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      if (installationId === undefined || !deps.enqueuePreviewEnvDown) return;
      const unlabeled = p.action === 'unlabeled';
      if (unlabeled && (!('label' in p) || p.label?.name !== PREVIEW_ENV_LABEL)) return;
      const added = await deps.enqueuePreviewEnvDown(
        { kind: 'down', installationId, ...repoOf(p.repository), pr: p.pull_request.number, reason: unlabeled ? 'label removed' : 'closed' },
        context.id,
      );
      context.log.info({ pr: p.pull_request.number, action: p.action, added }, 'preview environments to remove (if any)');
    });

    // A push to a branch is a merge landing (or a direct push): deploy the apps on it.
    app.on('push', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      if (installationId === undefined || !p.ref.startsWith('refs/heads/') || p.deleted || /^0+$/.test(p.after)) return;
      if (p.repository.fork) {
        context.log.info({ repo: p.repository.full_name }, 'push to a fork; forks never deploy');
        return;
      }
      const job: DeployJob = {
        installationId,
        owner: p.repository.owner?.login ?? p.repository.owner?.name ?? '',
        repo: p.repository.name,
        repoId: p.repository.id,
        sha: p.after,
        branch: p.ref.slice('refs/heads/'.length),
        defaultBranch: p.repository.default_branch ?? p.repository.master_branch ?? 'main',
        reason: 'push',
        changes: pushChanges(p),
      };
      // The image watch reads only the config's `images:`: a push whose trusted file list
      // leaves the config alone cannot change it (one GitHub read saved per merge).
      if (job.branch === job.defaultBranch && configMayHaveChanged(job.changes)) {
        // Before the deploy is queued: jobs of this push (and later ones) read the new defaults.
        if (await deps.defaultsPushed?.(installationId, job.owner, job.repo)) context.log.info({ repo: `${job.owner}/${job.repo}` }, 'organisation config defaults changed; cache retired');
        await deps.enqueueSync({ kind: 'sync', installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, sha: job.sha, defaultBranch: job.defaultBranch });
      }
      // pushed_at is the time of this push (seconds), even when redelivered days later.
      const pushedAt = Number(p.repository.pushed_at) * 1000 || Date.now();
      const added = await deps.enqueueDeploy(job, pushedAt);
      context.log.info({ branch: job.branch, sha: job.sha.slice(0, 7), added }, added ? 'deploy enqueued' : 'deploy already queued for this commit');
    });

    // `/mergeops …` in a PR or issue comment. Edited comments are not subscribed to: an
    // edit must not run a command a second time. Bots (our own replies) are never answered.
    app.on('issue_comment.created', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      const line = commandLineOf(p.comment.body);
      if (installationId === undefined || line === null || p.comment.user?.type === 'Bot') return;
      const job: CommandJob = {
        installationId,
        ...repoOf(p.repository),
        actor: p.comment.user?.login ?? '',
        source: { kind: 'comment', issue: p.issue.number, isPullRequest: Boolean(p.issue.pull_request), commentId: p.comment.id, line },
      };
      const added = await deps.enqueueCommand(job);
      context.log.info({ issue: p.issue.number, actor: job.actor, added }, added ? 'command enqueued' : 'command already queued for this comment');
    });

    // A box ticked on the deploy dashboard: GitHub sends the whole new body and the old one
    // (`changes.body.from`); the boxes ticked in between are the request. Our own edits (a
    // bot's) untick boxes and never act, so the dashboard cannot loop on itself.
    app.on('issues.edited', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      const ticked = deps.dashboardTicked;
      if (!ticked || installationId === undefined || p.sender.type === 'Bot' || p.changes.body === undefined || p.issue.pull_request) return;
      if (!(p.issue.body ?? '').includes(DASHBOARD_MARKER)) return;
      const boxes = tickedBoxes(p.changes.body.from, p.issue.body);
      if (boxes.length === 0) return;
      const job: DashboardActionJob = { kind: 'action', installationId, ...repoOf(p.repository), actor: p.sender.login, issue: p.issue.number, boxes, delivery: context.id };
      const added = await ticked(job);
      context.log.info({ issue: p.issue.number, actor: job.actor, boxes: boxes.length, added }, added ? 'dashboard boxes enqueued' : 'dashboard edit already queued');
    });

    // The buttons of a deploy check: "Roll back" on a failed one, "Promote to …" on one waiting
    // for an approval (GitHub sends the click only to the app that made the check).
    app.on('check_run.requested_action', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      const identifier = p.requested_action?.identifier ?? '';
      if (installationId === undefined || p.check_run.name !== CHECK_NAMES.deploy) return;
      if (identifier !== ROLLBACK_ACTION.identifier && promoteActionIndex(identifier) === null) return;
      const job: CommandJob = {
        installationId,
        ...repoOf(p.repository),
        actor: p.sender.login,
        source: { kind: 'button', sha: p.check_run.head_sha, checkRunId: p.check_run.id, identifier },
      };
      await deps.enqueueCommand(job);
      context.log.info({ sha: p.check_run.head_sha.slice(0, 7), actor: job.actor, identifier }, 'deploy check button enqueued');
    });

    // "Re-run" on a mergeops check. GitHub sends it only to the app that made the check; the
    // old run stays as it was and the re-run reports on a new check run, as GitHub expects.
    app.on('check_run.rerequested', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      const run = p.check_run;
      if (installationId === undefined) return;
      const repo = p.repository;
      const jobId = `rerun-${context.id.replace(/[^A-Za-z0-9-]/g, '')}`;
      if (isPreviewCheck(run.name)) {
        const job = previewJobOf(installationId, p);
        if (!job) {
          context.log.info({ sha: run.head_sha.slice(0, 7) }, 're-run of a preview whose pull request GitHub does not list (a fork); push again to re-run it');
          return;
        }
        const added = await deps.rerun({ kind: 'preview', job }, jobId);
        context.log.info({ pr: job.pr, sha: run.head_sha.slice(0, 7), actor: p.sender.login, added }, 'preview re-run requested');
      } else if (run.name === CHECK_NAMES.deploy) {
        const branch = run.check_suite.head_branch;
        if (!branch) return;
        const job: DeployJob = {
          installationId,
          ...repoOf(repo),
          sha: run.head_sha,
          branch,
          reason: 'command',
        };
        const added = await deps.rerun({ kind: 'deploy', job }, jobId);
        context.log.info({ branch, sha: run.head_sha.slice(0, 7), actor: p.sender.login, added }, added ? 'deploy re-run requested' : 'deploy re-run refused: a newer commit was deployed since');
      }
    });

    // "Accept risk" on a gated preview: preview that commit again, noting who accepted; the
    // worker checks they have write access before the check ends as success.
    app.on('check_run.requested_action', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      if (installationId === undefined || p.requested_action?.identifier !== ACCEPT_RISK_ACTION.identifier || !isPreviewCheck(p.check_run.name)) return;
      const job = previewJobOf(installationId, p);
      if (!job) return;
      job.riskAcceptedBy = p.sender.login;
      const added = await deps.rerun({ kind: 'preview', job }, `accept-${context.id.replace(/[^A-Za-z0-9-]/g, '')}`);
      context.log.info({ pr: job.pr, sha: job.headSha.slice(0, 7), actor: p.sender.login, added }, 'risk acceptance enqueued');
    });

    // The App was installed, or repositories were added to it: offer each one without a
    // config an onboarding PR (operator option MERGEOPS_ONBOARDING=pr; the flow checks the rest).
    app.on(['installation.created', 'installation_repositories.added'], async (context) => {
      const onboard = deps.onboard;
      if (!onboard) return;
      const p = context.payload;
      const repos = 'repositories_added' in p ? p.repositories_added : (p.repositories ?? []);
      const owner = p.installation.account && 'login' in p.installation.account ? p.installation.account.login : '';
      const jobs = repos.map((r) => ({ installationId: p.installation.id, owner: r.full_name.split('/')[0] ?? owner, repo: r.name, repoId: r.id }));
      await onboard(jobs);
      context.log.info({ repos: jobs.length }, 'onboarding checks enqueued');
    });

    // GitHub's merge queue: preview the group's head (every queued PR combined) and report
    // `mergeops / preview` on that commit, so the check can be required with the queue on.
    app.on('merge_group.checks_requested', async (context) => {
      const p = context.payload;
      const installationId = p.installation?.id;
      if (installationId === undefined || !p.repository) return;
      const g = p.merge_group;
      const job: PreviewJob = {
        installationId,
        ...repoOf(p.repository),
        pr: 0,
        headSha: g.head_sha,
        baseRef: g.base_ref.replace(/^refs\/heads\//, ''),
        baseSha: g.base_sha,
        fromFork: false,
        mergeGroup: { headRef: g.head_ref },
      };
      const added = await deps.enqueueMergeGroup(job);
      context.log.info({ ref: g.head_ref, sha: g.head_sha.slice(0, 7), added }, 'merge group preview enqueued');
    });

    app.on('merge_group.destroyed', async (context) => {
      const p = context.payload;
      if (!p.repository) return;
      await deps.cancelMergeGroup({ repoId: p.repository.id, headSha: p.merge_group.head_sha });
      context.log.info({ ref: p.merge_group.head_ref, reason: p.reason }, 'merge group destroyed; its preview is called off');
    });

    // A new container version on GHCR: the image may be watched by repos of any installation.
    app.on('registry_package.published', async (context) => {
      const event = fromRegistryPackage(context.payload);
      if (!event) return;
      const n = await deps.imageEvents([event]);
      context.log.info({ image: event.repository, tag: event.tag, bumps: n }, 'registry_package published');
    });

    // Newly installed repos: learn which images they watch without waiting for a push.
    app.on(['installation.created', 'installation_repositories.added'], async (context) => {
      const p = context.payload;
      const repos = 'repositories_added' in p ? p.repositories_added : (p.repositories ?? []);
      for (const r of repos) {
        const [owner = '', repo = ''] = r.full_name.split('/');
        await deps.enqueueSync({ kind: 'sync', installationId: p.installation.id, owner, repo, repoId: r.id });
      }
    });
  };
}
