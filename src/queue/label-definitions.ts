import type { RedisClient } from '../redis.js';

/**
 * Which of mergeops's label definitions a repository already has, remembered across jobs and
 * workers, so each is created once per repository and never looked up again.
 */
export interface LabelDefinitions {
  has(repoId: number, name: string): Promise<boolean>;
  remember(repoId: number, name: string): Promise<void>;
}

/**
 * How long a repository's definitions are remembered after the last one was learnt: a label
 * someone deleted by hand gets its colour back at most this late (adding a label GitHub does
 * not know creates it anyway, uncoloured, so nothing fails meanwhile).
 */
export const LABEL_DEFINITIONS_TTL_S = 7 * 24 * 3600;

/** LabelDefinitions in Redis: one set per repository (one key, one Cluster slot). */
export class RedisLabelDefinitions implements LabelDefinitions {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(repoId: number): string {
    return `${this.prefix}:label-definitions:${repoId}`;
  }

  async has(repoId: number, name: string): Promise<boolean> {
    return (await this.redis.sismember(this.key(repoId), name)) === 1;
  }

  async remember(repoId: number, name: string): Promise<void> {
    await this.redis.multi().sadd(this.key(repoId), name).expire(this.key(repoId), LABEL_DEFINITIONS_TTL_S).exec();
  }
}
