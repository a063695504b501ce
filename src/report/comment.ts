import { allProblems, counts, countsLine, type AppReport, type PreviewReport, type Problem } from './types.js';
import { driftFields, escapeHtml, objectBlock } from './markdown.js';

/** GitHub rejects issue comments over 65,536 characters. */
export const COMMENT_LIMIT = 65_536;
export const MARKER_PREFIX = '<!-- mergeops:preview:part=';

export function marker(part: number): string {
  return `${MARKER_PREFIX}${part} -->`;
}

/** Returns the part number of a mergeops preview comment, or null for anyone else's. */
export function parseMarker(body: string | undefined): number | null {
  const m = /<!-- mergeops:preview:part=(\d+) -->/.exec(body ?? '');
  return m ? Number(m[1]) : null;
}

export interface CommentOptions {
  limit?: number;
  /** Where the full text lives when an object's diff is too big for any comment. */
  checkRunUrl?: string;
}

/**
 * formatComment(report) → the bodies of the PR comments, in order. Never cuts silently:
 * when everything does not fit one comment it splits at object boundaries and numbers
 * the parts; an object whose diff alone is too big is summarised and pointed at the
 * check run.
 */
export function formatComment(report: PreviewReport, opts: CommentOptions = {}): string[] {
  const limit = opts.limit ?? COMMENT_LIMIT;
  // Room for the marker, part header and footer added after packing.
  const budget = limit - 400;
  const blocks: string[] = [header(report)];
  for (const app of report.apps) blocks.push(...appBlocks(app, budget, opts.checkRunUrl));
  blocks.splice(0, blocks.length, ...blocks.flatMap((b) => splitLines(b, budget)));

  const parts: string[] = [];
  let cur = '';
  for (const b of blocks) {
    if (cur.length + b.length > budget && cur !== '') {
      parts.push(cur);
      cur = '';
    }
    cur += b;
  }
  parts.push(cur);
  return parts.map((body, i) => {
    const n = parts.length;
    const top = n > 1 ? `_Part ${i + 1} of ${n} of this preview (split to fit GitHub's comment size limit)._\n\n` : '';
    const bottom = i < n - 1 ? `\n_Continued in the next comment (part ${i + 2} of ${n})._\n` : '';
    return `${marker(i + 1)}\n${top}${body}${bottom}`;
  });
}

function header(r: PreviewReport): string {
  const problems = allProblems(r);
  const lines = [`### mergeops preview for \`${r.sha.slice(0, 7)}\``, ''];
  if (r.problems.length) lines.push(...problemLines(r.problems), '');
  if (r.apps.length) {
    lines.push('| App | Cluster | Changes |', '|---|---|---|');
    for (const a of r.apps) {
      const c = counts(a.diffs);
      const status = a.problems.length ? `:x: ${a.problems.length} problem${a.problems.length > 1 ? 's' : ''}` : countsLine(c);
      lines.push(`| \`${a.app}\` | \`${a.cluster}\` | ${status} |`);
    }
    lines.push('');
  } else if (!problems.length) {
    lines.push('No app in `.github/mergeops.yml` deploys from this pull request\'s base branch.', '');
  }
  return lines.join('\n') + '\n';
}

function appBlocks(a: AppReport, budget: number, checkRunUrl: string | undefined): string[] {
  const c = counts(a.diffs);
  const unchanged = c.unchanged ? ` (${c.unchanged} unchanged)` : '';
  const out = [`#### \`${a.app}\` → cluster \`${a.cluster}\` · ${countsLine(c)}${unchanged}\n\n`];
  // One block per problem so a long list can split between comments.
  out.push(...problemLines(a.problems).map((l) => `${l}\n`));
  out.push(...problemLines(a.warnings ?? [], ':warning:').map((l) => `${l}\n`));
  if (a.problems.length || a.warnings?.length) out.push('\n');
  for (const d of a.diffs) {
    if (d.action === 'unchanged') continue;
    let block = objectBlock(d);
    if (block.length > budget) {
      const lines = d.diff.split('\n').length;
      const where = checkRunUrl ? `[the check run](${checkRunUrl})` : 'the `mergeops / preview` check run';
      block = objectBlock(d, `The diff of this object (${lines} lines) is too big for a comment; the full diff is in ${where}, or run \`npx mergeops diff ${a.app}\` locally.`);
    }
    out.push(block);
  }
  if (a.diffs.every((d) => d.action === 'unchanged') && !a.problems.length) out.push('No changes.\n\n');
  if (a.drift.length) out.push(driftBlock(a));
  return out;
}

export function driftBlock(a: AppReport): string {
  const n = a.drift.length;
  const lines = a.drift.map((d) => `- \`${escapeHtml(d.ref)}\`: ${driftFields(d, 'the merge')}`);
  return [
    `<details><summary>:warning: Drift: ${n} live object${n > 1 ? 's were' : ' was'} changed outside Git; Git wins on the fields it declares</summary>`,
    '',
    ...lines,
    '</details>',
    '',
    '',
  ].join('\n');
}

/**
 * Last resort for a block no object boundary can split (a huge table or drift list):
 * cut at line ends, and cut an absurdly long single line with a visible note.
 */
export function splitLines(block: string, budget: number): string[] {
  if (block.length <= budget) return [block];
  const out: string[] = [];
  let cur = '';
  for (let line of block.split('\n')) {
    if (line.length > budget - 100) line = `${line.slice(0, budget - 200)} … (line cut: ${line.length} characters)`;
    if (cur.length + line.length + 1 > budget) {
      out.push(cur);
      cur = '';
    }
    cur += `${line}\n`;
  }
  if (cur) out.push(cur);
  return out;
}

function problemLines(ps: Problem[], mark = ':x:'): string[] {
  return ps.map((p) => {
    const where = p.file ? ` (\`${escapeHtml(p.file)}${p.line ? `:${p.line}` : ''}\`)` : '';
    const what = p.ref ? `\`${escapeHtml(p.ref)}\`: ` : '';
    return `- ${mark} ${what}${escapeHtml(p.message)}${where}`;
  });
}
