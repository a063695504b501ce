/**
 * The vocabulary of PR comment commands that operator settings refer to (grants in
 * MERGEOPS_CLUSTERS can raise what a command needs), kept here so config never imports
 * the commands folder that reads it.
 */
export const COMMAND_NAMES = ['help', 'preview', 'deploy', 'lock', 'unlock', 'rollback', 'promote', 'env'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

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
  // An environment's `approval:` names the role that promotes it (read at the lowest); a grant raises it.
  promote: 'read',
  // Starting, ending or extending a PR's preview environment runs the PR's code on a cluster.
  env: 'write',
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
