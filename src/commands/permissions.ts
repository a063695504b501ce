import { COMMAND_NAMES, type CommandName } from './parse.js';

/**
 * GitHub's repository roles, lowest first. `none` is a user with no role at all (a
 * passer-by on a public repo, or a fork PR author who is not a collaborator).
 */
export const PERMISSION_LEVELS = ['none', 'read', 'triage', 'write', 'maintain', 'admin'] as const;
export type Permission = (typeof PERMISSION_LEVELS)[number];

/** Every command changes what runs (or costs a cluster dry-run) except `help`. */
export const DEFAULT_REQUIRED: Readonly<Record<CommandName, Permission>> = {
  help: 'none',
  preview: 'write',
  deploy: 'write',
  lock: 'write',
  unlock: 'write',
  rollback: 'write',
};

/** An operator's per-grant raise, e.g. `{ rollback: 'maintain' }` in MERGEOPS_CLUSTERS. */
export type CommandPermissions = Partial<Record<CommandName, Permission>>;

export function isPermission(v: string): v is Permission {
  return (PERMISSION_LEVELS as readonly string[]).includes(v);
}

export function isCommandName(v: string): v is CommandName {
  return (COMMAND_NAMES as readonly string[]).includes(v);
}

export function atLeast(have: Permission, need: Permission): boolean {
  return PERMISSION_LEVELS.indexOf(have) >= PERMISSION_LEVELS.indexOf(need);
}

/**
 * What a command needs: the default, raised by every grant that covers an app it acts on
 * (the strictest wins). Overrides only raise; one below the default is ignored here and
 * refused when the clusters file is read.
 */
export function requiredPermission(command: CommandName, overrides: readonly CommandPermissions[]): Permission {
  let need = DEFAULT_REQUIRED[command];
  for (const o of overrides) {
    const raised = o[command];
    if (raised && atLeast(raised, need)) need = raised;
  }
  return need;
}

/**
 * The collaborator permission API's answer as one level. `user.permissions` (booleans per
 * role) and `role_name` carry triage and maintain; the legacy `permission` field folds them
 * into read and write. A custom role name falls back to `permission`.
 */
export function permissionOf(answer: { permission?: string; role_name?: string; user?: { permissions?: Record<string, boolean | undefined> } | null }): Permission {
  const flags = answer.user?.permissions;
  if (flags) {
    if (flags['admin']) return 'admin';
    if (flags['maintain']) return 'maintain';
    if (flags['push']) return 'write';
    if (flags['triage']) return 'triage';
    if (flags['pull']) return 'read';
  }
  if (answer.role_name && isPermission(answer.role_name)) return answer.role_name;
  return answer.permission && isPermission(answer.permission) ? answer.permission : 'none';
}

export interface Actor {
  login: string;
  permission: Permission;
  /** The commenter opened this PR from a fork. */
  forkAuthor: boolean;
}

export type Decision = { allowed: true } | { allowed: false; reason: string };

/**
 * May `actor` run `command`? Fork PR authors without write access run only `help`, whatever
 * an operator configured: a fork must never steer a deploy, lock or rollback.
 */
export function authorize(command: CommandName, need: Permission, actor: Actor): Decision {
  if (command !== 'help' && actor.forkAuthor && !atLeast(actor.permission, 'write')) {
    return { allowed: false, reason: `@${actor.login} opened this pull request from a fork without write access to this repository; only \`/mergeops help\` is available` };
  }
  if (atLeast(actor.permission, need)) return { allowed: true };
  return { allowed: false, reason: `\`${command}\` needs ${need} access to this repository; @${actor.login} has ${actor.permission === 'none' ? 'no' : actor.permission} access` };
}
