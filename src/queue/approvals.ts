import type { RedisClient } from '../redis.js';
import type { WaitingPromotion } from '../flows/jobs.js';
import type { OpenDeployCheck, OpenDeployCheckStore } from '../flows/deploy-report.js';
import { storedReport } from '../report/deploy.js';

/**
 * Commits waiting for an environment's promotion, one per (repository, branch,
 * environment), in Redis so a worker restart loses none and any worker can promote. The
 * newest commit to reach the gate replaces the one waiting (the newest verified commit is
 * what gets promoted); a promotion takes the units it promotes out, atomically, so two
 * clicks never apply twice. Keys are `<prefix>:approval:<repoId>:<branch>`, one hash field
 * per environment.
 */
export class ApprovalStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Records `w` as the commit waiting for its environment; returns the one it replaced (another commit's), or null. */
  async wait(w: WaitingPromotion): Promise<WaitingPromotion | null> {
    const env = w.job.environments[0] as string;
    const prev = (await this.redis.eval(
      `local prev = redis.call('hget', KEYS[1], ARGV[1])
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
return prev`,
      1,
      this.key(w.job.repoId, w.job.branch),
      env,
      JSON.stringify(w),
    )) as string | null;
    const old = prev ? (JSON.parse(prev) as WaitingPromotion) : null;
    return old && old.job.sha !== w.job.sha ? old : null;
  }

  /** Every environment's waiting commit of a repository's branch. */
  async waiting(repoId: number, branch: string): Promise<WaitingPromotion[]> {
    const all = await this.redis.hvals(this.key(repoId, branch));
    return all.map((v) => JSON.parse(v) as WaitingPromotion);
  }

  /**
   * Takes `units` (unit names, or every one) of the commit waiting for `environment` out of
   * the store, if `sha` is still the one waiting (any commit when null); the units left keep
   * waiting. Returns what was taken, or null when nothing of it waits (any more).
   */
  async take(repoId: number, branch: string, environment: string, units: readonly string[] | 'all', sha: string | null): Promise<WaitingPromotion | null> {
    // Read, decide and write in one script: a second click or command finds nothing left.
    const script = `local cur = redis.call('hget', KEYS[1], ARGV[1])
if not cur then return false end
local w = cjson.decode(cur)
if ARGV[3] ~= '' and w.job.sha ~= ARGV[3] then return false end
local want = cjson.decode(ARGV[2])
local taken, left = {}, {}
for _, u in ipairs(w.job.apps) do
  local pick = want == 'all'
  if not pick then for _, x in ipairs(want) do if x == u then pick = true end end end
  if pick then table.insert(taken, u) else table.insert(left, u) end
end
if #taken == 0 then return false end
if #left == 0 then redis.call('hdel', KEYS[1], ARGV[1]) else
  w.job.apps = left
  redis.call('hset', KEYS[1], ARGV[1], cjson.encode(w))
end
w.job.apps = taken
return cjson.encode(w)`;
    const out = (await this.redis.eval(script, 1, this.key(repoId, branch), environment, JSON.stringify(units), sha ?? '')) as string | null;
    return out ? (JSON.parse(out) as WaitingPromotion) : null;
  }

  private key(repoId: number, branch: string): string {
    return `${this.prefix}:approval:${repoId}:${branch}`;
  }
}

/**
 * The `mergeops / deploy` check run of a commit whose deploy goes on later (a soak, an
 * approval), with the report it shows so far: the continuation's report finishes the same
 * check run with the whole timeline. Kept a month (an approval may wait that long).
 */
export class OpenDeployChecks implements OpenDeployCheckStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async get(repoId: number, sha: string): Promise<OpenDeployCheck | null> {
    const v = await this.redis.get(this.key(repoId, sha));
    if (!v) return null;
    const open = JSON.parse(v) as OpenDeployCheck;
    return { ...open, report: storedReport(open.report) };
  }

  async set(repoId: number, sha: string, open: OpenDeployCheck): Promise<void> {
    await this.redis.set(this.key(repoId, sha), JSON.stringify(open), 'EX', 30 * 24 * 3600);
  }

  async clear(repoId: number, sha: string): Promise<void> {
    await this.redis.del(this.key(repoId, sha));
  }

  private key(repoId: number, sha: string): string {
    return `${this.prefix}:deploy-open-check:${repoId}:${sha}`;
  }
}
