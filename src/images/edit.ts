import yaml from 'js-yaml';
import { parseImageRef, retag, sameRepository, type ImageRef } from './reference.js';

/**
 * Minimal, byte-preserving edits of image tags in YAML files. Re-serialising YAML would
 * drop comments and reflow quoting, and a bump PR must show a one-token diff, so files are
 * scanned line by line and only the value characters are spliced.
 *
 * Understood: block mappings and sequences, plain / "double" / 'single' quoted scalars,
 * trailing comments, multi-document files, CRLF. Skipped (never edited): flow collections
 * (`{image: x}`), anchors/aliases/tags on values, multi-line scalars, and text inside
 * `|`/`>` block scalars (so an `image:` inside a ConfigMap's embedded file is left alone).
 */

export interface TagUpdate {
  /** The ImageRule repository, in any spelling (`nginx`, `docker.io/library/nginx`). */
  repository: string;
  tag: string;
  /** `sha256:…` to pin; omitted: an existing digest is removed (it would pin the old image). */
  digest?: string;
}

export interface EditResult {
  text: string;
  /** Number of fields rewritten (fields already at the target are not counted). */
  changed: number;
}

interface Scalar {
  /** Keys from the document root; sequence items add no component. */
  path: string[];
  /** Column of the key: the indentation a sibling key needs. */
  column: number;
  /** The key line started a sequence item (`- name: …`). */
  dash: boolean;
  /** Decoded value; null for values we cannot edit safely (flow, alias, escapes…). */
  value: string | null;
  quote: '' | '"' | "'";
  /** Offsets of the value characters inside the quotes, in the whole text. */
  start: number;
  end: number;
  lineStart: number;
  /** Offset just past the line's terminator (or text end). */
  lineEnd: number;
  eol: string;
}

interface Splice {
  start: number;
  end: number;
  text: string;
}

const KEY_LINE = /^( *)((?:- +)*)([A-Za-z0-9_./-]+|"[^"\\]*"|'[^']*')[ \t]*:(?=[ \t]|$)[ \t]*(.*)$/;

/** Every `key: value` line of a YAML file, with enough position data to splice values. */
function scan(text: string): Scalar[] {
  const out: Scalar[] = [];
  let stack: { column: number; key: string }[] = [];
  let blockColumn = -1; // inside a |/> block scalar owned by a key at this column
  let pos = 0;
  while (pos < text.length) {
    const nl = text.indexOf('\n', pos);
    const lineEnd = nl < 0 ? text.length : nl + 1;
    const eol = nl < 0 ? '' : text[nl - 1] === '\r' ? '\r\n' : '\n';
    const line = text.slice(pos, lineEnd - eol.length);
    const lineStart = pos;
    pos = lineEnd;
    const indent = line.length - line.trimStart().length;
    if (blockColumn >= 0) {
      if (line.trim() === '' || indent > blockColumn) continue;
      blockColumn = -1;
    }
    if (/^(---|\.\.\.)(\s|$)/.test(line)) {
      stack = [];
      continue;
    }
    const m = KEY_LINE.exec(line);
    if (!m) continue;
    const [, spaces = '', dashes = '', rawKey = '', rest = ''] = m;
    const column = spaces.length + dashes.length;
    const key = /^["']/.test(rawKey) ? rawKey.slice(1, -1) : rawKey;
    while (stack.length > 0 && (stack[stack.length - 1]?.column ?? 0) >= column) stack.pop();
    const path = [...stack.map((s) => s.key), key];
    const restAt = lineStart + line.length - rest.length;
    if (rest === '' || rest.startsWith('#')) {
      stack.push({ column, key }); // a nested mapping or sequence follows
      continue;
    }
    if (/^[|>]/.test(rest)) {
      blockColumn = column;
      continue;
    }
    const v = readValue(rest);
    out.push({
      path,
      column,
      dash: dashes !== '',
      value: v?.value ?? null,
      quote: v?.quote ?? '',
      start: restAt + (v?.from ?? 0),
      end: restAt + (v?.to ?? 0),
      lineStart,
      lineEnd,
      eol,
    });
  }
  return out;
}

/** Reads one scalar at the start of `rest`; from/to delimit the characters inside quotes. */
function readValue(rest: string): { value: string; quote: '' | '"' | "'"; from: number; to: number } | null {
  const q = rest[0];
  if (q === '"' || q === "'") {
    const close = rest.indexOf(q, 1);
    const inner = close < 0 ? '' : rest.slice(1, close);
    // Escapes ('' or \x) and unterminated strings: decoding them is not worth the risk here.
    if (close < 0 || inner.includes('\\') || rest[close + 1] === q) return null;
    if (!/^\s*(#.*)?$/.test(rest.slice(close + 1))) return null;
    return { value: inner, quote: q, from: 1, to: close };
  }
  if (/^[[{&*!@`%]/.test(rest)) return null;
  const plain = rest.replace(/\s+#.*$/, '').trimEnd();
  return { value: plain, quote: '', from: 0, to: plain.length };
}

/**
 * Text for a scalar that replaces an unquoted one: quoted only if YAML would otherwise read
 * it as something other than that string (`1.20` is the float 1.2 to Helm and kustomize).
 */
function scalarText(s: string, quote: '' | '"' | "'"): string {
  if (quote !== '') return s;
  let plainOk = false;
  try {
    plainOk = yaml.load(s, { schema: yaml.CORE_SCHEMA }) === s;
  } catch {
    plainOk = false;
  }
  return plainOk ? s : `"${s}"`;
}

function apply(text: string, splices: Splice[]): string {
  let out = text;
  for (const s of [...splices].sort((a, b) => b.start - a.start)) out = out.slice(0, s.start) + s.text + out.slice(s.end);
  return out;
}

/** Replaces the whole value of `s` with `next`, counting only real changes. */
function replaceValue(s: Scalar, next: string, splices: Splice[]): boolean {
  // null: a value we could not read safely (alias, escapes…); editing blind could corrupt it.
  if (s.value === null || s.value === next) return false;
  splices.push({ start: s.start, end: s.end, text: scalarText(next, s.quote) });
  return true;
}

/**
 * kustomization.yaml `images:` entries. The entry's image is `newName` when set (that is
 * what the cluster pulls), else `name`. A missing `newTag` is added after the name lines.
 */
export function editKustomization(text: string, update: TagUpdate): EditResult {
  const splices: Splice[] = [];
  let changed = 0;
  for (const { field, name, newName } of kustomizeEntries(text, update.repository)) {
    let touched = false;
    // New lines go after the last of name/newName, so the entry keeps reading top-down.
    const nameLine = newName && newName.lineStart > name.lineStart ? newName : name;
    const added: string[] = [];
    const tag = field('newTag');
    if (tag) touched = replaceValue(tag, update.tag, splices);
    else added.push(`newTag: ${scalarText(update.tag, '')}`);
    const digest = field('digest');
    if (digest && update.digest) touched = replaceValue(digest, update.digest, splices) || touched;
    else if (digest) {
      // Drop the whole line: a stale digest would keep deploying the old image.
      splices.push({ start: digest.lineStart, end: digest.lineEnd, text: '' });
      touched = true;
    } else if (update.digest) added.push(`digest: ${update.digest}`);
    if (added.length > 0) {
      const after = digest || !tag ? nameLine : tag;
      const indent = ' '.repeat(name.column);
      const eol = after.eol || (text.includes('\r\n') ? '\r\n' : '\n');
      // At end of file without a final newline the break goes before the new lines instead.
      const block = added.map((l) => indent + l).join(eol);
      splices.push({ start: after.lineEnd, end: after.lineEnd, text: after.eol ? block + eol : eol + block });
      touched = true;
    }
    if (touched) changed++;
  }
  return { text: apply(text, splices), changed };
}

interface KustomizeEntry {
  field(key: string): Scalar | undefined;
  name: Scalar;
  newName: Scalar | undefined;
}

/** The `images:` entries of a kustomization that name `repository` (by newName, else name). */
function kustomizeEntries(text: string, repository: string): KustomizeEntry[] {
  const entries: Scalar[][] = [];
  for (const s of scan(text)) {
    if (s.path.length !== 2 || s.path[0] !== 'images') continue;
    if (s.dash || entries.length === 0) entries.push([]);
    entries[entries.length - 1]?.push(s);
  }
  const out: KustomizeEntry[] = [];
  for (const entry of entries) {
    const field = (k: string): Scalar | undefined => entry.find((s) => s.path[1] === k);
    const name = field('name');
    const newName = field('newName');
    const image = newName ?? name;
    if (name && image?.value != null && sameRepository(image.value, repository)) out.push({ field, name, newName });
  }
  return out;
}

export interface HelmKeys {
  /** Dotted key path of the repository value. */
  repository: string;
  /** Dotted key path of the tag value, in the same document. */
  tag: string;
}

export const DEFAULT_HELM_KEYS: HelmKeys = { repository: 'image.repository', tag: 'image.tag' };

/**
 * Helm values: when the value at `keys.repository` names the image, rewrite `keys.tag`.
 * A missing tag key is left missing: the chart then defaults it (usually to appVersion),
 * and guessing where to add it could change what the chart renders.
 */
export function editHelmValues(text: string, update: TagUpdate, keys: HelmKeys = DEFAULT_HELM_KEYS): EditResult {
  const tag = helmTag(text, update.repository, keys);
  const splices: Splice[] = [];
  const changed = tag && replaceValue(tag, update.tag, splices) ? 1 : 0;
  return { text: apply(text, splices), changed };
}

function helmTag(text: string, repository: string, keys: HelmKeys): Scalar | undefined {
  const scalars = scan(text);
  const at = (p: string): Scalar | undefined => scalars.find((s) => s.path.join('.') === p);
  const repo = at(keys.repository);
  return repo?.value != null && sameRepository(repo.value, repository) ? at(keys.tag) : undefined;
}

/**
 * Plain manifests: every `image:` value naming the repository, wherever it sits
 * (containers, initContainers, CronJob job templates, CRDs that follow the convention).
 */
export function editManifests(text: string, update: TagUpdate): EditResult {
  const splices: Splice[] = [];
  let changed = 0;
  for (const { field, value, ref } of imageFields(text, update.repository)) {
    if (replaceValue(field, retag(value, ref, update.tag, update.digest), splices)) changed++;
  }
  return { text: apply(text, splices), changed };
}

function imageFields(text: string, repository: string): { field: Scalar; value: string; ref: ImageRef }[] {
  const out: { field: Scalar; value: string; ref: ImageRef }[] = [];
  for (const s of scan(text)) {
    if (s.path[s.path.length - 1] !== 'image' || s.value == null) continue;
    const ref = parseImageRef(s.value);
    if (ref && sameRepository(ref.repository, repository)) out.push({ field: s, value: s.value, ref });
  }
  return out;
}

/** How a file refers to images, which decides the editor used on it. */
export type ImageFileKind = 'kustomization' | 'helm-values' | 'manifests';

/** One place a file names the image, as currently written. */
export interface ImageUse {
  tag?: string;
  digest?: string;
}

/** Every use of `repository` in a file, so the caller can compare it with the registry. */
export function findImageUses(kind: ImageFileKind, text: string, repository: string, keys: HelmKeys = DEFAULT_HELM_KEYS): ImageUse[] {
  const use = (tag: string | null | undefined, digest: string | null | undefined): ImageUse => ({
    ...(tag ? { tag } : {}),
    ...(digest ? { digest } : {}),
  });
  switch (kind) {
    case 'kustomization':
      return kustomizeEntries(text, repository).map((e) => use(e.field('newTag')?.value, e.field('digest')?.value));
    case 'helm-values': {
      const tag = helmTag(text, repository, keys);
      return tag ? [use(tag.value, undefined)] : [];
    }
    case 'manifests':
      return imageFields(text, repository).map((f) => use(f.ref.tag, f.ref.digest));
  }
}

export function editImageFile(kind: ImageFileKind, text: string, update: TagUpdate, keys: HelmKeys = DEFAULT_HELM_KEYS): EditResult {
  switch (kind) {
    case 'kustomization':
      return editKustomization(text, update);
    case 'helm-values':
      return editHelmValues(text, update, keys);
    case 'manifests':
      return editManifests(text, update);
  }
}

/**
 * The image repositories a file sets, as written (kustomize `images:` entries by newName
 * else name, `image:` fields, Helm's `keys.repository`): what a promotion may carry over.
 */
export function namedImages(kind: ImageFileKind, text: string, keys: HelmKeys = DEFAULT_HELM_KEYS): string[] {
  const out = new Set<string>();
  const scalars = scan(text);
  switch (kind) {
    case 'kustomization': {
      const entries: Scalar[][] = [];
      for (const s of scalars) {
        if (s.path.length !== 2 || s.path[0] !== 'images') continue;
        if (s.dash || entries.length === 0) entries.push([]);
        entries[entries.length - 1]?.push(s);
      }
      for (const entry of entries) {
        const image = entry.find((s) => s.path[1] === 'newName') ?? entry.find((s) => s.path[1] === 'name');
        if (image?.value) out.add(image.value);
      }
      break;
    }
    case 'helm-values': {
      const repo = scalars.find((s) => s.path.join('.') === keys.repository);
      if (repo?.value) out.add(repo.value);
      break;
    }
    case 'manifests':
      for (const s of scalars) {
        if (s.path[s.path.length - 1] !== 'image' || s.value == null) continue;
        const ref = parseImageRef(s.value);
        if (ref) out.add(ref.repository);
      }
  }
  return [...out];
}
