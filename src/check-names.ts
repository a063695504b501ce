/**
 * The check runs mergeops writes. Their names are public (branch protection rules and
 * people's searches name them), so they are defined once, here.
 */
export const CHECK_NAMES = {
  preview: 'mergeops / preview',
  deploy: 'mergeops / deploy',
  drift: 'mergeops / drift',
  /** The deploy freezes of a repo, on its default branch's head (commands/). */
  locks: 'mergeops / locks',
} as const;

export type CheckName = (typeof CHECK_NAMES)[keyof typeof CHECK_NAMES];
