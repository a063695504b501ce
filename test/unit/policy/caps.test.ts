import { describe, expect, it } from '@jest/globals';
import { DEFAULT_CAPS } from '../../../src/config/caps.js';
import type { App } from '../../../src/config/repo-config.js';
import { checkRepoCaps } from '../../../src/policy/caps.js';

const app = (name: string, waitMs = 0): App => ({ name, path: name, cluster: 'default', branch: 'main', prune: true, pruneEmpty: false, waitMs, conflicts: 'overwrite', createNamespace: false, failOn: [], adopt: [], selfHeal: false });

describe('checkRepoCaps', () => {
  it('passes a config inside every cap', () => {
    expect(checkRepoCaps([app('a', 300_000), app('b')], DEFAULT_CAPS)).toEqual([]);
  });

  it('refuses more apps than the cap, naming count, cap and setting', () => {
    const apps = Array.from({ length: 4 }, (_, i) => app(`a${i}`));
    expect(checkRepoCaps(apps, { ...DEFAULT_CAPS, maxApps: 3 })).toEqual([
      { message: '.github/mergeops.yml lists 4 apps; the operator allows at most 3 per repository (MERGEOPS_MAX_APPS_PER_REPO): merge apps or split the repository', file: '.github/mergeops.yml', line: 1 },
    ]);
    expect(checkRepoCaps(apps, { ...DEFAULT_CAPS, maxApps: 4 })).toEqual([]);
  });

  it('refuses a wait: longer than the cap, per app', () => {
    const v = checkRepoCaps([app('ok', 30 * 60_000), app('slow', 10 * 3600_000 + 90_000)], DEFAULT_CAPS);
    expect(v.map((p) => p.message)).toEqual(['app slow: wait 10h1m30s is longer than the 30m the operator allows (MERGEOPS_MAX_WAIT_MS); shorten wait:']);
  });
});
