import type { RedisClient } from '../redis.js';
import type { DeployReportJob } from '../flows/jobs.js';

// Takes the next number in the order of applies and makes it the newest report of each
// changed app's environment (a field only ever moves up: numbers are taken in apply order,
// but two branches' reports may land here in any order).
const CLAIM = `
local seq = redis.call('INCR', KEYS[1])
for i = 1, #ARGV - 1 do
  local cur = redis.call('HGET', KEYS[2], ARGV[i])
  if not cur or tonumber(string.match(cur, '^(%d+)')) < seq then
    redis.call('HSET', KEYS[2], ARGV[i], seq .. ' ' .. ARGV[#ARGV])
  end
end
return seq
`;

/**
 * The order of deploy reports per repository, in Redis so every worker shares it: each
 * report takes a number when its deploy has applied, and each app environment remembers the
 * newest report that writes its Deployment. A report whose environment a newer one covers
 * (queued behind it or already done) leaves that Deployment to the newer one: under a
 * backlog of GitHub writes, the newest status wins and older ones are never sent.
 */
export class DeployReports {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private envKey(repoId: number): string {
    return `${this.prefix}:deploy-report-envs:${repoId}`;
  }

  /** The number of a new report of `sha` that writes the Deployments of `apps`. */
  async claim(repoId: number, sha: string, apps: string[]): Promise<number> {
    // The sha rides as the last argument; the apps before it are the fields.
    return Number(await this.redis.eval(CLAIM, 2, `${this.prefix}:deploy-report-seq`, this.envKey(repoId), ...apps, sha));
  }

  /** The commit of a newer report of `app`'s environment, or null when this one is the newest. */
  async newer(job: Pick<DeployReportJob, 'repoId' | 'seq'>, app: string): Promise<string | null> {
    const cur = await this.redis.hget(this.envKey(job.repoId), app);
    const m = cur ? /^(\d+) (\S+)$/.exec(cur) : null;
    return m && Number(m[1]) > job.seq ? (m[2] as string) : null;
  }
}
