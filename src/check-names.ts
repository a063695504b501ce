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

/** The preview of one environment (`previewCheck: true` on it), for branch protection to require: `mergeops / preview (prod-eu)`. */
export type EnvironmentPreviewCheckName = `${typeof CHECK_NAMES.preview} (${string})`;

export type CheckName = (typeof CHECK_NAMES)[keyof typeof CHECK_NAMES] | EnvironmentPreviewCheckName;

export function environmentPreviewCheck(environment: string): EnvironmentPreviewCheckName {
  return `${CHECK_NAMES.preview} (${environment})`;
}

/** The overall preview or one environment's: a re-run of either previews the commit again. */
export function isPreviewCheck(name: string): boolean {
  return name === CHECK_NAMES.preview || (name.startsWith(`${CHECK_NAMES.preview} (`) && name.endsWith(')'));
}
