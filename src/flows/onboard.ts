import type { Logger } from 'pino';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { ONBOARDING_BRANCH, ONBOARDING_TITLE, detectApps, onboardingBody, onboardingConfig } from '../onboarding/detect.js';
import type { HostTarget, RepoHosts } from './host.js';

/** An installed repository; installation events do not say its default branch, the flow asks. */
export type OnboardJob = HostTarget;

export const ONBOARDING_QUEUE = 'onboarding';

export function onboardJobId(j: Pick<OnboardJob, 'repoId'>): string {
  return `onboard-${j.repoId}`;
}

export interface OnboardDeps {
  hosts: RepoHosts;
  log: Logger;
}

export type OnboardOutcome = 'configured' | 'open' | 'declined' | 'nothing-found' | 'opened' | 'empty';

/**
 * One onboarding pull request per repository without a config, as Renovate does: a branch
 * with a detected `.github/mergeops.yml`. Never twice: a repository with a config, an open
 * onboarding PR, or one closed unmerged (a "no") gets nothing.
 */
export async function runOnboarding(job: OnboardJob, deps: OnboardDeps): Promise<OnboardOutcome> {
  const host = await deps.hosts(job);
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, flow: 'onboarding' });
  const branch = await host.defaultBranch();
  const head = await host.branchHead(branch);
  if (!head) return 'empty';
  if ((await host.readFile(REPO_CONFIG_PATH, head)) !== null) return 'configured';
  if (await host.findOpenPullRequest(ONBOARDING_BRANCH)) return 'open';
  if ((await host.findDeclinedPullRequest(ONBOARDING_BRANCH, ONBOARDING_TITLE)) !== null) {
    log.info('the onboarding pull request was closed unmerged; not asking again');
    return 'declined';
  }
  const checkout = await host.revision(head);
  let apps;
  try {
    apps = await detectApps(checkout.dir);
  } finally {
    await checkout.remove();
  }
  if (apps.length === 0) {
    log.info('no kustomization, chart or manifests found; no onboarding pull request');
    return 'nothing-found';
  }
  const commit = await host.commitFiles(head, [{ path: REPO_CONFIG_PATH, text: onboardingConfig(apps) }], 'Set up mergeops: add .github/mergeops.yml');
  await host.setBranch(ONBOARDING_BRANCH, commit.sha, (await host.branchHead(ONBOARDING_BRANCH)) !== null);
  const pr = await host.createPullRequest({ title: ONBOARDING_TITLE, head: ONBOARDING_BRANCH, base: branch, body: onboardingBody(apps, branch) });
  log.info({ pr: pr.number, apps: apps.map((a) => `${a.name}=${a.path}`) }, 'onboarding pull request opened');
  return 'opened';
}
