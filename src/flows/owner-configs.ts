import type { OwnerApp, OwnerConfig, OwnerConfigs } from '../cluster/ownership.js';
import { REPO_CONFIG_PATH, clusterAppName, parseRepoConfig } from '../config/repo-config.js';
import { UserError } from '../errors.js';
import type { RepoHosts } from './host.js';

/**
 * The `release:` entries of the repositories that own objects a job's apps adopt, read
 * from each owner's default branch — its reviewed state, never a pull request — through
 * the job's own installation. An installation token reads only the repositories of its
 * installation; an owner elsewhere can release its objects only with the annotation, and
 * the refusal says so. Made per job (one read per owner repository), never kept longer.
 */
export function ownerConfigs(hosts: RepoHosts, installationId: number): OwnerConfigs {
  const read = new Map<number, Promise<OwnerConfig>>();
  return {
    read(owner) {
      let p = read.get(owner.repoId);
      if (!p) {
        p = readOwnerConfig(hosts, installationId, owner);
        // A failed read (GitHub down) is not remembered: the job's retry asks again.
        p.catch(() => read.delete(owner.repoId));
        read.set(owner.repoId, p);
      }
      return p;
    },
  };
}

async function readOwnerConfig(hosts: RepoHosts, installationId: number, owner: OwnerApp): Promise<OwnerConfig> {
  const [login, name, ...rest] = owner.repo.split('/');
  if (!login || !name || rest.length > 0) return { read: false, why: `the object does not name its repository (${owner.repo}), so mergeops cannot read its config; only the annotation can release it` };
  const host = await hosts({ owner: login, repo: name, installationId, repoId: owner.repoId });
  const repo = await host.repository();
  if (repo === null) {
    return { read: false, why: `${owner.repo} is not in this repository's GitHub App installation, so mergeops cannot read its config; only the annotation can release the object` };
  }
  // The name on the object is the owner's own mark, but a repository can be renamed and the name reused.
  if (repo.id !== owner.repoId) return { read: false, why: `${owner.repo} is now repository ${repo.id}, not the owner (repository id ${owner.repoId}); only the annotation can release the object` };
  const text = await host.readFile(REPO_CONFIG_PATH, repo.defaultBranch);
  if (text === null) return { read: true, branch: repo.defaultBranch, apps: [], releases: [] };
  try {
    const config = parseRepoConfig(text, repo.defaultBranch);
    return {
      read: true,
      branch: repo.defaultBranch,
      // Compared with the objects' labels, so by the name the cluster knows (`web.staging`, not `web · staging`).
      apps: config.apps.map((a) => clusterAppName(a)),
      releases: config.apps.flatMap((a) => (a.release ?? []).map((r) => ({ app: clusterAppName(a), ...r }))),
    };
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    return { read: false, why: `${owner.repo}'s ${REPO_CONFIG_PATH} on ${repo.defaultBranch} is invalid (${err.message})` };
  }
}
