import type { Logger } from 'pino';
import { CLUSTER_CONCURRENCY, type ClusterPool } from '../cluster/connect.js';
import { planApp } from '../cluster/plan.js';
import { detectDrift, type DriftEntry } from '../diff/drift.js';
import { finishCheck, startCheck } from '../github/checks.js';
import { fetchRevision } from '../github/tarball.js';
import type { Octokit } from '../github/types.js';
import { driftDetected } from '../metrics.js';
import type { DeployJob } from '../queue/jobs.js';
import { render } from '../render/index.js';
import type { ExtractLimits } from '../source/extract.js';
import { readConfig } from './common.js';
import { errorText } from '../errors.js';
import { driftFields } from '../report/markdown.js';
import { driftEvent, type NotifyEvent } from '../notify/events.js';
import { checkRunUrl } from '../github/checks.js';

export const DRIFT_CHECK = 'mergeops / drift';

export type DeployedApp = DeployJob & { app: string };

export interface DriftFinding {
  app: string;
  sha: string;
  drift: DriftEntry[];
  healed: boolean;
}

export interface DriftDeps {
  github(installationId: number): Promise<Octokit>;
  clusters: ClusterPool;
  limits: ExtractLimits;
  log: Logger;
  deployedApps(): Promise<DeployedApp[]>;
  isLatestDeploy(job: DeployJob): Promise<boolean>;
  enqueueHeal(job: DeployJob): Promise<void>;
  /** Operator notifications (drift detected); queued, never throws. */
  notify?(events: NotifyEvent[]): Promise<void>;
}

/**
 * Compares every deployed app's live objects with its last deployed commit's render
 * (dry-run, so defaults don't count). Drift is logged, counted and reported as a check
 * run on that commit; apps with `selfHeal: true` get their commit re-applied.
 */
export async function runDriftScan(deps: DriftDeps): Promise<DriftFinding[]> {
  const deployed = await deps.deployedApps();
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
  const repo = { owner: first.owner, repo: first.repo };
  const octokit = await deps.github(first.installationId);
  const checkout = await fetchRevision(octokit, repo, first.sha, deps.limits);
  const out: DriftFinding[] = [];
  try {
    const config = await readConfig(checkout.dir, first.defaultBranch);
    if ('problem' in config) return out;
    for (const d of group) {
      const app = config.apps.find((a) => a.name === d.app);
      if (!app) continue;
      const cluster = await deps.clusters.get(app.cluster);
      // Forced: drift is what Git winning would revert, whatever the app's conflicts setting.
      const plan = await planApp(cluster, app, await render(app, checkout.dir), { repoId: d.repoId, repo: `${d.owner}/${d.repo}`, app: app.name }, { concurrency: CLUSTER_CONCURRENCY, orphans: false, force: true });
      const drift = detectDrift(plan.objects, plan.ours).filter((e) => e.fields.length > 0);
      if (drift.length === 0) continue;
      const heal = app.selfHeal && (await deps.isLatestDeploy(d));
      driftDetected.inc({ app: app.name, cluster: app.cluster, healed: String(heal) }, drift.length);
      log.warn({ app: app.name, objects: drift.map((e) => `${e.ref}: ${e.fields.map((f) => f.path).join(', ')}`), selfHeal: heal }, 'drift detected');
      const check = await startCheck(octokit, repo, DRIFT_CHECK, d.sha);
      await finishCheck(octokit, repo, check.id, {
        conclusion: 'neutral',
        title: `Drift in ${app.name}: ${drift.length} object${drift.length > 1 ? 's differ' : ' differs'} from this commit${heal ? '; re-applying (selfHeal)' : ''}`,
        summary: drift.map((e) => `- \`${e.ref}\`: ${driftFields(e, 're-applying')}`).join('\n'),
        text: '',
        annotations: [],
      });
      await deps.notify?.([driftEvent({ repo: `${d.owner}/${d.repo}`, app: app.name, cluster: app.cluster, sha: d.sha, drift, healing: heal, url: checkRunUrl(octokit, repo, check.id) })]);
      if (heal) await deps.enqueueHeal({ ...d, reason: 'self-heal' });
      out.push({ app: app.name, sha: d.sha, drift, healed: heal });
    }
    return out;
  } finally {
    await checkout.remove();
  }
}
