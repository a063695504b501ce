import { COMMAND_NAMES, USAGE, type CommandName } from './parse.js';
import { DEFAULT_REQUIRED, requiredPermission, type CommandPermissions, type Permission } from './permissions.js';

const WHAT: Record<CommandName, string> = {
  help: 'this list',
  preview: 're-run the preview of this pull request now (all its apps, or the ones named)',
  deploy: "on a merged pull request or the default branch: re-apply the app's last deployed commit",
  lock: 'freeze deploys: merges are recorded, not applied, until `unlock`',
  unlock: 'lift the freeze and apply the newest commit merged meanwhile',
  rollback: 'open a pull request that restores the app to its previous successful deploy (or `<sha>`)',
  promote: 'on an environment with `approval:`: apply the commit waiting for it (the newest one that passed the environments before it)',
  env: "on a pull request: start its preview environments (a fork's head too, without its Secrets), remove them, or extend their time to live",
};

/** Per app: the operator's raises that apply to it (from the grants of its cluster). */
export type AppOverrides = ReadonlyMap<string, readonly CommandPermissions[]>;

/** Who may run `command`: the default and, where grants raise it, which apps need more. */
export function whoMay(command: CommandName, apps: AppOverrides): string {
  const base = DEFAULT_REQUIRED[command];
  // `approval:` names who promotes each environment; the operator's raises come on top.
  if (command === 'promote') return "the role the environment's `approval:` names (the operator's grant may raise it)";
  const raised = new Map<Permission, string[]>();
  for (const [app, overrides] of apps) {
    const need = requiredPermission(command, overrides);
    if (need !== base) raised.set(need, [...(raised.get(need) ?? []), app]);
  }
  const who = base === 'none' ? 'anyone' : `${base} access`;
  const extra = [...raised].map(([p, names]) => `${p} for ${names.map((n) => `\`${n}\``).join(', ')}`);
  return extra.length === 0 ? who : `${who} (${extra.join('; ')})`;
}

/** The reply to `help`, to an unknown command, and to a bare `/mergeops`. */
export function helpText(apps: AppOverrides, opts: { unknown?: string; error?: string; usage?: CommandName } = {}): string {
  const lines: string[] = [];
  if (opts.unknown) lines.push(`mergeops has no command \`${escapeCode(opts.unknown)}\`. These are the ones it knows:`, '');
  // The reply puts :x: before it (finish in run.ts).
  if (opts.error) lines.push(opts.error, '', ...(opts.usage ? [`Usage: \`${USAGE[opts.usage]}\``, ''] : []));
  lines.push('| Command | What it does | Who may run it |', '|---|---|---|');
  for (const c of COMMAND_NAMES) lines.push(`| \`${USAGE[c]}\` | ${WHAT[c]} | ${whoMay(c, apps)} |`);
  lines.push('', 'Pull request authors working from a fork without write access can run only `help`.');
  if (apps.size > 0) lines.push(`Apps in this repository: ${[...apps.keys()].map((a) => `\`${a}\``).join(', ')}.`);
  return lines.join('\n');
}

/** Text a user typed, shown inside backticks: a backtick of theirs must not end the span. */
export function escapeCode(s: string): string {
  return s.replace(/`/g, "'");
}
