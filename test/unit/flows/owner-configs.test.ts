import { describe, expect, it } from '@jest/globals';
import { ownerConfigs } from '../../../src/flows/owner-configs.js';
import type { RepoHosts } from '../../../src/flows/host.js';
import { FakeRepoHost } from '../fakes/repo-host.js';

/** GitHub through one installation: these repositories it can see (by owner/repo), any other 404s. */
function installation(repos: FakeRepoHost[]): { hosts: RepoHosts; asked: string[] } {
  const asked: string[] = [];
  const hosts: RepoHosts = async (t) => {
    asked.push(`${t.installationId}:${t.owner}/${t.repo}`);
    const found = repos.find((r) => r.target.owner === t.owner && r.target.repo === t.repo);
    if (found) return found;
    // Outside the installation: GitHub answers 404 for the repository, as the Octokit host reads it.
    const nobody = new FakeRepoHost(t);
    nobody.repository = async () => null;
    return nobody;
  };
  return { hosts, asked };
}

describe("ownerConfigs: an owner's release: entries, read from its default branch through the job's installation", () => {
  const billing = new FakeRepoHost({ installationId: 1, owner: 'acme', repo: 'billing', repoId: 888 });
  const release = 'apps:\n  - name: pay\n    path: pay\n    release:\n      - object: ConfigMap/shop/shared\n        to: acme/deploys/web\n  - name: old\n    path: old\n';

  it('reads the default branch only (not a pull request head), once per owner repository per job', async () => {
    billing.push({ '.github/mergeops.yml': release }, 'main');
    billing.push({ '.github/mergeops.yml': 'apps:\n  - name: pay\n    path: pay\n    release: [{ object: ConfigMap/shop/everything }]\n' }, 'pr-head');
    const { hosts, asked } = installation([billing]);
    const owners = ownerConfigs(hosts, 1);
    const owner = { repoId: 888, repo: 'acme/billing', app: 'pay' };
    expect(await owners.read(owner)).toEqual({ read: true, branch: 'main', apps: ['pay', 'old'], releases: [{ app: 'pay', object: 'ConfigMap/shop/shared', to: 'acme/deploys/web' }] });
    await owners.read({ ...owner, app: 'old' });
    expect(asked).toEqual(['1:acme/billing']);
    expect(billing.reads.filter((r) => r.startsWith('.github/mergeops.yml@'))).toEqual(['.github/mergeops.yml@main']);
  });

  it('an owner outside the installation, a repository whose id changed, an unnamed one or an invalid config: not read, and why', async () => {
    const { hosts } = installation([billing]);
    const owners = ownerConfigs(hosts, 1);
    expect(await owners.read({ repoId: 999, repo: 'globex/payments', app: 'ledger' })).toEqual({ read: false, why: expect.stringContaining("globex/payments is not in this repository's GitHub App installation") });
    expect(await owners.read({ repoId: 889, repo: 'acme/billing', app: 'pay' })).toEqual({ read: false, why: expect.stringContaining('acme/billing is now repository 888, not the owner (repository id 889)') });
    expect(await owners.read({ repoId: 5, repo: 'repository id 5', app: 'x' })).toEqual({ read: false, why: expect.stringContaining('the object does not name its repository') });
    const broken = new FakeRepoHost({ installationId: 1, owner: 'acme', repo: 'broken', repoId: 123 });
    broken.push({ '.github/mergeops.yml': 'apps: 7\n' }, 'main');
    const read = await ownerConfigs(installation([broken]).hosts, 1).read({ repoId: 123, repo: 'acme/broken', app: 'x' });
    expect(read).toEqual({ read: false, why: expect.stringContaining("acme/broken's .github/mergeops.yml on main is invalid") });
  });
});
