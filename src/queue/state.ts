import type { Redis } from 'ioredis';
import type { CommentIdStore } from '../github/comments.js';
import type { DeployJob, PreviewJob } from './jobs.js';

const WEEK_S = 7 * 24 * 3600;

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

  async setHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): Promise<void> {
    await this.redis.set(this.headKey(j), j.headSha, 'EX', WEEK_S);
  }

  async isLatestHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): Promise<boolean> {
    const head = await this.redis.get(this.headKey(j));
    return head === null || head === j.headSha;
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
  async setLatestDeploy(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<void> {
    await this.redis.set(this.branchKey('latest', j), j.sha, 'EX', WEEK_S);
  }

  async isLatestDeploy(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<boolean> {
    const v = await this.redis.get(this.branchKey('latest', j));
    return v === null || v === j.sha;
  }

  /**
   * A lease so deploys of one branch (and so of its apps) never overlap across workers.
   * Returns a release function, or null when another deploy holds it.
   */
  async acquireDeployLock(j: Pick<DeployJob, 'repoId' | 'branch'>, ttlMs: number): Promise<{ release(): Promise<void>; extend(): Promise<void> } | null> {
    const key = this.branchKey('lock', j);
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
    await this.redis.hset(`${this.prefix}:deployed`, `${j.repoId}/${app}`, JSON.stringify({ ...j, app }));
  }

  async deployedApps(): Promise<(DeployJob & { app: string })[]> {
    const all = await this.redis.hvals(`${this.prefix}:deployed`);
    return all.map((v) => JSON.parse(v) as DeployJob & { app: string });
  }

  private branchKey(kind: string, j: Pick<DeployJob, 'repoId' | 'branch'>): string {
    return `${this.prefix}:deploy-${kind}:${j.repoId}:${j.branch}`;
  }

  private headKey(j: Pick<PreviewJob, 'repoId' | 'pr'>): string {
    return `${this.prefix}:head:${j.repoId}:${j.pr}`;
  }
}
