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

/** `owner/name` when an `org.opencontainers.image.source` names a github.com repository. */
export function githubRepoOf(source: string | undefined): string | null {
  const m = /^(?:https?:\/\/|git\+https:\/\/|git:\/\/|ssh:\/\/git@|git@)?(?:www\.)?github\.com[/:]([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+?)(?:\.git)?(?:[/#?].*)?$/.exec(source ?? '');
  return m ? `${m[1]}/${m[2]}` : null;
}

const SHA = /^[0-9a-f]{7,40}$/;

/**
 * What changed in the image's source between the running build and the new one: the exact
 * commit range when both builds name their revision, else the new build's commit, else
 * the two tags (which only works where the repository tags releases like the image).
 */
export function compareLink(source: string | undefined, from: BuildInfo | undefined, to: BuildInfo, fromTag: string | undefined, toTag: string): string | null {
  const repo = githubRepoOf(source);
  if (!repo) return null;
  const base = `https://github.com/${repo}`;
  const old = from?.revision && SHA.test(from.revision) ? from.revision : undefined;
  const neu = to.revision && SHA.test(to.revision) ? to.revision : undefined;
  if (old && neu) return `[${repo}@${old.slice(0, 7)}...${neu.slice(0, 7)}](${base}/compare/${old}...${neu}) (the commits between the two builds)`;
  if (neu) return `[${repo}@${neu.slice(0, 7)}](${base}/commit/${neu}) (the new build's commit; the running build names no revision)`;
  if (fromTag) return `[${repo}: ${fromTag}...${toTag}](${base}/compare/${encodeURIComponent(fromTag)}...${encodeURIComponent(toTag)}) (by tag: neither build names its revision)`;
  return null;
}

/**
 * The PR body. `previous` holds what the registry says of the builds running now (the first
 * `from` value of each change), for the compare link.
 */
export function bumpBody(plan: BumpPlan, builds: Map<string, BuildInfo>, sources: string[], previous: Map<string, BuildInfo> = new Map()): string {
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
    const fromTag = c.from.length === 1 ? c.from[0]?.split('@')[0] : undefined;
    const link = compareLink(b.source, previous.get(c.repository), b, fromTag, c.to.split('@')[0] ?? c.to);
    if (link) lines.push(`  - Changes: ${link}`);
  }
  if (sources.length > 0) lines.push(`- Noticed through: ${[...new Set(sources)].join(', ')}`);
  lines.push('', '**Files changed**', ...plan.files.map((f) => `- ${code(f.path)} (${f.fields} field${f.fields === 1 ? '' : 's'})`));
  const versions = plan.changes.map((c) => code(c.to.split('@')[0] ?? c.to)).join(', ');
  lines.push(
    '',
    'mergeops updates this pull request in place when a newer build arrives. Its preview shows what merging changes in the cluster.',
    '',
    `**Closing this pull request without merging declines ${versions}:** mergeops will not open it again; a newer build the policy allows opens a new one.`,
  );
  return lines.join('\n');
}
