/**
 * What a deploy job claims (this repository, this installation, this commit is the head of
 * this branch) is checked with GitHub before anything is applied. A job in Redis is only a
 * reference, and Redis is not a trust boundary: a job written there by someone else, a push
 * delivered again days later, or one overtaken by a newer push must deploy nothing.
 */
export interface DeployClaim {
  owner: string;
  repo: string;
  repoId: number;
  branch: string;
  sha: string;
}

/** The GitHub answers the gate needs, through the job's own installation. */
export interface DeployFacts {
  /** The repository as the installation sees it; null when the installation cannot see it. */
  repository(): Promise<{ id: number; defaultBranch: string } | null>;
  branchHead(branch: string): Promise<string | null>;
  /**
   * Set for a promotion, which applies the commit that waited for it: that commit must be on
   * the branch (its head or an ancestor), not necessarily its head.
   */
  onBranch?(sha: string, branch: string): Promise<boolean>;
}

export type GateVerdict = { deploy: true; defaultBranch: string } | { deploy: false; why: string; stale: boolean };

export async function checkDeployClaim(job: DeployClaim, github: DeployFacts): Promise<GateVerdict> {
  const repo = await github.repository();
  if (repo === null) return { deploy: false, stale: false, why: `installation cannot see ${job.owner}/${job.repo}` };
  if (repo.id !== job.repoId) return { deploy: false, stale: false, why: `${job.owner}/${job.repo} is repository ${repo.id}, not ${job.repoId}` };
  const head = await github.branchHead(job.branch);
  if (head === null) return { deploy: false, stale: true, why: `branch ${job.branch} does not exist (any more)` };
  if (head !== job.sha && github.onBranch) {
    if (await github.onBranch(job.sha, job.branch)) return { deploy: true, defaultBranch: repo.defaultBranch };
    return { deploy: false, stale: false, why: `${job.sha.slice(0, 7)} is not on ${job.branch} (its head is ${head.slice(0, 7)})` };
  }
  if (head !== job.sha) return { deploy: false, stale: true, why: `${job.sha.slice(0, 7)} is not the head of ${job.branch} (${head.slice(0, 7)} is)` };
  return { deploy: true, defaultBranch: repo.defaultBranch };
}
