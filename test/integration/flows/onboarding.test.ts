import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import type { Queue } from 'bullmq';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { ONBOARDING_QUEUE, type OnboardJob } from '../../../src/flows/onboard.js';
import { ONBOARDING_BRANCH, ONBOARDING_TITLE } from '../../../src/onboarding/detect.js';
import { INSTALLATION_ID, deliver, waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { webhookExample } from '../../support/webhook-schemas.js';

/** A second repository of the installation, one that already has a config. */
const CONFIGURED = { owner: REPO.owner, name: 'configured', id: 778 };
const CONFIGURED_HEAD = sha('onboarding-configured-main');

const unconfigured: Record<string, string> = {
  'README.md': '# shop\n',
  'apps/web/base/kustomization.yaml': 'resources:\n  - cm.yaml\n',
  'apps/web/base/cm.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n',
  'apps/web/overlays/prod/kustomization.yaml': 'resources:\n  - ../../base\n',
  'k8s/worker/worker.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: worker\n',
};

const repoEntry = (r: { owner: string; name: string; id: number }) => ({ id: r.id, node_id: `R_${r.id}`, name: r.name, full_name: `${r.owner}/${r.name}`, private: true });

function installationCreated(repos: { owner: string; name: string; id: number }[]): Record<string, unknown> {
  const p = webhookExample('installation', 'created');
  p['installation'].id = INSTALLATION_ID;
  p['installation'].account.login = REPO.owner;
  p['repositories'] = repos.map(repoEntry);
  return p;
}

function repositoriesAdded(repos: { owner: string; name: string; id: number }[]): Record<string, unknown> {
  const p = webhookExample('installation_repositories', 'added');
  p['installation'].id = INSTALLATION_ID;
  p['installation'].account.login = REPO.owner;
  p['repositories_added'] = repos.map(repoEntry);
  p['repositories_removed'] = [];
  return p;
}

const pullsOpened = (h: Harness): Recorded[] => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path === `/repos/${REPO.owner}/${REPO.name}/pulls`);

describe('onboarding pull requests through the app (MERGEOPS_ONBOARDING=pr)', () => {
  let h: Harness;
  let queue: Queue<OnboardJob>;
  const main = sha('onboarding-main');
  const configuredCalls: string[] = [];

  beforeAll(async () => {
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/${REPO.name}"]\n        namespaces: ["default"]\n`, { MERGEOPS_ONBOARDING: 'pr' });
    queue = h.rt.queues.all.find((q) => q.name === ONBOARDING_QUEUE) as Queue<OnboardJob>;
    await h.push(main, unconfigured);
    h.git.refs.set('main', main);
    // The configured repository: only what a flow needs to see its config. Anything else the
    // flow asked of it (a pulls list, a tarball, a commit) is a route the stand-in lacks, which
    // fails the test as a contract violation.
    const base = `/repos/${CONFIGURED.owner}/${CONFIGURED.name}`;
    const seen = (uri: string): void => void configuredCalls.push(uri);
    h.serve([
      { method: 'GET', path: base, handle: (req) => (seen(req.uri), [200, { id: CONFIGURED.id, name: CONFIGURED.name, full_name: `${CONFIGURED.owner}/${CONFIGURED.name}`, default_branch: 'main', owner: { login: CONFIGURED.owner } }]) },
      { method: 'GET', path: new RegExp(`^${base}/git/ref/`), handle: (req) => (seen(req.uri), [200, { ref: 'refs/heads/main', object: { sha: CONFIGURED_HEAD, type: 'commit' } }]) },
      {
        method: 'GET',
        path: new RegExp(`^${base}/contents/`),
        handle: (req) => {
          seen(req.uri);
          const file = decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? '');
          return file === '.github/mergeops.yml' && req.url.searchParams.get('ref') === CONFIGURED_HEAD ? [200, 'apps:\n  - name: web\n    path: deploy\n', { 'content-type': 'text/plain; charset=utf-8' }] : [404, { message: 'Not Found' }];
        },
      },
    ]);
  });

  afterAll(async () => {
    await h?.stop();
  });

  it('installation.created: one onboarding PR with a detected config in the repo without one, none in the repo with one', async () => {
    const delivery = crypto.randomUUID();
    expect((await deliver(h.rt.url as string, 'installation', installationCreated([REPO, CONFIGURED]), { id: delivery })).status).toBe(202);

    const done = await waitFor(async () => {
      const jobs = await queue.getJobs(['completed', 'failed']);
      return jobs.length === 2 ? jobs : undefined;
    }, 'both onboarding jobs to finish');
    expect(Object.fromEntries(done.map((j) => [j.data.repo, j.returnvalue]))).toEqual({ [REPO.name]: 'opened', configured: 'configured' });

    expect(pullsOpened(h)).toHaveLength(1);
    expect(h.git.pulls).toHaveLength(1);
    const pr = h.git.pulls[0];
    expect(pr).toMatchObject({ title: ONBOARDING_TITLE, head: ONBOARDING_BRANCH, base: 'main', state: 'open' });
    expect(pr?.body).toContain('| `web-prod` | `apps/web/overlays/prod` | kustomize |');
    // The branch holds the proposed config on top of main, and it is one mergeops accepts.
    const proposed = h.git.files.get(h.git.refs.get(ONBOARDING_BRANCH) ?? '')?.['.github/mergeops.yml'];
    expect(typeof proposed).toBe('string');
    expect(parseRepoConfig(String(proposed), 'main').apps.map((a) => [a.name, a.path])).toEqual([
      ['web-prod', 'apps/web/overlays/prod'],
      ['worker', 'k8s/worker'],
    ]);
    expect(h.git.files.get(h.git.refs.get(ONBOARDING_BRANCH) ?? '')?.['README.md']).toBe('# shop\n');
    // The configured repository was only read (by onboarding and the image-watch sync): its
    // default branch, head and config; no pulls list, no archive, no write.
    expect(new Set(configuredCalls.map((u) => u.split('?')[0]))).toEqual(new Set([`/repos/acme/configured`, `/repos/acme/configured/git/ref/heads%2Fmain`, `/repos/acme/configured/contents/.github%2Fmergeops.yml`]));

    // GitHub redelivers the same event (same delivery id): acknowledged, nothing queued again.
    expect((await deliver(h.rt.url as string, 'installation', installationCreated([REPO, CONFIGURED]), { id: delivery })).status).toBeLessThan(300);
    expect((await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed'])).map((j) => j.id).sort()).toEqual([`onboard-${REPO.id}`, `onboard-${CONFIGURED.id}`]);
  });

  it("the onboarding PR previews like any other once GitHub announces it: the detected apps render and the comment lists them", async () => {
    const pr = h.git.pulls[0];
    const head = h.git.refs.get(ONBOARDING_BRANCH);
    if (!pr || !head) throw new Error('the first test opens the onboarding PR');
    // GitHub sends pull_request.opened for a PR the App itself opened; the stand-in's fake
    // Git already has the branch's commit and archive.
    expect(await h.open(pr.number, head, { baseSha: main })).toBe(202);
    const { check, comment } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    expect(comment.body.body).toContain('web-prod');
    expect(comment.body.body).toContain('worker');
  });

  it('installation_repositories.added for a repo already offered a PR: no second job, no second PR, even once the first job is gone', async () => {
    const before = h.calls.length;
    expect((await deliver(h.rt.url as string, 'installation_repositories', repositoriesAdded([REPO]))).status).toBe(202);
    // The handler enqueues before it answers: the job id it would add already exists.
    const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed']);
    expect(jobs.filter((j) => j.data.repoId === REPO.id)).toHaveLength(1);
    // (The image-watch sync still reads the repo's config; the onboarding flow did not run.)
    expect(h.calls.slice(before).filter((c) => c.path.includes('/pulls') || c.path.includes('/tarball/'))).toEqual([]);

    // The kept job expired (a month later): the flow itself finds the open PR and opens none.
    await queue.remove(`onboard-${REPO.id}`);
    expect((await deliver(h.rt.url as string, 'installation_repositories', repositoriesAdded([REPO]))).status).toBe(202);
    const again = await waitFor(async () => {
      const j = await queue.getJob(`onboard-${REPO.id}`);
      return j && (await j.isCompleted()) ? j : undefined;
    }, 'the second onboarding job to finish');
    expect(again.returnvalue).toBe('open');
    expect(pullsOpened(h)).toHaveLength(1);
    expect(h.git.pulls).toHaveLength(1);
  });
});
