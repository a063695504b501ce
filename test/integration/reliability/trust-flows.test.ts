import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Cluster } from '../../../src/cluster/connect.js';
import { enqueueDeploy } from '../../../src/queue/queues.js';
import { DeployState } from '../../../src/queue/state.js';
import { deliver, waitFor } from '../../support/github.js';
import { REPO, prPayload, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
const config = (ns: string, extra = ''): string => `apps:\n  - name: tfl-web\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n${extra}`;

/**
 * Issue #13 items 1 (fork side), 2 and 5, end to end through the real receiver, queue,
 * workers and API server: who may say where and when something deploys. Every refusal is
 * proven from state: the objects in the cluster, the jobs in the queue, the requests sent
 * to GitHub.
 */
describe('trust: deploys come only from allowed branch heads; fork PRs cannot choose targets', () => {
  let h: Harness;
  let cluster: Cluster;
  let redis: Redis;
  let ns: string;
  let other: string;
  let mainSha: string;

  beforeAll(async () => {
    cluster = await testCluster();
    const prefix = uniqueName('tfl');
    ns = `${prefix}-a`;
    other = `${prefix}-b`;
    await namespace(cluster, ns);
    await namespace(cluster, other);
    redis = new Redis(process.env['MERGEOPS_TEST_REDIS_URL'] as string);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["${prefix}-*"]\n`);
    // What the operator's reviewed main branch deployed.
    mainSha = sha(`${prefix}-main`);
    await h.push(mainSha, { '.github/mergeops.yml': config(ns), 'deploy/cm.yaml': cm('web', 'from-main') });
    expect(await h.pushEvent(mainSha)).toBe(202);
    expect((await h.waitForDeploy(mainSha)).body.conclusion).toBe('success');
    expect((await get(cluster, 'v1', 'ConfigMap', ns, 'web'))?.['data']).toEqual({ value: 'from-main' });
  });
  afterAll(async () => {
    await h?.stop();
    redis?.disconnect();
    cluster?.client.close();
  });

  const liveValue = async (n: string): Promise<unknown> => ((await get(cluster, 'v1', 'ConfigMap', n, 'web'))?.['data'] as { value?: string } | undefined)?.value;
  const deployJobs = async (s: string) => (await h.rt.queues.deploy.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).filter((j) => j.data.sha === s);
  const githubWritesFor = (s: string) => h.calls.filter((c) => c.method !== 'GET' && JSON.stringify(c.body ?? {}).includes(s));

  it('item 2: a push to branch evil whose own config says branch: evil deploys nothing', async () => {
    const evil = sha(`${ns}-evil`);
    await h.push(evil, { '.github/mergeops.yml': config(ns, '    branch: evil\n'), 'deploy/cm.yaml': cm('web', 'from-evil') });
    expect(await h.pushEvent(evil, { branch: 'evil' })).toBe(202);
    const check = await h.waitForDeploy(evil);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.summary).toContain(`branch "evil" may not deploy ${REPO.owner}/${REPO.name} to cluster "default" (allowed: main)`);
    expect(await liveValue(ns)).toBe('from-main');
    // No GitHub Deployment was even started for it.
    expect(h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.sha === evil)).toEqual([]);
  });

  it('item 2: a push whose commit is no longer the head of main when the job runs deploys nothing', async () => {
    const stale = sha(`${ns}-stale`);
    const newer = sha(`${ns}-newer`);
    await h.push(stale, { '.github/mergeops.yml': config(ns), 'deploy/cm.yaml': cm('web', 'from-stale') });
    // main has moved on to a commit whose own push is still to be delivered.
    h.git.refs.set('main', newer);
    expect(await h.pushEvent(stale, { replay: true })).toBe(202);
    const job = await waitFor(async () => (await deployJobs(stale)).find((j) => j.finishedOn !== undefined), 'the stale deploy job to finish');
    expect(job.returnvalue).toBe('refused');
    expect(await liveValue(ns)).toBe('from-main');
    expect(githubWritesFor(stale)).toEqual([]);
    h.git.refs.set('main', mainSha);
  });

  it('item 5: a deploy job written straight into Redis (with the newest-commit mark) deploys nothing', async () => {
    // A commit that exists in the repository (a fork PR's head, say) but heads no branch.
    const forged = sha(`${ns}-forged`);
    await h.push(forged, { '.github/mergeops.yml': config(ns), 'deploy/cm.yaml': cm('web', 'from-forged') });
    const job = { installationId: 424242, owner: REPO.owner, repo: REPO.name, repoId: REPO.id, sha: forged, branch: 'main', defaultBranch: 'main', reason: 'self-heal' as const };
    await new DeployState(redis, h.prefix).setLatest(job, Date.now() + 60_000);
    expect(await enqueueDeploy(h.rt.queues, job)).toBe(true);
    // And one naming another repository id than the one the installation reaches.
    const wrongRepo = { ...job, repoId: 9999, sha: sha(`${ns}-forged-2`) };
    await new DeployState(redis, h.prefix).setLatest(wrongRepo, Date.now() + 60_000);
    expect(await enqueueDeploy(h.rt.queues, wrongRepo)).toBe(true);
    for (const s of [forged, wrongRepo.sha]) {
      const done = await waitFor(async () => (await deployJobs(s)).find((j) => j.finishedOn !== undefined), `forged job ${s.slice(0, 7)}`);
      expect(done.returnvalue).toBe('refused');
      expect(githubWritesFor(s)).toEqual([]);
    }
    expect(await liveValue(ns)).toBe('from-main');
    // Neither tarball was even downloaded: the check came first.
    expect(h.calls.filter((c) => c.path.endsWith(`/tarball/${forged}`) || c.path.endsWith(`/tarball/${wrongRepo.sha}`))).toEqual([]);
  });

  it("item 1: a fork PR previews at the base branch's targets, whatever namespace its own config names, and cannot add apps", async () => {
    const base = sha(`${ns}-fork-base`);
    const head = sha(`${ns}-fork-head`);
    await h.push(base, { '.github/mergeops.yml': config(ns), 'deploy/cm.yaml': cm('web', 'from-main') });
    await h.push(head, {
      '.github/mergeops.yml': `${config(other, '    createNamespace: true\n    adopt: [ConfigMap/' + other + '/web]\n')}  - name: tfl-sneaky\n    path: deploy\n    namespace: ${other}\n    wait: 0\n`,
      'deploy/cm.yaml': cm('web', 'from-fork'),
    });
    const p = prPayload('opened', 77, head, base) as Record<string, any>; // fixture JSON is untyped
    Object.assign(p['pull_request']['head']['repo'], { full_name: 'mallory/deploys', fork: true, id: 666 });
    p['pull_request']['head']['repo'].owner.login = 'mallory';
    expect((await deliver(h.rt.url as string, 'pull_request', p)).status).toBe(202);
    const { check, comment } = await h.waitForPreview(head);
    const text = `${check.body.output.summary}\n${check.body.output.text ?? ''}\n${comment.body.body}`;
    // The dry-run went to the base branch's namespace: the change shown is ns/web from-main → from-fork.
    expect(text).toContain(`${ns}/web`);
    expect(text).not.toContain(`${other}/web`);
    expect(text).toContain('app tfl-sneaky is not defined on the base branch');
    // A preview writes nothing: both namespaces are as they were.
    expect(await liveValue(ns)).toBe('from-main');
    expect(await get(cluster, 'v1', 'ConfigMap', other, 'web')).toBeNull();
  });
});
