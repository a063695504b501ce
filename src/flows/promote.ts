import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { safeRelativePath, type App, type Environment, type RepoConfig } from '../config/repo-config.js';
import { configBase, openRevision, type Revision } from '../engine/revision.js';
import { collectImageFiles } from '../images/files.js';
import { planPromotion, promotedRepositories, type PromotedCopy, type PromotedImage, type PromotionPlan } from '../images/promote.js';
import { sameRepository } from '../images/reference.js';
import { upsertPullRequest, type BumpDeps } from './bump.js';
import type { RepoHost } from './host.js';
import type { PromoteJob } from './jobs.js';

export type PromoteDeps = Pick<BumpDeps, 'hosts' | 'log' | 'enqueuePreview'>;

export interface PromoteOutcome {
  app: string;
  branch: string;
  /** current: the target already equals the source (a stale pull request is closed). */
  result: 'opened' | 'updated' | 'unchanged' | 'declined' | 'current' | 'closed';
  pr?: number;
}

/** `mergeops/promote/<app>/<environment>`: one pull request per app and target environment, updated as the source moves on. */
export function promotionBranch(app: string, environment: string): string {
  return `mergeops/promote/${app}/${environment}`;
}

export const PROMOTION_MARKER = '<!-- mergeops:promote -->';

/**
 * A promotion, once the source environment is healthy (and soaked) at `job.sha`: for each
 * app in both environments whose files differ per environment, the source environment's
 * image tags (read at the healthy commit) and listed files are written into the target
 * environment's folder (at the branch head, the pull request's base) with the image bump's
 * minimal edits, and one pull request per app and environment is opened or updated. Where
 * nothing differs any more, an open promotion pull request is closed with a word why.
 * Running it twice for the same commit changes nothing.
 */
export async function runPromotion(job: PromoteJob, deps: PromoteDeps): Promise<PromoteOutcome[]> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, environment: job.environment, sha: job.sha.slice(0, 7), flow: 'promote' });
  const host = await deps.hosts(job);
  const head = await host.branchHead(job.branch);
  if (!head) {
    log.warn({ branch: job.branch }, 'branch not found; nothing to promote');
    return [];
  }
  const configs = configBase(host);
  const opened: Revision[] = [];
  const open = async (sha: string): Promise<Revision> => {
    const r = await openRevision(() => host.revision(sha), job.defaultBranch, undefined, configs);
    opened.push(r);
    return r;
  };
  try {
    const base = await open(head);
    if (!base.ok) {
      log.warn({ problem: base.problem.message }, 'the branch head does not read; no promotion until it is fixed');
      return [];
    }
    const env = base.config.environments?.find((e) => e.name === job.environment);
    if (!env?.promote) {
      log.info('the environment is not promoted by pull request (any more); nothing to do');
      return [];
    }
    const source = head === job.sha ? base : await open(job.sha);
    if (!source.ok) {
      log.warn({ problem: source.problem.message }, 'the healthy commit does not read; no promotion');
      return [];
    }
    const outcomes: PromoteOutcome[] = [];
    for (const pair of promotedPairs(base.config, env, job.branch)) {
      const plan = await planFor(pair, base.config, env, source.dir, base.dir);
      outcomes.push(await proposePromotion(host, job, env, pair, plan, head, deps, log));
    }
    return outcomes;
  } finally {
    for (const r of opened) await r.close();
  }
}

interface UnitPair {
  app: string;
  source: App;
  target: App;
}

/**
 * The apps a promotion into `env` moves: each with a unit in both environments on `branch`.
 * Units sharing one folder have nothing to carry (the merge moves them); they are left out.
 */
export function promotedPairs(config: RepoConfig, env: Environment, branch: string): UnitPair[] {
  const from = env.promote?.from;
  const out: UnitPair[] = [];
  for (const target of config.apps) {
    if (target.unit?.environment !== env.name || target.branch !== branch) continue;
    const source = config.apps.find((a) => a.unit?.app === target.unit?.app && a.unit?.environment === from);
    if (source && source.path !== target.path) out.push({ app: target.unit.app, source, target });
  }
  return out;
}

async function planFor(pair: UnitPair, config: RepoConfig, env: Environment, sourceDir: string, targetDir: string): Promise<PromotionPlan> {
  // Every unit of this app a rule names, whatever environments the rule bumps.
  const unitNames = config.apps.filter((a) => a.unit?.app === pair.app).map((a) => a.name);
  const rules = config.images.filter((r) => r.apps.some((u) => unitNames.includes(u)));
  const everything = await collectImageFiles(sourceDir, [pair.source], { repository: 'mergeops.invalid/none' });
  const images: PromotedImage[] = [];
  for (const repository of promotedRepositories(rules.map((r) => r.repository), everything)) {
    const rule = rules.find((r) => sameRepository(r.repository, repository));
    const which = { repository, ...(rule?.helmKeys ? { helmKeys: rule.helmKeys } : {}) };
    images.push({ ...which, source: await collectImageFiles(sourceDir, [pair.source], which), target: await collectImageFiles(targetDir, [pair.target], which) });
  }
  const copies: PromotedCopy[] = [];
  for (const f of env.promote?.files ?? []) {
    const s = safeRelativePath(path.posix.join(pair.source.path, f), 'promote.files');
    const t = safeRelativePath(path.posix.join(pair.target.path, f), 'promote.files');
    copies.push({ source: { path: s, text: await readText(sourceDir, s) }, target: { path: t, text: await readText(targetDir, t) } });
  }
  return planPromotion(images, copies);
}

/** A repository file's text; null when missing or not a regular file (a symlink is never followed or written). */
async function readText(dir: string, rel: string): Promise<string | null> {
  const abs = path.join(dir, rel);
  const st = await fs.lstat(abs).catch(() => null);
  return st?.isFile() ? fs.readFile(abs, 'utf8') : null;
}

const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;

export function promotionTitle(pair: Pick<UnitPair, 'app'>, env: Pick<Environment, 'name'>, plan: PromotionPlan): string {
  const [only] = plan.images;
  if (plan.images.length === 1 && only && plan.copied.length === 0) return `Promote ${pair.app} to ${env.name}: ${only.repository} ${only.from.join(', ')} → ${only.to}`;
  const parts = [plan.images.length && `${plan.images.length} image${plan.images.length === 1 ? '' : 's'}`, plan.copied.length && `${plan.copied.length} file${plan.copied.length === 1 ? '' : 's'}`].filter(Boolean);
  return `Promote ${pair.app} to ${env.name} (${parts.join(', ')})`;
}

function promotionBody(pair: UnitPair, env: Environment, plan: PromotionPlan, job: PromoteJob): string {
  const from = env.promote?.from as string;
  const lines = [
    PROMOTION_MARKER,
    `Promotes ${code(pair.app)} from **${from}** to **${env.name}**: ${from} deployed ${job.sha.slice(0, 7)} and stayed healthy${env.soakMs > 0 ? ' through its soak' : ''}; this carries what it runs into ${code(pair.target.path)}.`,
    '',
  ];
  if (plan.images.length) {
    lines.push(`| Image | ${env.name} now | ${from} (carried) |`, '|---|---|---|', ...plan.images.map((m) => `| ${code(m.repository)} | ${m.from.map(code).join(', ')} | ${code(m.to)} |`), '');
  }
  lines.push('**Files changed** (only the tag characters of image fields; listed files copied whole)', ...plan.files.map((f) => `- ${code(f.path)}${plan.copied.includes(f.path) ? ` (copied from ${code(path.posix.join(pair.source.path, path.posix.relative(pair.target.path, f.path)))})` : ` (${f.fields} field${f.fields === 1 ? '' : 's'})`}`));
  if (plan.notes.length) lines.push('', '**Not carried**', ...plan.notes.map((n) => `- ${n}`));
  lines.push(
    '',
    `Merging applies ${code(env.name)} only (its files are the only ones this changes); the preview shows what it changes in ${code(env.name)}'s cluster. mergeops updates this pull request when ${from} moves on, and closes it once ${env.name} matches.`,
  );
  return lines.join('\n');
}

async function proposePromotion(host: RepoHost, job: PromoteJob, env: Environment, pair: UnitPair, plan: PromotionPlan, head: string, deps: PromoteDeps, log: Logger): Promise<PromoteOutcome> {
  const branch = promotionBranch(pair.app, env.name);
  if (plan.files.length === 0) {
    // The target runs what the source runs (someone promoted by hand, or a newer promotion merged): a pull request still open is stale.
    const stale = await host.findOpenPullRequest(branch);
    if (!stale) {
      log.info({ app: pair.app }, 'target environment already matches its source; no promotion pull request');
      return { app: pair.app, branch, result: 'current' };
    }
    await host.comment(stale.number, `${env.name} now runs what ${env.promote?.from} runs at ${job.sha.slice(0, 7)} (${code(pair.target.path)} matches), so this promotion is no longer needed; mergeops closes it. A later change in ${env.promote?.from} opens a new one.`);
    await host.closePullRequest(stale.number);
    log.info({ app: pair.app, pr: stale.number }, 'stale promotion pull request closed');
    return { app: pair.app, branch, result: 'closed', pr: stale.number };
  }
  const title = promotionTitle(pair, env, plan);
  const body = promotionBody(pair, env, plan, job);
  const outcome = await upsertPullRequest(host, { branch, base: pair.target.branch, baseSha: head, title, body, files: plan.files.map((f) => ({ path: f.path, text: f.text })), labels: [], automerge: false }, log);
  if (outcome.result === 'opened' || outcome.result === 'updated') {
    await deps.enqueuePreview({ installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, defaultBranch: job.defaultBranch, pr: outcome.pr, headSha: outcome.headSha, baseRef: pair.target.branch, baseSha: head, fromFork: false });
  }
  log.info({ app: pair.app, pr: outcome.pr, result: outcome.result, title }, 'promotion pull request');
  return { app: pair.app, branch, result: outcome.result, pr: outcome.pr };
}
