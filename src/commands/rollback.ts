import { errorText } from '../errors.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { REPO_CONFIG_PATH, clusterAppName, parseRepoConfig, type App } from '../config/repo-config.js';
import type { Checkout } from '../source/checkout.js';
import { renderInputs } from '../render/index.js';
import { rollbackCandidates, rollbackFrom, type DeployRecord } from '../engine/deployed.js';
import type { CommandHost } from './host.js';
import { unitWords } from './parse.js';
import { describeChanges, inScope, planRollback, readScope, type TreeChange } from './rollback-plan.js';

export const ROLLBACK_LABELS = ['mergeops', 'rollback'];
/** Older successful deploys tried when the newest one has the same files as now. */
const MAX_CANDIDATES = 5;

export interface RollbackDeps {
  host: CommandHost;
  log: Logger;
  /** How many Deployments of the app to read. */
  history: number;
  /** mergeops' deploy record (engine/deployed.ts) and the repository it is read for. */
  record?: { repoId: number; store: DeployRecord };
  /** The revert PR gets its preview at once, without waiting for GitHub's webhook. */
  enqueuePreview(pr: number, headSha: string, baseRef: string, baseSha: string): Promise<void>;
}

export interface RollbackRequest {
  /** An explicit target commit (`rollback <app> to <sha>`). */
  to?: string | undefined;
  /** The commit being rolled back (the button's failed deploy); default: the app's newest deploy. */
  from?: string;
  actor: string;
  /** Where the request came from, for the PR body. */
  via: string;
  /**
   * The app's units in its other environments, when `app` is one environment of it: files
   * their renders read too are shared, and a rollback of one environment never writes them.
   */
  siblings?: App[];
}

export type RollbackResult = { ok: true; message: string; pr: number } | { ok: false; message: string };

/**
 * Git is the truth, so a rollback is a pull request: the app's files — its path and
 * whatever its render read (kustomize bases, Helm values files) — as they were at the
 * previous successful deploy, written on top of the branch head through the Git Data API.
 * "Previous successful deploy" comes from GitHub Deployments (environment = app name),
 * which the deploy flow writes for the apps a push changed: the newest `success` at
 * another commit than the one deployed now (mergeops' own record of it, which pushes that
 * left the app alone move on too), skipping ones whose files equal today's; then the commit
 * a bootstrap first deployed the app at, which wrote it no Deployment.
 */
export async function rollbackApp(app: App, req: RollbackRequest, deps: RollbackDeps): Promise<RollbackResult> {
  const host = deps.host;
  const head = await host.branchHead(app.branch);
  if (!head) return { ok: false, message: `the branch \`${app.branch}\` that \`${app.name}\` deploys from does not exist` };
  let candidates: string[];
  if (req.to) {
    const full = await host.resolveCommit(req.to);
    if (!full) return { ok: false, message: `there is no commit ${req.to.slice(0, 7)} in this repository` };
    candidates = [full];
  } else {
    const history = await host.deploymentHistory(app.name, deps.history);
    const from = req.from ?? (await rollbackFrom(app.name, deps.record, history));
    candidates = (await rollbackCandidates(app.name, deps.record, history, from)).slice(0, MAX_CANDIDATES);
    if (candidates.length === 0) {
      return { ok: false, message: `no successful deploy of \`${app.name}\` before ${from ? from.slice(0, 7) : 'now'} is recorded in GitHub Deployments; name the commit: \`/mergeops rollback ${unitWords(app.name)} to <sha>\`` };
    }
  }
  const now = await host.revision(head);
  // Files another environment of the app reads too, at the candidate and now, are that environment's as well.
  const siblingScopes = async (checkout: Checkout): Promise<string[]> => (await Promise.all((req.siblings ?? []).map((s) => inputsOr(s, checkout, deps.log)))).flat();
  let sharedOnly: { target: string; shared: TreeChange[] } | null = null;
  try {
    const nowInputs = await inputsOr(app, now, deps.log);
    const nowShared = await siblingScopes(now);
    for (const target of candidates) {
      let checkout: Checkout;
      try {
        checkout = await host.revision(target);
      } catch (err) {
        if ((err as { status?: number }).status === 404 || (err as { status?: number }).status === 422) return { ok: false, message: `there is no commit ${target.slice(0, 7)} in this repository` };
        throw err;
      }
      try {
        const targetApp = await appAt(checkout, app);
        if (!targetApp) {
          if (req.to) return { ok: false, message: `\`${app.name}\` is not in ${REPO_CONFIG_PATH} at ${target.slice(0, 7)}; pick a commit where it was configured` };
          continue;
        }
        const scopes = [...new Set([...nowInputs, ...(await inputsOr(targetApp, checkout, deps.log))])];
        const all = planRollback(scopes, await readScope(checkout.dir, scopes), await readScope(now.dir, scopes));
        const sharedScopes = [...nowShared, ...(await siblingScopes(checkout))];
        const shared = all.filter((c) => inScope(c.path, sharedScopes));
        const changes = all.filter((c) => !shared.includes(c));
        if (changes.length === 0 && shared.length > 0) {
          sharedOnly ??= { target, shared };
          if (req.to) return { ok: false, message: sharedRefusal(app, req, target, shared) };
          deps.log.info({ app: app.name, target: target.slice(0, 7) }, 'only files shared with other environments differ at this deploy; trying an older one');
          continue;
        }
        if (changes.length === 0) {
          if (req.to) return { ok: false, message: `\`${app.name}\`'s files at ${target.slice(0, 7)} are the same as on \`${app.branch}\` now; nothing to roll back` };
          deps.log.info({ app: app.name, target: target.slice(0, 7) }, 'files equal at this deploy; trying an older one');
          continue;
        }
        return await openRevert(app, head, target, changes, req, deps, shared);
      } finally {
        await checkout.remove();
      }
    }
    if (sharedOnly) return { ok: false, message: sharedRefusal(app, req, sharedOnly.target, sharedOnly.shared) };
    return { ok: false, message: `\`${app.name}\`'s files at its earlier successful deploys (${candidates.map((c) => c.slice(0, 7)).join(', ')}) equal today's; name a commit: \`/mergeops rollback ${unitWords(app.name)} to <sha>\`` };
  } finally {
    await now.remove();
  }
}

/**
 * Why one environment cannot be rolled back alone: what differs is read by its other
 * environments too (a shared base or folder), so restoring it would move them as well.
 */
function sharedRefusal(app: App, req: RollbackRequest, target: string, shared: TreeChange[]): string {
  const others = (req.siblings ?? []).map((s) => `\`${s.unit?.environment ?? s.name}\``).join(', ');
  const files = shared.slice(0, 5).map((c) => `\`${c.path}\``).join(', ') + (shared.length > 5 ? ` and ${shared.length - 5} more` : '');
  return `what differs between now and ${target.slice(0, 7)} (the previous deploy of \`${app.name}\`) is shared with ${others || 'its other environments'} (${files}); restoring it here would roll those back too, so no pull request was opened. Roll back each environment that reads it, or revert the change that altered it`;
}

async function openRevert(app: App, head: string, target: string, changes: ReturnType<typeof planRollback>, req: RollbackRequest, deps: RollbackDeps, shared: TreeChange[] = []): Promise<RollbackResult> {
  const short = target.slice(0, 7);
  // `web.prod-eu` for one environment of an app: a branch name holds no spaces.
  const branch = `mergeops/rollback-${clusterAppName(app)}-${short}`;
  const open = await deps.host.findOpenPullRequest(branch);
  if (open) return { ok: true, pr: open.number, message: `a pull request rolling \`${app.name}\` back to ${short} is open already: #${open.number}` };
  const title = `Roll back ${app.name} to ${short}`;
  const body = [
    `Restores the files of \`${app.name}\` (its path \`${app.path}\` and everything its render reads${req.siblings?.length ? ' that is its environment\'s own' : ''}) to commit ${target}${req.to ? '' : ', its previous successful deploy'}.`,
    '',
    ...describeChanges(changes),
    ...(shared.length
      ? ['', `Left as they are, because ${(req.siblings ?? []).map((s) => `\`${s.unit?.environment ?? s.name}\``).join(', ') || 'other environments'} read${(req.siblings ?? []).length === 1 ? 's' : ''} them too (restoring them would roll those environments back as well):`, ...shared.map((c) => `- \`${c.path}\``)]
      : []),
    '',
    `Requested by @${req.actor} through ${req.via}. Merging deploys it like any other change; the preview below shows what it will change in the cluster.`,
  ].join('\n');
  const host = deps.host;
  const commit = await host.commitChanges(head, changes, title);
  // A branch left from an earlier, closed rollback to the same commit is ours to move.
  await host.setBranch(branch, commit, (await host.branchHead(branch)) !== null);
  const created = await host.createPullRequest({ title, head: branch, base: app.branch, body });
  await host.addLabels(created.number, ROLLBACK_LABELS);
  const automerge = (await host.allowsAutoMerge()) ? await host.enableAutoMerge(created) : 'the repository does not allow auto-merge (Settings → General → Allow auto-merge)';
  const pr = { number: created.number, url: created.url, headSha: commit, automerge };
  await deps.enqueuePreview(pr.number, pr.headSha, app.branch, head);
  deps.log.info({ app: app.name, target: short, pr: pr.number, files: changes.length }, 'rollback pull request opened');
  const auto = pr.automerge === null ? 'Auto-merge is on: it merges once the required checks pass.' : `Auto-merge is off: ${pr.automerge}.`;
  return { ok: true, pr: pr.number, message: `Opened #${pr.number} rolling \`${app.name}\` back to ${short} (${changes.length} file${changes.length === 1 ? '' : 's'}). ${auto}` };
}

async function appAt(checkout: Checkout, app: App): Promise<App | undefined> {
  const text = await fs.readFile(path.join(checkout.dir, REPO_CONFIG_PATH), 'utf8').catch(() => null);
  if (text === null) return undefined;
  try {
    return parseRepoConfig(text, app.branch).apps.find((a) => a.name === app.name);
  } catch {
    return undefined;
  }
}

/** A revision whose kustomization no longer parses still has its app folder to restore. */
async function inputsOr(app: App, checkout: Checkout, log: Logger): Promise<string[]> {
  try {
    return await renderInputs(app, checkout.dir);
  } catch (err) {
    log.info({ app: app.name, err: errorText(err) }, 'render inputs unknown at this revision; restoring the app folder only');
    return [app.path];
  }
}
