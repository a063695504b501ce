import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { CHECK_NAMES } from '../check-names.js';
import { clusterNameOf } from '../config/repo-config.js';
import type { DriftEntry } from '../diff/drift.js';
import { appKey, type AppEngine } from '../engine/engine.js';
import { configBase, openRevision } from '../engine/revision.js';
import { errorText } from '../errors.js';
import { appLabel, driftDetected } from '../metrics.js';
import { formatDriftCheck } from '../report/drift.js';
import type { RepoHosts } from './host.js';
import type { DeployJob } from './jobs.js';
import { driftEvent, type NotifyEvent } from '../notify/events.js';
import type { DashboardDrift } from './dashboard.js';

export type DeployedApp = DeployJob & { app: string };

export interface DriftFinding {
  app: string;
  sha: string;
  drift: DriftEntry[];
  healed: boolean;
}

export interface DriftDeps {
  hosts: RepoHosts;
  engine: AppEngine;
  log: Logger;
  deployedApps(): Promise<DeployedApp[]>;
  isLatestDeploy(job: DeployJob): Promise<boolean>;
  enqueueHeal(job: DeployJob): Promise<void>;
  /** Operator notifications (drift detected); queued, never throws. */
  notify?(events: NotifyEvent[]): Promise<void>;
  /**
   * The drift each app was last alerted for (check run, notification), so one drift is
   * alerted once however many compares see it; absent: every compare alerts.
   */
  alerts?: DriftAlerts;
  /** The deploy dashboard's record of an app's drift (null: back to Git, or being healed). */
  dashboard?(d: DeployedApp, drift: DashboardDrift | null): Promise<void>;
}

export interface DriftAlerts {
  /** True when `fingerprint` is not the drift last alerted for this app (and records it). */
  first(d: DeployedApp, fingerprint: string): Promise<boolean>;
  /** The app is back to Git (or is being healed): the same drift later is a new one. */
  clear(d: DeployedApp): Promise<void>;
}

/**
 * `repoId/app`, by the name the cluster knows (`web.staging`): how a drift check names the
 * apps it is limited to — the watches report objects' labels, deploy records keep the name
 * people read (`web · staging`); both come here.
 */
export function driftAppKey(d: Pick<DeployedApp, 'repoId' | 'app'>): string {
  return `${d.repoId}/${clusterNameOf(d.app)}`;
}

/**
 * Compares every deployed app's live objects with its last deployed commit's render
 * (dry-run, so defaults don't count). Drift is logged, counted and reported as a check
 * run on that commit; apps with `selfHeal: true` get their commit re-applied.
 */
export async function runDriftScan(deps: DriftDeps, only?: ReadonlySet<string>): Promise<DriftFinding[]> {
  const deployed = (await deps.deployedApps()).filter((d) => !only || only.has(driftAppKey(d)));
  const byCommit = new Map<string, DeployedApp[]>();
  for (const d of deployed) {
    const key = `${d.repoId}@${d.sha}`;
    byCommit.set(key, [...(byCommit.get(key) ?? []), d]);
  }
  const findings: DriftFinding[] = [];
  for (const group of byCommit.values()) {
    const first = group[0] as DeployedApp;
    const log = deps.log.child({ repo: `${first.owner}/${first.repo}`, sha: first.sha.slice(0, 7), flow: 'drift' });
    try {
      findings.push(...(await scanCommit(group, deps, log)));
    } catch (err) {
      // One repo's trouble (deleted repo, unreachable cluster) must not stop the others.
      log.warn({ err: errorText(err) }, 'drift scan of this commit failed');
    }
  }
  return findings;
}

async function scanCommit(group: DeployedApp[], deps: DriftDeps, log: Logger): Promise<DriftFinding[]> {
  const first = group[0] as DeployedApp;
  const host = await deps.hosts(first);
  const revision = await openRevision(() => host.revision(first.sha), first.defaultBranch, undefined, configBase(host));
  const out: DriftFinding[] = [];
  try {
    if (!revision.ok) {
      log.warn({ problem: revision.problem.message }, 'the deployed commit does not read any more; drift not checked');
      return out;
    }
    for (const d of group) {
      const app = revision.config.apps.find((a) => a.name === d.app);
      if (!app) continue;
      const drift = await deps.engine.drift({ app, dir: revision.dir, key: appKey(d.repoId, `${d.owner}/${d.repo}`, app) }, { log });
      if (drift.length === 0) {
        await deps.alerts?.clear(d);
        await deps.dashboard?.(d, null);
        continue;
      }
      const heal = app.selfHeal && (await deps.isLatestDeploy(d));
      driftDetected.inc({ app: appLabel.of(app.name), cluster: app.cluster, healed: String(heal) }, drift.length);
      log.warn({ app: app.name, objects: drift.map((e) => `${e.ref}: ${e.fields.map((f) => f.path).join(', ')}`), selfHeal: heal }, 'drift detected');
      // The cluster first: the heal goes before GitHub hears of the drift. Only this app:
      // its neighbours on the commit may have drift nobody asked to revert.
      if (heal) await deps.enqueueHeal({ ...d, reason: 'self-heal', apps: [app.name] });
      out.push({ app: app.name, sha: d.sha, drift, healed: heal });
      // Healed, the app is back to Git: the same hand edit again is a new drift. Kept, the
      // drift is alerted once, not again by every compare that still sees it.
      if (heal) {
        await deps.alerts?.clear(d);
        await deps.dashboard?.(d, null);
      } else if (deps.alerts && !(await deps.alerts.first(d, driftFingerprint(d.sha, drift)))) continue;
      const check = await host.startCheck(CHECK_NAMES.drift, d.sha);
      await host.finishCheck(check.id, formatDriftCheck(app.name, drift, heal));
      if (!heal) await deps.dashboard?.(d, { objects: drift.length, fields: drift.flatMap((e) => e.fields.map((f) => `${e.ref} ${f.path}`)).slice(0, 5), checkUrl: host.checkRunUrl(check.id), at: new Date().toISOString() });
      await deps.notify?.([driftEvent({ repo: `${d.owner}/${d.repo}`, app: app.name, cluster: app.cluster, sha: d.sha, drift, healing: heal, url: host.checkRunUrl(check.id) })]);
    }
    return out;
  } finally {
    await revision.close();
  }
}

/** One drift: the commit it differs from and every differing field with its live value. */
export function driftFingerprint(sha: string, drift: DriftEntry[]): string {
  return crypto.createHash('sha256').update(JSON.stringify([sha, drift])).digest('hex').slice(0, 32);
}
