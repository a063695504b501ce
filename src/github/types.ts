import type { ProbotOctokit } from 'probot';

/** An installation-authenticated client (Probot's Octokit: retry and throttling built in). */
export type Octokit = InstanceType<typeof ProbotOctokit>;

export type { RepoRef } from '../flows/host.js';
