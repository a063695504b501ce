import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { startMainProcess, type MainProcess } from '../../support/main-process.js';
import { deliver, makeTarball, waitFor } from '../../support/github.js';
import { startFakeGitHub, type FakeGitHub } from '../../support/fake-github.js';
import { REPO, pushPayload, sha } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';

const cm = (name: string, value: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  value: "${value}"\n`;


/**
 * The deploy flow as an operator runs it: `node dist/main.js` (receiver and worker in one
 * process), signed push webhooks, a real API server, GitHub over real HTTP held to its
 * contract. A push that changes one app of a monorepo applies only that app, and GitHub
 * hears the job confirmed (repository, branch head), one archive and the report — no
 * config probe: the push's parent was deployed here with a config.
 */
describe('node dist/main.js deploys a monorepo push', () => {
  let gh: FakeGitHub;
  let cluster: Cluster;
  let main: MainProcess | undefined;
  let dir: string;
  let ns: string;
  let url: string;
  const prefix = `mergeops-deploy-${crypto.randomUUID().slice(0, 8)}`;
  const files = (values: Record<string, string>): Record<string, string> => ({
    '.github/mergeops.yml': `apps:\n${['a', 'b', 'c'].map((a) => `  - name: ${a}-${ns}\n    path: apps/${a}\n    namespace: ${ns}\n`).join('')}`,
    ...Object.fromEntries(['a', 'b', 'c'].map((a) => [`apps/${a}/cm.yaml`, cm(a, values[a] ?? '1')])),
  });

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('reldeploy');
    await namespace(cluster, ns);
    gh = await startFakeGitHub();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-reldeploy-'));
    fs.writeFileSync(path.join(dir, 'clusters.yaml'), `clusters:\n  default:\n    kubeconfig: ${process.env['MERGEOPS_TEST_KUBECONFIG']}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["reldeploy-*"]\n`);
    main = await startMainProcess({ dir, gh, prefix });
    url = main.url;
  }, 180_000);
  afterAll(async () => {
    await main?.stop();
    cluster?.client.close();
    await gh?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const push = async (s: string, f: Record<string, string>, before?: { sha: string; files: Record<string, string> }): Promise<void> => {
    gh.tarballs.set(s, await makeTarball(f, `${REPO.owner}-${REPO.name}-${s.slice(0, 7)}`));
    gh.refs.set('main', s);
    const payload = pushPayload(s, before ? { before: before.sha, beforeFiles: before.files, afterFiles: f } : {});
    expect((await deliver(url, 'push', payload)).status).toBe(202);
  };
  const deployed = (s: string) =>
    waitFor(() => gh.calls.find((c) => c.method === 'POST' && c.path.endsWith('/check-runs') && c.body?.head_sha === s && c.body?.status === 'completed'), `deploy check of ${s.slice(0, 7)}`, 60_000);
  // The deploy report's last GitHub call: the merged PRs to comment on, read after the statuses.
  const reportDone = (s: string) => waitFor(() => gh.calls.find((c) => c.method === 'GET' && c.path.endsWith(`/commits/${s}/pulls`)), `deploy report of ${s.slice(0, 7)} done`, 60_000);
  const value = async (app: string) => ((await get(cluster, 'v1', 'ConfigMap', ns, app))?.['data'] as { value?: string } | undefined)?.value;

  it('the first push deploys every app; a push changing one app applies it alone: 7 GitHub calls (no config probe, no merged PR to comment on), one Deployment', async () => {
    const first = sha(`reldeploy-first-${ns}`);
    const firstFiles = files({});
    await push(first, firstFiles);
    expect((await deployed(first)).body.conclusion).toBe('success');
    expect(await Promise.all(['a', 'b', 'c'].map(value))).toEqual(['1', '1', '1']);
    await waitFor(() => gh.deployments.filter((d) => d.sha === first && d.statuses.length > 0).length === 3 || undefined, 'first deploy reported', 60_000);
    // Counted from here on, so the first deploy's report must have made its last call.
    await reportDone(first);

    const next = sha(`reldeploy-next-${ns}`);
    const from = gh.calls.length;
    await push(next, files({ b: '2' }), { sha: first, files: firstFiles });
    const check = await deployed(next);
    await waitFor(() => gh.deployments.find((d) => d.sha === next && d.statuses.length > 0), 'merge reported', 60_000);
    // The list below ends with that call; asserting it before it was made was the flake.
    await reportDone(next);
    expect(check.body.conclusion).toBe('success');
    expect(await Promise.all(['a', 'b', 'c'].map(value))).toEqual(['1', '2', '1']);
    expect(gh.deployments.filter((d) => d.sha === next).map((d) => [d.environment, d.statuses])).toEqual([[`b-${ns}`, ['success']]]);
    const calls = gh.calls.slice(from).filter((c) => c.path.startsWith('/repos/')).map((c) => `${c.status ?? ''}${c.method} ${c.path.replace(/^\/repos\/[^/]+\/[^/]+/, '').replace(/[0-9a-f]{40}/g, ':sha').replace(/\/\d+(\/|$)/g, '/:id$1')}`);
    expect(calls).toEqual(['GET ', 'GET /git/ref/heads%2Fmain', 'GET /tarball/:sha', 'POST /check-runs', 'POST /deployments', 'POST /deployments/:id/statuses', 'GET /commits/:sha/pulls']);
  });
});
