import type { DeployReport } from '../report/deploy.js';
import type { Permission } from '../config/command-permissions.js';

/**
 * What each flow is asked to do. A job carries references only — never manifests, tokens
 * or secrets — so a job payload in Redis is safe to inspect and tiny to store.
 */

/** A pull request's head commit to preview against its base branch's apps. */
export interface PreviewJob {
  installationId: number;
  owner: string;
  repo: string;
  repoId: number;
  pr: number;
  headSha: string;
  baseRef: string;
  /** The base branch's commit the PR was compared with; its render is the drift baseline. */
  baseSha: string;
  defaultBranch: string;
  /** True when the PR comes from a fork: preview only, never write access. */
  fromFork: boolean;
  /** Only these apps (`/mergeops preview <app…>`); all of the PR's apps when absent. */
  apps?: string[];
  /**
   * Set for a merge queue group (`pr` is 0): its head commit is previewed and reported as
   * the check on that commit only; there is no pull request to comment on.
   */
  mergeGroup?: { headRef: string };
  /** Set by the first attempt so retries finish the same check run. */
  checkRunId?: number;
  /** Each environment's own check run (`previewCheck: true`), by environment, so a retry updates it instead of adding one. */
  environmentCheckRunIds?: Record<string, number>;
  /** The PR's labels when the event was sent, so keeping ours in sync costs no read. */
  labels?: string[];
  /** Who pressed "Accept risk" on this commit's gated preview; the worker checks their access. */
  riskAcceptedBy?: string;
  /** `up`: a writer's `/mergeops env up` (access checked by the command): start the PR's preview environments, a fork's too. */
  previewEnv?: 'up';
}

/** Preview environments of one PR to remove (closed, label removed, a command), or the periodic sweep. */
export type PreviewEnvJob =
  | { kind: 'down'; installationId: number; owner: string; repo: string; repoId: number; pr: number; reason: 'closed' | 'label removed' | 'command'; apps?: string[] }
  | { kind: 'sweep' };

/** One push to a branch: every app whose `branch` it is gets deployed at `sha`. */
export interface DeployJob {
  installationId: number;
  owner: string;
  repo: string;
  repoId: number;
  sha: string;
  branch: string;
  defaultBranch: string;
  /**
   * Why this commit deploys: a push, drift self-heal re-applying it, `/mergeops deploy`
   * re-applying it, or `/mergeops unlock` applying what was merged while locked.
   */
  reason?: 'push' | 'self-heal' | 'command' | 'unlock' | 'continue' | 'promote';
  /** Only these apps of the branch (commands); every app on the branch when absent. */
  apps?: string[];
  /**
   * A check run opened in progress by a deploy of an earlier mergeops version (deploys now
   * report after their apply, in a report job); the report completes it instead of creating one.
   */
  checkRun?: { id: number; url?: string };
  /** What a push changed, so it deploys only the apps it affects; absent: every app. */
  changes?: PushChanges;
  /**
   * A deploy that goes on from where an earlier one of this commit stopped: after a soak
   * (`continue`) or a promotion (`promote`). The first is the environment it goes on with
   * (its soak is over, or it was promoted), the rest come after it; every environment not
   * listed deployed earlier.
   */
  environments?: string[];
  /** Who promoted `environments[0]` (`reason: 'promote'`). */
  promotedBy?: string;
}

/**
 * A commit held before an environment that asks for an approval: durable in Redis until a
 * person promotes it or a newer commit that passed the environments before replaces it.
 * References only, like a job.
 */
export interface WaitingPromotion {
  /** The deploy to run on promotion: this commit, the units waiting, the environment first. */
  job: DeployJob & { environments: string[]; apps: string[] };
  /** The repository role that promotes it (the stricter of `approval:` and the operator's `requireApproval:`). */
  role: Permission;
  /** ISO 8601: when it began to wait. */
  since: string;
}

/**
 * The files a push changed, as references (paths and commits, never content): the commit
 * the branch was at before and the paths the push payload's commits list; without
 * `paths` (too many to carry, or GitHub's list may be cut) the worker asks the compare
 * API for `before...sha`. `untrusted` says why no list can be trusted (a force-push, a
 * branch created): every app deploys.
 */
export type PushChanges = { before: string; paths?: string[] } | { untrusted: string };

/**
 * The GitHub bookkeeping of one applied deploy, done after the cluster and off the deploy
 * lease: one check run, a Deployment (created, then its final status) for each changed app,
 * the comment on the merged PR, notifications. It carries the report (counts, object refs,
 * the server's words on failures), never manifests or secret values.
 */
export interface DeployReportJob extends Pick<DeployJob, 'installationId' | 'owner' | 'repo' | 'repoId' | 'sha' | 'branch' | 'defaultBranch' | 'reason'> {
  /** The deploy job this reports on (its id makes this job's). */
  deployJobId: string;
  /** The order of applies: a report of an environment is superseded by any with a higher one. */
  seq: number;
  report: DeployReport;
  /** The apps that get a Deployment: applied or pruned something, or failed. */
  changed: string[];
  /** Apps a bootstrap deployed for the first time: no Deployment (BOOTSTRAP_DEPLOYMENTS_MAX), listed in the check. */
  bootstrapped?: string[];
  /** What the bookkeeping already did, so a retry goes on from there instead of writing twice. */
  progress?: DeployReportProgress;
}

export interface DeployReportProgress {
  /** The check run created (completed) for this report. */
  checkRun?: { id: number; url?: string };
  /** A check run the deploy job had opened in progress (see DeployJob.checkRun): completed instead of created. */
  openCheck?: { id: number; url?: string };
  /** Deployments created, by app. */
  deployments?: Record<string, number>;
  /** Apps whose final Deployment status is posted. */
  statuses?: string[];
  commented?: boolean;
  /** Older waiting commits this report has told they were replaced (their check, their PR). */
  replacedNoted?: string[];
}

/** A repository whose config lists images: enough to fetch it and open PRs in it. */
export interface RepoTarget {
  installationId: number;
  owner: string;
  repo: string;
  repoId: number;
  defaultBranch: string;
}

/** "Look at this image for this repo": the flow re-reads the repo's config and the registry. */
export interface BumpJob extends RepoTarget {
  kind: 'bump';
  /** Canonical image repository. */
  repository: string;
  /** Tags/digests the trigger announced (webhooks); polling sends none and lists instead. */
  events: { tag?: string; digest?: string; source: string }[];
  /** How often this job already waited out a registry's 429 (its Retry-After). */
  rateLimitWaits?: number;
}

/** Re-read a repo's `images:` into the watch index (config changed, app installed). */
export interface SyncJob {
  kind: 'sync';
  installationId: number;
  owner: string;
  repo: string;
  repoId: number;
  /** Commit to read; the default branch's head when absent. */
  sha?: string;
  defaultBranch?: string;
}

/**
 * "`environment`'s source environment is healthy at `sha`": open or update the promotion
 * pull requests that carry its image tags (and listed files) into `environment`'s files.
 */
export interface PromoteJob extends RepoTarget {
  kind: 'promote';
  /** The environment promoted into (it has `promote: pr`). */
  environment: string;
  /** The commit the source environment deployed and stayed healthy at. */
  sha: string;
  /** The branch that commit deployed from: the pull requests' base. */
  branch: string;
}

/** What the image queue carries: a bump of one image, a re-read of a repo's `images:`, or a promotion. */
export type ImageJob = BumpJob | SyncJob | PromoteJob;
