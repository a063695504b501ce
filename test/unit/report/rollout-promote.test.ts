import { describe, expect, it } from '@jest/globals';
import { rolloutText } from '../../../src/report/types.js';

describe('rolloutText with a promoted environment', () => {
  it('says the merge applies staging and a promotion pull request moves prod-eu', () => {
    const code = (s: string): string => `\`${s}\``;
    expect(rolloutText([{ name: 'staging', cluster: 's', after: [], soakMs: 0 }, { name: 'prod-eu', cluster: 'eu', after: ['staging'], soakMs: 600_000, promote: { from: 'staging' } }], code)).toBe(
      '`staging` (cluster `s`) first, `prod-eu` (cluster `eu`) by a promotion pull request once `staging` is healthy for 10m (merging that applies it)',
    );
  });
});
