import type { ApplicationFunction } from 'probot';
import type { PreviewJob } from '../queue/jobs.js';

export interface AppDeps {
  enqueuePreview(job: PreviewJob): Promise<boolean>;
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
        owner: repo.owner.login,
        repo: repo.name,
        repoId: repo.id,
        pr: pr.number,
        headSha: pr.head.sha,
        baseRef: pr.base.ref,
        baseSha: pr.base.sha,
        defaultBranch: repo.default_branch,
        fromFork: pr.head.repo?.full_name !== repo.full_name,
      };
      const added = await deps.enqueuePreview(job);
      context.log.info({ pr: pr.number, sha: pr.head.sha.slice(0, 7), added }, added ? 'preview enqueued' : 'preview already queued for this commit');
    });
  };
}
