import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { COMMENT_BODY_MAX, ANNOTATIONS_PER_REQUEST } from '../../support/github-contract.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

/**
 * The paths only a big preview takes, through the whole app with the GitHub contract on:
 * a preview too big for one comment is split into numbered parts (each within GitHub's
 * 65,536 characters), a later smaller preview edits part 1 and deletes the parts no longer
 * needed, and a check with more than 50 annotations sends them 50 per request.
 */
describe('large previews: multi-part comments and annotation batches', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('big');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["big-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const config = (): string => `apps:\n  - name: big\n    path: deploy\n    namespace: ${ns}\n`;
  /** A ConfigMap of `lines` distinct lines: a big diff that no comment part could hold many of. */
  const cm = (name: string, lines: number, seed: string) =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  settings: |\n${Array.from({ length: lines }, (_, i) => `    ${seed}-${name}-line-${i}: ${'v'.repeat(40)}`).join('\n')}\n`;
  const commentsOf = (pr: number, since: number): Recorded[] => h.calls.slice(since).filter((c) => !c.status && /\/issues\/(\d+\/)?comments/.test(c.path) && c.method !== 'GET' && (c.method !== 'POST' || c.path.endsWith(`/issues/${pr}/comments`)));

  it('splits a preview over 65,536 characters into numbered parts, then shrinks back to one part, deleting the rest', async () => {
    const big = sha(`big-${ns}`);
    const files: Record<string, string> = { '.github/mergeops.yml': config() };
    for (let i = 0; i < 40; i++) files[`deploy/cm-${String(i).padStart(2, '0')}.yaml`] = cm(`cm-${i}`, 60, 'a');
    await h.push(big, files);
    const start = h.calls.length;
    expect(await h.open(91, big)).toBe(202);
    await h.waitForPreview(big);
    const posted = await waitFor(() => {
      const p = commentsOf(91, start).filter((c) => c.method === 'POST');
      return p.length >= 2 ? p : undefined;
    }, 'the parts of the big preview');
    const bodies = posted.map((c) => c.body.body as string);
    expect(bodies.length).toBeGreaterThanOrEqual(2);
    for (const [i, b] of bodies.entries()) {
      expect(b.length).toBeLessThanOrEqual(COMMENT_BODY_MAX);
      expect(b.startsWith(`<!-- mergeops:preview:part=${i + 1} -->`)).toBe(true);
    }
    // Nothing was cut: every object of the render is named in one of the parts.
    for (let i = 0; i < 40; i++) expect(bodies.join('\n')).toContain(`${ns}/cm-${i}<`);

    const small = sha(`small-${ns}`);
    await h.push(small, { '.github/mergeops.yml': config(), 'deploy/cm-00.yaml': cm('cm-0', 3, 'b') });
    const again = h.calls.length;
    expect(await h.open(91, small, { action: 'synchronize' })).toBe(202);
    await h.waitForPreview(small);
    const writes = await waitFor(() => {
      const w = commentsOf(91, again);
      return w.filter((c) => c.method === 'DELETE').length >= bodies.length - 1 ? w : undefined;
    }, 'the extra parts to be deleted');
    const firstId = h.lastCommentId() - bodies.length + 1;
    // Part 1 edited in place, every other part deleted, nothing new posted.
    expect(writes.filter((c) => c.method === 'PATCH').map((c) => c.path)).toEqual([`/repos/${REPO.owner}/${REPO.name}/issues/comments/${firstId}`]);
    expect(writes.filter((c) => c.method === 'DELETE').map((c) => c.path)).toEqual(bodies.slice(1).map((_, i) => `/repos/${REPO.owner}/${REPO.name}/issues/comments/${firstId + i + 1}`));
    expect(writes.filter((c) => c.method === 'POST')).toEqual([]);
  });

  it('a check with more than 50 annotations sends them 50 per request, all of them', async () => {
    const s = sha(`annotations-${ns}`);
    const files: Record<string, string> = { '.github/mergeops.yml': config() };
    // 60 objects in a namespace the repository is not granted: one problem, one annotation each.
    for (let i = 0; i < 60; i++) files[`deploy/out-${i}.yaml`] = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: out-${i}\n  namespace: kube-system\ndata:\n  x: "1"\n`;
    await h.push(s, files);
    const start = h.calls.length;
    expect(await h.open(92, s)).toBe(202);
    const { check } = await h.waitForPreview(s);
    expect(check.body.conclusion).toBe('failure');
    const id = check.path.split('/').pop();
    const updates = await waitFor(() => {
      const u = h.calls.slice(start).filter((c) => !c.status && c.method === 'PATCH' && c.path.endsWith(`/check-runs/${id}`) && c.body.output?.annotations?.length);
      return u.reduce((n, c) => n + c.body.output.annotations.length, 0) >= 60 ? u : undefined;
    }, 'all 60 annotations');
    expect(updates.map((c) => c.body.output.annotations.length)).toEqual([ANNOTATIONS_PER_REQUEST, 10]);
    const paths = updates.flatMap((c) => c.body.output.annotations.map((a: { path: string }) => a.path));
    expect(new Set(paths)).toEqual(new Set(Array.from({ length: 60 }, (_, i) => `deploy/out-${i}.yaml`)));
  });
});
