import type { Redis } from 'ioredis';
import type { CommentIdStore } from '../github/comments.js';
import type { DeployJob, PreviewJob } from './jobs.js';

const WEEK_S = 7 * 24 * 3600;

export interface Lease {
  release(): Promise<void>;
  extend(): Promise<void>;
}

/**
 * The little shared state mergeops keeps, all in Redis so any worker can pick up any job:
 * delivery ids already seen, each PR's newest head SHA, and each PR's comment ids.
 */
export class SharedState {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** True the first time a delivery id is seen (within three days, GitHub's redelivery window). */
  async firstDelivery(id: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}:delivery:${id}`, '1', 'EX', 3 * 24 * 3600, 'NX')) === 'OK';
  }

  async forgetDelivery(id: string): Promise<void> {
    await this.redis.del(`${this.prefix}:delivery:${id}`);
  }

  /**
   * Records a PR's head SHA unless a later event already recorded another: webhooks
   * arrive out of order and get redelivered, so the event's own time decides.
   */
  async setHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>, eventAtMs: number): Promise<boolean> {
    return this.setNewest(this.headKey(j), j.headSha, eventAtMs);
  }

  async isLatestHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): Promise<boolean> {
    return this.isNewest(this.headKey(j), j.headSha);
  }

  private async setNewest(key: string, sha: string, atMs: number): Promise<boolean> {
    const script = `local cur = redis.call('get', KEYS[1])
if cur then
  local t = tonumber(string.match(cur, '^(%d+):'))
  if t and t > tonumber(ARGV[1]) then return 0 end
end
redis.call('set', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1`;
    return (await this.redis.eval(script, 1, key, String(Math.floor(atMs)), sha, String(WEEK_S))) === 1;
  }

  private async isNewest(key: string, sha: string): Promise<boolean> {
    const v = await this.redis.get(key);
    return v === null || v.slice(v.indexOf(':') + 1) === sha;
  }

  commentIds(j: Pick<PreviewJob, 'repoId' | 'pr'>): CommentIdStore {
    const key = `${this.prefix}:comments:${j.repoId}:${j.pr}`;
    return {
      get: async () => {
        const v = await this.redis.get(key);
        return v ? (JSON.parse(v) as number[]) : null;
      },
      set: async (ids) => {
        await this.redis.set(key, JSON.stringify(ids), 'EX', 30 * 24 * 3600);
      },
    };
  }

  /** The newest commit pushed to a branch: older deploy jobs still waiting are dropped. */
  async setLatestDeploy(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>, pushedAtMs: number): Promise<boolean> {
    return this.setNewest(this.branchKey('latest', j), j.sha, pushedAtMs);
  }

  async isLatestDeploy(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<boolean> {
    return this.isNewest(this.branchKey('latest', j), j.sha);
  }

  /**
   * A lease so deploys of one branch (and so of its apps) never overlap across workers.
   * Returns a release function, or null when another deploy holds it.
   */
  async acquireDeployLock(j: Pick<DeployJob, 'repoId' | 'branch'>, ttlMs: number): Promise<Lease | null> {
    return this.lease(this.branchKey('lock', j), ttlMs);
  }

  /** The same kind of lease for other serialised work (e.g. `bump:<repoId>`). */
  async acquireLease(name: string, ttlMs: number): Promise<Lease | null> {
    return this.lease(`${this.prefix}:lease:${name}`, ttlMs);
  }

  private async lease(key: string, ttlMs: number): Promise<Lease | null> {
    const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
    return {
      // Compare-and-delete: never release a lease that expired and went to someone else.
      release: async () => {
        await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, key, token);
      },
      extend: async () => {
        await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end", 1, key, token, String(ttlMs));
      },
    };
  }

  /** The last commit each app deployed successfully: the drift watch's baseline. */
  async recordDeployed(j: DeployJob, app: string): Promise<void> {
    // The check run belongs to this attempt's commit run; a later heal opens its own.
    const { checkRun: _checkRun, ...job } = j;
    await this.redis.hset(`${this.prefix}:deployed`, `${j.repoId}/${app}`, JSON.stringify({ ...job, app }));
  }

  async deployedApps(): Promise<(DeployJob & { app: string })[]> {
    const all = await this.redis.hvals(`${this.prefix}:deployed`);
    return all.map((v) => JSON.parse(v) as DeployJob & { app: string });
  }

  /** A merge queue group left the queue: its preview, waiting or running, is called off. */
  async cancelMergeGroup(j: Pick<PreviewJob, 'repoId' | 'headSha'>): Promise<void> {
    await this.redis.set(`${this.prefix}:merge-group-cancelled:${j.repoId}:${j.headSha}`, '1', 'EX', 24 * 3600);
  }

  async mergeGroupCancelled(j: Pick<PreviewJob, 'repoId' | 'headSha'>): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}:merge-group-cancelled:${j.repoId}:${j.headSha}`)) === 1;
  }

  private branchKey(kind: string, j: Pick<DeployJob, 'repoId' | 'branch'>): string {
    return `${this.prefix}:deploy-${kind}:${j.repoId}:${j.branch}`;
  }

  private headKey(j: Pick<PreviewJob, 'repoId' | 'pr'>): string {
    return `${this.prefix}:head:${j.repoId}:${j.pr}`;
  }
}
