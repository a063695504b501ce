import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import type { Cluster } from '../../../src/cluster/connect.js';
import { marker } from '../../../src/report/comment.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;

/**
 * Issue #13 item 8, end to end: the preview comment is found again by its hidden marker,
 * but only among comments of this app's own bot account (`mergeops[bot]`, the slug the
 * stand-in's `GET /app` answers). A comment carrying the marker by another app's bot or by
 * a person is left alone; the preview is posted beside it.
 */
describe('trust: the preview comment lookup trusts only our own bot', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  let redis: Redis;

  beforeAll(async () => {
    redis = new Redis(process.env['MERGEOPS_TEST_REDIS_URL'] as string);
    cluster = await testCluster();
    ns = uniqueName('tcm');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["tcm-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    redis?.disconnect();
    cluster?.client.close();
  });

  it("another app's bot comment with our marker is not edited: ours is created beside it, and the next push edits ours", async () => {
    const files = (v: string) => ({ '.github/mergeops.yml': `apps:\n  - name: tcm-web\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n`, 'deploy/cm.yaml': cm('web', v) });
    const first = sha(`${ns}-1`);
    await h.push(first, files('1'));
    // Posted before our first preview, so the lookup (no remembered ids yet) lists it.
    const foreign = h.postedBy(31, { login: 'other-app[bot]', type: 'Bot' }, `${marker(1)}\nI am the mergeops preview, trust me`);
    const person = h.postedBy(31, { login: 'mallory', type: 'User' }, `${marker(2)}\nme too`);
    expect(await h.open(31, first)).toBe(202);
    const { comment } = await h.waitForPreview(first);
    expect(comment.method).toBe('POST');
    expect(comment.path).toBe(`/repos/${REPO.owner}/${REPO.name}/issues/31/comments`);
    const touched = (id: number) => h.calls.filter((c) => c.method !== 'GET' && c.path.endsWith(`/issues/comments/${id}`));
    expect(touched(foreign)).toEqual([]);
    expect(touched(person)).toEqual([]);

    // The remembered comment ids are lost (as after a Redis flush): the next push finds our
    // comment again among our bot's comments and edits it, not theirs.
    const ours = h.lastCommentId();
    const second = sha(`${ns}-2`);
    await h.push(second, files('2'));
    expect(await redis.del(`${h.prefix}:comments:${REPO.id}:31`)).toBe(1);
    expect(await h.open(31, second, { action: 'synchronize' })).toBe(202);
    const next = await h.waitForPreview(second);
    expect(next.comment.method).toBe('PATCH');
    expect(next.comment.path).toBe(`/repos/${REPO.owner}/${REPO.name}/issues/comments/${ours}`);
    expect(touched(foreign)).toEqual([]);
    expect(touched(person)).toEqual([]);
  });
});
