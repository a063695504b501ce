import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { PreviewJob, PromoteJob } from '../../../src/flows/jobs.js';
import { runPromotion, type PromoteDeps } from '../../../src/flows/promote.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const CONFIG = `environments:
  - name: staging
    cluster: staging
  - name: prod-eu
    cluster: eu
    promote: { pr: true, files: [config.env] }
apps:
  - name: web
    path: deploy/web/{env}
  - name: api
    path: deploy/api
images:
  - repository: ghcr.io/acme/web
    policy: { semver: "^1" }
    environments: [staging]
`;
const overlay = (tag: string): string => `resources:\n  - ../base\nimages:\n  - name: ghcr.io/acme/web\n    newTag: "${tag}" # set by mergeops\n`;

function setup(files: Record<string, string>) {
  const host = new FakeRepoHost();
  const sha = host.push(files, 'main');
  const previews: PreviewJob[] = [];
  const deps: PromoteDeps = { hosts: fakeHosts(host), log: pino({ level: 'silent' }), enqueuePreview: async (j) => void previews.push(j) };
  const job: PromoteJob = { kind: 'promote', installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, defaultBranch: 'main', environment: 'prod-eu', sha, branch: 'main' };
  return { host, sha, deps, job, previews };
}

const base = { '.github/mergeops.yml': CONFIG, 'deploy/web/base/kustomization.yaml': 'resources: []\n', 'deploy/api/cm.yaml': 'kind: ConfigMap\n' };

describe('promotion flow (through the fake host)', () => {
  it("opens one PR per app carrying staging's tag and listed file into prod-eu's folder, and asks for its preview", async () => {
    const { host, sha, deps, job, previews } = setup({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.3.0'), 'deploy/web/staging/config.env': 'POOL=10\n', 'deploy/web/prod-eu/kustomization.yaml': overlay('1.2.0'), 'deploy/web/prod-eu/config.env': 'POOL=5\n' });
    const out = await runPromotion(job, deps);
    // api shares one folder across environments: nothing to promote, no PR.
    expect(out).toEqual([{ app: 'web', branch: 'mergeops/promote/web/prod-eu', result: 'opened', pr: expect.any(Number) }]);
    const pr = host.pulls[0];
    expect(pr).toMatchObject({ head: 'mergeops/promote/web/prod-eu', base: 'main', title: 'Promote web to prod-eu (1 image, 1 file)', state: 'open' });
    expect(pr?.body).toContain('| `ghcr.io/acme/web` | `1.2.0` | `1.3.0` |');
    const head = host.branches.get('mergeops/promote/web/prod-eu') as string;
    expect(await host.readFile('deploy/web/prod-eu/kustomization.yaml', head)).toBe(overlay('1.3.0'));
    expect(await host.readFile('deploy/web/prod-eu/config.env', head)).toBe('POOL=10\n');
    // staging's files and the shared base stay as they are.
    expect(await host.readFile('deploy/web/staging/kustomization.yaml', head)).toBe(overlay('1.3.0'));
    expect(host.commits.get(head)?.parents).toEqual([sha]);
    expect(previews).toEqual([expect.objectContaining({ pr: pr?.number, headSha: head, baseRef: 'main', baseSha: sha })]);
    expect(host.openCheckouts).toBe(0);
  });

  it('updates the same PR when staging moves on, and closes it once prod-eu matches', async () => {
    const { host, deps, job } = setup({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.3.0'), 'deploy/web/prod-eu/kustomization.yaml': overlay('1.2.0') });
    await runPromotion(job, deps);
    const first = host.pulls[0];
    expect(first?.title).toBe('Promote web to prod-eu: ghcr.io/acme/web 1.2.0 → 1.3.0');
    const next = host.push({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.4.0'), 'deploy/web/prod-eu/kustomization.yaml': overlay('1.2.0') }, 'main');
    expect(await runPromotion({ ...job, sha: next }, deps)).toEqual([expect.objectContaining({ result: 'updated', pr: first?.number })]);
    expect(host.pulls).toHaveLength(1);
    expect(host.pulls[0]?.title).toBe('Promote web to prod-eu: ghcr.io/acme/web 1.2.0 → 1.4.0');
    // Someone promoted by hand: prod-eu now runs what staging runs.
    const done = host.push({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.4.0'), 'deploy/web/prod-eu/kustomization.yaml': overlay('1.4.0') }, 'main');
    expect(await runPromotion({ ...job, sha: done }, deps)).toEqual([expect.objectContaining({ result: 'closed', pr: first?.number })]);
    expect(host.pulls[0]?.state).toBe('closed');
    expect(host.comments.at(-1)?.body).toContain('so this promotion is no longer needed');
    expect(await runPromotion({ ...job, sha: done }, deps)).toEqual([expect.objectContaining({ result: 'current' })]);
  });

  it('reads the healthy commit for the source and the branch head for the target (a newer merge in between is kept)', async () => {
    const { host, deps, job } = setup({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.3.0'), 'deploy/web/prod-eu/kustomization.yaml': overlay('1.2.0') });
    // staging moved to 1.9.0 after the healthy commit: not verified yet, so not promoted.
    const head = host.push({ ...base, 'deploy/web/staging/kustomization.yaml': overlay('1.9.0'), 'deploy/web/prod-eu/kustomization.yaml': overlay('1.2.0'), 'deploy/web/prod-eu/extra.yaml': 'x: 1\n' }, 'main');
    await runPromotion(job, deps);
    const branch = host.branches.get('mergeops/promote/web/prod-eu') as string;
    expect(await host.readFile('deploy/web/prod-eu/kustomization.yaml', branch)).toBe(overlay('1.3.0'));
    expect(await host.readFile('deploy/web/prod-eu/extra.yaml', branch)).toBe('x: 1\n');
    expect(host.commits.get(branch)?.parents).toEqual([head]);
  });
});
