import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { DeployJob } from '../../../src/flows/jobs.js';
import { INSTALLATION_ID, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type FaultReply, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * A deploy whose GitHub bookkeeping fails for a reason of ours (GitHub 500 on creating the
 * Deployment, with Octokit retries off) is retried by BullMQ: the deploy's report job,
 * which keeps the deploy job's attempts. The retry goes on with the check run the first
 * attempt created instead of creating a second, and a report that runs out of attempts
 * completes that check as failed, saying why.
 */
describe('deploy retries keep one check run', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  let deploymentFaults = 0;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relretry');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relretry-*"]\n`, {}, {
      fault: (method, path): FaultReply | undefined => {
        if (method === 'POST' && path.endsWith('/deployments') && deploymentFaults > 0) {
          deploymentFaults--;
          return [500, { message: 'Server Error' }];
        }
        return undefined;
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const job = (s: string): DeployJob => ({ installationId: INSTALLATION_ID, owner: REPO.owner, repo: REPO.name, repoId: REPO.id, sha: s, branch: 'main', defaultBranch: 'main', reason: 'push' });
  const files = (value: string) => ({
    '.github/mergeops.yml': `apps:\n  - name: rel-retry\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n`,
    'deploy/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: "${value}"\n`,
  });
  const checkRuns = (s: string) => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s);
  const completions = () => h.calls.filter((c) => c.method === 'PATCH' && !c.status && /\/check-runs\/\d+$/.test(c.path) && c.body.status === 'completed');

  it('a retried deploy finishes the check run its first attempt opened', async () => {
    const s = sha(`retry-${ns}`);
    await h.push(s, files('1'));
    deploymentFaults = 1;
    // The worker confirms with GitHub that the job's commit heads its branch.
    h.git.refs.set('main', s);
    await h.rt.queues.deploy.add('deploy', job(s), { jobId: `retry-${ns}`, attempts: 3, backoff: { type: 'fixed', delay: 100 } });
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('success');
    // The check comes first in the report (Deployments link it); the retried attempt creates the Deployment.
    const deployment = await waitFor(() => h.git.deployments.find((d) => d.sha === s && d.statuses.length > 0), 'the Deployment the retry created');
    expect(deployment.statuses.map((x) => x.state)).toEqual(['success']);
    expect(h.git.deployments.filter((d) => d.sha === s)).toHaveLength(1);
    expect(h.calls.filter((c) => c.status === 500)).toHaveLength(1);
    expect(checkRuns(s)).toHaveLength(1);
    expect(((await get(cluster, 'v1', 'ConfigMap', ns, 'settings'))?.['data'] as { value: string }).value).toBe('1');
  });

  it('a deploy that runs out of attempts completes its one check run as failed, saying why', async () => {
    const s = sha(`exhausted-${ns}`);
    await h.push(s, files('2'));
    deploymentFaults = 2;
    h.git.refs.set('main', s);
    const before = completions().length;
    await h.rt.queues.deploy.add('deploy', job(s), { jobId: `exhausted-${ns}`, attempts: 2, backoff: { type: 'fixed', delay: 100 } });
    const done = await waitFor(() => completions().slice(before).find((c) => c.body.conclusion === 'failure'), 'failed deploy check');
    expect(checkRuns(s)).toHaveLength(1);
    expect(done.path).toMatch(new RegExp(`/check-runs/${1000 + h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs')).indexOf(checkRuns(s)[0] as (typeof h.calls)[number]) + 1}$`));
    expect(done.body.output.title).toBe('mergeops / deploy failed after 2 attempts');
    // GitHub's 500 is ours, not the repo's: the public check names an id, the log holds the detail.
    expect(done.body.output.summary).toMatch(/mergeops hit an internal error; the operator can find the details in its logs under id [0-9a-f]{12}/);
    expect(done.body.output.summary).not.toContain('api.github.com');
  });
});
