import type { ImagePolicy, ImageRule } from '../config/repo-config.js';
import { DEFAULT_HELM_KEYS, editImageFile, findImageUses, type ImageFileKind, type ImageUse } from './edit.js';
import { pickTag } from './policy.js';

/** A file of an app that may name images, as read from the checkout. */
export interface ImageFile {
  path: string;
  kind: ImageFileKind;
  text: string;
}

/** Where a rule should move its image: the chosen tag and, when pinning, its digest. */
export interface BumpTarget {
  tag: string;
  digest?: string;
}

export interface ImageChange {
  repository: string;
  /** Distinct current values, as `tag` or `tag@digest`. */
  from: string[];
  to: string;
  policy: string;
}

export interface FileChange {
  path: string;
  text: string;
  fields: number;
}

export interface BumpPlan {
  changes: ImageChange[];
  files: FileChange[];
}

/** Digest policies (and `pinDigest`) write `tag@digest`; the caller must look the digest up. */
export function needsDigest(rule: ImageRule): boolean {
  return rule.policy.kind === 'digest' || rule.pinDigest;
}

/** The tag a rule wants from the registry's tags, before looking at any file. */
export function chooseTag(policy: ImagePolicy, tags: string[]): string | null {
  return pickTag(policy, tags, undefined);
}

export function describePolicy(p: ImagePolicy): string {
  switch (p.kind) {
    case 'semver':
      return `semver ${p.range}${p.prerelease ? ' (pre-releases allowed)' : ''}`;
    case 'regex':
      return `regex ${p.pattern} (${p.order})`;
    case 'digest':
      return `digest of ${p.tag}`;
  }
}

const show = (u: ImageUse): string => (u.digest ? `${u.tag ?? ''}@${u.digest}` : (u.tag ?? 'untagged'));

/**
 * Decides, per use, whether moving to `target` is an upgrade under the rule's policy, and
 * edits the files where it is. A file is edited only when none of its uses would go
 * backwards (its fields all change together), so a hand-set newer tag is never downgraded.
 */
export function planBump(rules: { rule: ImageRule; target: BumpTarget; files: ImageFile[] }[]): BumpPlan {
  // Several rules (a group) may edit one file: each edit starts from the previous one's text.
  const originals = new Map<string, string>();
  for (const r of rules) for (const f of r.files) if (!originals.has(f.path)) originals.set(f.path, f.text);
  const texts = new Map(originals);
  const fieldCount = new Map<string, number>();
  const changes: ImageChange[] = [];
  for (const { rule, target, files } of rules) {
    const keys = rule.helmKeys ?? DEFAULT_HELM_KEYS;
    const from = new Set<string>();
    for (const f of files) {
      const text = texts.get(f.path) ?? f.text;
      const uses = findImageUses(f.kind, text, rule.repository, keys);
      if (uses.length === 0) continue;
      const verdicts = uses.map((u) => verdict(rule.policy, u, target));
      if (verdicts.includes('downgrade') || !verdicts.includes('upgrade')) continue;
      const edit = editImageFile(f.kind, text, { repository: rule.repository, tag: target.tag, ...(target.digest ? { digest: target.digest } : {}) }, keys);
      if (edit.changed === 0) continue;
      texts.set(f.path, edit.text);
      fieldCount.set(f.path, (fieldCount.get(f.path) ?? 0) + edit.changed);
      uses.forEach((u, i) => verdicts[i] === 'upgrade' && from.add(show(u)));
    }
    if (from.size > 0) changes.push({ repository: rule.repository, from: [...from].sort(), to: show(target), policy: describePolicy(rule.policy) });
  }
  const out: FileChange[] = [];
  for (const [path, original] of originals) {
    const text = texts.get(path);
    if (text !== undefined && text !== original) out.push({ path, text, fields: fieldCount.get(path) ?? 0 });
  }
  return { changes, files: out.sort((a, b) => (a.path < b.path ? -1 : 1)) };
}

function verdict(policy: ImagePolicy, use: ImageUse, target: BumpTarget): 'upgrade' | 'current' | 'downgrade' {
  if (policy.kind === 'digest') {
    // The tag is fixed by the policy; only a moved digest is news.
    if (use.tag !== undefined && use.tag !== policy.tag) return 'current';
    return use.digest === target.digest ? 'current' : 'upgrade';
  }
  if (use.tag === target.tag) return target.digest && use.digest !== target.digest ? 'upgrade' : 'current';
  if (use.tag === undefined) return 'upgrade';
  if (pickTag(policy, [target.tag], use.tag) !== null) return 'upgrade';
  // The current tag is newer than the target, or outside the policy while the target is not
  // newer by its ordering: either way moving would go backwards or sideways.
  return pickTag(policy, [use.tag], target.tag) !== null ? 'downgrade' : 'current';
}
