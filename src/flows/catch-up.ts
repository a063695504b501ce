import type { Logger } from 'pino';
import { headMissed } from '../engine/deployed.js';
import { errorText } from '../errors.js';
import type { DeployedApp } from './drift.js';
import type { RepoHosts } from './host.js';
import type { DeployJob } from './jobs.js';

/** One entry of GitHub's list of the app's webhook deliveries (`GET /app/hook/deliveries`). */
export interface HookDelivery {
  /** This attempt's id (a redelivery gets a new one). */
  id: number;
  /** The event's id (`X-GitHub-Delivery`), shared by every attempt to deliver it. */
  guid: string;
  deliveredAtMs: number;
  /** GitHub's word on the attempt: "OK" when our server answered 2xx. */
  status: string;
  event: string;
  installationId: number | null;
}

export interface CatchUpDeps {
  hosts: RepoHosts;
  log: Logger;
  /** The app's deliveries, newest first, at least back to `sinceMs` (one page more is fine). */
  deliveries(sinceMs: number): Promise<HookDelivery[]>;
  /** Asks GitHub to send this delivery again (paced as a GitHub write). */
  redeliver(d: HookDelivery): Promise<void>;
  /** True the first time an event (guid) is asked for again: one redelivery per event. */
  firstRedelivery(guid: string): Promise<boolean>;
  /** When the last catch-up started (epoch ms), or null on the first ever; records `nowMs`. */
  swapLastRun(nowMs: number): Promise<number | null>;
  deployedApps(): Promise<DeployedApp[]>;
  /**
   * Deploys a branch head nobody deployed; false when that commit is already queued or a
   * newer push is recorded. `seenAtMs` is when GitHub said it was the head.
   */
  enqueueDeploy(job: DeployJob, seenAtMs: number): Promise<boolean>;
  /** How far back deliveries are redelivered at most (GitHub keeps them three days). */
  lookbackMs: number;
  /** The catch-up interval: a run lists back to the previous run's start, plus this margin. */
  intervalMs: number;
}

export interface CatchUpOutcome {
  /** Delivery ids asked for again. */
  redelivered: number[];
  /** Branch heads enqueued for deploy, as `owner/repo@branch:sha7`. */
  deployed: string[];
}

/**
 * What mergeops does after it was down: GitHub does not redeliver a webhook on its own, so
 * it asks for every event whose deliveries all failed (once per event; see failedEvents
 * for which), and — for what even
 * that misses (a delivery older than GitHub keeps, a redelivery that failed too) — reads
 * each deployed branch's head and deploys it where no app of the branch is at it yet.
 * Redeliveries go first, so a missed push arrives as itself (with its changed files).
 */
export async function runCatchUp(deps: CatchUpDeps, now = Date.now()): Promise<CatchUpOutcome> {
  const log = deps.log.child({ flow: 'catch-up' });
  const last = await deps.swapLastRun(now);
  const since = Math.max(now - deps.lookbackMs, last === null ? 0 : last - deps.intervalMs);
  const redelivered: number[] = [];
  for (const d of failedEvents(await deps.deliveries(since), since, now)) {
    if (!(await deps.firstRedelivery(d.guid))) continue;
    try {
      await deps.redeliver(d);
      redelivered.push(d.id);
    } catch (err) {
      log.warn({ delivery: d.id, event: d.event, err: errorText(err) }, 'GitHub refused to redeliver a failed webhook delivery; the branch check below still catches up pushes');
    }
  }
  if (redelivered.length) log.info({ deliveries: redelivered.length }, 'asked GitHub to redeliver webhooks that failed while mergeops was unreachable');
  const deployed = await deployMissedHeads(deps, log);
  return { redelivered, deployed };
}

/**
 * Events that carry state mergeops must catch up on whenever they arrive: a push or
 * a pull request still decides what deploys or what the preview shows, an installation
 * change what mergeops may see, a package publish what a bump proposes, a merge group a
 * check the merge queue waits for.
 */
const STATE_EVENTS: ReadonlySet<string> = new Set(['push', 'pull_request', 'installation', 'installation_repositories', 'registry_package', 'merge_group']);
/**
 * Events that carry someone's request (a `/mergeops` comment, a check run's button):
 * asked for again only while the person may still be waiting for the answer. A command
 * from hours ago must not run now, when whatever it was about has moved on (a `deploy` or
 * `rollback` of then is not what anyone wants now).
 */
const REQUEST_EVENTS: ReadonlySet<string> = new Set(['issue_comment', 'check_run']);
export const REQUEST_REDELIVERY_MAX_AGE_MS = 10 * 60_000;

/**
 * The events to ask for again: one delivery per guid, the newest, for guids none of whose
 * attempts succeeded, delivered since `sinceMs` (as GitHub's own redelivery script does);
 * only events that carry state, and requests no older than REQUEST_REDELIVERY_MAX_AGE_MS.
 */
export function failedEvents(list: HookDelivery[], sinceMs: number, nowMs = Date.now()): HookDelivery[] {
  const byGuid = new Map<string, HookDelivery[]>();
  for (const d of list) byGuid.set(d.guid, [...(byGuid.get(d.guid) ?? []), d]);
  const out: HookDelivery[] = [];
  for (const attempts of byGuid.values()) {
    if (attempts.some((a) => a.status === 'OK')) continue;
    const newest = attempts.reduce((a, b) => (b.deliveredAtMs > a.deliveredAtMs ? b : a));
    if (newest.deliveredAtMs < sinceMs) continue;
    if (STATE_EVENTS.has(newest.event)) out.push(newest);
    else if (REQUEST_EVENTS.has(newest.event) && nowMs - Math.min(...attempts.map((a) => a.deliveredAtMs)) <= REQUEST_REDELIVERY_MAX_AGE_MS) out.push(newest);
  }
  return out.sort((a, b) => a.deliveredAtMs - b.deliveredAtMs);
}

/** One branch read per (repository, branch) some app deployed from, one at a time. */
async function deployMissedHeads(deps: CatchUpDeps, log: Logger): Promise<string[]> {
  const byBranch = new Map<string, DeployedApp[]>();
  for (const d of await deps.deployedApps()) {
    const key = `${d.repoId}\n${d.branch}`;
    byBranch.set(key, [...(byBranch.get(key) ?? []), d]);
  }
  const out: string[] = [];
  for (const apps of byBranch.values()) {
    const first = apps[0] as DeployedApp;
    const name = `${first.owner}/${first.repo}@${first.branch}`;
    try {
      const seenAt = Date.now();
      const head = await (await deps.hosts(first)).branchHead(first.branch);
      if (head === null || !headMissed(apps.map((a) => a.sha), head)) continue;
      const { app: _app, apps: _apps, reason: _reason, changes: _changes, checkRun: _checkRun, ...target } = first;
      // Where every app of the branch stands at one commit, the deploy asks GitHub what
      // changed since (the compare API) and applies only the apps that touches; else all.
      const from = new Set(apps.map((a) => a.sha));
      const changes = from.size === 1 ? { changes: { before: first.sha } } : {};
      if (await deps.enqueueDeploy({ ...target, sha: head, reason: 'push', ...changes }, seenAt)) {
        out.push(`${name}:${head.slice(0, 7)}`);
        log.info({ repo: `${first.owner}/${first.repo}`, branch: first.branch, sha: head.slice(0, 7), deployed: first.sha.slice(0, 7) }, 'branch head was never deployed (a push missed while mergeops was down); deploying it');
      }
    } catch (err) {
      // One repository's trouble (deleted, app uninstalled) must not stop the others.
      log.warn({ repo: name, err: errorText(err) }, 'could not read the branch head to catch up');
    }
  }
  return out;
}
