import type { Redis } from 'ioredis';
import type { CommentIdStore } from '../github/comments.js';
import type { PreviewJob } from './jobs.js';

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

  private headKey(j: Pick<PreviewJob, 'repoId' | 'pr'>): string {
    return `${this.prefix}:head:${j.repoId}:${j.pr}`;
  }
}
