import { describe, expect, it } from '@jest/globals';
import { checkDeployClaim, type DeployFacts } from '../../../src/policy/deploy-gate.js';

const job = { owner: 'acme', repo: 'shop', repoId: 7, branch: 'main', sha: 'a'.repeat(40) };
const facts = (repo: { id: number; defaultBranch: string } | null, heads: Record<string, string>): DeployFacts => ({
  repository: async () => repo,
  branchHead: async (b) => heads[b] ?? null,
});

describe('checkDeployClaim', () => {
  it("deploys a job whose repository and head GitHub confirm, with GitHub's default branch", async () => {
    expect(await checkDeployClaim(job, facts({ id: 7, defaultBranch: 'trunk' }, { main: job.sha }))).toEqual({ deploy: true, defaultBranch: 'trunk' });
  });

  it('refuses a repository the installation cannot see, or whose id is not the job\'s', async () => {
    expect(await checkDeployClaim(job, facts(null, { main: job.sha }))).toEqual({ deploy: false, stale: false, why: 'installation cannot see acme/shop' });
    expect(await checkDeployClaim(job, facts({ id: 8, defaultBranch: 'main' }, { main: job.sha }))).toEqual({ deploy: false, stale: false, why: 'acme/shop is repository 8, not 7' });
  });

  it('refuses a commit that is not (or no longer) the head of its branch', async () => {
    expect(await checkDeployClaim(job, facts({ id: 7, defaultBranch: 'main' }, { main: 'b'.repeat(40) }))).toEqual({ deploy: false, stale: true, why: 'aaaaaaa is not the head of main (bbbbbbb is)' });
    expect(await checkDeployClaim(job, facts({ id: 7, defaultBranch: 'main' }, {}))).toMatchObject({ deploy: false, stale: true });
  });
});
