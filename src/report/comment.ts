import type { ObjectDiff } from '../diff/types.js';
import { CHECK_LABELS, type RolloutEntry } from '../diff/rollout.js';
import { driftFields, escapeMd, fence, htmlCode, htmlLink, mdCode, mdLink } from './markdown.js';
import { appChanges, appRisks, deletes, gatedRisks, reportRisks, type Risk } from './risk.js';
import { HTML, MD, fieldText, fieldsText, refName, renamedTail, secretKeysText, shortPath, shortRef } from './summary.js';
import { allProblems, rolloutText, type AppReport, type PreviewEnvReport, type PreviewReport, type Problem } from './types.js';
import { CHECK_NAMES } from '../check-names.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import { cliCommand } from './cli-command.js';

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
}

/** How many names a risk line lists before "and N more". */
const NAMES_IN_LINE = 3;

/**
 * formatComment(report) → the bodies of the PR comments, in order. Reads top-down as a
 * reviewer does: what is risky (an alert), one row per app, then per app drift first and
 * one line per object naming the fields it changes, the full diff collapsed below, and a
 * footer saying what merging does and how to reproduce it. Never cuts silently: when
 * everything does not fit one comment it splits at object boundaries and numbers the
 * parts; an object whose diff alone is too big is summarised and pointed at the check run.
 */
export function formatComment(report: PreviewReport, opts: CommentOptions = {}): string[] {
  const limit = opts.limit ?? COMMENT_LIMIT;
  // Room for the marker and the part header and footer added after packing.
  const budget = limit - 400;
  const blocks: string[] = [header(report)];
  if (report.previewEnvironments?.length) blocks.push(previewEnvBlock(report.previewEnvironments));
  const quiet: AppReport[] = [];
  for (const app of report.apps) {
    if (app.problems.length === 0 && !appChanges(app)) quiet.push(app);
    else blocks.push(...appBlocks(report, app, budget));
  }
  if (quiet.length) blocks.push(quietLine(quiet));
  if (report.unchanged?.length) blocks.push(unchangedLine(report));
  blocks.push(footer(report));
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

// ── preview environments: one 🌐 line per app ─────────────────────────────────────────

const ENV_STATE: Record<PreviewEnvReport['state'], string> = { starting: '⏳ starting', ready: 'ready', failed: '❌ failed', refused: '⛔ not started' };

/** "🌐 Preview environment: ready · https://…", or its failure and cause; what the render held that it does not. */
export function previewEnvBlock(envs: PreviewEnvReport[]): string {
  const lines = envs.map((e) => {
    const who = envs.length > 1 ? ` ${mdCode(e.app)}` : '';
    const where = e.state === 'ready' && e.url ? ` · ${e.url}` : e.state === 'ready' || e.state === 'starting' ? ` · ${mdCode(e.namespace)} on ${mdCode(e.cluster)}` : '';
    // Escaped, but PR numbers (`in use: #12, #15`) stay links.
    const why = e.message ? `: ${escapeMd(e.message).replace(/\\#(\d)/g, '#$1')}` : '';
    let line = `🌐 Preview environment${who}: ${ENV_STATE[e.state]}${where}${why}`;
    if (e.refused?.length) {
      const shown = e.refused.slice(0, 10).map((r) => `${mdCode(r.ref)} (${escapeMd(r.why)})`).join(', ');
      line += `\n  Not in the environment: ${shown}${e.refused.length > 10 ? `, and ${e.refused.length - 10} more` : ''}`;
    }
    return line;
  });
  return `${lines.join('\n\n')}\n\n`;
}

// ── header: title, risk alert, one row per app ─────────────────────────────────────────

function header(r: PreviewReport): string {
  const changing = r.apps.filter((a) => a.problems.length === 0 && appChanges(a)).length;
  const failed = r.apps.filter((a) => a.problems.length > 0).length;
  const into = r.baseRef ? ` into ${mdCode(r.baseRef)}` : '';
  // Apps the change cannot reach count in the total: "1 of 40 apps changes".
  const total = r.apps.length + (r.unchanged?.length ?? 0);
  const tally = [
    total === 0 ? '' : changing === 0 ? 'no changes' : `${changing} of ${total} app${total === 1 ? '' : 's'} change${changing === 1 && total === 1 ? 's' : ''}`,
    failed ? `${failed} failed` : '',
  ].filter(Boolean);
  const lines = [`### mergeops preview · ${mdCode(r.sha.slice(0, 7))}${into}${tally.length ? ` · ${tally.join(', ')}` : ''}`, ''];
  const alert = riskAlert(r);
  if (alert) lines.push(alert, '');
  if (r.problems.length) lines.push(...problemLines(r, r.problems), '');
  if (r.apps.length) {
    lines.push('| | App | Target | Created | Changed | Deleted | Look at |', '|:-:|---|---|--:|--:|--:|---|');
    for (const a of r.apps) lines.push(tableRow(a));
    lines.push('');
  } else if (!allProblems(r).length && !r.unchanged?.length) {
    lines.push(`No app in ${mdCode('.github/mergeops.yml')} deploys from ${r.baseRef ? mdCode(r.baseRef) : "this pull request's base branch"}.`, '');
  }
  return `${lines.join('\n')}\n`;
}

/** Names in a risk line: `Service web-legacy, Secret web-secrets and 2 more`. */
function names(risks: Risk[]): string {
  const refs = [...new Set(risks.map((r) => (r.ref ? shortRef(r.ref) : r.app)))];
  const shown = refs.slice(0, NAMES_IN_LINE).map(mdCode).join(', ');
  return refs.length > NAMES_IN_LINE ? `${shown} and ${refs.length - NAMES_IN_LINE} more` : shown;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The alert block first in the comment; empty when nothing needs a second look. */
function riskAlert(r: PreviewReport): string {
  const risks = reportRisks(r);
  const problems = r.problems.length;
  if (risks.length === 0 && problems === 0) return '';
  const of = (k: Risk['kind']): Risk[] => risks.filter((x) => x.kind === k);
  const items: string[] = [];
  const failed = of('failed');
  if (problems) items.push(`the preview failed before any app was checked (${plural(problems, 'problem')} below)`);
  if (failed.length) items.push(`${plural(failed.length, 'app')} failed to preview: ${failed.map((f) => mdCode(f.app)).join(', ')}`);
  const del = of('delete');
  if (del.length) items.push(`${plural(del.length, 'object')} deleted: ${names(del)}`);
  const sec = of('secret');
  if (sec.length) items.push(`${plural(sec.length, 'Secret')} changed: ${names(sec)}`);
  const drift = of('drift');
  if (drift.length) items.push(`${plural(drift.length, 'hand edit')} in the cluster the merge reverts: ${names(drift)}`);
  for (const x of of('replicas')) items.push(`replicas of ${mdCode(shortRef(x.ref ?? ''))} ${x.field?.before ?? '(unset)'} → ${x.field?.after ?? '(unset)'}`);
  const img = of('image');
  if (img.length) items.push(img.length <= NAMES_IN_LINE ? img.map((x) => fieldText(x.field ?? { path: '' }, new Map(), MD)).join(' · ') : `${plural(img.length, 'image')} change`);
  const crit = of('critical-kind').filter((x) => !del.some((d) => d.ref === x.ref));
  if (crit.length) items.push(`cluster-wide or data-holding kinds change: ${names(crit)}`);
  // What fails the preview (failOn) first.
  const rollout = of('rollout').sort((x, y) => Number(!!y.rollout?.fails) - Number(!!x.rollout?.fails));
  const shown = rollout.slice(0, NAMES_IN_LINE).map((x) => `${mdCode(shortRef(x.ref ?? ''))} ${rolloutLabel(x)}`);
  if (rollout.length) items.push(`rollout: ${shown.join(', ')}${rollout.length > NAMES_IN_LINE ? ` and ${plural(rollout.length - NAMES_IN_LINE, 'more finding')}` : ''}`);
  const caution = problems > 0 || risks.some((x) => x.severity === 'caution');
  const lines = [`> [!${caution ? 'CAUTION' : 'WARNING'}]`, `> **Review before merging:** ${items.join(' · ')}`];
  const gated = problems ? [] : gatedRisks(r);
  if (gated.length) {
    const apps = [...new Set(gated.map((g) => mdCode(g.app)))].join(', ');
    lines.push('>', r.riskAcceptedBy
      ? `> Accepted by @&#8203;${escapeMd(r.riskAcceptedBy)} after review (${mdCode('review.onRisk')} of ${apps}).`
      : `> ${mdCode('mergeops / preview')} ends as **action required** (${mdCode('review.onRisk')} of ${apps}): after a second look, someone with write access presses **Accept risk** on the check run.`);
  }
  return lines.join('\n');
}

/** `keeps the old config` and, when the app's failOn names it, that it fails the preview. */
function rolloutLabel(x: Risk): string {
  const f = x.rollout;
  if (!f) return '';
  return `${CHECK_LABELS[f.check]} (${mdCode(f.check)}${f.fails ? ', fails the preview: failOn' : ''})`;
}

const ICON = { failed: '❌', caution: '⛔', warning: '⚠️', ok: '✅', none: '➖' } as const;

function appIcon(a: AppReport): string {
  if (a.problems.length) return ICON.failed;
  const risks = appRisks(a);
  if (risks.some((r) => r.severity === 'caution')) return ICON.caution;
  if (risks.length) return ICON.warning;
  return appChanges(a) ? ICON.ok : ICON.none;
}

function target(a: AppReport, ctx = MD): string {
  return `${ctx.code(a.cluster)}${a.namespace ? ` / ${ctx.code(a.namespace)}` : ''}`;
}

interface AppCounts {
  created: number;
  changed: number;
  deleted: number;
  /** Dropped from Git but kept in the cluster (prune: false). */
  kept: number;
}

function appCounts(a: AppReport): AppCounts {
  const c: AppCounts = { created: 0, changed: 0, deleted: 0, kept: 0 };
  for (const d of a.diffs) {
    if (d.action === 'create' && !d.renamedFrom) c.created++;
    else if (d.action === 'update' || d.action === 'replace') c.changed++;
    else if (d.action === 'delete') c[deletes(a, d) ? 'deleted' : 'kept']++;
  }
  return c;
}

function tableRow(a: AppReport): string {
  const cells = [appIcon(a), mdCode(a.app), target(a)];
  if (a.problems.length) {
    const first = a.problems[0] as Problem;
    cells.push('–', '–', '–', `failed: ${escapeMd(clip(first.message, 80))}${a.problems.length > 1 ? ` (+${a.problems.length - 1} more)` : ''}`);
  } else {
    const c = appCounts(a);
    cells.push(String(c.created), String(c.changed), c.deleted ? `**${c.deleted}**` : '0', lookAt(a));
  }
  return `| ${cells.join(' | ')} |`;
}

/** The "look at" cell: the risks by name, else the first fields that change. */
function lookAt(a: AppReport): string {
  const risks = appRisks(a);
  const of = (k: Risk['kind']): Risk[] => risks.filter((r) => r.kind === k);
  const name = (r: Risk): string => mdCode(refName(r.ref ?? ''));
  const deleted = new Set(of('delete').map((r) => r.ref));
  const items = [
    ...of('delete').map((r) => `🗑️ ${escapeMd(r.objectKind ?? '')} ${name(r)}`),
    ...of('secret').map((r) => `🔒 Secret ${name(r)}`),
    ...of('critical-kind')
      .filter((r) => !deleted.has(r.ref))
      .map((r) => `${escapeMd(r.objectKind ?? '')} ${name(r)}`),
    ...of('replicas').map((r) => `replicas ${escapeMd(r.field?.before ?? '(unset)')} → ${escapeMd(r.field?.after ?? '(unset)')}`),
    ...of('image').map((r) => fieldText(r.field ?? { path: '' }, new Map(), MD)),
    ...a.diffs.filter((d) => d.renamedFrom).map((d) => `↪️ ${escapeMd(d.kind)} ${mdCode(refName(d.ref).replace(/-[^-]+$/, ''))} renamed`),
    ...(a.rollout ?? []).map((e) => `${e.findings.length ? '⚠️' : '🔁'} ${mdCode(refName(e.ref))} ${e.findings.length ? [...new Set(e.findings.map((f) => CHECK_LABELS[f.check]))].join(', ') : escapeMd(e.short)}`),
  ];
  if (a.drift.length) items.push(`🔄 drift (${plural(a.drift.length, 'object')})`);
  if (items.length === 0) {
    const paths = [...new Set(a.diffs.flatMap((d) => (d.action === 'update' ? (d.fields ?? []).map((f) => shortPath(f.path)) : [])))];
    if (paths.length) items.push(paths.slice(0, 2).map(mdCode).join(', ') + (paths.length > 2 ? ' …' : ''));
    else if (appChanges(a)) items.push('new objects only');
    else items.push('no changes');
  }
  const unique = [...new Set(items)];
  return unique.length > 5 ? `${unique.slice(0, 5).join(' · ')} · …` : unique.join(' · ');
}

// ── per app ───────────────────────────────────────────────────────────────────────────

/** Drifted objects with fields the merge reverts (not only fields it keeps). */
function reverted(a: AppReport): number {
  return a.drift.filter((d) => d.fields.length > 0).length;
}

function appHeading(a: AppReport): string {
  const c = appCounts(a);
  const tally = a.problems.length
    ? `failed (${plural(a.problems.length, 'problem')})`
    : [c.created && `${c.created} created`, c.changed && `${c.changed} changed`, c.deleted && `${c.deleted} deleted`, c.kept && `${c.kept} left in the cluster`, reverted(a) && `${plural(reverted(a), 'drifted object')} reverted`].filter(Boolean).join(' · ') || 'no changes';
  return `#### ${appIcon(a)} ${mdCode(a.app)} → ${target(a)} · ${tally}\n\n`;
}

/** Deletions and Secrets first: what a reviewer must see even when skimming. */
function objectOrder(a: AppReport, d: ObjectDiff): number {
  if (d.action === 'delete') return 0;
  if (d.kind === 'Secret') return 1;
  if (d.action === 'update' && (d.fields ?? []).some((f) => f.path === 'spec.replicas')) return 2;
  if (d.action === 'update') return 3;
  if (d.renamedFrom) return 4;
  return a.diffs.length;
}

function appBlocks(r: PreviewReport, a: AppReport, budget: number): string[] {
  const out = [appHeading(a)];
  if (a.lock) out.push(lockBlock(a.app, a.lock));
  if (a.drift.length) out.push(driftBlock(a));
  // One block per problem so a long list can split between comments.
  if (a.problems.length) out.push(...problemLines(r, a.problems).map((l) => `${l}\n`), `\n${nextStep(r, a)}\n\n`);
  if (a.warnings?.length) out.push(...problemLines(r, a.warnings, '⚠️').map((l) => `${l}\n`), '\n');
  if (a.rollout?.length) out.push(rolloutBlock(r, a.rollout));
  // `metadata.name` values of renamed objects: fields that point at them "follow the rename".
  const renames = new Map(a.diffs.filter((d) => d.renamedFrom).map((d) => [refName(d.renamedFrom as string), refName(d.ref)]));
  const changed = a.diffs.filter((d) => d.action !== 'unchanged').sort((x, y) => objectOrder(a, x) - objectOrder(a, y));
  for (const d of changed) {
    let block = objectBlock(r, a, d, renames);
    if (block.length > budget) {
      const lines = d.diff.split('\n').length;
      const where = r.checkRunUrl ? `[the check run](${r.checkRunUrl})` : `the ${mdCode(CHECK_NAMES.preview)} check run`;
      block = objectBlock(r, a, d, renames, `The diff of this object (${lines} lines) is too big for a comment; the full diff is in ${where}, or run ${mdCode(reproduce(r, a.app))} locally.`);
    }
    out.push(block);
  }
  return out;
}

function nextStep(r: PreviewReport, a: AppReport): string {
  return `**Next:** fix the ${a.problems.length === 1 ? 'problem' : 'problems'} above and push; the preview runs again on every push${r.checkRunUrl ? ` (details and annotations in ${mdLink('the check run', r.checkRunUrl)})` : ''}.`;
}

/** A deploy freeze first of all: the merge will not change the cluster until the unlock. */
export function lockBlock(app: string, lock: NonNullable<AppReport['lock']>): string {
  const reason = lock.reason ? `: ${escapeMd(lock.reason)}` : '';
  return `> [!CAUTION]\n> 🔒 locked by @${escapeMd(lock.by)}${reason}. A merge is recorded, not applied; ${mdCode(`/mergeops unlock ${app}`)} applies it.\n\n`;
}

/** Drift at the top of its app: what the merge reverts of others' changes (and keeps), field by field. */
export function driftBlock(a: AppReport): string {
  const n = a.drift.length;
  const lines = a.drift.map((d) => `> - ${mdCode(d.ref)}: ${driftFields(d, 'the merge')}`);
  return [
    '> [!WARNING]',
    `> **Drift:** ${plural(n, 'object')} in the live cluster ${n > 1 ? 'were' : 'was'} changed outside Git; Git wins on the fields it declares:`,
    ...lines,
    '',
    '',
  ].join('\n');
}

/**
 * What the merge does to running workloads, one "Rollout" line each, with what may go
 * wrong below it. Lines and messages hold names in backticks only (from the analysis).
 */
export function rolloutBlock(r: PreviewReport, entries: RolloutEntry[]): string {
  const lines = ['**Rollout**', ''];
  for (const e of entries) {
    // A link only where something may go wrong: a large app's plain scale lines stay short.
    const where = e.source && e.findings.length ? ` (${sourceLink(r, e.source.file, e.source.line)})` : '';
    lines.push(`- ${e.findings.length ? '⚠️' : '🔁'} ${mdCode(shortRef(e.ref))}: ${e.line}${where}`);
    for (const f of e.findings) lines.push(`  - ${f.fails ? '⛔' : '⚠️'} **${escapeMd(CHECK_LABELS[f.check])}** (${mdCode(f.check)}${f.fails ? ': failOn makes it fail the preview' : ''}): ${f.message}`);
  }
  return `${lines.join('\n')}\n\n`;
}

function sourceLink(r: PreviewReport, file: string, line: number): string {
  const label = `${file}#L${line}`;
  if (r.sha === 'local') return mdCode(label);
  const path = file.split('/').map(encodeURIComponent).join('/');
  return mdLink(label, `${r.serverUrl ?? 'https://github.com'}/${r.repo}/blob/${r.sha}/${path}#L${line}`);
}

/** `blob/<sha>/<path>#L<n>` on the head commit, as an HTML link (summaries are HTML). */
function fileLink(r: PreviewReport, d: ObjectDiff): string {
  if (!d.source) return '';
  const label = `${d.source.file}#L${d.source.line}`;
  if (r.sha === 'local') return ` · ${htmlCode(label)}`;
  const path = d.source.file.split('/').map(encodeURIComponent).join('/');
  return ` · ${htmlLink(label, `${r.serverUrl ?? 'https://github.com'}/${r.repo}/blob/${r.sha}/${path}#L${d.source.line}`)}`;
}

function objectBlock(r: PreviewReport, a: AppReport, d: ObjectDiff, renames: Map<string, string>, tooBig?: string): string {
  const ref = htmlCode(d.ref);
  if (d.action === 'delete') {
    // Short: the live object's every server field (clusterIP, ipFamilies…) says nothing new.
    const why = deletes(a, d)
      ? `no longer in Git; prune: true, so the merge deletes it`
      : `no longer in Git; prune: false, so the merge leaves it in the cluster`;
    return `${deletes(a, d) ? '🗑️ **delete**' : '➖ **left in the cluster**'} ${mdCode(d.ref)}: ${why}\n\n`;
  }
  const fields = fieldsText(d, renames, HTML);
  let what: string;
  if (d.renamedFrom) {
    const generator = d.kind === 'Secret' ? 'secretGenerator' : 'configMapGenerator';
    const old = a.merge?.prune === false ? 'the old one stays (prune: false)' : 'the old one is pruned';
    what = `↪️ <b>rename</b> ${htmlCode(d.renamedFrom)} → ${htmlCode(renamedTail(refName(d.renamedFrom), refName(d.ref)))}${fields ? `: ${fields}` : ''} (kustomize ${generator} hash; ${old})`;
  } else if (d.action === 'replace') {
    what = `♻️ <b>replace</b> ${ref}: deleted and created again (an immutable field changes; ${htmlCode('mergeops.dev/recreate: "true"')})`;
  } else if (d.action === 'create') {
    const keys = d.kind === 'Secret' ? secretKeysText(d, HTML) : '';
    what = `➕ <b>create</b> ${ref}${keys ? `: ${keys}` : ''}`;
  } else {
    what = `${d.kind === 'Secret' ? '🔒' : '✏️'} <b>change</b> ${ref}${fields ? `: ${fields}` : ''}`;
  }
  const note = d.note ? `> ℹ️ ${escapeMd(d.note)}\n\n` : '';
  const body = tooBig ?? fence(d.diff, 'diff');
  return `<details><summary>${what}${fileLink(r, d)}</summary>\n\n${note}${body}\n\n</details>\n\n`;
}

/** Apps that change nothing: one line for all of them, not a heading each. */
function quietLine(apps: AppReport[]): string {
  const list = apps.map((a) => {
    const kept = appCounts(a).kept;
    return `${mdCode(a.app)} → ${target(a)}${kept ? ` (${plural(kept, 'object')} no longer in Git left in the cluster: prune: false)` : ''}`;
  });
  return `${ICON.none} **No changes:** ${list.join(', ')}\n\n`;
}

/** How many apps show by name in the unchanged line before "and N more". */
const UNCHANGED_NAMES = 10;

/**
 * Apps the preview did not plan, as one line: how many, why, and that their drift was not
 * looked at (no request went to their cluster), so the comment never implies it was.
 */
function unchangedLine(r: PreviewReport): string {
  const u = r.unchanged ?? [];
  const byFiles = u.filter((x) => x.why === 'files').length;
  const byRender = u.length - byFiles;
  const at = r.baseRef ? mdCode(r.baseRef) : 'the base';
  const filesWhy = `no file ${u.length === 1 ? 'its' : 'their'} render reads changed`;
  const renderWhy = `${u.length === 1 ? 'it renders' : 'they render'} the same as on ${at}`;
  const why = byRender === 0 ? filesWhy : byFiles === 0 ? renderWhy : `${filesWhy} (${byFiles}) or ${renderWhy} (${byRender})`;
  const shown = u.slice(0, UNCHANGED_NAMES).map((x) => mdCode(x.app)).join(', ');
  const more = u.length > UNCHANGED_NAMES ? ` and ${u.length - UNCHANGED_NAMES} more` : '';
  return `${ICON.none} **${plural(u.length, 'app')} unchanged**: ${why}; not planned, so drift in ${u.length === 1 ? 'it' : 'them'} is not checked here. ${shown}${more}\n\n`;
}

// ── footer: what merging does, how to reproduce, where the rest is ───────────────────

/** What merging does for apps that behave alike: "apply, prune what Git dropped, …". */
function mergeText(m: AppReport['merge']): string {
  if (!m) return 'apply';
  const prune = m.prune ? 'prune what Git dropped' : 'keep what Git dropped (prune: false)';
  const force = m.force ? 'take over fields Git declares that others changed (Git wins)' : 'fail on fields another field manager set (conflicts: fail)';
  return `apply, ${prune}, ${force}, ${m.waitMs > 0 ? `wait up to ${duration(m.waitMs)} for health` : 'not wait for health'}`;
}

function duration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s % 60 === 0 && s >= 60 ? `${s / 60}m` : `${s}s`;
}

function mergeLine(apps: AppReport[]): string {
  const groups = new Map<string, AppReport[]>();
  for (const a of apps) groups.set(mergeText(a.merge), [...(groups.get(mergeText(a.merge)) ?? []), a]);
  return [...groups].map(([does, as]) => `for ${as.map((a) => mdCode(a.app)).join(', ')}: ${does}`).join('; ');
}

/** The exact local command for one app: same render, same inventory key, same dry-run, same mergeops version. */
export function reproduce(r: PreviewReport, app: string): string {
  const repoArgs = r.sha === 'local' ? '' : ` --repo ${r.repo}${r.repoId !== undefined ? ` --repo-id ${r.repoId}` : ''}`;
  return cliCommand(`diff ${app}`, repoArgs, { cluster: true, tag: r.version });
}

function footer(r: PreviewReport): string {
  const lines = ['---', ''];
  const changing = r.apps.filter((a) => a.problems.length === 0 && appChanges(a));
  const failing = r.apps.filter((a) => a.problems.length > 0);
  const into = r.baseRef ? ` into ${mdCode(r.baseRef)}` : '';
  if (r.apps.length) {
    const does = changing.length ? ` will, ${mergeLine(changing)}.` : ' changes nothing in the cluster.';
    const blocked = failing.length ? ` ${failing.map((a) => mdCode(a.app)).join(', ')} failed to preview; ${failing.length === 1 ? 'its deploy' : 'their deploys'} would most likely fail the same way.` : '';
    lines.push(`**Merging**${into}${does}${blocked}`, '');
    if (r.environments) lines.push(`**Environments** roll out in waves: ${rolloutText(r.environments, mdCode)}; an environment whose dependencies fail is not started.`, '');
  } else if (r.unchanged?.length) {
    lines.push(`**Merging**${into} changes nothing any app renders.`, '');
  }
  const local = [...changing, ...failing];
  if (local.length && r.sha !== 'local') {
    // One full command; the other apps differ only by name (a monorepo's footer stays short).
    const [first, ...rest] = local as [AppReport, ...AppReport[]];
    const others = rest.length ? `; the same with ${rest.map((a) => mdCode(a.app)).join(', ')} in place of ${mdCode(first.app)}` : '';
    lines.push(`**Reproduce** with a kubeconfig for the app's cluster, in a checkout at ${mdCode(r.sha.slice(0, 7))} (${mdCode(`git checkout ${r.sha.slice(0, 7)}`)}), with this mergeops version's image: ${mdCode(reproduce(r, first.app))}${others}`, '');
  }
  const facts = [
    `Server-side dry-run (${mdCode('dryRun=All')}) against the live cluster${r.at ? ` at ${escapeMd(r.at.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC'))}` : ''}`,
    r.baseSha ? `base ${mdCode(r.baseSha.slice(0, 7))}` : '',
    r.sha !== 'local' ? `head ${mdCode(r.sha.slice(0, 7))}` : '',
    r.allRendered ? `every app rendered (the changed files were not trusted): ${escapeMd(r.allRendered)}` : '',
    r.defaultsFrom?.length ? `defaults from ${r.defaultsFrom.map((s) => mdCode(`${s}:${REPO_CONFIG_PATH}`)).join(' extending ')}` : '',
    r.checkRunUrl ? mdLink('full diff in the check run', r.checkRunUrl) : '',
    r.version ? `mergeops ${escapeMd(r.version)}` : '',
  ].filter(Boolean);
  lines.push(`<sub>${facts.join(' · ')}</sub>`, '');
  return `${lines.join('\n')}\n`;
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

function problemLines(r: PreviewReport, ps: Problem[], mark = '❌'): string[] {
  return ps.map((p) => {
    let where = '';
    if (p.file) {
      const label = `${p.file}${p.line ? `#L${p.line}` : ''}`;
      const path = p.file.split('/').map(encodeURIComponent).join('/');
      where = r.sha === 'local' ? ` (${mdCode(label)})` : ` (${mdLink(label, `${r.serverUrl ?? 'https://github.com'}/${r.repo}/blob/${r.sha}/${path}${p.line ? `#L${p.line}` : ''}`)})`;
    }
    const what = p.ref ? `${mdCode(p.ref)}: ` : '';
    return `- ${mark} ${what}${escapeMd(p.message)}${where}`;
  });
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}
