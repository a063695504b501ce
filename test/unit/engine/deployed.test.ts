import { describe, expect, it } from '@jest/globals';
import { deployedAt, deployedAtPushBase, headMissed, renderDeployed, rollbackFrom, type DeployRecord, type DeploymentEntry } from '../../../src/engine/deployed.js';

const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const record = (at: Record<string, string>): DeployRecord => ({ deployedSha: async (_j, app) => at[app] ?? null });

describe('deployed at commit X: the one answer', () => {
  it("mergeops' record wins over GitHub Deployments, which are not even read then (a push that changed only another app moved the record, not the Deployments)", async () => {
    let reads = 0;
    const deployments = async (): Promise<DeploymentEntry[]> => {
      reads++;
      return [{ sha: A, state: 'success' }];
    };
    expect(await deployedAt(1, 'web', record({ web: B }), deployments)).toEqual({ sha: B, from: 'record' });
    expect(reads).toBe(0);
  });

  it('an app the record never saw: its newest successful Deployment, else never deployed', async () => {
    const history: DeploymentEntry[] = [{ sha: C, state: 'failure' }, { sha: B, state: 'success' }, { sha: A, state: 'success' }];
    expect(await deployedAt(1, 'web', record({}), async () => history)).toEqual({ sha: B, from: 'deployments' });
    expect(await deployedAt(1, 'web', undefined, async () => [{ sha: C, state: null }])).toBeNull();
  });

  it('a rollback goes back from the record, else from the newest Deployment whatever its state (the failed one being rolled back)', async () => {
    const history: DeploymentEntry[] = [{ sha: C, state: 'failure' }, { sha: B, state: 'success' }];
    expect(await rollbackFrom('web', { repoId: 1, store: record({ web: B }) }, history)).toBe(B);
    expect(await rollbackFrom('web', undefined, history)).toBe(C);
    expect(await rollbackFrom('web', undefined, [])).toBeUndefined();
  });

  it('a push leaves an app it cannot affect alone only where the app is deployed at the push\'s parent (or at the push, on a retry)', () => {
    expect(deployedAtPushBase(A, A, B)).toBe(true);
    expect(deployedAtPushBase(B, A, B)).toBe(true);
    // Its last deploy failed (or went unhealthy) after A: the record is older, so it deploys.
    expect(deployedAtPushBase(C, A, B)).toBe(false);
    expect(deployedAtPushBase(null, A, B)).toBe(false);
  });

  it('catch-up: a branch head is missed when no app of the branch is at it', () => {
    expect(headMissed([A, B], C)).toBe(true);
    expect(headMissed([A, C], C)).toBe(false);
  });

  it('the render counts as deployed only with the same hash under the same grants; a record without a hash (pending, or unhealthy) never does', () => {
    expect(renderDeployed({ desiredHash: 'sha256:x', grants: 'g' }, 'sha256:x', 'g')).toBe(true);
    expect(renderDeployed({ desiredHash: 'sha256:x', grants: 'g' }, 'sha256:x', 'h')).toBe(false);
    expect(renderDeployed({ grants: 'g' }, 'sha256:x', 'g')).toBe(false);
    expect(renderDeployed(null, 'sha256:x', 'g')).toBe(false);
  });
});
