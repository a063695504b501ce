import type { RepoConfig } from '../config/repo-config.js';
import { actionLine, boxId, unitToken, type BoxRef } from '../report/dashboard.js';
import type { CommandJob, CommandRepo } from './jobs.js';
import { ALL_APPS } from './locks.js';
import { readConfig, runDashboardCommand, type BoxCommand, type CommandDeps } from './run.js';

/** Boxes one edit may tick that are acted on; more is someone ticking everything at once. */
export const MAX_BOXES_PER_EDIT = 20;

/** Someone ticked boxes of the dashboard issue (one `issues.edited` delivery). */
export interface DashboardActionJob extends CommandRepo {
  kind: 'action';
  actor: string;
  issue: number;
  boxes: BoxRef[];
  /** The webhook delivery: a redelivered edit is the same job. */
  delivery: string;
}

export interface DashboardActionDeps extends CommandDeps {
  /** Whether the repository has a dashboard at all (its config, the operator's setting). */
  enabled(config: RepoConfig): boolean;
  /** True when box `id` was acted on already (the same box ticked again, or an old page). */
  actedOn(repoId: number, id: string): Promise<boolean>;
  /** Claims box `id`: true the first time only. */
  firstAction(repoId: number, id: string): Promise<boolean>;
  /** Adds a "who did what" line to the dashboard. */
  recordAction(repoId: number, line: string): Promise<void>;
}

export interface DashboardActionsOutcome {
  acted: number;
  refused: number;
  /** Boxes acted on before, for another state, or in a repository without a dashboard. */
  ignored: number;
}

/**
 * The boxes one edit ticked, each run as the command it stands for under the command
 * rules (config from the default branch, grants, permission), acted on once: a box already
 * acted on is passed over without a word, so a second tick (or a redelivery) does nothing
 * twice. Every decision leaves a line in the dashboard, whose next render unticks the box.
 */
export async function runDashboardActions(job: DashboardActionJob, deps: DashboardActionDeps): Promise<DashboardActionsOutcome> {
  const out: DashboardActionsOutcome = { acted: 0, refused: 0, ignored: 0 };
  const config = await readConfig(deps.host, job.defaultBranch);
  if (config === null || 'problem' in config || !deps.enabled(config)) {
    out.ignored = job.boxes.length;
    deps.log.info({ repo: `${job.owner}/${job.repo}`, issue: job.issue }, 'dashboard edit in a repository without a (valid) config or dashboard; ignored');
    return out;
  }
  const now = (): string => new Date((deps.now ?? Date.now)()).toISOString();
  for (const [i, box] of job.boxes.slice(0, MAX_BOXES_PER_EDIT).entries()) {
    const id = boxId(box);
    if (await deps.actedOn(job.repoId, id)) {
      out.ignored++;
      continue;
    }
    const cmdJob: CommandJob & { source: { kind: 'dashboard' } } = {
      installationId: job.installationId,
      owner: job.owner,
      repo: job.repo,
      repoId: job.repoId,
      defaultBranch: job.defaultBranch,
      actor: job.actor,
      source: { kind: 'dashboard', issue: job.issue, tag: `${job.delivery}-${i}`.replace(/[^A-Za-z0-9-]/g, '').slice(0, 80) },
    };
    const command = await commandOf(box, config, job, deps);
    const result = 'refusal' in command ? { ok: false, text: command.refusal } : await runDashboardCommand(cmdJob, config, command, deps, () => deps.firstAction(job.repoId, id));
    if (result === null) {
      out.ignored++;
      continue;
    }
    if (result.ok) out.acted++;
    else out.refused++;
    await deps.recordAction(job.repoId, actionLine(now(), job.actor, box, result.ok, result.text));
  }
  out.ignored += Math.max(0, job.boxes.length - MAX_BOXES_PER_EDIT);
  return out;
}

/** The command a box stands for, or why it cannot stand for one any more (its state moved on). */
async function commandOf(box: BoxRef, config: RepoConfig, job: DashboardActionJob, deps: DashboardActionDeps): Promise<BoxCommand | { refusal: string }> {
  const byToken = new Map(config.apps.map((a) => [unitToken(a.name), a.name]));
  switch (box.kind) {
    case 'unlock': {
      const app = box.target === ALL_APPS ? ALL_APPS : byToken.get(box.target);
      if (app === undefined) return { refusal: `no app \`${box.target}\` in the config any more` };
      const lock = app === ALL_APPS ? (await deps.locks.list(job.repoId)).find((l) => l.app === ALL_APPS) : await deps.locks.lockOf(job.repoId, app);
      // The lock this box was drawn for: a newer lock (someone locked again) is not lifted by an old box.
      if (!lock || String(Date.parse(lock.at)) !== box.version || (app !== ALL_APPS && lock.app !== app)) return { refusal: 'that lock is not held any more (the dashboard shows the locks now held)' };
      return { name: 'unlock', apps: app === ALL_APPS ? 'all' : [app] };
    }
    case 'redeploy': {
      const app = byToken.get(box.target);
      if (app === undefined) return { refusal: `no app \`${box.target}\` in the config any more` };
      return { name: 'deploy', apps: [app] };
    }
    case 'rerun': {
      const apps = box.version.split('+').map((t) => byToken.get(t));
      if (apps.some((a) => a === undefined) || !/^[0-9a-f]{40}$/.test(box.target)) return { refusal: 'the apps of that deploy are not in the config any more' };
      return { name: 'deploy', apps: apps as string[], rerun: box.target };
    }
    case 'approve':
      if (!/^[0-9a-f]{40}$/.test(box.version) || !config.environments?.some((e) => e.name === box.target)) return { refusal: `no environment \`${box.target}\` in the config any more` };
      return { name: 'promote', environment: box.target, sha: box.version };
  }
}
