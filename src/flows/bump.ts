import { errorText } from '../errors.js';
import type { Logger } from 'pino';
import { REPO_CONFIG_PATH, parseRepoConfig, type ImageRule, type RepoConfig } from '../config/repo-config.js';
import { ConfigError } from '../config/validate.js';
import { openRevision, type Revision } from '../engine/revision.js';
import { collectImageFiles } from '../images/files.js';
import { RegistryFacts } from '../images/facts.js';
import { planBump, type BumpTarget, type ImageFile } from '../images/plan.js';
import { normaliseRepository, sameRepository } from '../images/reference.js';
import type { BuildInfo, ImageDatasource, RegistryRateLimitError } from '../images/registry/datasource.js';
import { bumpBody, bumpBranch, bumpTitle } from '../report/bump.js';
import type { FileChange, RepoHost, RepoHosts } from './host.js';
import type { BumpJob, PreviewJob, RepoTarget, SyncJob } from './jobs.js';

export interface BumpDeps {
  hosts: RepoHosts;
  registry: ImageDatasource;
  log: Logger;
  /** Records the repo's `images:` (the flow has just read its config anyway). */
  syncImages(target: RepoTarget, rules: ImageRule[]): Promise<void>;
  /** The bump PR gets its preview at once, without waiting for GitHub's webhook. */
  enqueuePreview(job: PreviewJob): Promise<void>;
}

export interface BumpOutcome {
  key: string;
  base: string;
  /** declined: a PR for exactly this change was closed unmerged; it is not opened again. */
  result: 'opened' | 'updated' | 'unchanged' | 'current' | 'declined';
  pr?: number;
}

/** The PR group of a rule: its `pullRequest.group`, else the image itself. */
const keyOf = (r: ImageRule): string => r.pullRequest.group ?? r.repository;

/**
 * One image for one repo: read the config at the default branch, ask the registry for
 * tags, pick per policy, edit the files, then open or update the group's bump PR. Running
 * it twice for the same build changes nothing (equal trees are not pushed again).
 */
export async function runBump(job: BumpJob, deps: BumpDeps): Promise<BumpOutcome[]> {
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, image: job.repository, flow: 'image-bump' });
  const host = await deps.hosts(job);
  const head = await host.branchHead(job.defaultBranch);
  if (!head) {
    log.warn({ branch: job.defaultBranch }, 'default branch not found; nothing to bump');
    return [];
  }
  const revisions = new Map<string, { sha: string; revision: Revision }>();
  const revisionOf = async (branch: string, sha?: string): Promise<{ sha: string; revision: Revision } | null> => {
    const known = revisions.get(branch);
    if (known) return known;
    const at = sha ?? (await host.branchHead(branch));
    if (!at) return null;
    const c = { sha: at, revision: await openRevision(() => host.revision(at), job.defaultBranch) };
    revisions.set(branch, c);
    return c;
  };
  try {
    const main = await revisionOf(job.defaultBranch, head);
    if (!main) return [];
    if (!main.revision.ok) {
      // The preview's check run shows the same problem on the PR that caused it.
      log.warn({ problem: main.revision.problem.message }, 'the default branch does not read (refused archive or invalid config); no image bump until it is fixed');
      return [];
    }
    const config = main.revision.config;
    await deps.syncImages(job, config.images);
    const keys = [...new Set(config.images.filter((rule) => sameRepository(rule.repository, job.repository)).map(keyOf))];
    if (keys.length === 0) log.info('no images: rule of this repo names the image any more');
    const registry = new RegistryFacts(deps.registry, job, log);
    const outcomes: BumpOutcome[] = [];
    for (const key of keys) {
      const rules = config.images.filter((rule) => keyOf(rule) === key);
      for (const [base, baseRules] of byBaseBranch(config, rules)) {
        const c = await revisionOf(base);
        if (!c) {
          log.warn({ base }, 'an app deploys from a branch that does not exist; skipping it');
          continue;
        }
        if (!c.revision.ok) {
          log.warn({ base, problem: c.revision.problem.message }, 'this branch does not read; skipping it');
          continue;
        }
        const dir = c.revision.dir;
        const entries: { rule: ImageRule; target: BumpTarget; files: ImageFile[] }[] = [];
        for (const { rule, apps } of baseRules) {
          const target = await registry.target(rule);
          if (!target) continue;
          entries.push({ rule, target, files: await collectImageFiles(dir, config.apps.filter((a) => apps.includes(a.name)), rule) });
        }
        const plan = planBump(entries);
        if (plan.files.length === 0) {
          log.info({ key, base }, 'images are current; no pull request');
          outcomes.push({ key, base, result: 'current' });
          continue;
        }
        const builds = new Map<string, BuildInfo>();
        // The running build too, for the compare link; a tag gone from the registry just means no link.
        const previous = new Map<string, BuildInfo>();
        for (const change of plan.changes) {
          builds.set(change.repository, await deps.registry.buildInfo(normaliseRepository(change.repository), change.to.split('@')[0] ?? change.to));
          const fromTag = change.from.length === 1 ? change.from[0]?.split('@')[0] : undefined;
          if (fromTag) previous.set(change.repository, await deps.registry.buildInfo(normaliseRepository(change.repository), fromTag).catch((err: unknown): BuildInfo => {
            log.info({ image: change.repository, tag: fromTag, err: errorText(err) }, 'running build not described by the registry; no compare link');
            return {};
          }));
        }
        const title = bumpTitle(plan, key);
        const body = bumpBody(plan, builds, job.events.map((e) => e.source), previous);
        const branch = bumpBranch(key, base, job.defaultBranch);
        const outcome = await upsertPullRequest(host, { branch, base, baseSha: c.sha, title, body, files: plan.files, labels: rules.flatMap((x) => x.pullRequest.labels), automerge: rules.some((x) => x.pullRequest.automerge) }, log);
        outcomes.push({ key, base, result: outcome.result, pr: outcome.pr });
        if (outcome.result === 'opened' || outcome.result === 'updated') {
          await deps.enqueuePreview({ ...prRef(job), pr: outcome.pr, headSha: outcome.headSha, baseRef: base, baseSha: c.sha, fromFork: false });
        }
        log.info({ key, base, pr: outcome.pr, result: outcome.result, title }, 'image bump pull request');
      }
    }
    return outcomes;
  } finally {
    for (const { revision } of revisions.values()) await revision.close();
  }
}

const prRef = (j: BumpJob): Pick<PreviewJob, 'installationId' | 'owner' | 'repo' | 'repoId' | 'defaultBranch'> => ({
  installationId: j.installationId,
  owner: j.owner,
  repo: j.repo,
  repoId: j.repoId,
  defaultBranch: j.defaultBranch,
});

/** Groups a key's rules by the branch their apps deploy from: one PR per base branch. */
function byBaseBranch(config: RepoConfig, rules: ImageRule[]): Map<string, { rule: ImageRule; apps: string[] }[]> {
  const out = new Map<string, { rule: ImageRule; apps: string[] }[]>();
  for (const rule of rules) {
    const perBase = new Map<string, string[]>();
    for (const app of config.apps.filter((a) => rule.apps.includes(a.name))) perBase.set(app.branch, [...(perBase.get(app.branch) ?? []), app.name]);
    for (const [base, apps] of perBase) out.set(base, [...(out.get(base) ?? []), { rule, apps }]);
  }
  return out;
}

export interface PullRequestDraft {
  branch: string;
  base: string;
  baseSha: string;
  title: string;
  body: string;
  files: FileChange[];
  labels: string[];
  automerge: boolean;
}

/** Opens the draft's pull request, or updates the open one on its branch (a tree already there is not pushed again). */
export async function upsertPullRequest(host: RepoHost, d: PullRequestDraft, log: Logger): Promise<{ result: 'opened' | 'updated' | 'unchanged' | 'declined'; pr: number; headSha: string }> {
  const open = await host.findOpenPullRequest(d.branch);
  if (!open) {
    // Renovate's rule: a closed bump is a "no" to that version; a newer build asks again.
    const declined = await host.findDeclinedPullRequest(d.branch, d.title);
    if (declined !== null) return { result: 'declined', pr: declined, headSha: '' };
  }
  const commit = await host.commitFiles(d.baseSha, d.files, `${d.title}\n\nmergeops image bump: ${d.files.map((f) => f.path).join(', ')}`);
  const current = await host.branchHead(d.branch);
  // Same content already on the branch: pushing again would only re-run CI and the preview.
  if (current && open && (await host.commitTree(current)).tree === commit.tree) return { result: 'unchanged', pr: open.number, headSha: current };
  await host.setBranch(d.branch, commit.sha, current !== null);
  if (open) {
    await host.updatePullRequest(open.number, { title: d.title, body: d.body });
    return { result: 'updated', pr: open.number, headSha: commit.sha };
  }
  const created = await host.createPullRequest({ title: d.title, head: d.branch, base: d.base, body: d.body });
  const labels = [...new Set(d.labels)];
  if (labels.length > 0) await host.addLabels(created.number, labels);
  if (d.automerge) {
    const refused = await host.enableAutoMerge(created);
    if (refused) log.warn({ pr: created.number, reason: refused }, 'could not enable auto-merge; allow it in the repository settings');
  }
  return { result: 'opened', pr: created.number, headSha: commit.sha };
}

/** Re-reads a repo's config into the watch index: on install and on default-branch pushes. */
export async function runSync(job: SyncJob, deps: Pick<BumpDeps, 'hosts' | 'log' | 'syncImages'>): Promise<number> {
  const host = await deps.hosts(job);
  const defaultBranch = job.defaultBranch ?? (await host.defaultBranch());
  const text = await host.readFile(REPO_CONFIG_PATH, job.sha ?? defaultBranch);
  let images: ImageRule[] = [];
  if (text !== null) {
    try {
      images = parseRepoConfig(text, defaultBranch).images;
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // The preview's check run reports the bad config; the index keeps what it had.
      deps.log.warn({ repo: `${job.owner}/${job.repo}`, err: err.message }, 'invalid config; image watch unchanged');
      return -1;
    }
  }
  await deps.syncImages({ installationId: job.installationId, owner: job.owner, repo: job.repo, repoId: job.repoId, defaultBranch }, images);
  return images.length;
}

/** A bump waits out a registry's 429 this often (each as long as its Retry-After asks) before it gives up. */
export const BUMP_RATE_LIMIT_WAITS = 5;
/** The longest one wait lasts, whatever Retry-After says: the next poll or build asks again anyway. */
const MAX_RATE_LIMIT_WAIT_MS = 3600_000;

/**
 * What a bump does when the registry answered 429: wait as long as it asked (the job is
 * delayed, not retried at once, so no request reaches the registry before Retry-After), or,
 * past its budget, give up with a line that says what happened and what happens next.
 */
export function onRegistryRateLimit(err: RegistryRateLimitError, waitsSoFar: number): { waitMs: number } | { giveUp: string } {
  if (waitsSoFar >= BUMP_RATE_LIMIT_WAITS) {
    return { giveUp: `${err.host} kept answering 429 Too Many Requests: waited ${waitsSoFar} times as its Retry-After asked, giving up on this bump; the next poll or registry event tries again` };
  }
  return { waitMs: Math.min(Math.max(err.retryAfterMs, 1000), MAX_RATE_LIMIT_WAIT_MS) };
}
