import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { freePort } from '../../support/global-setup.js';
import { startMainProcess, type MainProcess } from '../../support/main-process.js';
import { makeTarball, waitFor } from '../../support/github.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { REPO, pushPayload, sha } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;
/** The catch-up interval the app runs with here (MERGEOPS_CATCH_UP_INTERVAL_MS). */
const INTERVAL_MS = 15_000;


/**
 * What if mergeops was down: `node dist/main.js` as an operator runs it, GitHub over real
 * HTTP delivering the app's webhook and keeping its list of deliveries. A push GitHub could
 * not deliver (connection refused: nothing listened) is deployed after start through
 * GitHub's redelivery; a push whose webhook never came at all, by the branch-head check.
 */
describe('node dist/main.js catches up after an outage', () => {
  let gh: FakeGitHub;
  let cluster: Cluster;
  let main: MainProcess | undefined;
  let dir: string;
  let ns: string;
  let url: string;
  let port: number;
  const prefix = `mergeops-catchup-${crypto.randomUUID().slice(0, 8)}`;
  const files = (value: string): Record<string, string> => ({
    '.github/mergeops.yml': `apps:\n  - name: web-${ns}\n    path: apps/web\n    namespace: ${ns}\n`,
    'apps/web/cm.yaml': cm('web', value),
  });

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('catchup');
    await namespace(cluster, ns);
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-catchup-'));
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${process.env['MERGEOPS_TEST_KUBECONFIG']}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["catchup-*"]\n`);
    port = await freePort();
    url = `http://127.0.0.1:${port}`;
    gh.hooks.url = url;
  }, 60_000);
  afterAll(async () => {
    await main?.stop();
    cluster?.client.close();
    await gh?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = async (): Promise<number> => {
    main = await startMainProcess({ dir, gh, prefix, port, env: { MERGEOPS_CATCH_UP_INTERVAL_MS: String(INTERVAL_MS) } });
    return Date.now();
  };
  const commit = async (s: string, f: Record<string, string>): Promise<void> => {
    gh.tarballs.set(s, await makeTarball(f, `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    gh.refs.set('main', s);
  };
  const deployCheck = (s: string, timeoutMs: number) =>
    waitFor(() => gh.calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body?.head_sha === s && c.body?.status === 'completed'), `deploy check of ${s.slice(0, 7)}`, timeoutMs);
  const value = async () => ((await get(cluster, 'v1', 'ConfigMap', ns, 'web'))?.['data'] as { value?: string } | undefined)?.value;

  it('a push delivered while the app was down (connection refused) is deployed within one catch-up interval of start, through GitHub`s redelivery', async () => {
    const missed = sha(`catchup-missed-${ns}`);
    await commit(missed, files('1'));
    const lost = await gh.hooks.deliver('push', pushPayload(missed));
    expect([lost.status, lost.status_code]).toEqual(['failed to connect', 502]);

    const ready = await start();
    // Nothing else can deploy it: this Redis prefix has never recorded a deploy, so the
    // branch-head check has no branch to read.
    const check = await deployCheck(missed, INTERVAL_MS);
    expect(Date.now() - ready).toBeLessThan(INTERVAL_MS);
    expect(check.body.conclusion).toBe('success');
    expect(await value()).toBe('1');
    // GitHub sent the same event (guid) again, as a new delivery marked as a redelivery, and the app took it.
    const again = gh.hooks.list.filter((d) => d.guid === lost.guid && d.id !== lost.id);
    expect(again.map((d) => [d.redelivery, d.status, d.status_code])).toEqual([[true, 'OK', 202]]);
  }, 120_000);

  it('a push whose webhook never came is deployed by the next catch-up, from the branch head', async () => {
    const prev = gh.refs.get('main') as string;
    const silent = sha(`catchup-silent-${ns}`);
    await commit(silent, files('2'));
    const deliveries = gh.hooks.list.length;
    const from = Date.now();
    const check = await deployCheck(silent, INTERVAL_MS + 30_000);
    expect(Date.now() - from).toBeLessThan(INTERVAL_MS + 30_000);
    expect(check.body.conclusion).toBe('success');
    expect(await value()).toBe('2');
    expect(gh.hooks.list.length).toBe(deliveries);
    // The deploy asked GitHub what changed since the deployed commit (cost follows the change).
    expect(gh.calls.some((c) => c.method === 'GET' && c.path.includes(`/compare/${prev}...${silent}`))).toBe(true);
  }, 120_000);
});
