import type { BuildInfo } from '../images/registry/datasource.js';
import type { BumpPlan } from '../images/plan.js';

export const BUMP_MARKER = '<!-- mergeops:bump -->';

/** `mergeops/bump/<group-or-image>`, one branch per group so a newer build updates the same PR. */
export function bumpBranch(key: string, base: string, defaultBranch: string): string {
  // '-' rather than '/': refs `a/b` and `a/b/c` cannot both exist, and images nest like that.
  const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/\.{2,}/g, '.').replace(/^[.-]+|[.-]+$|\.lock$/g, '');
  return `mergeops/bump/${safe(key)}${base === defaultBranch ? '' : `-into-${safe(base)}`}`;
}

export function bumpTitle(plan: BumpPlan, key: string): string {
  const [only] = plan.changes;
  if (plan.changes.length === 1 && only) return `Bump ${only.repository} from ${only.from.join(', ')} to ${only.to}`;
  return `Bump ${key}: ${plan.changes.map((c) => `${c.repository.split('/').pop()} to ${c.to}`).join(', ')}`;
}

const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;

export function bumpBody(plan: BumpPlan, builds: Map<string, BuildInfo>, sources: string[]): string {
  const lines = [
    BUMP_MARKER,
    'mergeops found a newer build allowed by the image policy in `.github/mergeops.yml`.',
    '',
    '| Image | From | To | Policy |',
    '|---|---|---|---|',
    ...plan.changes.map((c) => `| ${code(c.repository)} | ${c.from.map(code).join(', ')} | ${code(c.to)} | ${c.policy.replace(/\|/g, '\\|')} |`),
    '',
    '**Build** (as the registry describes it)',
  ];
  for (const c of plan.changes) {
    const b = builds.get(c.repository) ?? {};
    const facts = [b.digest && `digest ${code(b.digest)}`, b.created && `built ${b.created}`, b.revision && `revision ${code(b.revision)}`, b.source && `source ${b.source}`].filter(Boolean);
    lines.push(`- ${code(`${c.repository}:${c.to.split('@')[0]}`)}: ${facts.length > 0 ? facts.join(', ') : 'no build metadata published'}`);
  }
  if (sources.length > 0) lines.push(`- Noticed through: ${[...new Set(sources)].join(', ')}`);
  lines.push('', '**Files changed**', ...plan.files.map((f) => `- ${code(f.path)} (${f.fields} field${f.fields === 1 ? '' : 's'})`));
  lines.push('', 'mergeops updates this pull request in place when a newer build arrives. Its preview shows what merging changes in the cluster.');
  return lines.join('\n');
}
