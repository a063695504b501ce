/**
 * The names of the rollout analysis' findings (src/diff/rollout.ts): what `failOn:` in
 * `.github/mergeops.yml` may list to turn one into a failed preview. At the root of src/
 * because the config schema (config/) and the analysis (diff/) both name them.
 */
export const ROLLOUT_CHECKS = [
  /** A ConfigMap or Secret changes, its consumers' pod templates do not: running pods keep the old values. */
  'config-not-reloaded',
  /** A Service's selector no longer matches the pods a workload's new template makes. */
  'selector-mismatch',
  /** The namespace's ResourceQuota has no room for the rollout's peak (or for pods without requests). */
  'quota',
  /** A PodDisruptionBudget that the workload's replicas make unsatisfiable: evictions and node drains block. */
  'pdb-blocks',
  /** An HPA owns `replicas` while Git sets them too. */
  'hpa-fights',
  /** minReadySeconds make the rollout take longer than the app's `wait:`. */
  'wait-too-short',
  /** An Ingress or HTTPRoute points at a Service or port the render no longer has. */
  'route-missing-backend',
] as const;

export type RolloutCheck = (typeof ROLLOUT_CHECKS)[number];

/** The pod-template annotation `restartOnConfigChange: true` sets: a hash of the ConfigMaps and Secrets the pods read. */
export const CONFIG_HASH_ANNOTATION = 'mergeops.dev/config-hash';
