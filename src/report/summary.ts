import { MAX_FIELD_CHANGES, type FieldChange } from '../diff/fields.js';
import type { ObjectDiff } from '../diff/types.js';
import { clipValue, escapeHtml, escapeMd, htmlCode, mdCode } from './markdown.js';
import { isImageField } from './risk.js';

/** Where a piece of text goes: inside an HTML block (`<summary>`) or into Markdown. */
export interface Ctx {
  code(s: string): string;
  text(s: string): string;
}
export const HTML: Ctx = { code: htmlCode, text: escapeHtml };
export const MD: Ctx = { code: mdCode, text: escapeMd };

/** How many fields an object's one-line summary names before "and N more". */
export const FIELDS_IN_SUMMARY = 3;

const POD_SPEC_PREFIX = /^(spec\.jobTemplate\.spec\.template\.spec|spec\.template\.spec)\./;

/** `containers[web].args` rather than `spec.template.spec.containers[web].args`. */
export function shortPath(path: string): string {
  return path.replace(POD_SPEC_PREFIX, '');
}

/** `ghcr.io/acme/web:1.4.0 → 1.5.0`: the repository once when only the tag moves. */
export function imageChange(before: string | undefined, after: string | undefined, ctx: Ctx = HTML): string {
  if (before === undefined || after === undefined) return ctx.code(after ?? before ?? '');
  const repo = (s: string): string => s.replace(/[@:][^/]*$/, '');
  const tail = repo(before) === repo(after) ? after.slice(repo(after).length + 1) : after;
  return `${ctx.code(clipValue(before, 80))} → ${ctx.code(clipValue(tail, 80))}`;
}

/**
 * One changed field in a summary (HTML context): `spec.replicas 2 → 5`, `data.POOL 10 → 20`,
 * `image web:1.4.0 → 1.5.0`; names only when values are hidden or not scalars.
 */
export function fieldText(f: FieldChange, renames: Map<string, string>, ctx: Ctx = HTML): string {
  if (isImageField(f.path)) {
    const container = /\[([^\]]+)\]\.image$/.exec(f.path)?.[1];
    return `image${container ? ` (${ctx.text(container)})` : ''} ${imageChange(f.before, f.after, ctx)}`;
  }
  const path = ctx.code(shortPath(f.path));
  if (f.before !== undefined && f.after !== undefined && renames.get(f.before) === f.after) return `${path} follows the rename`;
  if (f.before !== undefined && f.after !== undefined) return `${path} ${ctx.code(clipValue(f.before))} → ${ctx.code(clipValue(f.after))}`;
  if (f.added) return `${path} added${f.after !== undefined ? ` (${ctx.code(clipValue(f.after))})` : ''}`;
  if (f.removed) return `${path} removed`;
  return path;
}

/** The fields of an update, named in one line; Secret values never appear. */
export function fieldsText(d: ObjectDiff, renames: Map<string, string>, ctx: Ctx = HTML): string {
  if (d.secretKeys) return secretKeysText(d, ctx);
  const fields = (d.fields ?? []).filter((f) => !(d.renamedFrom && f.path === 'metadata.name'));
  if (fields.length === 0) return '';
  const shown = fields.slice(0, FIELDS_IN_SUMMARY).map((f) => fieldText(f, renames, ctx));
  const more = fields.length - shown.length;
  return `${shown.join(', ')}${more > 0 ? `, and ${more}${fields.length >= MAX_FIELD_CHANGES ? '+' : ''} more field${more > 1 ? 's' : ''}` : ''}`;
}

export function secretKeysText(d: ObjectDiff, ctx: Ctx = HTML): string {
  const k = d.secretKeys;
  if (!k) return '';
  const keys = (ks: string[]): string => ks.map((x) => ctx.code(x)).join(', ');
  const hidden = k.hidden ?? [];
  const parts = [k.added.length && `added ${keys(k.added)}`, k.changed.length && `changed ${keys(k.changed)}`, k.removed.length && `removed ${keys(k.removed)}`, hidden.length && `set ${keys(hidden)} (its live value was not written by this app, so it is not compared)`].filter(Boolean);
  if (parts.length === 0) return d.action === 'update' ? 'metadata only (values hidden)' : '';
  const n = k.added.length + k.changed.length + k.removed.length + hidden.length;
  return `key${n > 1 ? 's' : ''} ${parts.join('; ')} (values hidden)`;
}

/** `prod-api-settings-9kd7ch2tgh` → `…-84h459494f`: the part of the new name that differs. */
export function renamedTail(oldName: string, newName: string): string {
  let i = 0;
  while (i < oldName.length && i < newName.length && oldName[i] === newName[i]) i++;
  const cut = newName.lastIndexOf('-', i);
  return cut > 0 ? `…${newName.slice(cut)}` : newName;
}

/** The name in `apiVersion Kind namespace/name`. */
export function refName(ref: string): string {
  const last = ref.split(' ').pop() ?? ref;
  return last.includes('/') ? last.slice(last.lastIndexOf('/') + 1) : last;
}

/** `Kind namespace/name` without the apiVersion, for short mentions. */
export function shortRef(ref: string): string {
  return ref.split(' ').slice(1).join(' ') || ref;
}
