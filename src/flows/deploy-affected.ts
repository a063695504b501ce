import type { Logger } from 'pino';
import { REPO_CONFIG_PATH, parseRepoConfig, type App } from '../config/repo-config.js';
import { affectedApps, scanInputs, type ChangedFiles } from '../engine/affected.js';
import { deployedAtPushBase } from '../engine/deployed.js';
import { appsOn, type ConfigBase } from '../engine/revision.js';
import { errorText } from '../errors.js';
import type { RepoHost } from './host.js';
import type { DeployJob } from './jobs.js';

export interface PushScope {
  /** The apps this push deploys. */
  apps: App[];
  /** Apps the push cannot have changed, already deployed at the commit before it. */
  unchanged: App[];
  /** Set when every app deploys because the changed files could not be trusted: why. */
  fallback?: string;
  /** The files the push changed, when that list is complete (what decides whether it moves a promoted environment). */
  changed?: string[];
}

/**
 * Which apps a push deploys: those its changed files affect (`affectedApps`), plus any app
 * whose last successful deploy was not the commit the push started from (never deployed,
 * failed, held): for those the push's file list does not cover what the cluster lacks.
 * The file list is the job's (from the push payload), or the compare API's `before...sha`
 * when the job carries none; every app deploys when neither can be trusted.
 */
export async function pushScope(job: DeployJob, host: RepoHost, dir: string, apps: App[], configs: ConfigBase, lastDeployed: (app: string) => Promise<string | null>, log: Logger): Promise<PushScope> {
  const all = (fallback: string): PushScope => {
    log.info({ reason: fallback }, 'changed files not trusted; deploying every app');
    return { apps, unchanged: [], fallback };
  };
  const c = job.changes;
  if (!c) return all('the push carried no file list');
  if ('untrusted' in c) return all(c.untrusted);
  let changed: ChangedFiles;
  if (c.paths) changed = { complete: true, paths: c.paths };
  else {
    changed = await host.changedFiles(c.before, job.sha).catch((err: unknown): ChangedFiles => {
      log.warn({ err: errorText(err) }, 'compare API failed');
      return { complete: false, reason: `GitHub's compare API failed (${(err as { status?: number }).status ?? 'no answer'})` };
    });
  }
  if (!changed.complete) return all(changed.reason);
  // The config did not change: the entries at `before` are these. Else read them (one GET).
  let baseApps: App[] | null = apps;
  if (changed.paths.includes(REPO_CONFIG_PATH)) {
    const text = await host.readFile(REPO_CONFIG_PATH, c.before).catch(() => null);
    try {
      baseApps = text === null ? [] : appsOn(parseRepoConfig(text, job.defaultBranch, await configs.defaults, { defaultsRepo: configs.defaultsRepo }), job.branch);
    } catch {
      baseApps = null;
    }
  }
  const decision = affectedApps({ apps, baseApps, changed, inputs: await scanInputs(apps, dir) });
  if (decision.fallback !== undefined) return all(decision.fallback);
  const deploy = [...decision.affected];
  const unchanged: App[] = [];
  for (const app of decision.unaffected) {
    const at = await lastDeployed(app.name);
    if (deployedAtPushBase(at, c.before, job.sha)) unchanged.push(app);
    else {
      decision.why.set(app.name, at === null ? 'never deployed' : `last deployed at ${at.slice(0, 7)}, not at the push's parent`);
      deploy.push(app);
    }
  }
  log.info({ files: changed.paths.length, deploy: deploy.map((a) => `${a.name}: ${decision.why.get(a.name)}`), unchanged: unchanged.map((a) => a.name) }, 'affected apps decided');
  // Keep config order: CRD-first ordering across apps is the config's.
  return { apps: apps.filter((a) => deploy.includes(a)), unchanged, changed: changed.paths };
}
