import { DEFAULT_HELM_KEYS, editImageFile, findImageUses, namedImages, type HelmKeys, type ImageUse } from './edit.js';
import type { FileChange, ImageFile } from './plan.js';
import { normaliseRepository, sameRepository } from './reference.js';

/** One image a promotion reads in the source environment's files and writes into the target's. */
export interface PromotedImage {
  repository: string;
  /** Where Helm values keep it (default: image.repository and image.tag). */
  helmKeys?: HelmKeys;
  /** The source environment's files that name it (its app folder). */
  source: ImageFile[];
  /** The target environment's files that name it. */
  target: ImageFile[];
}

/** A file listed under `promote.files`, as both environments have it (null: missing there). */
export interface PromotedCopy {
  source: { path: string; text: string | null };
  target: { path: string; text: string | null };
}

export interface ImageMove {
  repository: string;
  /** Distinct values in the target before, as `tag` or `tag@digest`. */
  from: string[];
  to: string;
}

export interface PromotionPlan {
  images: ImageMove[];
  /** Listed files copied whole from the source environment. */
  copied: string[];
  files: FileChange[];
  /** What could not be carried, and why (said in the pull request, never silently dropped). */
  notes: string[];
}

const show = (u: ImageUse): string => (u.digest ? `${u.tag ?? ''}@${u.digest}` : (u.tag ?? 'untagged'));

/**
 * The repositories a promotion carries: the ones the rules name, and every image the source
 * environment's files set (an image nobody bumps still moves with its environment), once each.
 */
export function promotedRepositories(ruled: string[], sourceFiles: ImageFile[], keys: HelmKeys = DEFAULT_HELM_KEYS): string[] {
  const out: string[] = [];
  for (const r of [...ruled, ...sourceFiles.flatMap((f) => namedImages(f.kind, f.text, keys))]) {
    if (!out.some((o) => sameRepository(o, r))) out.push(r);
  }
  return out.sort((a, b) => (normaliseRepository(a) < normaliseRepository(b) ? -1 : 1));
}

/**
 * What a promotion pull request changes: each image's tag (and digest) in the target
 * environment's files set to the one value the source environment's files give it, with
 * the image bump's minimal edits (only the tag characters change, comments and quoting
 * stay), and each listed file copied as the source has it. An image the source names with
 * several values, or not at all, is left alone and noted. Pure: the same inputs give the same plan.
 */
export function planPromotion(images: PromotedImage[], copies: PromotedCopy[] = []): PromotionPlan {
  const originals = new Map<string, string>();
  for (const i of images) for (const f of i.target) if (!originals.has(f.path)) originals.set(f.path, f.text);
  const texts = new Map(originals);
  const fields = new Map<string, number>();
  const moves: ImageMove[] = [];
  const notes: string[] = [];
  for (const img of images) {
    const keys = img.helmKeys ?? DEFAULT_HELM_KEYS;
    const values = new Map<string, ImageUse>();
    for (const f of img.source) for (const u of findImageUses(f.kind, f.text, img.repository, keys)) values.set(show(u), u);
    if (values.size === 0) continue;
    if (values.size > 1) {
      notes.push(`\`${img.repository}\` is not carried: the source sets it to ${[...values.keys()].map((v) => `\`${v}\``).join(' and ')}, not one value`);
      continue;
    }
    const want = [...values.values()][0] as ImageUse;
    if (want.tag === undefined) {
      notes.push(`\`${img.repository}\` is not carried: the source names no tag for it`);
      continue;
    }
    const from = new Set<string>();
    for (const f of img.target) {
      const text = texts.get(f.path) ?? f.text;
      const uses = findImageUses(f.kind, text, img.repository, keys);
      if (uses.length === 0 || uses.every((u) => show(u) === show(want))) continue;
      const edit = editImageFile(f.kind, text, { repository: img.repository, tag: want.tag, ...(want.digest ? { digest: want.digest } : {}) }, keys);
      if (edit.changed === 0) continue;
      texts.set(f.path, edit.text);
      fields.set(f.path, (fields.get(f.path) ?? 0) + edit.changed);
      for (const u of uses) if (show(u) !== show(want)) from.add(show(u));
    }
    if (from.size > 0) moves.push({ repository: img.repository, from: [...from].sort(), to: show(want) });
  }
  const files: FileChange[] = [];
  for (const [path, original] of originals) {
    const text = texts.get(path);
    if (text !== undefined && text !== original) files.push({ path, text, fields: fields.get(path) ?? 0 });
  }
  const copied: string[] = [];
  for (const c of copies) {
    if (c.source.text === null) {
      notes.push(`\`${c.source.path}\` (listed under promote.files) does not exist in the source; \`${c.target.path}\` is left as it is`);
      continue;
    }
    if (c.source.text === c.target.text) continue;
    // A listed file is the environment's own copy: it replaces whatever the tag edits wrote there.
    const at = files.findIndex((f) => f.path === c.target.path);
    if (at >= 0) files.splice(at, 1);
    files.push({ path: c.target.path, text: c.source.text, fields: 0 });
    copied.push(c.target.path);
  }
  return { images: moves, copied, files: files.sort((a, b) => (a.path < b.path ? -1 : 1)), notes };
}
