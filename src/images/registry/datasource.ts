/**
 * A registry is a plug-in behind this one interface (Renovate's datasource idea): the bump
 * flow asks for tags and digests and never knows which registry answered.
 */
export interface ImageDatasource {
  /** Every tag of a repository (`host/path`, canonical), all pages. */
  listTags(repository: string): Promise<string[]>;
  /** The manifest digest a tag points at now; null when the tag does not exist. */
  digest(repository: string, tag: string): Promise<string | null>;
  /** What the image says about its build, for the PR body. Best effort: never throws. */
  buildInfo(repository: string, tag: string): Promise<BuildInfo>;
}

export interface BuildInfo {
  digest?: string;
  created?: string;
  /** `org.opencontainers.image.revision` / `.source` labels or annotations. */
  revision?: string;
  source?: string;
}

export class RegistryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'RegistryError';
  }
}

/** 429 from a registry: the poller backs off at least `retryAfterMs`. */
export class RegistryRateLimitError extends RegistryError {
  constructor(
    readonly host: string,
    readonly retryAfterMs: number,
  ) {
    super(`${host} answered 429 Too Many Requests; retrying after ${Math.ceil(retryAfterMs / 1000)} s`, 429);
    this.name = 'RegistryRateLimitError';
  }
}
