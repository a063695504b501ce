import { DEFAULT_REQUIRED, atLeast, isPermission, type CommandName, type CommandPermissions, type Permission } from '../config/command-permissions.js';

export { DEFAULT_REQUIRED, atLeast, type CommandPermissions, type Permission } from '../config/command-permissions.js';

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
