/**
 * Container image references, parsed the way Docker/containerd resolve them, so that an
 * `image:` written as `nginx:1.27` and an ImageRule for `docker.io/library/nginx` are
 * recognised as the same repository.
 */

export interface ImageRef {
  /** Canonical `registry/path`, comparable with normaliseRepository(rule.repository). */
  repository: string;
  tag?: string;
  /** `sha256:…` without the `@`. */
  digest?: string;
  /** Length of the name as written (no tag, no digest): edits keep these characters. */
  nameEnd: number;
}

const DOCKER_HUB = 'docker.io';
// Lowercase path components as the distribution spec allows them.
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;

/** Parses `registry/repo/name:tag@digest`; null when the string is not an image reference. */
export function parseImageRef(raw: string): ImageRef | null {
  let rest = raw;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) return null;
  }
  // A ':' after the last '/' is a tag; before it, it is a registry port (localhost:5000/app).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) return null;
  }
  const repository = canonical(rest);
  if (repository === null) return null;
  const ref: ImageRef = { repository, nameEnd: rest.length };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Canonical form of a repository (tag/digest ignored), or the input lowercased if unparsable. */
export function normaliseRepository(repo: string): string {
  return parseImageRef(repo)?.repository ?? repo.toLowerCase();
}

export function sameRepository(a: string, b: string): boolean {
  return normaliseRepository(a) === normaliseRepository(b);
}

function canonical(name: string): string | null {
  const parts = name.split('/');
  let registry = DOCKER_HUB;
  // Docker's rule: the first component is a registry host only if it looks like one.
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first.toLowerCase(); // hostnames are case-insensitive; paths are not
    parts.shift();
    if (registry === 'index.docker.io' || registry === 'registry-1.docker.io') registry = DOCKER_HUB;
  }
  if (parts.length === 0 || !parts.every((p) => PATH_COMPONENT.test(p))) return null;
  // Official Docker Hub images live under library/ (`nginx` is `docker.io/library/nginx`).
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  return `${registry}/${parts.join('/')}`;
}

/**
 * Rewrites a reference to a new tag, keeping the name exactly as written. A new digest pins
 * it; without one an old digest is dropped, because a stale digest would keep the old image
 * running whatever the tag says.
 */
export function retag(raw: string, ref: ImageRef, tag: string, digest?: string): string {
  return `${raw.slice(0, ref.nameEnd)}:${tag}${digest ? `@${digest}` : ''}`;
}
