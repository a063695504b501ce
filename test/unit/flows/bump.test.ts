import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { ImageRule } from '../../../src/config/repo-config.js';
import { BUMP_RATE_LIMIT_WAITS, onRegistryRateLimit, runBump, runSync, type BumpDeps } from '../../../src/flows/bump.js';
import type { BumpJob, PreviewJob, RepoTarget } from '../../../src/flows/jobs.js';
import { RegistryRateLimitError, type BuildInfo, type ImageDatasource } from '../../../src/images/registry/datasource.js';
import { FakeRepoHost, fakeHosts } from '../fakes/repo-host.js';

const IMAGE = 'ghcr.io/acme/web';
const deployment = (tag: string): string =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: ${IMAGE}:${tag} # the web app\n`;
const CONFIG = `apps:\n  - name: web\n    path: web\nimages:\n  - repository: ${IMAGE}\n    policy: { semver: "^1.0.0" }\n    pullRequest: { labels: [deps, images], automerge: true }\n`;

/** A registry answering from memory. */
class MemoryRegistry implements ImageDatasource {
  constructor(public tags: string[]) {}
  async listTags(): Promise<string[]> {
    return this.tags;
  }
  async digest(): Promise<string | null> {
    return `sha256:${'a'.repeat(64)}`;
  }
  async buildInfo(): Promise<BuildInfo> {
    return { revision: 'abc1234' };
  }
}

function setup(files: Record<string, string>, tags: string[]) {
  const host = new FakeRepoHost();
  const main = host.push(files, 'main');
  const registry = new MemoryRegistry(tags);
  const previews: PreviewJob[] = [];
  const synced: { target: RepoTarget; rules: ImageRule[] }[] = [];
  const deps: BumpDeps = {
    hosts: fakeHosts(host),
    registry,
    log: pino({ level: 'silent' }),
    syncImages: async (target, rules) => void synced.push({ target, rules }),
    enqueuePreview: async (job) => void previews.push(job),
  };
  const job: BumpJob = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, defaultBranch: 'main', kind: 'bump', repository: IMAGE, events: [{ tag: tags.at(-1) ?? '', source: 'ghcr.io webhook' }] };
  return { host, main, registry, deps, job, previews, synced };
}

describe('image bump flow (through the fake host)', () => {
  it('opens one labelled PR with the one-token edit, auto-merge on, and asks for its preview', async () => {
    const { host, main, deps, job, previews, synced } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.0.0') }, ['1.0.0', '1.2.0', '2.0.0']);
    const outcomes = await runBump(job, deps);
    expect(outcomes).toEqual([{ key: IMAGE, base: 'main', result: 'opened', pr: expect.any(Number) }]);
    const pr = host.pulls[0];
    expect(pr).toMatchObject({ head: 'mergeops/bump/ghcr.io-acme-web', base: 'main', title: `Bump ${IMAGE} from 1.0.0 to 1.2.0`, state: 'open', labels: ['deps', 'images'], autoMerge: true });
    expect(pr?.body).toContain('1.2.0');
    const head = host.branches.get(pr?.head ?? '') as string;
    // Only the tag changed; the comment on that line is kept.
    expect(await host.readFile('web/deploy.yaml', head)).toBe(deployment('1.2.0'));
    expect(host.commits.get(head)?.parents).toEqual([main]);
    expect(previews).toEqual([expect.objectContaining({ pr: pr?.number, headSha: head, baseRef: 'main', baseSha: main, fromFork: false })]);
    expect(synced.map((s) => s.rules.map((r) => r.repository))).toEqual([[IMAGE]]);
    expect(host.openCheckouts).toBe(0);
  });

  it('running twice for the same build changes nothing (no push, no second PR)', async () => {
    const { host, deps, job, previews } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.0.0') }, ['1.2.0']);
    await runBump(job, deps);
    const head = host.branches.get('mergeops/bump/ghcr.io-acme-web');
    expect((await runBump(job, deps))[0]?.result).toBe('unchanged');
    expect(host.pulls).toHaveLength(1);
    expect(host.branches.get('mergeops/bump/ghcr.io-acme-web')).toBe(head);
    expect(previews).toHaveLength(1);
  });

  it('a newer build updates the same PR', async () => {
    const { host, registry, deps, job } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.0.0') }, ['1.2.0']);
    await runBump(job, deps);
    registry.tags = ['1.2.0', '1.3.0'];
    expect((await runBump(job, deps))[0]?.result).toBe('updated');
    expect(host.pulls).toHaveLength(1);
    expect(host.pulls[0]?.title).toBe(`Bump ${IMAGE} from 1.0.0 to 1.3.0`);
  });

  it('does not reopen a bump someone closed unmerged', async () => {
    const { host, deps, job } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.0.0') }, ['1.2.0']);
    await runBump(job, deps);
    (host.pulls[0] as { state: string }).state = 'closed';
    expect((await runBump(job, deps))[0]?.result).toBe('declined');
    expect(host.pulls).toHaveLength(1);
  });

  it('opens nothing when the image is current', async () => {
    const { host, deps, job } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.2.0') }, ['1.0.0', '1.2.0']);
    expect(await runBump(job, deps)).toEqual([{ key: IMAGE, base: 'main', result: 'current' }]);
    expect(host.pulls).toEqual([]);
  });

  it('opens nothing while the default branch has an invalid config', async () => {
    const { host, deps, job, synced } = setup({ '.github/mergeops.yml': 'apps: nope\n', 'web/deploy.yaml': deployment('1.0.0') }, ['1.2.0']);
    expect(await runBump(job, deps)).toEqual([]);
    expect(host.pulls).toEqual([]);
    expect(synced).toEqual([]);
  });

  it('keeps the PR open for a human when the repository does not allow auto-merge', async () => {
    const { host, deps, job } = setup({ '.github/mergeops.yml': CONFIG, 'web/deploy.yaml': deployment('1.0.0') }, ['1.2.0']);
    host.autoMergeRefusal = 'Pull request Auto merge is not allowed for this repository';
    expect((await runBump(job, deps))[0]?.result).toBe('opened');
    expect(host.pulls[0]).toMatchObject({ state: 'open', autoMerge: false });
  });
});

describe('config sync (through the fake host)', () => {
  it("reads the default branch's images into the watch index", async () => {
    const { deps, synced } = setup({ '.github/mergeops.yml': CONFIG }, []);
    expect(await runSync({ kind: 'sync', installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777 }, deps)).toBe(1);
    expect(synced).toEqual([{ target: { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777, defaultBranch: 'main' }, rules: [expect.objectContaining({ repository: IMAGE, apps: ['web'] })] }]);
  });

  it('clears the watch of a repo without a config, and keeps it on an invalid one', async () => {
    const empty = setup({ 'README.md': 'hi' }, []);
    expect(await runSync({ kind: 'sync', installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777 }, empty.deps)).toBe(0);
    expect(empty.synced.map((s) => s.rules)).toEqual([[]]);
    const invalid = setup({ '.github/mergeops.yml': 'apps: nope\n' }, []);
    expect(await runSync({ kind: 'sync', installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777 }, invalid.deps)).toBe(-1);
    expect(invalid.synced).toEqual([]);
  });
});

describe('a registry 429 during a bump', () => {
  const err = (ms: number) => new RegistryRateLimitError('registry.example', ms);

  it('waits as long as Retry-After asks (at least a second, at most an hour)', () => {
    expect(onRegistryRateLimit(err(7000), 0)).toEqual({ waitMs: 7000 });
    expect(onRegistryRateLimit(err(0), 1)).toEqual({ waitMs: 1000 });
    expect(onRegistryRateLimit(err(86_400_000), 2)).toEqual({ waitMs: 3_600_000 });
  });

  it('gives up past its budget of waits, saying what happened and what happens next', () => {
    expect(onRegistryRateLimit(err(1000), BUMP_RATE_LIMIT_WAITS - 1)).toEqual({ waitMs: 1000 });
    expect(onRegistryRateLimit(err(1000), BUMP_RATE_LIMIT_WAITS)).toEqual({
      giveUp: `registry.example kept answering 429 Too Many Requests: waited ${BUMP_RATE_LIMIT_WAITS} times as its Retry-After asked, giving up on this bump; the next poll or registry event tries again`,
    });
  });
});
