import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import yaml from 'js-yaml';

const manifest = yaml.load(fs.readFileSync(new URL('../../../app.yml', import.meta.url), 'utf8')) as { default_events: string[]; default_permissions: Record<string, string> };

describe('app.yml covers what commands, rollback and the merge queue use', () => {
  it('subscribes to the events the handlers listen for', () => {
    expect(manifest.default_events).toEqual(expect.arrayContaining(['issue_comment', 'check_run', 'merge_group']));
  });

  it('asks for the permissions their GitHub calls need', () => {
    expect(manifest.default_permissions).toMatchObject({
      contents: 'write', // rollback branches: blobs, trees, commits, refs
      pull_requests: 'write', // rollback PRs, auto-merge
      checks: 'write', // Roll back action, mergeops / locks
      issues: 'write', // replies, reactions
      merge_queues: 'read', // merge_group events
      deployments: 'write', // read back for the last good deploy
    });
  });
});
