/** What the environments benchmark and its scenario processes (bench/environments-worker.ts) exchange. */
export const ENVIRONMENTS = ['staging', 'prod-eu', 'prod-us'] as const;

export interface EnvironmentsJob {
  scenario: 'merge' | 'preview';
  /** 1: today's single environment (no environments:, the staging cluster); 3: staging → prod-eu + prod-us. */
  environments: 1 | 3;
  runs: number;
  /** Apps of the preview scenario's repository. */
  apps: number;
  /** One API server per environment: what the scenario reads back from. */
  kubeconfigs: Record<(typeof ENVIRONMENTS)[number], string>;
  /** What mergeops reaches them through, when not directly (a proxy adding a network's round trip). */
  appKubeconfigs?: Record<(typeof ENVIRONMENTS)[number], string>;
  redisUrl: string;
}

export interface EnvironmentsResult {
  scenario: EnvironmentsJob['scenario'];
  environments: 1 | 3;
  /** ms per run: merge → last environment applied; preview → comment written. */
  runs: number[];
}
