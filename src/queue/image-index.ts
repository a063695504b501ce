import type { RedisClient } from '../redis.js';
import type { ImageRule } from '../config/repo-config.js';
import type { RepoTarget } from '../flows/jobs.js';
import type { PollState, Watcher } from '../flows/poll.js';
import { normaliseRepository } from '../images/reference.js';

/**
 * Which repos watch which images, kept in Redis because registry events name an image,
 * not a repo. Rebuilt from a repo's config each time a flow reads it, so a config edit
 * takes effect on the next push to the default branch.
 */
export class ImageIndex {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Replaces a repo's watched images; returns the images added and those nobody watches any more. */
  async sync(target: RepoTarget, rules: ImageRule[]): Promise<{ added: string[]; orphaned: string[] }> {
    const wanted = new Map<string, Watcher>();
    for (const r of rules) {
      const image = normaliseRepository(r.repository);
      const w = wanted.get(image) ?? { ...target, digestTags: [] };
      if (r.policy.kind === 'digest' && !w.digestTags.includes(r.policy.tag)) w.digestTags.push(r.policy.tag);
      wanted.set(image, w);
    }
    const repoKey = this.key('repo', String(target.repoId));
    const before = new Set(await this.redis.smembers(repoKey));
    const added: string[] = [];
    const orphaned: string[] = [];
    const tx = this.redis.multi();
    for (const [image, w] of wanted) {
      if (!before.has(image)) added.push(image);
      tx.hset(this.key('watchers', image), String(target.repoId), JSON.stringify(w));
      tx.sadd(this.key('all'), image);
    }
    tx.del(repoKey);
    if (wanted.size > 0) tx.sadd(repoKey, ...wanted.keys());
    for (const image of before) if (!wanted.has(image)) tx.hdel(this.key('watchers', image), String(target.repoId));
    await tx.exec();
    for (const image of before) {
      if (wanted.has(image) || (await this.redis.hlen(this.key('watchers', image))) > 0) continue;
      await this.redis.srem(this.key('all'), image);
      orphaned.push(image);
    }
    return { added, orphaned };
  }

  async watchers(image: string): Promise<Watcher[]> {
    const all = await this.redis.hvals(this.key('watchers', normaliseRepository(image)));
    return all.map((v) => JSON.parse(v) as Watcher);
  }

  async images(): Promise<string[]> {
    return this.redis.smembers(this.key('all'));
  }

  async pollState(image: string): Promise<PollState> {
    const v = await this.redis.get(this.key('poll', image));
    return v ? (JSON.parse(v) as PollState) : { failures: 0, until: 0 };
  }

  async setPollState(image: string, s: PollState): Promise<void> {
    await this.redis.set(this.key('poll', image), JSON.stringify(s), 'EX', 30 * 24 * 3600);
  }

  private key(kind: string, id?: string): string {
    return id === undefined ? `${this.prefix}:images:${kind}` : `${this.prefix}:images:${kind}:${id}`;
  }
}
