import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "1"\n`;

/**
 * Issue #13 item 7, end to end: the operator's caps on what one repository's config may ask
 * (MERGEOPS_MAX_APPS_PER_REPO, MERGEOPS_MAX_WAIT_MS) hold through the receiver, the queue
 * and the workers. Going over a cap is a failed check that names the cap and its setting,
 * nothing reaches the cluster, and the worker goes on with the next job.
 */
describe('trust: caps on apps per repository and on wait:', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('tcap');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["tcap-*"]\n`, {
      MERGEOPS_MAX_APPS_PER_REPO: '2',
      MERGEOPS_MAX_WAIT_MS: '60000',
    });
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  const apps = (names: string[], wait = '0s'): string => `apps:\n${names.map((n) => `  - name: ${n}\n    path: deploy/${n}\n    namespace: ${ns}\n    wait: ${wait}\n`).join('')}`;
  const files = (names: string[], wait?: string): Record<string, string> => ({
    '.github/mergeops.yml': apps(names, wait),
    ...Object.fromEntries(names.map((n) => [`deploy/${n}/cm.yaml`, cm(n)])),
  });
  // The text as a reader sees it: Markdown escapes (`MERGEOPS\\_MAX…`) taken out.
  const readable = (markdown: string): string => markdown.replace(/\\(.)/g, '$1');
  const output = (c: { body: { output: { summary: string } } }): string => readable(c.body.output.summary);

  it('a PR whose config lists more apps than the cap gets a failed preview naming the cap; the next PR previews normally', async () => {
    const over = sha(`${ns}-over`);
    await h.push(over, files(['a1', 'a2', 'a3']));
    expect(await h.open(41, over)).toBe(202);
    const refused = await h.waitForPreview(over);
    expect(refused.check.body.conclusion).toBe('failure');
    expect(output(refused.check)).toContain('lists 3 apps; the operator allows at most 2 per repository (MERGEOPS_MAX_APPS_PER_REPO)');
    expect(readable(refused.comment.body.body)).toContain('lists 3 apps; the operator allows at most 2 per repository (MERGEOPS_MAX_APPS_PER_REPO): merge apps or split the repository');
    // Nothing was rendered or planned: no app of it is in the report.
    expect(output(refused.check)).not.toContain('`a1` →');

    // The same worker serves the next job: a PR within the cap.
    const within = sha(`${ns}-within`);
    await h.push(within, files(['a1', 'a2']));
    expect(await h.open(42, within)).toBe(202);
    const ok = await h.waitForPreview(within);
    expect(ok.check.body.conclusion).toBe('success');
    expect(output(ok.check)).toContain('`a1` → `default`');
    expect(output(ok.check)).toContain('`a2` → `default`');
  });

  it('a merge whose app asks for a wait: above the cap is refused before anything is applied', async () => {
    const long = sha(`${ns}-long-wait`);
    await h.push(long, files(['w1'], '5m'));
    expect(await h.pushEvent(long)).toBe(202);
    const check = await h.waitForDeploy(long);
    expect(check.body.conclusion).toBe('failure');
    expect(output(check)).toContain('app w1: wait 5m is longer than the 1m the operator allows (MERGEOPS_MAX_WAIT_MS); shorten wait:');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'w1')).toBeNull();

    // At the cap it deploys, on the same worker.
    const atCap = sha(`${ns}-cap-wait`);
    await h.push(atCap, files(['w1'], '60s'));
    expect(await h.pushEvent(atCap)).toBe(202);
    expect((await h.waitForDeploy(atCap)).body.conclusion).toBe('success');
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'w1')).not.toBeNull();
  });
});
