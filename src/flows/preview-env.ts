import type { Logger } from 'pino';
import type { ClusterPool, Cluster } from '../cluster/connect.js';
import { annotatePreview, deletePreviewEnvironment, ensurePreviewNamespace, listPreviewEnvironments, readNamespace, recordOf, type PreviewEnvRecord, type PreviewStart } from '../cluster/preview-namespace.js';
import type { PreviewGrant } from '../config/clusters.js';
import type { RepoCaps } from '../config/caps.js';
import { configAppName, type App, type PreviewEnvironmentSpec } from '../config/repo-config.js';
import type { AppEngine } from '../engine/engine.js';
import { PREVIEW_DENY_KINDS, PREVIEW_ENV_LABEL, fillTemplate, placeInNamespace, previewApp, previewKey, previewNamespaceName, type RefusedObject } from '../engine/preview-env.js';
import { renderTarget } from '../engine/engine.js';
import { UserError, errorText, toProblem } from '../errors.js';
import { matchesAny } from '../policy/grants.js';
import { previewEnvironments as previewEnvGauge } from '../metrics.js';
import type { RepoHost } from './host.js';
import type { PreviewJob } from './jobs.js';

/** What the preview comment says of one app's environment. */
export interface PreviewEnvLine {
  app: string;
  cluster: string;
  namespace: string;
  state: 'starting' | 'ready' | 'failed' | 'refused';
  url?: string;
  /** Why it failed or was refused, as the user reads it. */
  message?: string;
  /** Objects of the render the environment does not hold (cluster-scoped, a fork's Secrets). */
  refused?: RefusedObject[];
}

/** One app's environment to bring up on this job. */
export interface WantedEnvironment {
  /** The app as the head checkout renders it (a fork's: with the base branch's target keys). */
  app: App;
  /** From the base branch's config: where the environment runs is never the PR's to say. */
  spec: PreviewEnvironmentSpec;
  startedBy: PreviewStart;
}

/**
 * The apps of a PR that get a preview environment on this job. The environment's settings
 * come from the base branch (an app the base does not give one gets none); the render from
 * the head. A fork's PR never gets one automatically (label or `always`), only by a
 * writer's `/mergeops env up` (`job.previewEnv === 'up'`); an environment a command started
 * on a same-repository PR follows its pushes.
 */
export function wantedEnvironments(job: PreviewJob, headApps: App[], baseApps: App[], running: PreviewEnvRecord[]): WantedEnvironment[] {
  if (job.mergeGroup || job.pr <= 0) return [];
  const base = new Map(baseApps.map((a) => [configAppName(a), a]));
  const out: WantedEnvironment[] = [];
  const seen = new Set<string>();
  for (const app of headApps) {
    const name = configAppName(app);
    const spec = base.get(name)?.previewEnvironment;
    if (!spec || seen.has(name)) continue;
    let startedBy: PreviewStart | null = null;
    if (job.previewEnv === 'up') startedBy = 'command';
    else if (!job.fromFork && spec.when === 'always') startedBy = 'always';
    else if (!job.fromFork && job.labels?.includes(PREVIEW_ENV_LABEL)) startedBy = 'label';
    else if (!job.fromFork && running.some((r) => r.app === name && r.startedBy === 'command')) startedBy = 'command';
    if (startedBy === null) continue;
    seen.add(name);
    out.push({ app, spec, startedBy });
  }
  return out;
}

/** The preview grant covering `namespace` for `repo` on the cluster; a refusal that says what the operator must add. */
export function previewGrantFor(cluster: Pick<Cluster, 'target'>, repo: string, namespace: string): PreviewGrant {
  const grants = cluster.target.grants;
  const name = cluster.target.name;
  if (grants === null) throw new UserError(`preview environments run only where the operator granted them: cluster "${name}" has no policy (MERGEOPS_CLUSTERS), so no grant names previewNamespaces`);
  const mine = grants.filter((g) => matchesAny(g.repos, repo));
  const grant = mine.map((g) => g.preview).find((p) => p !== undefined && matchesAny(p.namespaces, namespace));
  if (grant) return grant;
  const allowed = mine.flatMap((g) => g.preview?.namespaces ?? []);
  throw new UserError(
    `namespace "${namespace}" is not a preview namespace granted to ${repo} on cluster "${name}" (previewNamespaces: ${allowed.join(', ') || 'none'}); ask the operator to add previewNamespaces to the grant in MERGEOPS_CLUSTERS, or change previewEnvironment.namespace`,
  );
}

/**
 * The caps on a new environment: per repository and in total on the cluster, counted from
 * the cluster's preview namespaces. Null when there is room; otherwise the refusal, naming
 * the environments in use (`3 of 3 preview environments in use: #12, #15, #19`).
 */
export function capRefusal(grant: Pick<PreviewGrant, 'maxPerRepository' | 'maxTotal'>, running: PreviewEnvRecord[], repoId: number, repo: string, cluster: string): string | null {
  const mine = running.filter((r) => r.repoId === repoId);
  const prs = (rs: PreviewEnvRecord[], withRepo: boolean): string =>
    [...new Set(rs.map((r) => (withRepo ? `${r.repo}#${r.pr}` : `#${r.pr}`)))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).join(', ');
  if (mine.length >= grant.maxPerRepository) {
    return `${mine.length} of ${grant.maxPerRepository} preview environments in use: ${prs(mine, false)} (${repo} on cluster "${cluster}"); close one of those pull requests or run /mergeops env down there`;
  }
  if (running.length >= grant.maxTotal) {
    return `${running.length} of ${grant.maxTotal} preview environments in use on cluster "${cluster}": ${prs(running, true)}; one must end before another starts`;
  }
  return null;
}

export interface PreviewEnvDeps {
  clusters: ClusterPool;
  engine: AppEngine;
  log: Logger;
  caps?: RepoCaps;
  now?(): number;
}

/** The environment's GitHub Deployment environment name: one per PR and app. */
export function deploymentEnvironment(pr: number, app: string): string {
  return `preview/pr-${pr}-${app}`;
}

/**
 * Brings one app's environment up (or updates it) at the PR's head: the namespace and its
 * guards as mergeops, then the render — every namespaced object moved into the namespace,
 * cluster-scoped ones refused — applied as the namespace's ServiceAccount, with prune, then
 * the health wait. The cluster first; GitHub hears of it after (see reportEnvironment).
 */
export async function bringUp(job: PreviewJob, want: WantedEnvironment, dir: string, deps: PreviewEnvDeps): Promise<PreviewEnvLine> {
  const name = configAppName(want.app);
  const log = deps.log.child({ repo: `${job.owner}/${job.repo}`, pr: job.pr, app: name, flow: 'preview-env' });
  const line: PreviewEnvLine = { app: name, cluster: want.spec.cluster, namespace: '', state: 'failed' };
  const repo = `${job.owner}/${job.repo}`;
  try {
    const namespace = previewNamespaceName(want.spec, job.pr, name);
    line.namespace = namespace;
    if (want.spec.url) line.url = fillTemplate(want.spec.url, { number: job.pr, app: name, namespace });
    const cluster = await deps.clusters.get(want.spec.cluster);
    const grant = previewGrantFor(cluster, repo, namespace);
    const liveNs = await readNamespace(cluster, namespace);
    const live = liveNs ? recordOf(cluster.target.name, liveNs) : null;
    if (!liveNs) {
      const refusal = capRefusal(grant, await listPreviewEnvironments(cluster), job.repoId, repo, cluster.target.name);
      if (refusal) {
        log.info({ namespace, refusal }, 'preview environment refused: cap reached');
        return { ...line, state: 'refused', message: refusal };
      }
    }
    const now = deps.now?.() ?? Date.now();
    const record: PreviewEnvRecord = {
      cluster: cluster.target.name,
      namespace,
      repo,
      repoId: job.repoId,
      pr: job.pr,
      app: name,
      installationId: job.installationId,
      createdAt: live?.createdAt ?? new Date(now).toISOString(),
      // Each push (or env up) starts the TTL again: it counts time without activity.
      expiresAt: new Date(now + want.spec.ttlMs).toISOString(),
      headSha: job.headSha,
      startedBy: live?.startedBy === 'command' ? 'command' : want.startedBy,
      fromFork: job.fromFork,
    };
    if (line.url) record.url = line.url;
    if (live?.deploymentId !== undefined) record.deploymentId = live.deploymentId;
    await ensurePreviewNamespace(cluster, record, grant);
    const app = previewApp(want.app, want.spec, job.pr, namespace);
    const rendered = await renderTarget(app, dir, deps.caps);
    const placed = await placeInNamespace(rendered, namespace, async (apiVersion, kind) => (await cluster.discovery.resolve(apiVersion, kind))?.namespaced, {
      refuseSecrets: job.fromFork,
      set: want.spec.set,
      vars: { number: job.pr, app: name, namespace },
    });
    if (placed.refused.length) line.refused = placed.refused;
    const applied = await deps.engine.apply(
      { app, dir, key: previewKey(job.repoId, repo, want.app, job.pr), commit: job.headSha, preview: { namespace, denyKinds: PREVIEW_DENY_KINDS } },
      { rendered: placed.objects, log },
    );
    const errors = applied.changes.filter((c) => c.action === 'failed');
    const first = errors[0];
    if (first) {
      log.info({ namespace, errors: errors.slice(0, 5).map((e) => `${e.ref}: ${e.reason}`) }, 'preview environment failed to apply');
      return { ...line, message: `${first.ref}: ${first.reason ?? 'failed'}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}` };
    }
    if (applied.health && !applied.health.healthy) {
      const u = applied.health.unhealthy[0];
      return { ...line, message: u ? `not healthy: ${u.ref}: ${u.reason}` : 'not healthy' };
    }
    log.info({ namespace, objects: placed.objects.length, refused: placed.refused.length }, 'preview environment ready');
    return { ...line, state: 'ready' };
  } catch (err) {
    let problem;
    try {
      problem = toProblem(err);
    } catch {
      throw err;
    }
    log.info({ err: errorText(err) }, 'preview environment failed');
    return { ...line, message: problem.message };
  }
}

/**
 * GitHub's side of an environment that was brought up: a Deployment of the head commit
 * (transient: it goes away with the PR) and its status with the environment's URL, so the
 * PR shows "View deployment". Its id goes on the namespace, for the teardown to mark inactive.
 */
export async function reportEnvironment(job: PreviewJob, line: PreviewEnvLine, host: RepoHost, deps: Pick<PreviewEnvDeps, 'clusters' | 'log'>, logUrl?: string): Promise<void> {
  if (line.state === 'refused' || !line.namespace) return;
  const id = await host.createDeployment(job.headSha, deploymentEnvironment(job.pr, line.app), `mergeops preview environment of #${job.pr} (${line.app})`, { transient: true });
  const description = line.state === 'ready' ? `ready in ${line.namespace}` : `failed: ${line.message ?? 'unknown'}`;
  await host.setDeploymentState(id, line.state === 'ready' ? 'success' : 'failure', description, logUrl, line.state === 'ready' ? line.url : undefined);
  try {
    await annotatePreview(await deps.clusters.get(line.cluster), line.namespace, { deployment: String(id) });
  } catch (err) {
    deps.log.warn({ err: errorText(err), namespace: line.namespace }, 'could not record the Deployment on the preview namespace');
  }
}

/** Why an environment goes away, as its Deployment's last status says. */
export type TeardownReason = 'closed' | 'label removed' | 'expired' | 'command' | 'pull request gone';

/**
 * Removes environments (namespace, inventory, Lease) and marks their Deployments inactive.
 * `host` may be null when GitHub cannot be asked (the installation is gone): the cluster is
 * cleaned all the same.
 */
export async function tearDown(records: PreviewEnvRecord[], reason: TeardownReason, deps: Pick<PreviewEnvDeps, 'clusters' | 'log'>, host: RepoHost | null): Promise<void> {
  for (const r of records) {
    const cluster = await deps.clusters.get(r.cluster);
    await deletePreviewEnvironment(cluster, r.namespace, { repoId: r.repoId, repo: r.repo, app: `${r.app}.pr-${r.pr}` });
    deps.log.info({ repo: r.repo, pr: r.pr, app: r.app, namespace: r.namespace, cluster: r.cluster, reason }, 'preview environment removed');
  }
  for (const r of records) {
    if (r.deploymentId === undefined || !host) continue;
    try {
      await host.setDeploymentState(r.deploymentId, 'inactive', `removed: ${reason}`);
    } catch (err) {
      deps.log.warn({ err: errorText(err), deployment: r.deploymentId }, 'could not mark the preview Deployment inactive');
    }
  }
}

/** The clusters where some grant allows preview environments: the ones the sweep and /metrics look at. */
export function previewClusters(clusters: ClusterPool, names: string[]): Promise<Cluster[]> {
  return Promise.all(names.map((n) => clusters.get(n))).then((cs) => cs.filter((c) => c.target.grants?.some((g) => g.preview !== undefined)));
}

/** Every environment of one PR (optionally of some apps), on every cluster that allows them. */
export async function environmentsOf(clusters: Cluster[], repoId: number, pr: number, apps?: string[]): Promise<PreviewEnvRecord[]> {
  const all = (await Promise.all(clusters.map((c) => listPreviewEnvironments(c)))).flat();
  return all.filter((r) => r.repoId === repoId && r.pr === pr && (!apps || apps.includes(r.app)));
}

export interface SweepDeps extends Pick<PreviewEnvDeps, 'clusters' | 'log' | 'now'> {
  clusterNames: string[];
  /** The host of a record's repository; null when the installation cannot reach it any more. */
  host(r: PreviewEnvRecord): Promise<RepoHost | null>;
}

/**
 * The sweep: every environment past its TTL goes, and so does every one whose PR is closed,
 * gone, or (label-started) no longer labelled — events missed during an outage included.
 * It also sets the `/metrics` gauge of running environments and their age. Returns what it removed.
 */
export async function sweepEnvironments(deps: SweepDeps): Promise<PreviewEnvRecord[]> {
  const now = deps.now?.() ?? Date.now();
  const removed: PreviewEnvRecord[] = [];
  const clusters = await previewClusters(deps.clusters, deps.clusterNames);
  previewEnvGauge.reset();
  for (const cluster of clusters) {
    const running = await listPreviewEnvironments(cluster);
    for (const r of running) {
      const host = await deps.host(r).catch(() => null);
      let reason: TeardownReason | null = null;
      if (r.expiresAt && Date.parse(r.expiresAt) <= now) reason = 'expired';
      else if (host?.pullRequestState) {
        const pr = await host.pullRequestState(r.pr).catch((err: unknown) => {
          deps.log.warn({ err: errorText(err), repo: r.repo, pr: r.pr }, 'could not read the pull request of a preview environment; kept');
          return undefined;
        });
        if (pr === null) reason = 'pull request gone';
        else if (pr && !pr.open) reason = 'closed';
        else if (pr && r.startedBy === 'label' && !pr.labels.includes(PREVIEW_ENV_LABEL)) reason = 'label removed';
      }
      if (reason) {
        await tearDown([r], reason, deps, host);
        removed.push(r);
      }
    }
    for (const r of running.filter((x) => !removed.includes(x))) {
      previewEnvGauge.set({ cluster: r.cluster, namespace: r.namespace, repo: r.repo, pr: String(r.pr), app: r.app }, Math.max(0, (now - Date.parse(r.createdAt)) / 1000));
    }
  }
  return removed;
}

/** `/mergeops env extend`: each environment of the PR lives `ms` longer (from now when its time is up already). */
export async function extendEnvironments(clusters: Cluster[], repoId: number, pr: number, ms: number, now = Date.now()): Promise<{ app: string; namespace: string; expiresAt: string }[]> {
  const out: { app: string; namespace: string; expiresAt: string }[] = [];
  for (const r of await environmentsOf(clusters, repoId, pr)) {
    const from = Math.max(now, Date.parse(r.expiresAt) || now);
    const expiresAt = new Date(from + ms).toISOString();
    await annotatePreview(clusters.find((c) => c.target.name === r.cluster) as Cluster, r.namespace, { expiresAt });
    out.push({ app: r.app, namespace: r.namespace, expiresAt });
  }
  return out;
}
