import type { RedisClient } from '../redis.js';
import { DEFAULTS_REPO, type DefaultsFile } from '../config/defaults.js';

/**
 * The organisation's defaults files as GitHub last answered them, one Redis hash per
 * installation and owner (one key, so it lives in one slot of a Redis Cluster): `files`
 * (with the generation they were read at) and `gen`. A push to a defaults repository's
 * default branch bumps `gen`, which retires the entry; a read that raced the push wrote its
 * files under the old generation, so they are never served. Without a push the entry is
 * kept a day at most, the safety net for a webhook that never came.
 */
export const DEFAULTS_TTL_S = 24 * 3600;

export interface CachedDefaults {
  /** The files, when cached at the current generation. */
  files?: DefaultsFile[];
  /** The generation to write a fresh read under. */
  gen: number;
}

export class DefaultsCache {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(installationId: number, owner: string): string {
    return `${this.prefix}:config-defaults:${installationId}:${owner.toLowerCase()}`;
  }

  async get(installationId: number, owner: string): Promise<CachedDefaults> {
    const [entry, gen] = await this.redis.hmget(this.key(installationId, owner), 'files', 'gen');
    const g = Number(gen ?? 0);
    if (!entry) return { gen: g };
    const parsed = JSON.parse(entry) as { gen: number; files: DefaultsFile[] };
    return parsed.gen === g ? { files: parsed.files, gen: g } : { gen: g };
  }

  async set(installationId: number, owner: string, gen: number, files: DefaultsFile[]): Promise<void> {
    const key = this.key(installationId, owner);
    await this.redis.multi().hset(key, 'files', JSON.stringify({ gen, files })).expire(key, DEFAULTS_TTL_S).exec();
  }

  /**
   * A push to `repo`'s default branch that may have changed its config: the cached defaults
   * go when `repo` is the owner's `.github`, a file they extend, or when nothing is cached
   * (a read may be under way, and may have read `repo` before this push). True when retired.
   */
  async pushed(installationId: number, owner: string, repo: string): Promise<boolean> {
    const key = this.key(installationId, owner);
    const entry = await this.redis.hget(key, 'files');
    const full = `${owner}/${repo}`.toLowerCase();
    const read = entry ? (JSON.parse(entry) as { files: DefaultsFile[] }).files.map((f) => f.repo.toLowerCase()) : null;
    if (repo !== DEFAULTS_REPO && read !== null && !read.includes(full)) return false;
    await this.redis.multi().hincrby(key, 'gen', 1).hdel(key, 'files').expire(key, DEFAULTS_TTL_S).exec();
    return true;
  }
}
