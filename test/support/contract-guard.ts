import { afterEach, beforeEach } from '@jest/globals';
import { newRateWindow, takeViolations } from './github-contract.js';

/**
 * Fails the test during which the app sent GitHub a request GitHub would refuse (recorded by
 * the stand-ins' contract, test/support/github-contract.ts). The app saw GitHub's refusal
 * too; this makes sure no test passes over one unnoticed.
 */
beforeEach(() => newRateWindow());

afterEach(() => {
  const v = takeViolations();
  if (v.length) {
    throw new Error(`GitHub would have refused ${v.length} request(s) made during this test:\n${v.map((x) => `  ${x.status} ${x.request}: ${x.reason}`).join('\n')}`);
  }
});
