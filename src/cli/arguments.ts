import { parseArgs } from 'node:util';
import { errorText } from '../errors.js';

/**
 * The CLI's arguments: which command, which app, which options, checked before anything
 * is read or sent so a typo costs one line saying what to type instead.
 */
export const USAGE = `Usage:
  mergeops render   <app> [--dir .] [--output yaml|json]
  mergeops diff     <app> [--dir .] [--output text|markdown|json] [cluster options]
  mergeops apply    <app> --dry-run|--yes [--prune] [--dir .] [--output text|json] [cluster options]
  mergeops validate [<app>] [--dir .] [--clusters <file>] [--repo <owner/name>]
  mergeops apps     [--dir .] [--output text|json]
  mergeops --version

Runs the mergeops engine on a local checkout; no GitHub needed. The app is one of the
apps in <dir>/.github/mergeops.yml.

Commands:
  render    Render the app (plain manifests, kustomize or helm) and print the objects.
  diff      Dry-run the render against the cluster (server-side apply, dryRun=All) and print
            what applying would change: a unified diff per object like \`kubectl diff\`
            (coloured on a terminal, plain when piped), or --output markdown for the pull
            request comment's form.
  apply     --dry-run: print the diff like \`diff\` (both send the deploy's requests as a dry
            run, so conflicts under the app's conflicts: fail show as a deploy meets them).
            --yes: apply (changed objects only, CRDs and Namespaces first), then wait for
            health (the app's wait). Pruning what Git dropped needs --prune as well (and the
            app's prune: true): a local apply never deletes unless asked.
  validate  Offline, for pre-commit hooks and CI: the config, every app's render (or the one
            named) and, with --clusters (or MERGEOPS_CLUSTERS), the operator's grants for
            --repo (default: from the Git remote). No cluster, no GitHub.
  apps      List the apps of the config: name, path, renderer, cluster, namespace, branch.

Options:
  -d, --dir <path>        Checkout root holding .github/mergeops.yml (default: current folder)
  -o, --output <format>   render: yaml (default) or json; diff: text (default), markdown or
                          json; apply: text (default) or json; apps: text (default) or json
      --kubeconfig <path> Kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)
      --context <name>    Kubeconfig context (default: the current context)
      --repo-id <n>       The GitHub repository id (gh api repos/OWNER/NAME --jq .id): the
                          inventory label the GitHub App's objects carry. Remembered in
                          .git/mergeops-repo-id for this checkout once given.
      --repo <owner/name> Repository name (default: from \`git config remote.origin.url\`)
      --clusters <file>   validate: the operator's clusters file, to check grants; diff and
                          apply: where the app's cluster keeps its inventories and deploy
                          Leases (its inventoryNamespace), so a local apply takes turns
                          with the workers (default: MERGEOPS_CLUSTERS when set)
      --inventory-namespace <ns>
                          diff and apply: the inventory namespace itself (default: the
                          clusters file's, else mergeops-system)
  -y, --yes               apply: really apply
      --dry-run           apply: only show what would change
      --prune             apply --yes: also delete what Git dropped (the app must prune)
  -V, --version           Print the version
  -h, --help              Show this help

Deletions and pruning only concern objects mergeops deployed for this app, found by the
labels mergeops.dev/app=<app> and mergeops.dev/repo-id=<repo id>. diff and apply need the
repository id to find them: pass --repo-id once per checkout (it is remembered), or
--repo-id 0 for objects only this CLI ever applied.

Exit status: 0 no changes (validate: valid), 2 changes (diff, apply --dry-run; apply --yes
when something was created, configured or pruned), 1 error (validate: invalid). LOG_LEVEL
(default warn) sets the log level of the logs written to stderr; DEBUG=1 adds stack traces.
`;

/** A failure the user can act on; the message already says what to do. */
export class CliError extends Error {
  override name = 'CliError';
}

export const COMMANDS = ['render', 'diff', 'apply', 'validate', 'apps'] as const;
export type Command = (typeof COMMANDS)[number];

export const OPTIONS = {
  dir: { type: 'string', short: 'd' },
  output: { type: 'string', short: 'o' },
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  'repo-id': { type: 'string' },
  repo: { type: 'string' },
  clusters: { type: 'string' },
  'inventory-namespace': { type: 'string' },
  'dry-run': { type: 'boolean' },
  yes: { type: 'boolean', short: 'y' },
  prune: { type: 'boolean' },
  version: { type: 'boolean', short: 'V' },
  help: { type: 'boolean', short: 'h' },
} as const;

export type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K]['type'] extends 'string' ? string : boolean };

const CLUSTER_OPTIONS = ['kubeconfig', 'context', 'repo-id', 'repo', 'clusters', 'inventory-namespace'] as const;
const ALLOWED: Record<Command, readonly (keyof Values)[]> = {
  render: ['dir', 'output'],
  diff: ['dir', 'output', ...CLUSTER_OPTIONS],
  apply: ['dir', 'output', ...CLUSTER_OPTIONS, 'dry-run', 'yes', 'prune'],
  validate: ['dir', 'clusters', 'repo'],
  apps: ['dir', 'output'],
};
const OUTPUTS: Record<Command, readonly string[]> = { render: ['yaml', 'json'], diff: ['text', 'markdown', 'json'], apply: ['text', 'markdown', 'json'], validate: ['text'], apps: ['text', 'json'] };
export const HELP = 'run `mergeops --help` for usage';
export const REPO_NAME = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

export interface Parsed {
  command: Command;
  app: string | undefined;
  values: Values;
  output: string;
  /** Undefined when not given: diff and apply look for the remembered one. */
  repoId: number | undefined;
}

export function parseCli(argv: string[]): Parsed | 'help' | 'version' {
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
  if (values.version || command === 'version') return 'version';
  if (!command) throw new CliError(`missing a command (${COMMANDS.join(', ')}); ${HELP}`);
  if (!(COMMANDS as readonly string[]).includes(command)) throw new CliError(`unknown command "${command}" (commands: ${COMMANDS.join(', ')}); ${HELP}`);
  const cmd = command as Command;
  if (cmd === 'apps' && app !== undefined) throw new CliError(`unexpected argument "${app}": apps takes no app name; ${HELP}`);
  if (extra.length) throw new CliError(`unexpected argument "${extra[0]}": ${cmd} takes one app name; ${HELP}`);
  for (const k of Object.keys(values) as (keyof Values)[]) {
    if (values[k] !== undefined && !ALLOWED[cmd].includes(k)) throw new CliError(`--${k} does not apply to \`mergeops ${cmd}\`; ${HELP}`);
  }
  const output = values.output ?? OUTPUTS[cmd][0] ?? '';
  if (!OUTPUTS[cmd].includes(output)) throw new CliError(`--output must be ${OUTPUTS[cmd].join(' or ')} for ${cmd}, not "${output}"`);
  if (cmd === 'apply') {
    if (values['dry-run'] && values.yes) throw new CliError('pass either --dry-run or --yes to apply, not both');
    if (!values['dry-run'] && !values.yes) {
      throw new CliError(`apply needs --dry-run (show what would change) or --yes (apply it to the cluster): mergeops apply ${app ?? '<app>'} --yes`);
    }
    if (values.prune && !values.yes) throw new CliError('--prune goes with --yes: apply --dry-run already shows what pruning would delete');
  }
  const repoId = parseRepoId(values['repo-id']);
  if (values.repo !== undefined && !REPO_NAME.test(values.repo)) throw new CliError(`--repo must look like owner/name, not "${values.repo}"`);
  const invNs = values['inventory-namespace'];
  if (invNs !== undefined && !/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/.test(invNs)) throw new CliError(`--inventory-namespace must be a namespace name (lowercase letters, digits and "-", at most 63 characters), not "${invNs}"`);
  return { command: cmd, app, values, output, repoId };
}

function parseRepoId(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n)) throw new CliError(`--repo-id must be a GitHub repository id (a whole number), not "${v}"`);
  return n;
}
