import type { ApplyResult, HealthReport } from '../cluster/apply.js';
import { escapeHtml } from './markdown.js';
import type { CheckOutput } from './check.js';
import type { Problem } from './types.js';

/** A deploy freeze (`/mergeops lock`) that kept an app's commit from being applied. */
export interface HeldBy {
  by: string;
  reason: string;
  at: string;
}

/**
 * The button a failed deploy check offers (check run `actions`); GitHub caps the label at
 * 20 characters, the description at 40 and the identifier at 20.
 */
export const ROLLBACK_ACTION = { label: 'Roll back', description: 'Open a PR restoring the last good deploy', identifier: 'mergeops-rollback' } as const;

export interface AppDeployReport {
  app: string;
  cluster: string;
  /** Set when the app is locked: the commit was recorded for the unlock, not applied. */
  held?: HeldBy;
  result?: ApplyResult;
  health?: HealthReport;
  problems: Problem[];
}

export interface DeployReport {
  repo: string;
  sha: string;
  apps: AppDeployReport[];
  problems: Problem[];
}

export function appSucceeded(a: AppDeployReport): boolean {
  return a.problems.length === 0 && (a.result?.errors.length ?? 0) === 0 && !a.result?.pruneSkipped && (a.health?.healthy ?? true);
}

export function appLine(a: AppDeployReport): string {
  if (a.held) return `held: :lock: locked by @${a.held.by}${a.held.reason ? `: ${a.held.reason}` : ''}; recorded, applies on \`/mergeops unlock ${a.app}\``;
  const r = a.result;
  const counts = r ? `${r.created.length} created, ${r.configured.length} configured, ${r.unchanged.length} unchanged, ${r.pruned.length} pruned` : 'not applied';
  return `${appSucceeded(a) ? 'deployed' : 'failed'}: ${counts}`;
}

/** Every reason an app's deploy failed, with the object it concerns. */
export function appProblems(a: AppDeployReport): Problem[] {
  const out = [...a.problems];
  for (const e of a.result?.errors ?? []) {
    const p: Problem = { ref: e.ref, message: e.message };
    if (e.source) Object.assign(p, { file: e.source.file, line: e.source.line });
    out.push(p);
  }
  for (const u of a.health?.unhealthy ?? []) out.push({ ref: u.ref, message: u.reason });
  if (a.result?.pruneSkipped) out.push({ message: `prune skipped: ${a.result.pruneSkipped}` });
  return out;
}

export function formatDeployCheck(r: DeployReport): CheckOutput {
  const failed = r.problems.length > 0 || r.apps.some((a) => !appSucceeded(a));
  const lines = [
    ...r.problems.map((p) => `- :x: ${p.message}`),
    '| App | Cluster | Result |',
    '|---|---|---|',
    ...r.apps.map((a) => `| \`${a.app}\` | \`${a.cluster}\` | ${appLine(a)} |`),
    '',
  ];
  for (const a of r.apps) {
    const ps = appProblems(a);
    if (!ps.length) continue;
    lines.push(`#### \`${a.app}\``, ...ps.map((p) => `- ${p.ref ? `\`${escapeHtml(p.ref)}\`: ` : ''}${escapeHtml(p.message)}`), '');
  }
  const ok = r.apps.filter(appSucceeded).length;
  const held = r.apps.filter((a) => a.held).length;
  return {
    conclusion: failed ? 'failure' : held > 0 ? 'neutral' : 'success',
    title: failed
      ? `Deploy failed for ${r.apps.length - ok + (r.problems.length ? 1 : 0)} of ${Math.max(r.apps.length, 1)} apps`
      : held > 0
        ? `Deploy held for ${held} locked app${held === 1 ? '' : 's'}${ok > held ? `; deployed ${ok - held}` : ''}`
        : `Deployed ${r.apps.length} app${r.apps.length === 1 ? '' : 's'}`,
    summary: lines.join('\n').slice(0, 65_000),
    text: '',
    annotations: r.apps
      .flatMap((a) => appProblems(a))
      .filter((p) => p.file)
      .map((p) => ({ path: p.file as string, start_line: p.line ?? 1, end_line: p.line ?? 1, annotation_level: 'failure' as const, title: p.ref ?? 'mergeops', message: p.message })),
  };
}

export function formatDeployComment(r: DeployReport, checkUrl: string | undefined): string {
  const failed = r.problems.length > 0 || r.apps.some((a) => !appSucceeded(a));
  const held = r.apps.some((a) => a.held);
  const head = `### mergeops deploy of \`${r.sha.slice(0, 7)}\`: ${failed ? ':x: failed' : held ? ':lock: held (locked)' : ':white_check_mark: succeeded'}`;
  const rows = r.apps.map((a) => `| \`${a.app}\` | \`${a.cluster}\` | ${appLine(a)} |`);
  const link = checkUrl ? `\nDetails in [the \`mergeops / deploy\` check run](${checkUrl}).` : '';
  return [head, '', ...r.problems.map((p) => `- :x: ${escapeHtml(p.message)}`), '| App | Cluster | Result |', '|---|---|---|', ...rows, link].join('\n');
}
