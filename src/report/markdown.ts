import type { DriftEntry } from '../diff/drift.js';
import type { ObjectDiff } from '../diff/types.js';

const SYMBOL: Record<ObjectDiff['action'], string> = { create: '+', update: '~', replace: '±', delete: '-', unchanged: '=' };

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
  if (d.secretKeys.hidden?.length) parts.push(`set (value hidden) ${fmt(d.secretKeys.hidden)}`);
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

/**
 * What applying Git does to fields others changed, as one sentence per object:
 * "the merge reverts `.data.THEME`: live `blue` (set by `kubectl-edit`) → Git `dark`; keeps `.data.EXTRA` (set by `kubectl-edit`)".
 */
export function driftFields(d: DriftEntry, subject: string): string {
  const code = (s: string): string => `\`${escapeHtml(s.replace(/`/g, "'"))}\``;
  const by = (m: string | undefined): string => (m ? ` (set by ${code(m)})` : '');
  const reverted = d.fields.map((f) => {
    const values = f.live !== undefined || f.git !== undefined ? `: live ${code(f.live ?? '(unset)')}${by(f.by)} → Git ${code(f.git ?? '(unset)')}` : `${by(f.by)} (value not shown)`;
    return `${code(f.path)}${values}`;
  });
  const kept = (d.kept ?? []).map((k) => `${code(k.path)}${by(k.by)}`);
  const parts: string[] = [];
  if (reverted.length) parts.push(`${subject} reverts ${reverted.join(', ')}`);
  if (kept.length) parts.push(`${reverted.length ? 'keeps' : `${subject} keeps`} ${kept.join(', ')} (Git does not declare ${kept.length > 1 ? 'them' : 'it'})`);
  return parts.join('; ');
}
