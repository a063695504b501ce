#!/usr/bin/env node
/**
 * `mergeops render|diff|apply|validate|apps` on a local checkout: the engine every flow uses
 * (config, render, dry-run plan, diff, apply + prune + health) without GitHub. stdout carries
 * only the result (YAML, a unified diff, JSON); logs and errors go to stderr. Exit codes
 * follow `kubectl diff`: 0 no changes, 2 changes, 1 error. The jobs live in src/cli/:
 * arguments, commands, messages, repo (owner/name and id), unified (the diff's text).
 */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ClusterPool } from './cluster/connect.js';
import { loadClusterTargets, localClusterTarget, type LocalCluster } from './config/clusters.js';
import { appKey, Engine, type AppTarget } from './engine/engine.js';
import { parseCli, USAGE } from './cli/arguments.js';
import { apply, diff, listApps, loadConfig, makeLogger, pickApp, printRender, renderApp, validate, type CliIo } from './cli/commands.js';
import { describeError } from './cli/messages.js';
import { repoName, resolveRepoId } from './cli/repo.js';
import { version } from './version.js';

export { USAGE } from './cli/arguments.js';
export type { CliIo } from './cli/commands.js';
export { repoFromRemote } from './cli/repo.js';

export { version } from './version.js';

/** The CLI; returns the exit code. Never throws and never exits: the entry below does that. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  let engine: Engine | undefined;
  let source: LocalCluster | undefined;
  let pool: ClusterPool | undefined;
  try {
    const args = parseCli(argv);
    if (args === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    if (args === 'version') {
      io.stdout(`mergeops ${version()}\n`);
      return 0;
    }
    const dir = path.resolve(args.values.dir ?? '.');
    const config = await loadConfig(dir);
    if (args.command === 'apps') return await listApps(config, dir, args.output, io);
    if (args.command === 'validate') return await validate(config, dir, args, await repoName(args.values.repo, dir, io.env), io);

    const app = pickApp(config, args);
    const rendered = await renderApp(app, dir, io);
    if (args.command === 'render') {
      printRender(rendered, args.output, io);
      return 0;
    }

    const log = makeLogger(io.env);
    const repo = await repoName(args.values.repo, dir, io.env);
    const repoId = await resolveRepoId(args.repoId, repo, dir, io.env);
    // A local apply prunes only when asked: --prune, and the app's own prune: true.
    const target: AppTarget = { app: { ...app, prune: app.prune && (args.command !== 'apply' || Boolean(args.values.prune) || Boolean(args.values['dry-run'])) }, dir, key: appKey(repoId, repo, app) };
    source = localClusterTarget(app.cluster, args.values, io.env);
    // The Lease that makes deploys of one app take turns lives in the inventory namespace:
    // a local apply must take it where the operator's workers do.
    const inventoryNs = args.values['inventory-namespace'] ?? clustersFileInventoryNamespace(args.values.clusters ?? io.env['MERGEOPS_CLUSTERS'], app.cluster);
    if (inventoryNs !== undefined) source.target.inventoryNamespace = inventoryNs;
    pool = new ClusterPool(new Map([[app.cluster, source.target]]));
    engine = new Engine({ clusters: pool, log, flow: 'cli' });
    log.debug({ app: app.name, objects: rendered.length, cluster: source.where, repo, repoId }, 'rendered');

    if (args.command === 'diff' || args.values['dry-run']) {
      // Both send the deploy's own requests as a dry run (like the preview), so conflicts
      // surface exactly when the app's `conflicts: fail` would make the deploy refuse.
      return await diff(engine, target, rendered, args.output, io);
    }
    // Said after the apply, when there was something a deploy would have deleted.
    const notPruned = app.prune && !args.values.prune;
    return await apply(engine, target, rendered, args.output, io, notPruned);
  } catch (err) {
    io.stderr(`mergeops: ${describeError(err, source?.where)}\n`);
    const stack = (err as { stack?: unknown } | null)?.stack;
    if (io.env['DEBUG'] === '1' && typeof stack === 'string') io.stderr(`${stack}\n`);
    return 1;
  } finally {
    // An apply whose Lease release failed gives it back now, so the next deploy need not wait it out.
    await engine?.close();
    await pool?.close();
  }
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
    isTTY: Boolean(process.stdout.isTTY),
  }).then((code) => {
    // Exit once stdout has drained: a pipe to `less` or a file must get the whole diff.
    process.stdout.write('', () => process.exit(code));
  });
}

/** The inventory namespace the operator's clusters file gives the app's cluster, if any. */
function clustersFileInventoryNamespace(file: string | undefined, cluster: string): string | undefined {
  return file ? loadClusterTargets(file).get(cluster)?.inventoryNamespace : undefined;
}
