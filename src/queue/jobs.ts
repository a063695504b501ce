/** Queue names; one per flow so each scales and is observed separately. */
export const PREVIEW_QUEUE = 'preview';

/**
 * A preview job carries references only — never manifests, tokens or secrets — so a job
 * payload in Redis is safe to inspect and tiny to store.
 */
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
  /** Set by the first attempt so retries finish the same check run. */
  checkRunId?: number;
}

/**
 * BullMQ ignores an add whose id already exists, which makes a second event for the same
 * head SHA (edited, labeled, a redelivery) a no-op. Ids may not contain ":".
 */
export function previewJobId(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): string {
  return `preview-${j.repoId}-${j.pr}-${j.headSha}`;
}
