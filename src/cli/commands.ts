import fs from 'node:fs';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { PRUNE_OFF, countChanges, refsOf, wroteAny } from '../cluster/changes.js';
import { loadClusterTargets } from '../config/clusters.js';
import { REPO_CONFIG_PATH, type App, type RepoConfig } from '../config/repo-config.js';
import { diffPlan } from '../diff/diff.js';
import { detectDrift } from '../diff/drift.js';
import { CHECK_LABELS, analyzeRollout, type RolloutEntry } from '../diff/rollout.js';
import type { ObjectDiff } from '../diff/types.js';
import { renderTarget, type AppTarget, type Engine } from '../engine/engine.js';
import { readConfig } from '../engine/revision.js';
import { RenderError, errorText } from '../errors.js';
import { objectRef, type RenderedObject } from '../objects.js';
import { checkGrants } from '../policy/grants.js';
import { ToolError } from '../render/exec.js';
import { detectKind } from '../render/index.js';
import { formatComment } from '../report/comment.js';
import { appLine, appProblems, appSucceeded, type AppDeployReport } from '../report/deploy.js';
import type { AppReport, PreviewReport } from '../report/types.js';
import { dumpYaml } from '../yaml.js';
import { CliError, type Parsed } from './arguments.js';
import { oneLine, problemLine } from './messages.js';
import { formatUnified, wantsColor } from './unified.js';

export interface CliIo {
  stdout(s: string): void;
  stderr(s: string): void;
  env: NodeJS.ProcessEnv;
  /** Whether stdout is a terminal (colour, like kubectl diff through a pager). */
  isTTY?: boolean;
}

export async function loadConfig(dir: string): Promise<RepoConfig> {
  const st = await fs.promises.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new CliError(`${dir} is not a folder; pass --dir with your checkout's root`);
  if (!(await fs.promises.stat(path.join(dir, REPO_CONFIG_PATH)).catch(() => null))) {
    throw new CliError(`no ${REPO_CONFIG_PATH} in ${dir}; run mergeops from your checkout's root or pass --dir`);
  }
  const config = await readConfig(dir, 'main');
  if ('problem' in config) throw new CliError(`${REPO_CONFIG_PATH}: ${config.problem.message}; fix it and run again`);
  return config;
}

export function pickApp(config: RepoConfig, args: Parsed): App {
  const names = config.apps.map((a) => a.name).join(', ');
  if (!args.app) throw new CliError(`missing the app name: mergeops ${args.command} <app> (apps in ${REPO_CONFIG_PATH}: ${names})`);
  const app = config.apps.find((a) => a.name === args.app);
  if (!app) throw new CliError(`no app named "${args.app}" in ${REPO_CONFIG_PATH}; apps: ${names}`);
  return app;
}

/** YAML files under the app's folder (what a plain app renders from). */
function yamlFiles(root: string): number {
  let n = 0;
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (/\.ya?ml$/.test(e.name)) n++;
    }
  };
  if (fs.existsSync(root)) walk(root);
  return n;
}

/** Renders the app; an empty render says why on stderr, since it would prune nothing or refuse. */
export async function renderApp(app: App, dir: string, io: CliIo): Promise<RenderedObject[]> {
  let rendered: RenderedObject[];
  try {
    rendered = await renderTarget(app, dir);
  } catch (err) {
    if (err instanceof RenderError || err instanceof ToolError) {
      const where = err instanceof RenderError && err.file ? ` at ${err.file}${err.line ? `:${err.line}` : ''}` : '';
      throw new CliError(`rendering app "${app.name}" failed${where}: ${oneLine(err.message)}; fix it and run again`);
    }
    throw err;
  }
  if (rendered.length === 0) {
    const folder = path.join(dir, app.path);
    const why = (await detectKind(dir, app)) === 'plain' && yamlFiles(folder) === 0
        ? `${app.path} has no .yaml or .yml files (plain apps render every one under it)`
        : `its ${app.path} renders to no objects`;
    io.stderr(`mergeops: warning: app "${app.name}" renders no objects: ${why}\n`);
  }
  return rendered;
}

export function printRender(rendered: RenderedObject[], output: string, io: CliIo): void {
  const objects = rendered.map((r) => r.object);
  if (output === 'json') io.stdout(`${JSON.stringify(objects, null, 2)}\n`);
  else io.stdout(objects.map((o) => `---\n${dumpYaml(o)}`).join(''));
}

export function makeLogger(env: NodeJS.ProcessEnv): Logger {
  const level = env['LOG_LEVEL'] || 'warn';
  if (level !== 'silent' && !(level in pino.levels.values)) {
    throw new CliError(`LOG_LEVEL "${level}" is not a log level; use one of ${Object.keys(pino.levels.values).join(', ')} or silent`);
  }
  return pino({ name: 'mergeops', level }, pino.destination(2));
}

export async function diff(engine: Engine, t: AppTarget, rendered: RenderedObject[], output: string, io: CliIo): Promise<number> {
  const { app, key } = t;
  const { plan, problems, warnings, facts } = await engine.plan(t, { rendered, rollout: true });
  const diffs: ObjectDiff[] = diffPlan(plan.objects, plan.orphans, plan.ours);
  // The preview's rollout analysis, the same facts read the same way.
  const rollout = problems.length ? [] : analyzeRollout({ objects: plan.objects, orphans: plan.orphans, app, ...(facts ? { facts } : {}) });
  for (const w of warnings) io.stderr(`warning: ${problemLine(w)}\n`);
  for (const u of facts?.unread ?? []) io.stderr(`warning: rollout: could not read ${u}; its checks were skipped\n`);
  if (output === 'json') {
    io.stdout(`${JSON.stringify(diffs, null, 2)}\n`);
  } else if (output === 'markdown') {
    // Drift as the preview shows it: which fields others changed the apply reverts or keeps.
    const drift = problems.length ? [] : detectDrift(plan.objects, plan.ours);
    const appReport: AppReport = { app: app.name, cluster: app.cluster, diffs, problems, drift, warnings, merge: { prune: app.prune, waitMs: app.waitMs, force: app.conflicts === 'overwrite' } };
    if (app.namespace) appReport.namespace = app.namespace;
    if (rollout.length) appReport.rollout = rollout;
    const report: PreviewReport = { repo: key.repo, sha: 'local', apps: [appReport], problems: [], at: new Date().toISOString() };
    const text = formatComment(report).join('\n');
    io.stdout(text.endsWith('\n') ? text : `${text}\n`);
  } else {
    io.stdout(formatUnified(diffs, { color: wantsColor(io.isTTY ?? false, io.env) }));
    if (rollout.length) io.stdout(rolloutText(rollout));
  }
  if (output === 'json' && rollout.length) io.stderr(rolloutText(rollout));
  if (problems.length) {
    for (const p of problems) io.stderr(`error: ${problemLine(p)}\n`);
    io.stderr(`mergeops: ${problems.length} object${problems.length > 1 ? 's' : ''} of app "${app.name}" failed the dry-run (listed above); fix ${problems.length > 1 ? 'them' : 'it'} and run again\n`);
    return 1;
  }
  const failing = rollout.flatMap((e) => e.findings.filter((f) => f.fails));
  if (failing.length) {
    io.stderr(`mergeops: ${failing.length} rollout finding${failing.length > 1 ? 's' : ''} of app "${app.name}" fail the preview (failOn: ${[...new Set(failing.map((f) => f.check))].join(', ')}); listed above\n`);
    return 1;
  }
  return diffs.some((d) => d.action !== 'unchanged') ? 2 : 0;
}

export async function apply(engine: Engine, t: AppTarget, rendered: RenderedObject[], output: string, io: CliIo, notPruned = false): Promise<number> {
  const { app } = t;
  const applied = await engine.apply(t, {
    rendered,
    onHealthWait: (objects, waitMs) => io.stderr(`waiting up to ${Math.round(waitMs / 1000)} s for ${objects} object${objects === 1 ? '' : 's'} to become healthy (the app's wait setting)\n`),
  });
  const { changes } = applied;
  const orphans = changes.filter((c) => c.action === 'skipped' && c.reason === PRUNE_OFF).map((c) => c.ref);
  if (notPruned && orphans.length) {
    io.stderr(`mergeops: not pruned: ${orphans.join(', ')} (Git no longer has ${orphans.length === 1 ? 'it' : 'them'}; pass --prune to delete, as a deploy with the app's prune: true would)\n`);
  }
  const report: AppDeployReport = { app: app.name, cluster: app.cluster, applied, problems: [] };
  if (applied.health) report.health = applied.health;
  const count = countChanges(changes);
  if (output === 'json') {
    // Scripts read these lists by name: the change set grouped by action.
    const lists = { created: refsOf(changes, 'created'), configured: refsOf(changes, 'configured'), unchanged: refsOf(changes, 'unchanged'), pruned: refsOf(changes, 'deleted') };
    const errors = changes.filter((c) => c.action === 'failed').map((c) => ({ ref: c.ref, message: c.reason, ...(c.source ? { source: c.source } : {}) }));
    io.stdout(`${JSON.stringify({ app: app.name, cluster: app.cluster, succeeded: appSucceeded(report), changes, ...lists, errors, warnings: applied.warnings, ...(applied.pruneSkipped ? { pruneSkipped: applied.pruneSkipped } : {}), health: report.health ?? null }, null, 2)}\n`);
  } else {
    const lines = [`app "${app.name}" → cluster "${app.cluster}": ${appLine(report)}`];
    for (const [what, action] of [['created', 'created'], ['configured', 'configured'], ['pruned', 'deleted']] as const) {
      for (const ref of refsOf(changes, action)) lines.push(`  ${what.padEnd(10)} ${ref}`);
    }
    if (report.health?.healthy) lines.push(`  all ${count.created + count.configured + count.unchanged} objects healthy`);
    io.stdout(`${lines.join('\n')}\n`);
  }
  if (!appSucceeded(report)) {
    const problems = appProblems(report);
    for (const p of problems) io.stderr(`error: ${problemLine(p)}\n`);
    const what = count.failed
      ? 'some objects could not be applied'
      : report.health && !report.health.healthy
        ? 'some objects did not become healthy'
        : 'prune was skipped';
    io.stderr(`mergeops: apply of app "${app.name}" failed: ${what} (listed above); fix it and run again\n`);
    return 1;
  }
  return wroteAny(changes) ? 2 : 0;
}

/** Cluster-scoped kinds of the core and well-known groups: what validate knows without discovery. */
const CLUSTER_SCOPED = new Set([
  'Namespace', 'Node', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'StorageClass', 'PriorityClass',
  'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'APIService', 'IngressClass', 'RuntimeClass', 'CSIDriver', 'VolumeSnapshotClass',
]);

/**
 * `mergeops validate`: what a pre-commit hook or CI job can check without a cluster or
 * GitHub — the config, each app's render, and (given the operator's clusters file) the
 * grants. Exit 0 when all of it holds, 1 naming every problem otherwise.
 */
export async function validate(config: RepoConfig, dir: string, args: Parsed, repo: string, io: CliIo): Promise<number> {
  const apps = args.app ? [pickApp(config, args)] : config.apps;
  const clustersFile = args.values.clusters ?? io.env['MERGEOPS_CLUSTERS'];
  const targets = clustersFile ? loadClusterTargets(clustersFile) : null;
  let failed = 0;
  for (const app of apps) {
    const problems: string[] = [];
    let count = 0;
    try {
      const rendered = await renderApp(app, dir, io);
      count = rendered.length;
      if (targets) {
        const target = targets.get(app.cluster);
        if (!target) problems.push(`cluster "${app.cluster}" is not in ${clustersFile} (configured: ${[...targets.keys()].join(', ')})`);
        else {
          const objects = rendered.map((r) => {
            const namespaced = !CLUSTER_SCOPED.has(r.object.kind);
            const object = namespaced && !r.object.metadata.namespace && app.namespace ? { ...r.object, metadata: { ...r.object.metadata, namespace: app.namespace } } : r.object;
            return { object, namespaced, source: r.source };
          });
          for (const v of checkGrants(objects, repo, app.cluster, target.grants)) {
            const src = objects.find((o) => objectRef(o.object) === v.ref)?.source;
            problems.push(`${v.ref}: not allowed: ${v.rule}${src ? ` (${src.file}:${src.line})` : ''}`);
          }
        }
      }
    } catch (err) {
      problems.push(errorText(err).replace(/; fix it and run again$/, ''));
    }
    if (problems.length) {
      failed++;
      io.stdout(`✗ ${app.name}: ${problems.length} problem${problems.length > 1 ? 's' : ''}\n${problems.map((p) => `    ${oneLine(p)}\n`).join('')}`);
    } else {
      io.stdout(`✓ ${app.name}: ${count} object${count === 1 ? ' renders' : 's render'}${targets ? `, within ${repo}'s grants on "${app.cluster}"` : ''}\n`);
    }
  }
  if (!targets) io.stderr('mergeops: grants not checked: pass --clusters <file> (the operator\'s MERGEOPS_CLUSTERS file) to check them too\n');
  if (failed) {
    io.stderr(`mergeops: ${failed} of ${apps.length} app${apps.length > 1 ? 's' : ''} invalid (listed above)\n`);
    return 1;
  }
  return 0;
}

/** `mergeops apps`: the config's apps, one a line (or JSON for scripts). */
export async function listApps(config: RepoConfig, dir: string, output: string, io: CliIo): Promise<number> {
  const rows = await Promise.all(
    config.apps.map(async (a) => ({ name: a.name, path: a.path, renderer: await detectKind(dir, a).catch(() => 'unknown'), cluster: a.cluster, namespace: a.namespace ?? '', branch: a.branch })),
  );
  if (output === 'json') {
    io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const head = { name: 'NAME', path: 'PATH', renderer: 'RENDERER', cluster: 'CLUSTER', namespace: 'NAMESPACE', branch: 'BRANCH' };
  const all = [head, ...rows];
  const cols = Object.keys(head) as (keyof typeof head)[];
  const width = Object.fromEntries(cols.map((c) => [c, Math.max(...all.map((r) => String(r[c]).length))])) as Record<keyof typeof head, number>;
  io.stdout(all.map((r) => cols.map((c, i) => (i === cols.length - 1 ? String(r[c]) : String(r[c]).padEnd(width[c]))).join('   ').trimEnd()).join('\n') + '\n');
  return 0;
}

/** The Rollout lines as the terminal shows them: one per workload, its findings indented. */
export function rolloutText(entries: RolloutEntry[]): string {
  const lines = ['', 'Rollout:'];
  for (const e of entries) {
    lines.push(`  ${e.ref}${e.source ? ` (${e.source.file}:${e.source.line})` : ''}: ${e.line.replace(/`/g, '')}`);
    for (const f of e.findings) lines.push(`    ${f.fails ? 'error' : 'warning'}: ${f.check} (${CHECK_LABELS[f.check]}): ${f.message.replace(/`/g, '')}`);
  }
  return `${lines.join('\n')}\n`;
}
