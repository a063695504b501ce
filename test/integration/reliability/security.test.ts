import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Cluster } from '../../../src/cluster/connect.js';
import { webhookExample } from '../../support/webhook-schemas.js';
import { deliver, PRIVATE_KEY, WEBHOOK_SECRET, waitFor } from '../../support/github.js';
import { REPO, prPayload, sha, startHarness, type Harness } from '../../support/harness.js';
import { get, namespace, testCluster, uniqueName } from '../../support/kube.js';
import { capturedLog, leaks, redisDump } from '../../support/scan.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/**
 * The security rules, end to end, with everything the app writes kept and searched: every
 * GitHub request body (comments, check runs, deployments), every log line at debug level
 * and every Redis key under the app's prefix.
 */
describe('security: forks, grants, and no secret in any comment, check run, log line or Redis key', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  let kubeToken: string;
  const captured = capturedLog();
  const deadToken = `dead-cluster-token-${crypto.randomBytes(12).toString('hex')}`;
  // Values that must never leave the worker: in Git, live in the cluster, and their base64.
  const gitSecret = `Git-S3cret-${crypto.randomBytes(8).toString('hex')}`;
  const liveSecret = `Live-S3cret-${crypto.randomBytes(8).toString('hex')}`;
  const dataSecret = `Data-S3cret-${crypto.randomBytes(8).toString('hex')}`;
  let tmp: string;

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relsec');
    await namespace(cluster, ns);
    await cluster.client.request('POST', `/api/v1/namespaces/${ns}/secrets`, {
      // The operator's own Secret, which they hand to the app (it would be refused otherwise).
      body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', annotations: { 'mergeops.dev/adopt': `${REPO.owner}/${REPO.name}/rel-sec` } }, stringData: { password: liveSecret } },
    });
    const kubeconfig = process.env['MERGEOPS_TEST_KUBECONFIG'] as string;
    kubeToken = /token: (\S+)/.exec(fs.readFileSync(kubeconfig, 'utf8'))?.[1] ?? '';
    expect(kubeToken).not.toBe('');
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relsec-'));
    // A cluster that is down, whose kubeconfig carries its own credentials.
    const dead = path.join(tmp, 'dead.yaml');
    fs.writeFileSync(
      dead,
      `apiVersion: v1\nkind: Config\nclusters:\n- name: dead\n  cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}\nusers:\n- name: u\n  user: {token: ${deadToken}}\ncontexts:\n- name: dead\n  context: {cluster: dead, user: u}\ncurrent-context: dead\n`,
    );
    const grant = (repos: string, namespaces: string) => `    grants:\n      - repos: ["${repos}"]\n        namespaces: ["${namespaces}"]\n`;
    h = await startHarness(
      [
        'clusters:',
        `  default:\n    kubeconfig: ${kubeconfig}\n${grant(`${REPO.owner}/*`, 'relsec-*')}`,
        // The same API server, granted to someone else only.
        `  other:\n    kubeconfig: ${kubeconfig}\n${grant('someone-else/*', '*')}`,
        `  dead:\n    kubeconfig: ${dead}\n${grant(`${REPO.owner}/*`, 'relsec-*')}`,
      ].join('\n'),
      {},
      { log: captured.log },
    );
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const app = (name: string, extra = '') => `  - name: ${name}\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n${extra}`;
  const files = (apps: string) => ({
    '.github/mergeops.yml': `apps:\n${apps}`,
    'deploy/secret.yaml': `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ntype: Opaque\nstringData:\n  password: ${gitSecret}\ndata:\n  token: ${b64(dataSecret)}\n`,
    'deploy/cm.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n`,
  });

  it('a PR from a fork previews with Secret values masked, and neither it nor a push to the fork deploys', async () => {
    const s = sha(`fork-${ns}`);
    const base = sha(`fork-base-${ns}`);
    await h.push(s, files(app('rel-sec')));
    // A fork's preview takes its targets from the base branch's config; the fork adds the manifests.
    await h.push(base, { '.github/mergeops.yml': files(app('rel-sec'))['.github/mergeops.yml'] as string });
    const p = prPayload('opened', 61, s, base) as Record<string, any>; // fixture JSON is untyped
    Object.assign(p['pull_request']['head']['repo'], { full_name: 'mallory/deploys', fork: true, id: 666 });
    p['pull_request']['head']['repo'].owner.login = 'mallory';
    expect((await deliver(h.rt.url as string, 'pull_request', p)).status).toBe(202);
    const { check, comment } = await h.waitForPreview(s);
    expect(check.body.conclusion).toBe('success');
    expect(comment.body.body).toMatch(/🔒 <b>change<\/b> <code>v1 Secret [^<]+\/creds<\/code>: keys? [^<]*<code>/);
    expect(leaks(JSON.stringify([comment.body, check.body]), [gitSecret, liveSecret, dataSecret, b64(gitSecret), b64(liveSecret), b64(dataSecret)])).toEqual([]);

    // The fork pushes the same commit to its own repository: not deployed.
    const push = structuredClone(p['repository']);
    const forkPush = { ...webhookExample('push'), ref: 'refs/heads/main', after: s, deleted: false, installation: p['installation'], repository: { ...push, full_name: 'mallory/deploys', fork: true, pushed_at: Math.floor(Date.now() / 1000) }, sender: p['sender'] };
    expect((await deliver(h.rt.url as string, 'push', forkPush)).status).toBe(202);
    expect(await h.rt.queues.deploy.getJobs(['waiting', 'active', 'delayed', 'completed', 'failed', 'paused'])).toEqual([]);
    expect(h.calls.filter((c) => c.path.endsWith('/deployments'))).toEqual([]);
    // The preview was a dry run: the live Secret still holds its own value.
    const live = await get(cluster, 'v1', 'Secret', ns, 'creds');
    expect(Buffer.from((live?.['data'] as Record<string, string>)['password'] ?? '', 'base64').toString()).toBe(liveSecret);
    expect(await get(cluster, 'v1', 'ConfigMap', ns, 'settings')).toBeNull();
  });

  it('a repo cannot deploy outside its grant, whatever cluster or namespace its config names', async () => {
    const s = sha(`grant-${ns}`);
    await h.push(s, {
      ...files(
        [
          app('to-other', '    cluster: other\n'),
          app('to-unknown', '    cluster: prod\n'),
          `  - name: to-kube-system\n    path: deploy\n    namespace: kube-system\n    cluster: default\n    wait: 0\n`,
        ].join(''),
      ),
    });
    expect(await h.pushEvent(s)).toBe(202);
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('failure');
    const summary: string = check.body.output.summary;
    expect(summary).toContain(`| ❌ | <code>to-other</code> | <code>other</code> / <code>${ns}</code> | failed: 0 created, 0 configured, 0 unchanged, 0 pruned |`);
    expect(summary).toContain(`repository ${REPO.owner}/${REPO.name} is not granted cluster "other"`);
    expect(summary).toContain(`| ❌ | <code>to-unknown</code> | <code>prod</code> / <code>${ns}</code> | failed: not applied |`);
    expect(summary).toContain('cluster "prod" is not configured by the operator');
    expect(summary).toContain('| ❌ | <code>to-kube-system</code> | <code>default</code> / <code>kube-system</code> | failed: 0 created, 0 configured, 0 unchanged, 0 pruned |');
    expect(summary).toContain('<code>v1 Secret kube-system/creds</code>: not allowed: namespace "kube-system" is not granted to acme/deploys on cluster "default"');
    for (const [n, name] of [[ns, 'settings'], ['kube-system', 'settings']] as const) expect(await get(cluster, 'v1', 'ConfigMap', n, name)).toBeNull();
    const live = await get(cluster, 'v1', 'Secret', ns, 'creds');
    expect(Buffer.from((live?.['data'] as Record<string, string>)['password'] ?? '', 'base64').toString()).toBe(liveSecret);
  });

  it('a deploy inside the grant writes the Secret; the report names keys, never values', async () => {
    const s = sha(`ok-${ns}`);
    await h.push(s, files(app('rel-sec')));
    expect(await h.pushEvent(s, { mergedPr: 62 })).toBe(202);
    const check = await h.waitForDeploy(s);
    expect(check.body.conclusion).toBe('success');
    const live = await get(cluster, 'v1', 'Secret', ns, 'creds');
    expect(Buffer.from((live?.['data'] as Record<string, string>)['password'] ?? '', 'base64').toString()).toBe(gitSecret);
    await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/issues/62/comments')), 'deploy comment');
  });

  it('an unreachable cluster fails the check with its name only: no token, no kubeconfig content', async () => {
    const s = sha(`dead-${ns}`);
    await h.push(s, files(app('on-dead', '    cluster: dead\n')));
    expect(await h.open(63, s)).toBe(202);
    // Unreachable is transient: the queue tries 3 times, then the check run fails with the reason (no comment).
    const start = await waitFor(() => h.calls.find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s), `check run of ${s}`);
    const check = await waitFor(() => h.calls.slice(h.calls.indexOf(start)).find((c) => c.method === 'PATCH' && !c.status && c.path.includes('/check-runs/') && c.body.status === 'completed' && String(c.body.output?.summary).includes('"dead"')), `failed check of ${s}`, 60_000);
    expect(check.body.conclusion).toBe('failure');
    expect(check.body.output.summary).toContain('cluster "dead" is unreachable: ECONNREFUSED (after 4 attempts)');
    expect(leaks(JSON.stringify(check.body), [deadToken, '127.0.0.1:1', 'dead.yaml'])).toEqual([]);
  });

  it('scan: no Secret value, token, key or kubeconfig credential in any GitHub request, log line or Redis key', async () => {
    const secrets = [gitSecret, liveSecret, dataSecret, b64(gitSecret), b64(liveSecret), b64(dataSecret)];
    const credentials = [
      kubeToken,
      deadToken,
      // Every installation token and download token GitHub (the stand-in) handed out.
      ...h.tokens(),
      WEBHOOK_SECRET,
      // A line from the middle of the App's private key.
      PRIVATE_KEY.split('\n')[5] as string,
    ];
    const github = h.calls.filter((c) => c.body !== null).map((c) => JSON.stringify(c.body));
    expect(github.length).toBeGreaterThan(10);
    const logs = captured.lines.join('');
    expect(captured.lines.length).toBeGreaterThan(20);
    // Probot's and Octokit's own lines are in the scan too, not only mergeops' (Probot's
    // Octokit logs each request it sends with its body, at debug).
    expect(captured.lines.some((l) => /"name":"probot"/.test(l))).toBe(true);
    expect(captured.lines.some((l) => /"msg":"GitHub request: (GET|POST|PATCH) https:\/\/api\.github\.com\/repos\/acme\/deploys\//.test(l))).toBe(true);
    expect(h.tokens().length).toBeGreaterThan(0);
    const redis = await redisDump(process.env['MERGEOPS_TEST_REDIS_URL'] as string, h.prefix);
    expect(redis.keys).toBeGreaterThan(5);

    expect(leaks(github.join('\n'), [...secrets, ...credentials])).toEqual([]);
    expect(leaks(logs, [...secrets, ...credentials])).toEqual([]);
    expect(leaks(redis.text, [...secrets, ...credentials])).toEqual([]);
    // Job payloads are references: the repo, the commit, never file contents.
    expect(redis.text).not.toContain('kind: Secret');
    // Written to the report so docs/reliability.md can quote real figures.
    process.stdout.write(`security scan: ${github.length} GitHub bodies, ${captured.lines.length} log lines, ${redis.keys} Redis keys, ${secrets.length + credentials.length} needles\n`);
  });
});
