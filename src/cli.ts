#!/usr/bin/env node
/**
 * `mergeops render|diff|apply <app>` on a local checkout: the app's engine (config,
 * render, dry-run plan, diff, apply + prune + health) without GitHub. stdout carries only
 * the result (YAML, the PR comment's markdown, JSON); logs and errors go to stderr.
 * Exit codes follow `kubectl diff`: 0 no changes, 2 changes, 1 error.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { pino, type Logger } from 'pino';
import { ClusterUnreachableError, KubeApiError } from './cluster/client.js';
import { ClusterPool } from './cluster/connect.js';
import { KubeconfigError, localClusterTarget, type LocalCluster } from './config/clusters.js';
import { REPO_CONFIG_PATH, type App } from './config/repo-config.js';
import { diffPlan } from './diff/diff.js';
import { detectDrift } from './diff/drift.js';
import type { ObjectDiff } from './diff/types.js';
import { Engine, renderTarget, type AppTarget } from './engine/engine.js';
import { readConfig } from './engine/revision.js';
import { ToolError } from './render/exec.js';
import { RenderError, UserError, errorText } from './errors.js';
import { type RenderedObject } from './objects.js';
import { dumpYaml } from './yaml.js';
import { formatComment } from './report/comment.js';
import { appLine, appProblems, appSucceeded, type AppDeployReport } from './report/deploy.js';
import type { AppReport, PreviewReport, Problem } from './report/types.js';

export interface CliIo {
  stdout(s: string): void;
  stderr(s: string): void;
  env: NodeJS.ProcessEnv;
}

export const USAGE = `Usage:
  mergeops render <app> [--dir .] [--output yaml|json]
  mergeops diff   <app> [--dir .] [--output markdown|json] [cluster options]
  mergeops apply  <app> --dry-run|--yes [--dir .] [--output markdown|json] [cluster options]

Runs the mergeops engine on a local checkout; no GitHub needed. The app is one of the
apps in <dir>/.github/mergeops.yml.

Commands:
  render   Render the app (plain manifests, kustomize or helm) and print the objects.
  diff     Dry-run the render against the cluster (server-side apply, dryRun=All) and print
           what applying would change, as the pull request comment shows it.
  apply    --dry-run: print the diff like \`diff\` (both send the deploy's requests as a dry
           run, so conflicts under the app's conflicts: fail show as a deploy meets them).
           --yes: apply (changed objects only, CRDs and Namespaces first), prune what Git
           dropped (when the app has prune: true), then wait for health (the app's wait).

Options:
  -d, --dir <path>        Checkout root holding .github/mergeops.yml (default: current folder)
  -o, --output <format>   render: yaml (default) or json; diff/apply: markdown (default) or json
      --kubeconfig <path> Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
      --context <name>    Kubeconfig context (default: the current context)
      --repo-id <n>       GitHub repository id, for the inventory labels (default: 0)
      --repo <owner/name> Repository name, for the inventory annotation
                          (default: from \`git config remote.origin.url\`, else local/local)
  -y, --yes               apply: really apply
      --dry-run           apply: only show what would change
  -h, --help              Show this help

Deletions and pruning only concern objects mergeops deployed for this app, found by the
labels mergeops.dev/app=<app> and mergeops.dev/repo-id=<repo id>. To see (or prune) what the
GitHub App deployed from this repository, pass its numeric GitHub repository id with
--repo-id (gh api repos/OWNER/NAME --jq .id); with the default 0 only objects applied by
this CLI with --repo-id 0 count as mergeops's.

Exit status: 0 no changes, 2 changes (diff, apply --dry-run; apply --yes when something was
created, configured or pruned), 1 error. LOG_LEVEL (default warn) sets the log level of the
logs written to stderr; DEBUG=1 adds stack traces to errors.
`;

/** A failure the user can act on; the message already says what to do. */
class CliError extends Error {
  override name = 'CliError';
}

type Command = 'render' | 'diff' | 'apply';

const OPTIONS = {
  dir: { type: 'string', short: 'd' },
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'repo-id': { type: 'string' },
  repo: { type: 'string' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

const CLUSTER_OPTIONS = ['kubeconfig', 'context', 'repo-id', 'repo'] as const;
const ALLOWED: Record<Command, readonly (keyof Values)[]> = {
  render: ['dir', 'output'],
  diff: ['dir', 'output', ...CLUSTER_OPTIONS],
  apply: ['dir', 'output', ...CLUSTER_OPTIONS, 'dry-run', 'yes'],
};
const OUTPUTS: Record<Command, readonly string[]> = { render: ['yaml', 'json'], diff: ['markdown', 'json'], apply: ['markdown', 'json'] };
const HELP = 'run `mergeops --help` for usage';
const REPO_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

interface Parsed {
  command: Command;
  app: string | undefined;
  values: Values;
  output: string;
  repoId: number;
}

function parseCli(argv: string[]): Parsed | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    // Node's messages run on with advice about `--`; the first sentence is the point.
    const full = errorText(err);
    const msg = full.split(/\.\s/)[0] ?? full;
    throw new CliError(`${msg.replace(/\.$/, '')}; ${HELP}`);
  }
  const values = parsed.values as Values;
  const [command, app, ...extra] = parsed.positionals;
  if (values.help || command === 'help') return 'help';
  if (!command) throw new CliError(`missing a command (render, diff or apply); ${HELP}`);
  if (command !== 'render' && command !== 'diff' && command !== 'apply') throw new CliError(`unknown command "${command}" (commands: render, diff, apply); ${HELP}`);
  if (extra.length) throw new CliError(`unexpected argument "${extra[0]}": ${command} takes one app name; ${HELP}`);
  for (const k of Object.keys(values) as (keyof Values)[]) {
    if (values[k] !== undefined && !ALLOWED[command].includes(k)) throw new CliError(`--${k} does not apply to \`mergeops ${command}\`; ${HELP}`);
  }
  const output = values.output ?? OUTPUTS[command][0] ?? '';
  if (!OUTPUTS[command].includes(output)) throw new CliError(`--output must be ${OUTPUTS[command].join(' or ')} for ${command}, not "${output}"`);
  if (command === 'apply') {
    if (values['dry-run'] && values.yes) throw new CliError('pass either --dry-run or --yes to apply, not both');
    if (!values['dry-run'] && !values.yes) {
      throw new CliError(`apply needs --dry-run (show what would change) or --yes (apply it to the cluster): mergeops apply ${app ?? '<app>'} --yes`);
    }
  }
  const repoId = parseRepoId(values['repo-id']);
  if (values.repo !== undefined && !REPO_NAME.test(values.repo)) throw new CliError(`--repo must look like owner/name, not "${values.repo}"`);
  return { command, app, values, output, repoId };
}

interface State {
  /** Where the cluster comes from, for error messages. */
  source?: LocalCluster;
}

/** The CLI; returns the exit code. Never throws and never exits: `main` below does that. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const state: State = {};
  let pool: ClusterPool | undefined;
  try {
    const args = parseCli(argv);
    if (args === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    const dir = path.resolve(args.values.dir ?? '.');
    const app = await loadApp(dir, args);
    const rendered = await renderApp(app, dir);
    if (args.command === 'render') {
      printRender(rendered, args.output, io);
      return 0;
    }

    const log = makeLogger(io.env);
    const t: AppTarget = { app, dir, key: { repoId: args.repoId, repo: await repoName(args.values.repo, dir, io.env), app: app.name } };
    state.source = localClusterTarget(app.cluster, args.values, io.env);
    pool = new ClusterPool(new Map([[app.cluster, state.source.target]]));
    const engine = new Engine({ clusters: pool, log, flow: 'cli' });
    log.debug({ app: app.name, objects: rendered.length, cluster: state.source.where, repo: t.key.repo, repoId: t.key.repoId }, 'rendered');

    if (args.command === 'diff' || args.values['dry-run']) {
      // Both send the deploy's own requests as a dry run (like the preview), so conflicts
      // surface exactly when the app's `conflicts: fail` would make the deploy refuse.
      return await diff(engine, t, rendered, args.output, io);
    }
    return await apply(engine, t, rendered, args.output, io);
  } catch (err) {
    io.stderr(`mergeops: ${describeError(err, state)}\n`);
    const stack = (err as { stack?: unknown } | null)?.stack;
    if (io.env['DEBUG'] === '1' && typeof stack === 'string') io.stderr(`${stack}\n`);
    return 1;
  } finally {
    await pool?.close();
  }
}

async function loadApp(dir: string, args: Parsed): Promise<App> {
  const st = await fs.promises.stat(dir).catch(() => null);
  if (!st?.isDirectory()) throw new CliError(`${dir} is not a folder; pass --dir with your checkout's root`);
  if (!(await fs.promises.stat(path.join(dir, REPO_CONFIG_PATH)).catch(() => null))) {
    throw new CliError(`no ${REPO_CONFIG_PATH} in ${dir}; run mergeops from your checkout's root or pass --dir`);
  }
  const config = await readConfig(dir, 'main');
  if ('problem' in config) throw new CliError(`${REPO_CONFIG_PATH}: ${config.problem.message}; fix it and run again`);
  const names = config.apps.map((a) => a.name).join(', ');
  if (!args.app) throw new CliError(`missing the app name: mergeops ${args.command} <app> (apps in ${REPO_CONFIG_PATH}: ${names})`);
  const app = config.apps.find((a) => a.name === args.app);
  if (!app) throw new CliError(`no app named "${args.app}" in ${REPO_CONFIG_PATH}; apps: ${names}`);
  return app;
}

async function renderApp(app: App, dir: string): Promise<RenderedObject[]> {
  try {
    return await renderTarget(app, dir);
  } catch (err) {
    if (err instanceof RenderError || err instanceof ToolError) {
      const where = err instanceof RenderError && err.file ? ` at ${err.file}${err.line ? `:${err.line}` : ''}` : '';
      throw new CliError(`rendering app "${app.name}" failed${where}: ${oneLine(err.message)}; fix it and run again`);
    }
    throw err;
  }
}

function printRender(rendered: RenderedObject[], output: string, io: CliIo): void {
  const objects = rendered.map((r) => r.object);
  if (output === 'json') io.stdout(`${JSON.stringify(objects, null, 2)}\n`);
  else io.stdout(objects.map((o) => `---\n${dumpYaml(o)}`).join(''));
}

function makeLogger(env: NodeJS.ProcessEnv): Logger {
  const level = env['LOG_LEVEL'] || 'warn';
  if (level !== 'silent' && !(level in pino.levels.values)) {
    throw new CliError(`LOG_LEVEL "${level}" is not a log level; use one of ${Object.keys(pino.levels.values).join(', ')} or silent`);
  }
  return pino({ name: 'mergeops', level }, pino.destination(2));
}

function parseRepoId(v: string | undefined): number {
  if (v === undefined) return 0;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new CliError(`--repo-id must be a GitHub repository id (a whole number), not "${v}"`);
  return n;
}

async function repoName(explicit: string | undefined, dir: string, env: NodeJS.ProcessEnv): Promise<string> {
  if (explicit !== undefined) return explicit;
  const url = await new Promise<string | null>((resolve) => {
    execFile('git', ['-C', dir, 'config', '--get', 'remote.origin.url'], { timeout: 5000, env }, (err, stdout) => resolve(err ? null : stdout.trim()));
  });
  return (url && repoFromRemote(url)) ?? 'local/local';
}

/** `owner/name` from any usual Git remote URL (https, ssh, scp-like); null when it has none. */
export function repoFromRemote(url: string): string | null {
  const u = url.trim();
  // A local path or file:// remote names no GitHub repository.
  if (/^(file:|\/|\.|~)/.test(u)) return null;
  const parts = u
    .replace(/\/+$/, '')
    .replace(/\.git$/, '')
    .split(/[/:]/)
    .filter((p) => p !== '');
  const name = parts.slice(-2).join('/');
  return parts.length >= 3 && REPO_NAME.test(name) ? name : null;
}

async function diff(engine: Engine, t: AppTarget, rendered: RenderedObject[], output: string, io: CliIo): Promise<number> {
  const { app, key } = t;
  const { plan, problems, warnings } = await engine.plan(t, { rendered });
  const diffs: ObjectDiff[] = diffPlan(plan.objects, plan.orphans, plan.ours);
  for (const w of warnings) io.stderr(`warning: ${problemLine(w)}\n`);
  if (output === 'json') {
    io.stdout(`${JSON.stringify(diffs, null, 2)}\n`);
  } else {
    // Drift as the preview shows it: which fields others changed the apply reverts or keeps.
    const drift = problems.length ? [] : detectDrift(plan.objects, plan.ours);
    const appReport: AppReport = { app: app.name, cluster: app.cluster, diffs, problems, drift, warnings, merge: { prune: app.prune, waitMs: app.waitMs, force: app.conflicts === 'overwrite' } };
    if (app.namespace) appReport.namespace = app.namespace;
    const report: PreviewReport = { repo: key.repo, sha: 'local', apps: [appReport], problems: [], at: new Date().toISOString() };
    const text = formatComment(report).join('\n');
    io.stdout(text.endsWith('\n') ? text : `${text}\n`);
  }
  if (problems.length) {
    for (const p of problems) io.stderr(`error: ${problemLine(p)}\n`);
    io.stderr(`mergeops: ${problems.length} object${problems.length > 1 ? 's' : ''} of app "${app.name}" failed the dry-run (listed above); fix ${problems.length > 1 ? 'them' : 'it'} and run again\n`);
    return 1;
  }
  return diffs.some((d) => d.action !== 'unchanged') ? 2 : 0;
}

async function apply(engine: Engine, t: AppTarget, rendered: RenderedObject[], output: string, io: CliIo): Promise<number> {
  const { app } = t;
  const applied = await engine.apply(t, {
    rendered,
    onHealthWait: (objects, waitMs) => io.stderr(`waiting up to ${Math.round(waitMs / 1000)} s for ${objects} object${objects === 1 ? '' : 's'} to become healthy (the app's wait setting)\n`),
  });
  const { result } = applied;
  const report: AppDeployReport = { app: app.name, cluster: app.cluster, result, problems: [] };
  if (applied.health) report.health = applied.health;
  if (output === 'json') {
    // The change set is the human output's; the JSON keeps the fields scripts already read.
    const { objects: _objects, orphans: _orphans, ...counts } = result;
    io.stdout(`${JSON.stringify({ app: app.name, cluster: app.cluster, succeeded: appSucceeded(report), ...counts, health: report.health ?? null }, null, 2)}\n`);
  } else {
    const lines = [`app "${app.name}" → cluster "${app.cluster}": ${appLine(report)}`];
    for (const [what, refs] of [['created', result.created], ['configured', result.configured], ['pruned', result.pruned]] as const) {
      for (const ref of refs) lines.push(`  ${what.padEnd(10)} ${ref}`);
    }
    if (report.health?.healthy) lines.push(`  all ${result.objects.length} objects healthy`);
    io.stdout(`${lines.join('\n')}\n`);
  }
  if (!appSucceeded(report)) {
    const problems = appProblems(report);
    for (const p of problems) io.stderr(`error: ${problemLine(p)}\n`);
    const what = result.errors.length
      ? 'some objects could not be applied'
      : report.health && !report.health.healthy
        ? 'some objects did not become healthy'
        : 'prune was skipped';
    io.stderr(`mergeops: apply of app "${app.name}" failed: ${what} (listed above); fix it and run again\n`);
    return 1;
  }
  return result.created.length + result.configured.length + result.pruned.length > 0 ? 2 : 0;
}

function problemLine(p: Problem): string {
  const where = p.file ? ` (${p.file}${p.line ? `:${p.line}` : ''})` : '';
  return `${p.ref ? `${p.ref}: ` : ''}${oneLine(p.message)}${where}`;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, ' ').trim();
}

function describeError(err: unknown, state: State): string {
  const where = state.source?.where ?? 'the cluster';
  if (err instanceof CliError || err instanceof KubeconfigError) return err.message;
  if (err instanceof ClusterUnreachableError) {
    const cause = /is unreachable: (.*?)\. Check that/.exec(err.message)?.[1] ?? err.message;
    return `cannot reach the API server of ${where}: ${cause}; check that it is up and that --kubeconfig/--context (or KUBECONFIG) point at the right cluster`;
  }
  if (err instanceof KubeApiError) {
    if (err.status === 401) return `the API server of ${where} rejected the credentials (HTTP 401: ${oneLine(err.message)}); log in again or pick another --context`;
    if (err.status === 403) return `the credentials of ${where} are not allowed to do this (HTTP 403: ${oneLine(err.message)}); use credentials that may get, list and patch the app's objects`;
    return `the API server of ${where} answered HTTP ${err.status}: ${oneLine(err.message)}`;
  }
  if (err instanceof RenderError || err instanceof ToolError) return `${oneLine(err.message)}; fix it and run again`;
  if (err instanceof UserError) return `${oneLine(err.message)}; fix it and run again`;
  return `unexpected error: ${oneLine(errorText(err))} (set DEBUG=1 for a stack trace)`;
}


function isEntryPoint(): boolean {
  const entry = process.argv[1];
  if (!entry) return false;
  try {
    // npm's bin shim is a symlink; the ESM loader reports the real path.
    return import.meta.url === pathToFileURL(fs.realpathSync(entry)).href;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  void runCli(process.argv.slice(2), {
    stdout: (s) => void process.stdout.write(s),
    stderr: (s) => void process.stderr.write(s),
    env: process.env,
  }).then((code) => {
    // Exit once stdout has drained: a pipe to `less` or a file must get the whole diff.
    process.stdout.write('', () => process.exit(code));
  });
}
