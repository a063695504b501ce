import type { Logger } from 'pino';
import { REPO_CONFIG_PATH, parseRepoConfig, type RepoConfig } from '../config/repo-config.js';
import { DEFAULTS_REPO } from '../config/defaults.js';
import { ConfigError } from '../config/validate.js';
import type { DeployReport } from '../report/deploy.js';
import { appSucceeded } from '../report/deploy.js';
import { DASHBOARD_LABEL, DASHBOARD_MARKER, formatDashboard, type DashboardDeploy, type DashboardPull, type DashboardUnit, type DashboardView, type UnitRecord, type UnitState } from '../report/dashboard.js';
import type { CommentIdStore, HostTarget, RepoHost } from './host.js';

/** Who may turn dashboards on: the operator for every repository, or each repository for itself. */
export type DashboardMode = 'off' | 'opt-in' | 'all';

export interface DashboardTarget extends HostTarget {
  defaultBranch: string;
}

/** An issue as the dashboard reads it back. */
export interface IssueInfo {
  number: number;
  body: string;
}

/** The GitHub side of the dashboard, beyond what every flow has: the issue and the PRs we opened. */
export interface DashboardHost extends Pick<RepoHost, 'target' | 'readFile' | 'configDefaults' | 'webUrl' | 'upsertPreviewComments'> {
  /** Our own open issue with `label` whose body holds `marker`, or null (never someone else's: the author is checked). */
  findIssue(label: string, marker: string): Promise<number | null>;
  createIssue(title: string, body: string, labels: string[]): Promise<number>;
  /** Writes the body; false when the issue is gone (deleted, transferred). */
  updateIssue(issue: number, body: string): Promise<boolean>;
  /** Open PRs from mergeops's own bump and rollback branches. */
  openPullsFromUs(): Promise<{ number: number; title: string; headRef: string }[]>;
}

export interface DashboardDrift {
  objects: number;
  fields: string[];
  checkUrl?: string;
  at: string;
}

/** What the dashboard reads of its own records (Redis; `queue/dashboard-state.ts`). */
export interface DashboardRecords {
  issue(repoId: number): Promise<number | null>;
  setIssue(repoId: number, issue: number): Promise<void>;
  changed(repoId: number, pages: string[]): Promise<boolean>;
  written(repoId: number, pages: string[]): Promise<void>;
  continuations(repoId: number): CommentIdStore;
  units(repoId: number): Promise<Map<string, { deployed?: UnitRecord; last?: UnitRecord }>>;
  deploys(repoId: number): Promise<DashboardDeploy[]>;
  drift(repoId: number): Promise<Map<string, DashboardDrift>>;
  actions(repoId: number): Promise<string[]>;
}

export interface DashboardDeps {
  host: DashboardHost;
  records: DashboardRecords;
  mode: DashboardMode;
  /** Every lock of the repository (`app` is a config app name, or `*` for all). */
  locks(repoId: number): Promise<{ app: string; by: string; reason: string; at: string }[]>;
  /** Commits waiting for an environment's promotion on `branch` (env approval gates): unit names, commit, role, since. */
  waiting?(repoId: number, branch: string): Promise<{ sha: string; units: string[]; role: string; since: string }[]>;
  /** The commit mergeops recorded a unit deployed at (before the dashboard kept its own records). */
  deployedSha(repoId: number, unit: string): Promise<string | null>;
  log: Logger;
  now?: () => Date;
}

export type RefreshOutcome = 'no-config' | 'off' | 'unchanged' | 'updated' | 'created';

export const DASHBOARD_TITLE = 'mergeops dashboard';

/** The config on the default branch (reviewed and merged), or null when it is missing or invalid. */
async function defaultBranchConfig(host: DashboardHost, ref: string, log: Logger): Promise<RepoConfig | null> {
  const text = await host.readFile(REPO_CONFIG_PATH, ref);
  if (text === null) return null;
  try {
    return parseRepoConfig(text, ref, await host.configDefaults(), { defaultsRepo: host.target.repo === DEFAULTS_REPO });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // The deploy and preview checks say what is wrong; the dashboard keeps its last state.
    log.info({ problem: err.message }, 'config on the default branch is invalid; dashboard left as it is');
    return null;
  }
}

export function dashboardEnabled(config: Pick<RepoConfig, 'dashboard'>, mode: DashboardMode): boolean {
  if (mode === 'off') return false;
  return config.dashboard ?? mode === 'all';
}

/**
 * Renders the repository's dashboard from what mergeops recorded and writes it when it
 * changed: into the issue it made before (its number remembered), else the one found by
 * label and marker among our own issues, else a new one. A table too long for one issue
 * continues in comments on it.
 */
export async function refreshDashboard(target: DashboardTarget, deps: DashboardDeps): Promise<RefreshOutcome> {
  const log = deps.log.child({ repo: `${target.owner}/${target.repo}`, flow: 'dashboard' });
  const config = await defaultBranchConfig(deps.host, target.defaultBranch, log);
  if (!config) return 'no-config';
  if (!dashboardEnabled(config, deps.mode)) return 'off';
  const view = await gather(target, config, deps);
  const pages = formatDashboard(view);
  const { records, host } = deps;
  if (!(await records.changed(target.repoId, pages))) return 'unchanged';
  let outcome: RefreshOutcome = 'updated';
  let issue = await records.issue(target.repoId);
  if (issue === null || !(await host.updateIssue(issue, pages[0] as string))) {
    // Never a second dashboard: look for ours before making one.
    issue = await host.findIssue(DASHBOARD_LABEL, DASHBOARD_MARKER);
    if (issue === null || !(await host.updateIssue(issue, pages[0] as string))) {
      issue = await host.createIssue(DASHBOARD_TITLE, pages[0] as string, [DASHBOARD_LABEL]);
      outcome = 'created';
    }
    await records.setIssue(target.repoId, issue);
  }
  const store = records.continuations(target.repoId);
  if (pages.length > 1 || ((await store.get()) ?? []).length > 0) await host.upsertPreviewComments(issue, pages.slice(1), store);
  await records.written(target.repoId, pages);
  log.info({ issue, pages: pages.length, outcome }, 'dashboard written');
  return outcome;
}

async function gather(target: DashboardTarget, config: RepoConfig, deps: DashboardDeps): Promise<DashboardView> {
  const [records, drift, deploys, actions, locks, pulls] = await Promise.all([
    deps.records.units(target.repoId),
    deps.records.drift(target.repoId),
    deps.records.deploys(target.repoId),
    deps.records.actions(target.repoId),
    deps.locks(target.repoId),
    deps.host.openPullsFromUs(),
  ]);
  const pending = new Map<string, { sha: string; role: string; since: string }>();
  for (const branch of [...new Set(config.apps.map((a) => a.branch))]) {
    for (const w of (await deps.waiting?.(target.repoId, branch)) ?? []) for (const u of w.units) pending.set(u, { sha: w.sha, role: w.role, since: w.since });
  }
  const units: DashboardUnit[] = [];
  for (const app of config.apps) {
    const rec = records.get(app.name) ?? {};
    const known = rec.deployed ?? (await legacyDeployed(target.repoId, app.name, deps));
    const lock = locks.find((l) => l.app === app.name) ?? locks.find((l) => l.app === '*');
    const d = drift.get(app.name);
    units.push({
      unit: app.name,
      app: app.unit?.app ?? app.name,
      ...(app.unit ? { environment: app.unit.environment } : {}),
      branch: app.branch,
      ...(known ? { deployed: known } : {}),
      ...(rec.last && (!rec.deployed || rec.last.at > rec.deployed.at) ? { last: rec.last } : {}),
      ...(d ? { drift: d } : {}),
      ...(lock ? { lock: { key: lock.app, by: lock.by, reason: lock.reason, at: lock.at } } : {}),
      ...(pending.has(app.name) ? { pending: pending.get(app.name) } : {}),
    });
  }
  return {
    repo: `${target.owner}/${target.repo}`,
    serverUrl: deps.host.webUrl(),
    at: (deps.now?.() ?? new Date()).toISOString(),
    environments: config.environments?.map((e) => e.name) ?? null,
    units,
    pulls: pulls.flatMap((p): DashboardPull[] => (p.headRef.startsWith('mergeops/bump/') ? [{ number: p.number, title: p.title, kind: 'bump' }] : p.headRef.startsWith('mergeops/rollback-') ? [{ number: p.number, title: p.title, kind: 'rollback' }] : [])),
    deploys,
    actions,
  };
}

/** A unit deployed before the dashboard kept records: its commit, without when or which PR. */
async function legacyDeployed(repoId: number, unit: string, deps: DashboardDeps): Promise<UnitRecord | undefined> {
  const sha = await deps.deployedSha(repoId, unit);
  return sha ? { sha, at: '', state: 'healthy' } : undefined;
}

/** One deploy's line for the dashboard, from its report: each unit it applied (or held, or could not start) and how. */
export function dashboardDeploy(report: DeployReport, job: { sha: string; branch: string }, at: string, pr: number | null, checkUrl: string): DashboardDeploy | null {
  const units = report.apps.flatMap((a): { unit: string; state: UnitState }[] => {
    if (a.notDeployed) return [];
    // An app this push did not change has no result: it is not this deploy's to show.
    if (!a.held && !a.notStarted && !a.applied && a.problems.length === 0) return [];
    const state: UnitState = a.held ? 'held' : a.notStarted ? 'not-started' : appSucceeded(a) ? 'healthy' : 'failed';
    return [{ unit: a.app, state }];
  });
  if (units.length === 0 && report.problems.length === 0) return null;
  return { sha: job.sha, branch: job.branch, at, checkUrl, units, ...(pr !== null ? { pr } : {}) };
}
