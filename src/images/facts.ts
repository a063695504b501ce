import type { Logger } from 'pino';
import type { ImageRule } from '../config/repo-config.js';
import { errorText } from '../errors.js';
import { chooseTag, needsDigest, type BumpTarget } from './plan.js';
import { normaliseRepository, sameRepository } from './reference.js';
import { RegistryRateLimitError, type ImageDatasource } from './registry/datasource.js';

/** What a trigger (webhook) said it saw: a claim, checked against the registry before it counts. */
export interface Announcement {
  tag?: string;
  digest?: string;
  source: string;
}

/**
 * Tags and digests per image for one bump job, asked once each. The registry's own answer
 * decides: an announced tag the tags list does not show counts only once a manifest request
 * for it succeeds, and a digest is always the registry's (an announced one that differs is
 * logged and ignored). A forged or stale notification can then name a version, but never
 * put a tag or digest into a pull request that the registry does not serve.
 */
export class RegistryFacts {
  private readonly tags = new Map<string, Promise<string[]>>();
  private readonly digests = new Map<string, Promise<string | null>>();

  constructor(
    private readonly registry: ImageDatasource,
    /** The image the trigger was about, and what it announced. */
    private readonly trigger: { repository: string; events: Announcement[] },
    private readonly log: Logger,
  ) {}

  async target(rule: ImageRule): Promise<BumpTarget | null> {
    const tags = await this.tagsOf(rule.repository);
    const tag = chooseTag(rule.policy, tags);
    if (!tag) {
      this.log.info({ image: rule.repository, tags: tags.length }, 'no tag satisfies the image policy');
      return null;
    }
    if (!needsDigest(rule)) return { tag };
    const digest = await this.digestOf(rule.repository, tag);
    if (!digest) {
      this.log.warn({ image: rule.repository, tag }, 'the registry has no digest for this tag; not pinning to a guess');
      return null;
    }
    const claimed = this.announced(rule.repository).find((e) => e.tag === tag && e.digest && e.digest !== digest);
    if (claimed) this.log.warn({ image: rule.repository, tag, announced: claimed.digest, registry: digest, source: claimed.source }, "the announced digest is not the registry's; pinning the registry's");
    return { tag, digest };
  }

  private announced(repository: string): Announcement[] {
    return sameRepository(repository, this.trigger.repository) ? this.trigger.events : [];
  }

  private digestOf(repository: string, tag: string): Promise<string | null> {
    const key = `${normaliseRepository(repository)}:${tag}`;
    let p = this.digests.get(key);
    if (!p) {
      p = this.registry.digest(normaliseRepository(repository), tag);
      this.digests.set(key, p);
    }
    return p;
  }

  private tagsOf(repository: string): Promise<string[]> {
    let p = this.tags.get(repository);
    if (!p) {
      p = this.list(repository);
      this.tags.set(repository, p);
    }
    return p;
  }

  private async list(repository: string): Promise<string[]> {
    const announced = [...new Set(this.announced(repository).flatMap((e) => (e.tag ? [e.tag] : [])))];
    let listed: string[] | null = null;
    let listFailure: unknown;
    try {
      listed = await this.registry.listTags(normaliseRepository(repository));
    } catch (err) {
      // A registry that said "too many requests" is not asked again at once, tag by tag.
      if (announced.length === 0 || err instanceof RegistryRateLimitError) throw err;
      listFailure = err;
      this.log.warn({ image: repository, err: errorText(err) }, 'cannot list tags; checking the announced tags one by one');
    }
    // A tag just pushed may be missing from a cached or lagging list: it counts when the
    // registry serves its manifest. One it does not serve is a claim nobody backs.
    const verified: string[] = [];
    for (const tag of announced.filter((t) => !listed?.includes(t))) {
      if ((await this.digestOf(repository, tag)) !== null) verified.push(tag);
      else this.log.warn({ image: repository, tag }, 'an announced tag does not exist in the registry; ignored');
    }
    if (listed === null && verified.length === 0) throw listFailure;
    return [...new Set([...(listed ?? []), ...verified])];
  }
}
