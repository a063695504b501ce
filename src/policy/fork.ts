import type { App } from '../config/repo-config.js';
import { REPO_CONFIG_PATH } from '../config/repo-config.js';
import type { Problem } from '../errors.js';

/**
 * The keys that decide where and how an app deploys. A PR from a fork previews its own
 * manifests, but these come from the base branch's config: a fork must not aim the dry-run
 * (and what it reads back) at another cluster or namespace, nor preview with adoption,
 * namespace creation, prune or release it was not given.
 */
export const TARGET_KEYS = ['cluster', 'namespace', 'branch', 'conflicts', 'prune', 'pruneEmpty', 'createNamespace', 'adopt', 'release', 'selfHeal'] as const;

/**
 * The apps a fork PR previews: each head app that the base branch also defines, with its
 * target keys taken from the base app. Head apps the base branch does not define are not
 * previewed (a fork cannot add targets), and say so.
 */
export function forkPreviewApps(head: App[], base: App[]): { apps: App[]; problems: Problem[] } {
  const byName = new Map(base.map((a) => [a.name, a]));
  const apps: App[] = [];
  const problems: Problem[] = [];
  for (const app of head) {
    const b = byName.get(app.name);
    if (!b) {
      problems.push({
        message: `app ${app.name} is not defined on the base branch; a pull request from a fork previews only the apps the base branch's ${REPO_CONFIG_PATH} defines (where and how they deploy is the base branch's to say)`,
        file: REPO_CONFIG_PATH,
        line: 1,
      });
      continue;
    }
    const merged: App = { ...app, cluster: b.cluster, branch: b.branch, conflicts: b.conflicts, prune: b.prune, pruneEmpty: b.pruneEmpty, createNamespace: b.createNamespace, adopt: b.adopt, selfHeal: b.selfHeal };
    if (b.release !== undefined) merged.release = b.release;
    else delete merged.release;
    if (b.namespace !== undefined) merged.namespace = b.namespace;
    else delete merged.namespace;
    apps.push(merged);
  }
  return { apps, problems };
}
