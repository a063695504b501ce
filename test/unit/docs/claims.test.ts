import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import { APP_LABEL, REPO_ID_LABEL } from '../../../src/cluster/inventory.js';
import { BOOTSTRAP_DEPLOYMENTS_MAX, DEPLOY_APP_CONCURRENCY, RENDER_CONCURRENCY } from '../../../src/flows/deploy.js';
import { BOOKKEEPING_MAX_DEFER_MS, WRITES_PER_HOUR, WRITES_PER_MINUTE, personReserve } from '../../../src/github/write-pacer.js';

const WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten'];

// Sentences of the docs that name a number or a command the code decides.
describe('what the docs say the code does', () => {
  it("the uninstall command deletes one repository's app: its selector names the repo id and the app", () => {
    const readme = fs.readFileSync('README.md', 'utf8');
    const deletes = [...readme.matchAll(/`kubectl delete [^`]*-l ([^`]+)`/g)].map((m) => (m[1] as string).split(','));
    expect(deletes.length).toBeGreaterThan(0);
    for (const selector of deletes) expect(selector.map((s) => s.split('=')[0]).sort()).toEqual([APP_LABEL, REPO_ID_LABEL].sort());
  });

  it('the architecture doc and the README give the deploy concurrency of the code', () => {
    const arch = fs.readFileSync('docs/architecture.md', 'utf8').replace(/\s+/g, ' ');
    expect(arch).toContain(`rest, ${WORDS[DEPLOY_APP_CONCURRENCY]} at a time`);
    expect(arch).toContain(`renders them (${WORDS[RENDER_CONCURRENCY]} at a time`);
    const readme = fs.readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain(`rest, ${WORDS[DEPLOY_APP_CONCURRENCY]} at a time (rendered ${WORDS[RENDER_CONCURRENCY]} at a time)`);
  });

  it('the README gives the bootstrap size, the people\'s reserve and the bookkeeping\'s longest deferral of the code', () => {
    const readme = fs.readFileSync('README.md', 'utf8').replace(/\s+/g, ' ');
    expect(readme).toContain(`deploys more than ${BOOTSTRAP_DEPLOYMENTS_MAX} apps for the first time`);
    const reserve = personReserve({ perMinute: WRITES_PER_MINUTE, perHour: WRITES_PER_HOUR });
    expect(reserve).toEqual({ perMinute: WRITES_PER_MINUTE / 8, perHour: WRITES_PER_HOUR / 10 });
    expect(readme).toContain(`leaves an eighth of each minute (${reserve.perMinute} of ${WRITES_PER_MINUTE}) and a tenth of each hour free for people`);
    expect(readme).toContain(`one held back for ${BOOKKEEPING_MAX_DEFER_MS / 1000} s in all by people's writes`);
  });
});
