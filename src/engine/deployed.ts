import type { InventoryRecord } from '../cluster/inventory-store.js';

/*
 * The one place that decides "this app is deployed at commit X". Several records touch it,
 * each written at a different moment, so each is read for one question only:
 *
 * - mergeops' deploy record (Redis, `DeployState`): the commit an app last deployed
 *   successfully — applied, pruned and healthy within its `wait` — moved on to a push's
 *   commit for the apps that push could not change. The answer to "at which commit".
 * - GitHub Deployments: written for the apps a push changed, so alone they would call an app
 *   stale after a push that changed another one. Read only for an app the record has never
 *   seen (deployed before the record existed, or the record was lost with Redis).
 * - The app's inventory in the cluster: its render hash is written only after the health
 *   wait succeeded, under the grants it was applied with. The answer to "would an apply
 *   change anything", never to "at which commit" (one render is deployed at many commits).
 * - The deploy report: says what happened to this attempt, records nothing.
 */

/** mergeops' own deploy record: the commit each app last deployed successfully (null: never). */
export interface DeployRecord {
  deployedSha(j: { repoId: number }, app: string): Promise<string | null>;
  /**
   * The commit a bootstrap first deployed `app` at, which wrote it no GitHub Deployment
   * (flows/deploy.ts BOOTSTRAP_DEPLOYMENTS_MAX): rollback's oldest good commit for it.
   */
  firstDeploySha?(j: { repoId: number }, app: string): Promise<string | null>;
}

/** A GitHub Deployment of the app (environment = app name), newest first. */
export interface DeploymentEntry {
  sha: string;
  /** Its latest status (`success`, `failure`…); null when it has none yet. */
  state: string | null;
}

export interface DeployedAt {
  sha: string;
  /** Where it came from: mergeops' record, or (an app it never recorded) GitHub Deployments. */
  from: 'record' | 'deployments';
}

/**
 * The commit `app` is deployed at: mergeops' record, else the newest successful GitHub
 * Deployment (read only then, one request), else null (never deployed). `/mergeops deploy`
 * and rollback both ask this.
 */
export async function deployedAt(repoId: number, app: string, record: DeployRecord | undefined, deployments: () => Promise<DeploymentEntry[]>): Promise<DeployedAt | null> {
  const recorded = (await record?.deployedSha({ repoId }, app)) ?? null;
  if (recorded) return { sha: recorded, from: 'record' };
  const success = (await deployments()).find((d) => d.state === 'success');
  return success ? { sha: success.sha, from: 'deployments' } : null;
}

/**
 * The commit a rollback goes back from: mergeops' record, else the newest GitHub Deployment
 * whatever its state (without a record, a failed deploy is what is being rolled back), else
 * none. Its earlier successful Deployments are the candidates.
 */
export async function rollbackFrom(app: string, record: { repoId: number; store: DeployRecord } | undefined, history: readonly DeploymentEntry[]): Promise<string | undefined> {
  return (await record?.store.deployedSha({ repoId: record.repoId }, app)) ?? history[0]?.sha;
}

/**
 * The commits a rollback may go back to, newest first: the app's earlier successful GitHub
 * Deployments, then the commit a bootstrap first deployed it at without one (its oldest
 * good commit), never the one it goes back from.
 */
export async function rollbackCandidates(app: string, record: { repoId: number; store: DeployRecord } | undefined, history: readonly DeploymentEntry[], from: string | undefined): Promise<string[]> {
  const first = (await record?.store.firstDeploySha?.({ repoId: record.repoId }, app)) ?? null;
  const good = [...history.filter((d) => d.state === 'success').map((d) => d.sha), ...(first ? [first] : [])];
  return [...new Set(good.filter((s) => s !== from))];
}

/**
 * Whether an app the push's files cannot affect is already deployed where the push leaves
 * it: at the commit the push started from (so nothing it lacks is in the push), or at the
 * pushed commit itself (a retry of this job, after its first attempt recorded it).
 */
export function deployedAtPushBase(at: string | null, before: string, sha: string): boolean {
  return at !== null && (at === before || at === sha);
}

/** Whether a branch head was never deployed: no app of the branch is recorded at it (catch-up). */
export function headMissed(deployedShas: readonly string[], head: string): boolean {
  return !deployedShas.includes(head);
}

/**
 * Whether the cluster already holds this render as a deploy that succeeded: the app's
 * inventory recorded the same render hash (written only after the health wait) under the
 * same grants, so an apply would send the same requests. The deploy's skip asks this.
 */
export function renderDeployed(inventory: Pick<InventoryRecord, 'desiredHash' | 'grants'> | null, desiredHash: string, grants: string | undefined): boolean {
  return inventory !== null && inventory.desiredHash === desiredHash && inventory.grants === grants;
}
