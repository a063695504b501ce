import { describe, expect, it } from '@jest/globals';
import { MAX_JOB_PATHS, configMayHaveChanged, pushChanges } from '../../../src/github/app.js';

const before = 'a'.repeat(40);
const commit = (added: string[] = [], modified: string[] = [], removed: string[] = []) => ({ added, modified, removed });

describe('pushChanges (the push payload → DeployJob.changes)', () => {
  it('carries the union of the commits’ added, modified and removed files, once each', () => {
    expect(pushChanges({ before, created: false, forced: false, commits: [commit(['a/new.yaml'], ['a/cm.yaml']), commit([], ['a/cm.yaml'], ['b/old.yaml'])] })).toEqual({ before, paths: ['a/new.yaml', 'a/cm.yaml', 'b/old.yaml'] });
  });

  it('trusts no list for a created branch or a force-push', () => {
    expect(pushChanges({ before: '0'.repeat(40), created: false, forced: false, commits: [commit(['x'])] })).toEqual({ untrusted: 'the push created the branch' });
    expect(pushChanges({ before, created: true, forced: false, commits: [commit(['x'])] })).toEqual({ untrusted: 'the push created the branch' });
    expect(pushChanges({ before, created: false, forced: true, commits: [commit(['x'])] })).toEqual({ untrusted: 'a force-push' });
  });

  it('leaves the list to the compare API when the payload may be cut: 20+ commits, a commit without file lists, no commits, too many paths', () => {
    expect(pushChanges({ before, created: false, forced: false, commits: Array.from({ length: 20 }, () => commit(['x'])) })).toEqual({ before });
    expect(pushChanges({ before, created: false, forced: false, commits: [commit(['x']), commit()] })).toEqual({ before });
    expect(pushChanges({ before, created: false, forced: false, commits: [] })).toEqual({ before });
    const many = Array.from({ length: MAX_JOB_PATHS + 1 }, (_, i) => `f${i}`);
    expect(pushChanges({ before, created: false, forced: false, commits: [commit(many)] })).toEqual({ before });
  });

  it('says the config may have changed (re-read the image watch) unless a trusted list leaves it out', () => {
    expect(configMayHaveChanged({ before, paths: ['apps/web/cm.yaml'] })).toBe(false);
    expect(configMayHaveChanged({ before, paths: ['apps/web/cm.yaml', '.github/mergeops.yml'] })).toBe(true);
    expect(configMayHaveChanged({ before })).toBe(true);
    expect(configMayHaveChanged({ untrusted: 'a force-push' })).toBe(true);
    expect(configMayHaveChanged(undefined)).toBe(true);
  });
});
