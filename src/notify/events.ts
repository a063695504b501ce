import { countChanges } from '../cluster/changes.js';
import type { DriftEntry } from '../diff/drift.js';
import { appProblems, appSucceeded, type AppDeployReport, type DeployReport } from '../report/deploy.js';

/** What an operator can be told about; receivers subscribe to any of them. */
export const NOTIFY_EVENTS = ['deploy.failed', 'deploy.succeeded', 'drift.detected', 'drift.healed'] as const;
export type NotifyEventKind = (typeof NOTIFY_EVENTS)[number];

/**
 * One thing that happened to one app. References and the API server's words only: no
 * manifests, no Secret values (drift names Secret keys, never their data), so the event
 * can sit in Redis until its receiver answers.
 */
export interface NotifyEvent {
  kind: NotifyEventKind;
  /** `owner/name`. */
  repo: string;
  app: string;
  cluster: string;
  /** The environment of an (app, environment) unit, when the repository has environments. */
  environment?: string;
  sha: string;
  branch?: string;
  /** One line, what happened: "deploy of web failed: 1 object not healthy". */
  title: string;
  /** The objects concerned and why, in the server's words. */
  objects: { ref: string; message: string }[];
  /** The check run or PR that has the details. */
  url?: string;
  pullRequest?: number;
  /** ISO 8601, when mergeops saw it. */
  at: string;
}

const MAX_OBJECTS = 20;
const MAX_MESSAGE = 500;

function clip(s: string): string {
  return s.length <= MAX_MESSAGE ? s : `${s.slice(0, MAX_MESSAGE - 1)}…`;
}

/** One event per app of a deploy: failed or succeeded (a held app, or one waiting for its soak or approval, is neither). */
export function deployEvents(r: DeployReport, opts: { url?: string; pullRequest?: number; healing?: boolean; at?: Date }): NotifyEvent[] {
  const at = (opts.at ?? new Date()).toISOString();
  return r.apps
    .filter((a) => !a.held && !a.waiting)
    .map((a) => {
      const ok = appSucceeded(a);
      const problems = appProblems(a);
      const e: NotifyEvent = {
        kind: ok ? (opts.healing ? 'drift.healed' : 'deploy.succeeded') : 'deploy.failed',
        repo: r.repo,
        app: a.app,
        cluster: a.cluster,
        sha: r.sha,
        title: ok ? successTitle(a, opts.healing === true) : `deploy of ${a.app} failed: ${problems.length} problem${problems.length === 1 ? '' : 's'}${problems[0] ? ` (${clip(problems[0].message).slice(0, 120)})` : ''}`,
        objects: problems.slice(0, MAX_OBJECTS).map((p) => ({ ref: p.ref ?? a.app, message: clip(p.message) })),
        at,
      };
      if (r.branch) e.branch = r.branch;
      if (a.environment) e.environment = a.environment;
      if (opts.url) e.url = opts.url;
      if (opts.pullRequest !== undefined) e.pullRequest = opts.pullRequest;
      return e;
    });
}

function successTitle(a: AppDeployReport, healing: boolean): string {
  const c = a.applied && countChanges(a.applied.changes);
  const counts = c ? `${c.created} created, ${c.configured} configured, ${c.deleted} pruned` : 'nothing to apply';
  return healing ? `drift in ${a.app} healed: Git re-applied (${counts})` : `deployed ${a.app}: ${counts}`;
}

export function driftEvent(d: { repo: string; app: string; cluster: string; sha: string; drift: DriftEntry[]; healing: boolean; url?: string; at?: Date }): NotifyEvent {
  const n = d.drift.length;
  const e: NotifyEvent = {
    kind: 'drift.detected',
    repo: d.repo,
    app: d.app,
    cluster: d.cluster,
    sha: d.sha,
    title: `drift in ${d.app}: ${n} object${n === 1 ? ' differs' : 's differ'} from the deployed commit${d.healing ? '; re-applying Git (selfHeal)' : ''}`,
    objects: d.drift.slice(0, MAX_OBJECTS).map((x) => ({
      ref: x.ref,
      message: clip(x.fields.map((f) => (f.live !== undefined || f.git !== undefined ? `${f.path}: live ${f.live ?? '(unset)'}, Git ${f.git ?? '(unset)'}` : f.path)).join('; ')),
    })),
    at: (d.at ?? new Date()).toISOString(),
  };
  if (d.url) e.url = d.url;
  return e;
}
