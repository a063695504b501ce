/** Comment commands and check-run buttons run on their own queue, off the webhook path. */
export const COMMAND_QUEUE = 'command';

export interface CommandRepo {
  installationId: number;
  owner: string;
  repo: string;
  repoId: number;
  defaultBranch: string;
}

/** Where the command came from; both carry references only, never file content. */
export type CommandSource =
  | {
      kind: 'comment';
      /** The PR or issue number. */
      issue: number;
      isPullRequest: boolean;
      commentId: number;
      /** The comment's first line (at most MAX_COMMAND_LINE characters): the command itself. */
      line: string;
    }
  | {
      kind: 'button';
      /** The commit of the failed `mergeops / deploy` check run whose action was clicked. */
      sha: string;
      checkRunId: number;
      identifier: string;
    }
  | {
      kind: 'dashboard';
      /** The dashboard issue whose box was ticked. */
      issue: number;
      /** The webhook delivery and box: what makes the ids of the jobs this action enqueues. */
      tag: string;
    };

export interface CommandJob extends CommandRepo {
  /** Login of the user who commented or clicked; their permission is asked at run time. */
  actor: string;
  source: CommandSource;
}

/** A redelivered comment or click must not run twice; ids may not contain ":". */
export function commandJobId(j: CommandJob): string {
  if (j.source.kind === 'dashboard') return `command-${j.repoId}-dashboard-${j.source.tag}`;
  return j.source.kind === 'comment' ? `command-${j.repoId}-comment-${j.source.commentId}` : `command-${j.repoId}-button-${j.source.checkRunId}-${j.actor}-${Date.now()}`;
}

/** What makes the ids of jobs a command enqueues (re-previews) its own: the comment, or the dashboard tick. */
export function sourceTag(j: CommandJob): string {
  return j.source.kind === 'comment' ? String(j.source.commentId) : j.source.kind === 'dashboard' ? j.source.tag : '0';
}

/** The check run action a failed deploy offers; GitHub caps identifiers at 20 characters. */
export const ROLLBACK_ACTION = { label: 'Roll back', description: 'Open a PR restoring the last good deploy', identifier: 'mergeops-rollback' } as const;
