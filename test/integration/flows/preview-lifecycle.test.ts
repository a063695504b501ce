import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type { Cluster } from '../../../src/cluster/connect.js';
import { deployJobId, previewJobId } from '../../../src/queue/jobs.js';
import { LABELS } from '../../../src/report/labels.js';
import { deliver, waitFor } from '../../support/github.js';
import { INSTALLATION_ID } from '../../support/github.js';
import { sha, startHarness, type Harness, type Recorded, REPO } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';
import { commandsApi, rerun, type CommandStandIn } from '../../support/commands.js';


const require = createRequire(import.meta.url);
const examples = require('@octokit/webhooks-examples/api.github.com/index.json') as { name: string; examples: Record<string, unknown>[] }[];

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const cm = (name: string, v: string): string => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  v: "${v}"\n`;
const secret = (v: string): string => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\ndata:\n  TOKEN: ${b64(v)}\n`;

describe('the PR lifecycle around the preview: labels, quiet repositories, Re-run', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  let gh: CommandStandIn;
  const main1 = sha('lifecycle-main');
  const config = (n: string): string => `apps:\n  - name: life\n    path: deploy\n    namespace: ${n}\n    wait: 0\n`;
  const checkStarts = (s: string, name: string) => h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s && c.body.name === name);
  const labelWrites = (pr: number) => h.calls.filter((c) => (c.method === 'POST' || c.method === 'DELETE') && c.path.includes(`/issues/${pr}/labels`));

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('life');
    await namespace(cluster, ns);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["life-*"]\n`);
    gh = commandsApi(h);
    await h.push(main1, { '.github/mergeops.yml': config(ns), 'deploy/a.yaml': cm('a', '1'), 'deploy/b.yaml': cm('b', '1'), 'deploy/s.yaml': secret('old') });
    h.git.refs.set('main', main1);
    await h.pushEvent(main1);
    expect((await h.waitForDeploy(main1)).body.conclusion).toBe('success');
  });

  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  it('labels follow pushes: deletes + secrets, then no-op; only what changed is written; others\' labels stay', async () => {
    const head1 = sha('lifecycle-pr-1');
    await h.push(head1, { '.github/mergeops.yml': config(ns), 'deploy/a.yaml': cm('a', '1'), 'deploy/s.yaml': secret('new') });
    await h.open(51, head1, { baseSha: main1 });
    await h.waitForPreview(head1);
    await waitFor(() => (h.git.issueLabels.get(51)?.length === 2 ? true : undefined), 'labels on #51');
    expect([...(h.git.issueLabels.get(51) ?? [])].sort()).toEqual([LABELS.deletes.name, LABELS.secrets.name].sort());
    // New to the repository: created with their colour and description first.
    expect(h.git.repoLabels.get(LABELS.deletes.name)).toEqual({ color: LABELS.deletes.color, description: LABELS.deletes.description });
    h.git.issueLabels.get(51)?.push('needs-review');

    // The next push puts everything back: nothing changes in the cluster.
    const head2 = sha('lifecycle-pr-2');
    await h.push(head2, { '.github/mergeops.yml': config(ns), 'deploy/a.yaml': cm('a', '1'), 'deploy/b.yaml': cm('b', '1'), 'deploy/s.yaml': secret('old') });
    const before = labelWrites(51).length;
    await h.open(51, head2, { baseSha: main1, action: 'synchronize' });
    await h.waitForPreview(head2);
    await waitFor(() => (h.git.issueLabels.get(51)?.includes(LABELS.noop.name) && h.git.issueLabels.get(51)?.length === 2 ? true : undefined), 'no-op label on #51');
    expect([...(h.git.issueLabels.get(51) ?? [])].sort()).toEqual(['needs-review', LABELS.noop.name].sort());
    const writes = labelWrites(51).slice(before);
    expect(writes.filter((c) => c.method === 'DELETE').map((c) => decodeURIComponent(c.path.split('/labels/')[1] ?? '')).sort()).toEqual([LABELS.deletes.name, LABELS.secrets.name].sort());
    expect(writes.filter((c) => c.method === 'POST').map((c) => c.body.labels)).toEqual([[LABELS.noop.name]]);

    // A push that changes nothing in the labels writes none.
    const head3 = sha('lifecycle-pr-3');
    await h.push(head3, { ...h.git.files.get(head2), 'README.md': 'docs only\n' });
    const quietBefore = labelWrites(51).length;
    await h.open(51, head3, { baseSha: main1, action: 'synchronize' });
    const done = await h.waitForPreview(head3);
    expect(done.check.body.conclusion).toBe('success');
    const job = await h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 51, headSha: head3 }));
    await waitFor(async () => ((await job?.getState()) === 'completed' ? true : undefined), 'preview job of head3 completed');
    expect(labelWrites(51).length).toBe(quietBefore);
  });

  it('a repository without .github/mergeops.yml gets no check and no comment, for PRs and pushes', async () => {
    const head = sha('lifecycle-unconfigured');
    await h.push(head, { 'README.md': 'not a mergeops repo\n', 'k8s/cm.yaml': cm('x', '1') });
    const callsBefore = h.calls.length;
    await h.open(61, head, { baseSha: sha('lifecycle-unconfigured-base') });
    const job = await waitFor(() => h.rt.queues.preview.getJob(previewJobId({ repoId: REPO.id, pr: 61, headSha: head })), 'preview job queued');
    await waitFor(async () => ((await job.getState()) === 'completed' ? true : undefined), 'preview job completed');
    await h.pushEvent(head, { branch: 'feature' });
    const deploy = await waitFor(() => h.rt.queues.deploy.getJob(deployJobId({ repoId: REPO.id, sha: head, branch: 'feature' })), 'deploy job queued');
    await waitFor(async () => ((await deploy.getState()) === 'completed' ? true : undefined), 'deploy job completed');
    const writes = h.calls.slice(callsBefore).filter((c) => c.method !== 'GET');
    expect(writes.map((c) => `${c.method} ${c.path}`)).toEqual([]);
    // It looked for the config and nothing else: no archive download.
    expect(h.calls.slice(callsBefore).filter((c) => c.path.includes('/tarball/'))).toEqual([]);
  });

  it('Re-run on the preview check re-runs that preview on a new check run and edits the same comment; a redelivery runs nothing more', async () => {
    const head = sha('lifecycle-rerun');
    await h.push(head, { '.github/mergeops.yml': config(ns), 'deploy/a.yaml': cm('a', '2'), 'deploy/b.yaml': cm('b', '1'), 'deploy/s.yaml': secret('old') });
    await h.open(71, head, { baseSha: main1 });
    const first = await h.waitForPreview(head);
    const firstId = Number(first.check.path.split('/').pop());
    const delivery = crypto.randomUUID();
    expect(await rerun(h, { id: firstId, name: 'mergeops / preview', headSha: head, branch: 'feature-71', pr: { number: 71, baseSha: main1 } }, delivery)).toBe(202);
    await waitFor(() => (checkStarts(head, 'mergeops / preview').length === 2 ? true : undefined), 'a second preview check run');
    const second = checkStarts(head, 'mergeops / preview')[1];
    const secondId = 1000 + h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs')).indexOf(second as never) + 1;
    const done = await waitFor(() => h.calls.find((c) => c.method === 'PATCH' && c.path.endsWith(`/check-runs/${secondId}`) && c.body.status === 'completed'), 'the re-run completes');
    expect(done.body.conclusion).toBe('success');
    // The same comment, edited in place.
    const edits = h.calls.filter((c) => c.method === 'PATCH' && /\/issues\/comments\/\d+$/.test(c.path) && String(c.body.body).includes(head.slice(0, 7)));
    expect(edits.length).toBeGreaterThanOrEqual(1);
    expect(first.comment.method).toBe('POST');
    // The same delivery again: no third run (the job id is the delivery's).
    await rerun(h, { id: firstId, name: 'mergeops / preview', headSha: head, branch: 'feature-71', pr: { number: 71, baseSha: main1 } }, delivery);
    const job = await h.rt.queues.preview.getJob(`rerun-${delivery.replace(/[^A-Za-z0-9-]/g, '')}`);
    // Seeing the re-run's last call is not seeing its job marked done: wait for that state.
    await waitFor(async () => (await job?.getState()) === 'completed' || undefined, 'the re-run job completed');
    expect(checkStarts(head, 'mergeops / preview')).toHaveLength(2);
  });

  it('Re-run on the deploy check deploys that commit again; an older commit is not re-run', async () => {
    const deployCheck = checkStarts(main1, 'mergeops / deploy')[0];
    expect(deployCheck).toBeDefined();
    const id = 1000 + h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs')).indexOf(deployCheck as never) + 1;
    expect(await rerun(h, { id, name: 'mergeops / deploy', headSha: main1, branch: 'main' })).toBe(202);
    await waitFor(() => (checkStarts(main1, 'mergeops / deploy').length === 2 ? true : undefined), 'a second deploy check run', 60_000);

    // main moves on; a Re-run of the old commit's deploy would roll the cluster back.
    const main2 = sha('lifecycle-main-2');
    await h.push(main2, { '.github/mergeops.yml': config(ns), 'deploy/a.yaml': cm('a', '3'), 'deploy/b.yaml': cm('b', '1'), 'deploy/s.yaml': secret('old') });
    await h.pushEvent(main2);
    await h.waitForDeploy(main2);
    const delivery = crypto.randomUUID();
    expect(await rerun(h, { id, name: 'mergeops / deploy', headSha: main1, branch: 'main' }, delivery)).toBe(202);
    // Refused at enqueue (the webhook answers after its handler): no job with that id, no third deploy check.
    expect(await h.rt.queues.deploy.getJob(`rerun-${delivery}`)).toBeUndefined();
    expect(checkStarts(main1, 'mergeops / deploy')).toHaveLength(2);
  });

  it('the risk gate: a gated app that deletes ends action_required; "Accept risk" by someone with write access turns it green, by a reader it does not', async () => {
    const head = sha('lifecycle-gate');
    await h.push(head, { '.github/mergeops.yml': `${config(ns)}    review: { onRisk: action_required }\n`, 'deploy/a.yaml': cm('a', '1'), 'deploy/s.yaml': secret('old') });
    await h.open(81, head, { baseSha: main1 });
    const first = await h.waitForPreview(head);
    expect(first.check.body.conclusion).toBe('action_required');
    expect(first.check.body.actions).toEqual([{ label: 'Accept risk', description: 'Reviewed: let this change merge', identifier: 'mergeops-accept' }]);
    expect(first.comment.body.body).toContain('ends as **action required**');
    const firstId = Number(first.check.path.split('/').pop());
    const press = async (login: string): Promise<void> => {
      const base = examples.find((e) => e.name === 'check_run')?.examples.find((x) => x['action'] === 'requested_action');
      const p = structuredClone(base) as Record<string, any>; // fixture JSON is untyped
      p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
      Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
      p['repository'].owner.login = REPO.owner;
      const repoRef = { id: REPO.id, url: `https://api.github.com/repos/${REPO.owner}/${REPO.name}`, name: REPO.name };
      Object.assign(p['check_run'], { id: firstId, name: 'mergeops / preview', head_sha: head, status: 'completed', conclusion: 'action_required' });
      p['check_run'].pull_requests = [{ url: `https://api.github.com/repos/${REPO.owner}/${REPO.name}/pulls/81`, id: 81, number: 81, head: { ref: 'gate', sha: head, repo: repoRef }, base: { ref: 'main', sha: main1, repo: repoRef } }];
      p['requested_action'] = { identifier: 'mergeops-accept' };
      p['sender'] = { ...p['sender'], login };
      expect((await deliver(h.rt.url as string, 'check_run', p)).status).toBe(202);
    };
    const completions = (): Recorded[] =>
      h.calls.filter((c) => c.method === 'PATCH' && c.body?.status === 'completed' && checkStarts(head, 'mergeops / preview').some((s) => c.path.endsWith(`/check-runs/${1000 + h.calls.filter((x) => x.method === 'POST' && !x.status && x.path.endsWith('/check-runs')).indexOf(s) + 1}`)));
    gh.roles.set('reader', 'read');
    gh.roles.set('maintainer', 'maintain');
    await press('reader');
    await waitFor(() => (completions().length === 2 ? true : undefined), 'the reader\'s re-run completes');
    expect(completions()[1]?.body.conclusion).toBe('action_required');
    await press('maintainer');
    await waitFor(() => (completions().length === 3 ? true : undefined), 'the maintainer\'s re-run completes');
    expect(completions()[2]?.body.conclusion).toBe('success');
    expect(completions()[2]?.body.output.summary).toContain('Risky changes accepted by @maintainer');
  });
});
