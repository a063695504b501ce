import semver from 'semver';
import type { ImagePolicy } from '../config/repo-config.js';

/**
 * Picks the tag an image should move to, or null when nothing should change. Never
 * downgrades: the best allowed tag must be strictly newer than `current` by the policy's
 * own ordering. A `current` the ordering cannot place (e.g. `latest` under a semver policy)
 * is replaced by the best allowed tag, since there is nothing to compare against.
 */
export function pickTag(policy: ImagePolicy, tags: string[], current: string | undefined): string | null {
  switch (policy.kind) {
    case 'semver':
      return pickSemver(policy.range, policy.prerelease, tags, current);
    case 'regex':
      return pickRegex(policy.pattern, policy.order, tags, current);
    case 'digest':
      // The tag stays put; the caller compares digests. Only refuse a tag the registry lacks.
      return tags.includes(policy.tag) ? policy.tag : null;
  }
}

/** Tags are often `v1.2.3`; semver itself rejects the prefix, so strip it before parsing. */
function parseVersion(tag: string): semver.SemVer | null {
  return semver.parse(tag.startsWith('v') ? tag.slice(1) : tag);
}

function pickSemver(range: string, prerelease: boolean, tags: string[], current: string | undefined): string | null {
  if (semver.validRange(range) === null) throw new Error(`invalid semver range "${range}"`);
  let best: { tag: string; v: semver.SemVer } | null = null;
  for (const tag of tags) {
    const v = parseVersion(tag);
    // semver would still admit `1.3.0-rc.1` for `>=1.3.0-rc.0`; the policy says no pre-releases at all.
    if (!v || (!prerelease && v.prerelease.length > 0)) continue;
    if (!semver.satisfies(v, range, { includePrerelease: prerelease })) continue;
    const c = best ? semver.compare(v, best.v) : 1;
    // Equal versions (`1.2.3` and `v1.2.3`): prefer the spelling the file already uses, then the shorter.
    const sameStyle = current !== undefined && tag.startsWith('v') === current.startsWith('v');
    if (c > 0 || (c === 0 && best && sameStyle && best.tag.startsWith('v') !== tag.startsWith('v'))) best = { tag, v };
  }
  if (!best) return null;
  const cur = current === undefined ? null : parseVersion(current);
  if (cur && semver.compare(best.v, cur) <= 0) return null;
  return best.tag;
}

function pickRegex(pattern: string, order: 'numeric' | 'alphabetical', tags: string[], current: string | undefined): string | null {
  // Anchored: an unanchored `\d+` would otherwise accept `1.2-debug` or `feature-12`.
  const re = new RegExp(`^(?:${pattern})$`);
  const key = (tag: string): string | bigint | null => {
    const m = re.exec(tag);
    if (!m) return null;
    // The group named `n` orders, or the only named group; otherwise the whole tag does.
    const groups = Object.entries(m.groups ?? {});
    const only = groups.length === 1 ? groups[0]?.[1] : undefined;
    const k = m.groups?.['n'] ?? only ?? m[0];
    if (order === 'alphabetical') return k;
    // BigInt: timestamps like 20240612153000123 overflow a double's exact range.
    return /^\d+$/.test(k) ? BigInt(k) : null;
  };
  // Plain </> on strings compares code units: locale-independent, so every run agrees.
  const cmp = (a: string | bigint, b: string | bigint): number => (a < b ? -1 : a > b ? 1 : 0);
  let best: { tag: string; k: string | bigint } | null = null;
  for (const tag of tags) {
    const k = key(tag);
    if (k === null) continue;
    // Ties on the key: the larger whole tag wins, so the result never depends on list order.
    const c = best ? cmp(k, best.k) || cmp(tag, best.tag) : 1;
    if (c > 0) best = { tag, k };
  }
  if (!best) return null;
  const cur = current === undefined ? null : key(current);
  if (cur !== null && cmp(best.k, cur) <= 0) return null;
  return best.tag;
}
