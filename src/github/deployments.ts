import type { DeploymentOptions, DeploymentState } from '../flows/host.js';
import type { Octokit, RepoRef } from './types.js';


/** A GitHub Deployment per app (environment = app name), so the repo's Environments page shows it. */
export async function createDeployment(octokit: Octokit, r: RepoRef, sha: string, environment: string, description: string, opts: DeploymentOptions = {}): Promise<number> {
  const res = await octokit.rest.repos.createDeployment({
    ...r,
    ref: sha,
    environment,
    description,
    auto_merge: false,
    // Our own check runs on this SHA are what the deploy reports; none must block it.
    required_contexts: [],
    production_environment: false,
    ...(opts.transient ? { transient_environment: true } : {}),
  });
  if (!('id' in res.data)) throw new Error(`GitHub did not create a deployment for ${environment}: ${res.data.message ?? 'no reason given'}`);
  return res.data.id;
}

export async function setDeploymentState(octokit: Octokit, r: RepoRef, deploymentId: number, state: DeploymentState, description: string, logUrl?: string, environmentUrl?: string): Promise<void> {
  await octokit.rest.repos.createDeploymentStatus({
    ...r,
    deployment_id: deploymentId,
    state,
    // GitHub caps descriptions at 140 characters.
    description: description.length > 140 ? `${description.slice(0, 137)}...` : description,
    ...(logUrl ? { log_url: logUrl } : {}),
    ...(environmentUrl ? { environment_url: environmentUrl } : {}),
  });
}

/** The merged pull request a push came from, if any. */
export async function mergedPullRequest(octokit: Octokit, r: RepoRef, sha: string): Promise<number | null> {
  const res = await octokit.rest.repos.listPullRequestsAssociatedWithCommit({ ...r, commit_sha: sha, per_page: 10 });
  return res.data.find((pr) => pr.merged_at)?.number ?? null;
}
