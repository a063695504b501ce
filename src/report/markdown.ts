import type { FieldDrift } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';

const SYMBOL: Record<ObjectDiff['action'], string> = { create: '+', update: '~', delete: '-', unchanged: '=' };

export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A fence longer than any backtick run inside, so manifest text cannot close it. */
export function fence(body: string, lang: string): string {
  const longest = Math.max(2, ...[...body.matchAll(/`+/g)].map((m) => m[0].length));
  const f = '`'.repeat(longest + 1);
  return `${f}${lang}\n${body}\n${f}`;
}

export function secretLine(d: ObjectDiff): string {
  if (!d.secretKeys) return '';
  const parts: string[] = [];
  const fmt = (ks: string[]): string => ks.map((k) => `\`${k}\``).join(', ');
  if (d.secretKeys.added.length) parts.push(`added ${fmt(d.secretKeys.added)}`);
  if (d.secretKeys.changed.length) parts.push(`changed ${fmt(d.secretKeys.changed)}`);
  if (d.secretKeys.removed.length) parts.push(`removed ${fmt(d.secretKeys.removed)}`);
  return parts.length ? `Secret keys ${parts.join('; ')} (values are never shown)\n\n` : '';
}

/** One collapsible block per object; `body` overrides the diff (used when it is too big). */
export function objectBlock(d: ObjectDiff, body?: string): string {
  const summary = `<summary><code>${SYMBOL[d.action]} ${escapeHtml(d.ref)}</code>${d.source ? ` <sub>${escapeHtml(d.source.file)}:${d.source.line}</sub>` : ''}</summary>`;
  const note = d.note ? `> ${d.note}\n\n` : '';
  const content = body ?? fence(d.diff, 'diff');
  return `<details>${summary}\n\n${note}${secretLine(d)}${content}\n</details>\n`;
}

export function objectText(d: ObjectDiff): string {
  const head = `${SYMBOL[d.action]} ${d.ref}${d.source ? `  (${d.source.file}:${d.source.line})` : ''}`;
  const secret = secretLine(d).trim();
  return [head, d.note ? `  note: ${d.note}` : '', secret ? `  ${secret}` : '', d.diff].filter((l) => l !== '').join('\n');
}

/** `path` (live `x`, <gitLabel> `y`), comma-separated: how drifted fields read everywhere. */
export function driftFields(fields: FieldDrift[], gitLabel: string): string {
  return fields
    .map((f) => {
      const values = f.live !== undefined || f.git !== undefined ? ` (live \`${f.live ?? '(unset)'}\`, ${gitLabel} \`${f.git ?? '(unset)'}\`)` : '';
      return `\`${escapeHtml(f.path)}\`${escapeHtml(values)}`;
    })
    .join(', ');
}
