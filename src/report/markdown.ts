import type { DriftEntry } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';

/**
 * Two contexts, two escapes. GitHub renders with cmark-gfm: a line that starts with
 * `<details>` opens an HTML block, where Markdown is NOT parsed (backticks stay literal,
 * so code is `<code>`), and everything else is Markdown, where `*`, `_`, `|`, `<`, `#`…
 * in a server's message or a Secret key would turn into formatting or raw HTML.
 */

/** Text inside an HTML block (`<summary>`): entities only; newlines would end the block. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/\r?\n/g, ' ');
}

/** `<code>` for HTML blocks. */
export function htmlCode(s: string): string {
  return `<code>${escapeHtml(s)}</code>`;
}

/**
 * Inline text in Markdown (never at the start of a line, where `-` or `1.` would start a
 * list; every caller puts it after a marker or a label): every character cmark-gfm could read as syntax is backslash-escaped
 * (valid for all ASCII punctuation), table pipes included, and `@name` is broken with a
 * zero-width space so a server message never mentions (notifies) a GitHub user or team.
 */
export function escapeMd(s: string): string {
  return s
    .replace(/\r?\n/g, ' ')
    .replace(/[\\`*_[\]<>&|~#!{}]/g, '\\$&')
    .replace(/@(?=\w)/g, '@&#8203;');
}

/**
 * `<code>` for Markdown text and table cells. Inside a raw inline tag cmark-gfm still parses
 * Markdown, so the content gets Markdown escapes; backtick spans would need a different
 * escape for `|` in and outside tables.
 */
export function mdCode(s: string): string {
  return `<code>${escapeMd(s)}</code>`;
}

/** A link in Markdown; the URL is percent-encoded where Markdown would end it. */
export function mdLink(text: string, url: string): string {
  return `[${escapeMd(text)}](${url.replace(/[()<> ]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)})`;
}

export function htmlLink(text: string, url: string): string {
  return `<a href="${escapeHtml(url)}">${escapeHtml(text)}</a>`;
}

/** A fence longer than any backtick run inside, so manifest text cannot close it. */
export function fence(body: string, lang: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${body}\n${f}`;
}

/** Cuts long values (a whole JSON blob in one annotation) so a summary stays one line. */
export function clipValue(s: string, n = 60): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

const SYMBOL: Record<ObjectDiff['action'], string> = { create: '+', update: '~', replace: '±', delete: '-', unchanged: '=' };

/** Plain text of one object's change, for the check run's text field. */
export function objectText(d: ObjectDiff): string {
  const head = `${SYMBOL[d.action]} ${d.ref}${d.renamedFrom ? ` (renamed from ${d.renamedFrom})` : ''}${d.source ? `  (${d.source.file}:${d.source.line})` : ''}`;
  const k = d.secretKeys;
  const keys = k ? [k.added.length ? `added ${k.added.join(', ')}` : '', k.changed.length ? `changed ${k.changed.join(', ')}` : '', k.removed.length ? `removed ${k.removed.join(', ')}` : '', k.hidden?.length ? `set (value hidden) ${k.hidden.join(', ')}` : ''].filter(Boolean) : [];
  const secret = keys.length ? `  Secret keys ${keys.join('; ')} (values are never shown)` : '';
  return [head, d.note ? `  note: ${d.note}` : '', secret, d.diff].filter((l) => l !== '').join('\n');
}

/**
 * What applying Git does to fields others changed, in Markdown, one sentence per object:
 * "the merge reverts `.data.THEME`: live `blue` (set by `kubectl-edit`) → Git `dark`; keeps `.data.EXTRA` (set by `kubectl-edit`)".
 */
export function driftFields(d: DriftEntry, subject: string): string {
  const by = (m: string | undefined): string => (m ? ` (set by ${mdCode(m)})` : '');
  const reverted = d.fields.map((f) => {
    const values = f.live !== undefined || f.git !== undefined ? `: live ${mdCode(f.live ?? '(unset)')}${by(f.by)} → Git ${mdCode(f.git ?? '(unset)')}` : `${by(f.by)} (value not shown)`;
    return `${mdCode(f.path)}${values}`;
  });
  const kept = (d.kept ?? []).map((k) => `${mdCode(k.path)}${by(k.by)}`);
  const parts: string[] = [];
  if (reverted.length) parts.push(`${escapeMd(subject)} reverts ${reverted.join(', ')}`);
  if (kept.length) parts.push(`${reverted.length ? 'keeps' : `${escapeMd(subject)} keeps`} ${kept.join(', ')} (Git does not declare ${kept.length > 1 ? 'them' : 'it'})`);
  return parts.join('; ');
}
