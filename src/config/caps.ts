/**
 * What one repository's config may ask of mergeops: untrusted PRs choose how many apps
 * there are, how much each renders and how long a deploy waits, so each has an operator
 * cap and going over it is a failed check that names the cap, never a crash or a worker
 * held for hours.
 */
export interface RepoCaps {
  /** Apps in one `.github/mergeops.yml`. */
  maxApps: number;
  /** Objects one app may render. */
  maxObjectsPerApp: number;
  /** Memory (data segment) helm or kustomize may use for one render. */
  renderMemoryBytes: number;
  /** Upper bound of an app's `wait:`. */
  maxWaitMs: number;
}

export const DEFAULT_CAPS: RepoCaps = {
  maxApps: 50,
  maxObjectsPerApp: 5000,
  renderMemoryBytes: 1024 * 1024 * 1024,
  maxWaitMs: 30 * 60_000,
};
