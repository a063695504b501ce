import { describe, expect, it } from '@jest/globals';
import { octokitClass } from '../../../src/github/octokit.js';

/**
 * With mergeops' pacer on, Octokit's own write spacing (one write a second per process,
 * first come first served) is off: the pacer spaces an installation's writes itself, people
 * first. Without the pacer, Octokit's spacing stays. Proven on the class main.ts builds, given
 * throttle options per instance as Probot gives them (which replace class-level ones).
 */
describe('octokitClass: who spaces GitHub writes', () => {
  const threeWrites = async (paced: boolean): Promise<number> => {
    const Octokit = octokitClass(paced);
    const fetch = async (): Promise<Response> => new Response(JSON.stringify({ id: 1 }), { status: 200, headers: { 'content-type': 'application/json' } });
    const octokit = new Octokit({
      authStrategy: undefined,
      auth: 'token-for-test',
      retry: { enabled: false },
      throttle: { onRateLimit: () => false, onSecondaryRateLimit: () => false },
      request: { fetch },
    });
    const started = Date.now();
    for (const n of [1, 2, 3]) await octokit.request('PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}', { owner: 'acme', repo: 'deploys', check_run_id: n, status: 'completed' });
    return Date.now() - started;
  };

  it('paced by mergeops: three writes go at once', async () => {
    expect(await threeWrites(true)).toBeLessThan(900);
  });

  it('not paced by mergeops: Octokit keeps a second between writes', async () => {
    expect(await threeWrites(false)).toBeGreaterThanOrEqual(1900);
  });
});
