import crypto from 'node:crypto';
import type { DeployJob, PreviewJob, RepoTarget } from '../flows/jobs.js';

/** Queue names; one per flow so each scales and is observed separately. */
export const PREVIEW_QUEUE = 'preview';
export const DEPLOY_QUEUE = 'deploy';
/** A deploy's GitHub bookkeeping, after its apply and off its lease. */
export const DEPLOY_REPORT_QUEUE = 'deploy-report';
export const DRIFT_QUEUE = 'drift';
export const IMAGE_QUEUE = 'image-bump';
/** A scheduler per watched image; its job lists the image's tags. */
export const IMAGE_POLL_QUEUE = 'image-poll';

/** A drift check: of these apps (`repoId/app`, a watch saw someone else change them), or a full compare of every deployed app. */
export interface DriftJob {
  apps?: string[];
}

export interface PollJob {
  repository: string;
}

/*
 * Every job and scheduler id, in one place. BullMQ ignores an add whose id already exists,
 * which is what makes a redelivered webhook or a repeated trigger a no-op. Ids may not
 * contain ":".
 */

/** A second event for the same head SHA (edited, labeled, a redelivery) is the same job. */
export function previewJobId(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): string {
  return `preview-${j.repoId}-${j.pr}-${j.headSha}`;
}

/** A merge queue group's head is previewed once, apart from any PR preview of the same commit. */
export function mergeGroupPreviewJobId(j: Pick<PreviewJob, 'repoId' | 'headSha'>): string {
  return `${previewJobId({ ...j, pr: 0 })}-merge-group`;
}

export function deployJobId(j: Pick<DeployJob, 'repoId' | 'sha' | 'branch'>): string {
  return `deploy-${j.repoId}-${encodeURIComponent(j.branch).replace(/[:%]/g, '_')}-${j.sha}`;
}

/** A soak's continuation of a commit's deploy: one per commit and environment, so a retried deploy schedules it once. */
export function continueJobId(j: Pick<DeployJob, 'repoId' | 'sha' | 'branch'> & { environments: string[] }): string {
  return `${deployJobId(j)}-continue-${j.environments[0]}`;
}

/** One report per deploy job: a retried deploy that reached its report does not report twice. */
export function deployReportJobId(deployJobId: string): string {
  return `report-${deployJobId}`;
}

/** A fresh id each time: every heal is a new decision of the drift watch. */
export function healJobId(j: Pick<DeployJob, 'repoId' | 'sha'> & { app?: string }, now = Date.now()): string {
  return `heal-${j.repoId}-${j.app ?? 'all'}-${j.sha}-${now}`;
}

/** The same commit synced twice is one job; a sync without a commit (install) always runs. */
export function syncJobId(j: { repoId: number; sha?: string }, now = Date.now()): string {
  return `sync-${j.repoId}-${j.sha ?? now}`;
}

/** One promotion per target environment and healthy commit: a retried deploy proposes it once. */
export function promoteJobId(j: { repoId: number; environment: string; sha: string }): string {
  return `promote-${j.repoId}-${j.environment}-${j.sha}`;
}

/** `idParts` name the trigger (tag and digest, or the poll's fingerprint), so the same trigger twice is one bump. */
export function bumpJobId(w: Pick<RepoTarget, 'repoId'>, image: string, ...idParts: string[]): string {
  return `bump-${w.repoId}-${shortHash(image, ...idParts)}`;
}

/** The one repeatable scan of the drift watch (N worker replicas still scan once per interval). */
export const DRIFT_SCHEDULER_ID = 'drift-scan';

export function pollSchedulerId(image: string): string {
  return `poll-${shortHash(image)}`;
}

/** Ids must stay short and free of ':' whatever the image name: a hash of the parts. */
export function shortHash(...parts: string[]): string {
  return crypto.createHash('sha256').update(parts.join('\n')).digest('hex').slice(0, 20);
}
