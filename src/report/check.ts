import { allProblems, counts, countsText, rolloutText, type PreviewReport } from './types.js';
import { fence, objectText } from './markdown.js';
import { gatedRisks, rolloutFailures } from './risk.js';
import { CHECK_LABELS, type RolloutEntry } from '../diff/rollout.js';
import { shortRef } from './summary.js';
import { reproduce } from './comment.js';
import { CHECK_NAMES } from '../check-names.js';

/** GitHub's limits for check-run output fields. */
export const CHECK_TEXT_LIMIT = 65_535;
export const ANNOTATIONS_PER_REQUEST = 50;

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  annotation_level: 'failure' | 'warning' | 'notice';
  title: string;
  message: string;
}

export interface CheckOutput {
  conclusion: 'success' | 'failure' | 'neutral' | 'action_required';
  title: string;
  summary: string;
  text: string;
  annotations: CheckAnnotation[];
  /** Buttons on the check run (at most 3); a click arrives as `check_run.requested_action`. */
  actions?: { label: string; description: string; identifier: string }[];
}

/** The button a gated preview offers; GitHub caps label 20, description 40, identifier 20 characters. */
export const ACCEPT_RISK_ACTION = { label: 'Accept risk', description: 'Reviewed: let this change merge', identifier: 'mergeops-accept' } as const;

export function formatCheck(r: PreviewReport): CheckOutput {
  const problems = allProblems(r);
  const c = counts(r.apps.flatMap((a) => a.diffs));
  const gated = problems.length ? [] : gatedRisks(r);
  const held = gated.length > 0 && !r.riskAcceptedBy;
  const failing = rolloutFailures(r);
  const title = problems.length
    ? `${problems.length} problem${problems.length > 1 ? 's' : ''} found`
    : failing.length
      ? `${failing.length} rollout finding${failing.length === 1 ? '' : 's'} fail${failing.length === 1 ? 's' : ''} the preview (failOn: ${[...new Set(failing.map((f) => f.rollout?.check))].join(', ')})`
      : held
      ? `Review required: ${gated.length} risky change${gated.length === 1 ? '' : 's'} (${[...new Set(gated.map((g) => g.app))].join(', ')})`
      : `${countsText(c)} in ${r.apps.length} app${r.apps.length === 1 ? '' : 's'}${r.unchanged?.length ? ` · ${r.unchanged.length} unchanged` : ''}`;
  const gate = gated.length
    ? [
        held
          ? `**Review required** (\`review.onRisk: action_required\`): ${gated.map((g) => `${g.kind === 'delete' ? 'deletes' : 'changes'} \`${g.ref ?? g.app}\``).join(', ')}. Someone with write access presses **${ACCEPT_RISK_ACTION.label}** above once it has had a second look; a new push asks again.`
          : `Risky changes accepted by @${r.riskAcceptedBy}: ${gated.map((g) => `\`${g.ref ?? g.app}\``).join(', ')}.`,
        '',
      ]
    : [];
  const summary = [
    ...gate,
    ...environmentLines(r),
    ...problems.map((p) => `- ${p.ref ? `\`${p.ref}\`: ` : ''}${p.message}${p.file ? ` (${p.file}${p.line ? `:${p.line}` : ''})` : ''}`),
    ...r.apps.flatMap((a) => (a.warnings ?? []).map((p) => `- warning: ${p.ref ? `\`${p.ref}\`: ` : ''}${p.message}${p.file ? ` (${p.file}${p.line ? `:${p.line}` : ''})` : ''}`)),
    ...(r.unchanged?.length ? [`- ${r.unchanged.length} app${r.unchanged.length === 1 ? '' : 's'} unchanged, not planned (drift not checked): ${r.unchanged.map((u) => `\`${u.app}\``).join(', ')}`] : []),
    ...(r.allRendered ? [`- every app rendered (the changed files were not trusted): ${r.allRendered}`] : []),
    ...r.apps.flatMap((a) => (a.rollout ?? []).flatMap((e) => [`- \`${a.app}\` rollout of \`${shortRef(e.ref)}\`: ${e.line}`, ...e.findings.map((f) => `  - ${f.fails ? 'failure' : 'warning'} \`${f.check}\`: ${f.message}`)])),
    ...r.apps.map((a) => `- \`${a.app}\` → \`${a.cluster}\`: ${a.problems.length ? `failed (${a.problems.length} problem${a.problems.length > 1 ? 's' : ''} above)` : countsText(counts(a.diffs))}${a.drift.length ? `; drift in ${a.drift.map((d) => `\`${d.ref}\``).join(', ')}` : ''}${a.lock ? `; 🔒 locked by @${a.lock.by}${a.lock.reason ? `: ${a.lock.reason}` : ''}` : ''}`),
  ].join('\n');
  return {
    conclusion: problems.length || failing.length ? 'failure' : held ? 'action_required' : 'success',
    ...(held ? { actions: [ACCEPT_RISK_ACTION] } : {}),
    title,
    summary: clip(summary || 'Nothing to preview.', CHECK_TEXT_LIMIT),
    text: fullText(r),
    annotations: [
      ...[
        ...problems.map((p) => ({ p, level: 'failure' as const })),
        ...r.apps.flatMap((a) => (a.warnings ?? []).map((p) => ({ p, level: 'warning' as const }))),
      ]
        .filter(({ p }) => p.file)
        .map(({ p, level }): CheckAnnotation => ({
          path: p.file as string,
          start_line: p.line ?? 1,
          end_line: p.line ?? 1,
          annotation_level: level,
          title: p.ref ?? 'mergeops',
          message: p.message,
        })),
      ...r.apps.flatMap((a) => (a.rollout ?? []).flatMap((e) => rolloutAnnotation(a.app, e))),
    ],
  };
}

/**
 * One annotation per workload with a finding, at its file and line: its Rollout line and
 * what may go wrong (failure when failOn names it). A plain rollout is in the summary only:
 * a notice each would cost a 1,000-object app's preview extra check-run writes (50 a request).
 */
function rolloutAnnotation(app: string, e: RolloutEntry): CheckAnnotation[] {
  if (!e.source || e.findings.length === 0) return [];
  const level = e.findings.some((f) => f.fails) ? 'failure' : 'warning';
  const findings = e.findings.map((f) => `${f.fails ? 'fails (failOn)' : 'warning'} ${f.check} — ${CHECK_LABELS[f.check]}: ${f.message}`);
  return [{
    path: e.source.file,
    start_line: e.source.line,
    end_line: e.source.line,
    annotation_level: level,
    title: `Rollout of ${shortRef(e.ref)} (${app})`,
    message: [`Rollout: ${e.line}`, ...findings].join('\n'),
  }];
}

/**
 * The check run of one environment (`mergeops / preview (prod-eu)`): the overall check cut
 * down to that environment's apps, so a branch protection rule can require one environment
 * without the others. Problems of the whole preview (a fork's refused targets, say) fail
 * every environment's check too.
 */
export function formatEnvironmentCheck(r: PreviewReport, environment: string): CheckOutput {
  const env = r.environments?.find((e) => e.name === environment);
  const { environments: _all, ...rest } = r;
  const apps = r.apps.filter((a) => a.environment === environment);
  const unchanged = (r.unchanged ?? []).filter((u) => u.environment === environment);
  const out = formatCheck({ ...rest, apps, unchanged });
  const overall = r.checkRunUrl ? `[\`${CHECK_NAMES.preview}\`](${r.checkRunUrl})` : `\`${CHECK_NAMES.preview}\``;
  const head = `Environment \`${environment}\`${env ? ` → cluster \`${env.cluster}\`` : ''}: ${apps.length ? `${apps.length} app${apps.length === 1 ? '' : 's'} planned` : 'no app of this change is planned here'}. Every environment is in ${overall}.`;
  return { ...out, title: `${environment}: ${out.title}`, summary: clip(`${head}\n\n${out.summary}`, CHECK_TEXT_LIMIT) };
}

/**
 * With environments, the check lists them first: the rollout order, then per environment
 * what the merge changes there (apps planned with changes, failed, unchanged).
 */
function environmentLines(r: PreviewReport): string[] {
  if (!r.environments) return [];
  const code = (s: string): string => `\`${s}\``;
  const lines = [`- environments: merging applies ${rolloutText(r.environments, code)}`];
  for (const e of r.environments) {
    const planned = r.apps.filter((a) => a.environment === e.name);
    const parts = [
      ...planned.map((a) => `${code(a.app)} ${a.problems.length ? 'failed' : countsText(counts(a.diffs))}`),
      ...(r.unchanged ?? []).filter((u) => u.environment === e.name).map((u) => `${code(u.app)} unchanged`),
    ];
    lines.push(`- environment ${code(e.name)} → cluster ${code(e.cluster)}: ${parts.join('; ') || 'no app of this change'}`);
  }
  return lines;
}

/** Every diff in full, as far as the limit allows; what does not fit is named, not dropped silently. */
function fullText(r: PreviewReport): string {
  const blocks = r.apps.flatMap((a) => a.diffs.filter((d) => d.action !== 'unchanged').map((d) => `[${a.app}] ${objectText(d)}`));
  let out = '';
  for (let i = 0; i < blocks.length; i++) {
    const block = `${blocks[i]}\n\n`;
    const rest = blocks.length - i;
    const tail = `… ${rest} more object diff${rest > 1 ? 's' : ''} did not fit GitHub's check-run limit; run \`${reproduce(r, '<app>')}\` in a checkout of the head commit for the full diff.`;
    if (out.length + block.length + 200 > CHECK_TEXT_LIMIT) return fence(out + tail, 'diff');
    out += block;
  }
  return out ? fence(out.trimEnd(), 'diff') : '';
}

function clip(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 60)}\n… (cut at GitHub's ${n}-character limit)`;
}
