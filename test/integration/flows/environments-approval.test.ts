import { describe, expect, it } from '@jest/globals';
import { Redis } from 'ioredis';
import { waitFor } from '../../support/github.js';
import { clickAction, comment, commandsApi, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { configMap, useTwoClusters } from '../../support/environments.js';
import type { Recorded } from '../../support/harness.js';
import { REPO, sha } from '../../support/harness.js';
import { get, namespace, uniqueName } from '../../support/kube.js';

/**
 * Approval gates through the whole app, on two real API servers: `staging` (the run's own)
 * and the `prod-eu` environment on a second kube-apiserver + etcd. GitHub is the stand-in;
 * every request is held to GitHub's OpenAPI description.
 */
describe('environments: approval gates, promotion and the soak as a delayed job', () => {
  const env = useTwoClusters();
  const PROMOTE = 'mergeops-promote-1';
  let gh: CommandStandIn | undefined;
  const config = (ns: string, soak: string) =>
    `environments:\n  - name: staging\n    cluster: staging\n  - name: prod-eu\n    cluster: prod\n    soak: ${soak}\n    approval: write\napps:\n  - name: web\n    path: deploy/web\n    namespace: ${ns}-{env}\n    wait: 0\n    url: https://{env}.shop.example.com\n`;
  const files = (ns: string, value: string, soak = '1s') => ({ '.github/mergeops.yml': config(ns, soak), 'deploy/web/cm.yaml': configMap('web', value) });
  const value = async (cluster: 'staging' | 'prod', ns: string): Promise<string | undefined> => {
    const cm = await get(env[cluster], 'v1', 'ConfigMap', `${ns}-${cluster === 'prod' ? 'prod-eu' : 'staging'}`, 'web');
    return (cm?.['data'] as Record<string, string> | undefined)?.['value'];
  };
  const deployCheck = (s: string): Recorded => {
    const c = env.h.calls.find((x) => x.method === 'POST' && !x.status && x.path.endsWith('/check-runs') && x.body.head_sha === s && x.body.name === 'mergeops / deploy');
    if (!c) throw new Error(`no deploy check of ${s}`);
    return c;
  };
  /** The update of `s`'s deploy check that offers the Promote button (the check stays in progress). */
  const promoteOffered = (s: string): Promise<Recorded> =>
    waitFor(() => {
      const id = env.h.calls.find((x) => x.method === 'POST' && !x.status && x.path.endsWith('/check-runs') && x.body.head_sha === s && x.body.name === 'mergeops / deploy')?.checkRunId;
      return env.h.calls.find((x) => !x.status && x.path.endsWith(`/check-runs${x.method === 'PATCH' ? `/${id}` : ''}`) && (x.method === 'PATCH' || x.body.head_sha === s) && (x.body.actions ?? []).some((a: { identifier: string }) => a.identifier === PROMOTE));
    }, `the Promote button on the deploy check of ${s.slice(0, 7)}`, 60_000);
  /** A fresh name and its namespace on each cluster (`<ns>-staging`, `<ns>-prod-eu`). */
  const namespaces = async (prefix: string): Promise<string> => {
    const ns = uniqueName(prefix);
    await namespace(env.staging, `${ns}-staging`);
    await namespace(env.prod, `${ns}-prod-eu`);
    return ns;
  };
  const completed = (s: string): Promise<Recorded> => waitFor(() => env.h.calls.find((x) => x.method === 'PATCH' && !x.status && x.path.endsWith(`/check-runs/${deployCheck(s).checkRunId}`) && x.body.status === 'completed'), `deploy check of ${s.slice(0, 7)} completed`, 60_000);

  it('merge → staging applied → soak → prod-eu held with a Promote button; a reader is refused; a newer merge replaces the waiting one (said on both PRs); a writer promotes it; the button promotes the next', async () => {
    gh = commandsApi(env.h);
    gh.roles.set('reader', 'read');
    gh.roles.set('writer', 'write');
    const ns = await namespaces('envs-a');

    const s1 = sha(`approval-1-${ns}`);
    await env.h.push(s1, files(ns, '1'));
    await env.h.pushEvent(s1, { mergedPr: 80 });
    const offered = await promoteOffered(s1);
    // Held, not failed: the check stays in progress, its button within GitHub's limits.
    expect(offered.body.status).toBe('in_progress');
    expect(offered.body.actions).toEqual([{ label: 'Promote to prod-eu', description: `Apply ${s1.slice(0, 7)} to prod-eu (write)`, identifier: PROMOTE }]);
    expect(offered.body.output.summary).toContain('<code>prod-eu</code> (<code>prod</code>) ⏳ waiting for approval (write)');
    expect(offered.body.output.summary).toContain('<code>staging</code> (<code>staging</code>) ✅ deployed');
    expect(await value('staging', ns)).toBe('1');
    expect(await value('prod', ns)).toBeUndefined();
    // Waiting is no Deployment: only staging has one.
    expect(env.h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s1).map((c) => c.body.environment)).toEqual(['web · staging']);

    // A reader's promote is refused, readably; nothing is applied.
    let since = env.h.calls.length;
    await comment(env.h, '/mergeops promote web prod-eu', { issue: 80, login: 'reader' });
    const refused = await waitForReply(env.h, 80, since, '> /mergeops promote web prod-eu');
    expect(refused.body.body).toContain(':x: `promote` needs write access to this repository; @reader has read access (promoting `prod-eu` needs write: its approval)');
    expect(await value('prod', ns)).toBeUndefined();

    // A newer merge passes staging and replaces the waiting commit: said on both PRs.
    const s2 = sha(`approval-2-${ns}`);
    since = env.h.calls.length;
    await env.h.push(s2, files(ns, '2'));
    await env.h.pushEvent(s2, { mergedPr: 81, before: s1 });
    const offered2 = await promoteOffered(s2);
    expect(offered2.body.output.summary).toContain(`Replaces <code>${s1.slice(0, 7)}</code> as the commit waiting for <code>prod-eu</code>`);
    const told = await waitForReply(env.h, 80, since, 'replaced by #81');
    expect(told.body.body).toContain(`${s1.slice(0, 7)}\` no longer waits for \`prod-eu\``);
    // The older commit's check ends neutral, its Promote button gone.
    const old = await completed(s1);
    expect(old.body).toMatchObject({ conclusion: 'neutral', actions: [] });
    expect(await value('staging', ns)).toBe('2');

    // The writer's promote (on the first PR: the newest verified commit is what gets promoted) applies s2 to prod-eu.
    since = env.h.calls.length;
    await comment(env.h, '/mergeops promote web prod-eu', { issue: 80, login: 'writer' });
    const ok = await waitForReply(env.h, 80, since, '> /mergeops promote web prod-eu');
    expect(ok.body.body).toContain(`:white_check_mark: Promoting ${s2.slice(0, 7)}`);
    const done = await completed(s2);
    expect(done.body.conclusion).toBe('success');
    expect(done.body.actions).toEqual([]);
    expect(done.body.output.summary).toContain('<code>prod-eu</code> (<code>prod</code>) ✅ deployed (promoted by @writer)');
    expect(done.body.output.summary).toContain('<code>staging</code> (<code>staging</code>) ✅ deployed');
    expect(await value('prod', ns)).toBe('2');
    expect(await get(env.prod, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-web.prod-eu`)).not.toBeNull();
    await waitFor(() => env.h.calls.some((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s2 && c.body.environment === 'web · prod-eu') || undefined, 'the prod-eu Deployment of the promoted commit');
    // Each (app, environment) Deployment links where the app answers there (url: with {env}).
    const prodDeployment = env.h.git.deployments.find((d) => d.sha === s2 && d.environment === 'web · prod-eu');
    const status = await waitFor(() => env.h.calls.find((c) => c.method === 'POST' && c.path.endsWith(`/deployments/${prodDeployment?.id}/statuses`)), 'the prod-eu Deployment status');
    expect(status.body).toMatchObject({ state: 'success', environment_url: 'https://prod-eu.shop.example.com' });

    // The button: GitHub's check_run.requested_action (every field of its payload) from a writer.
    const s3 = sha(`approval-3-${ns}`);
    await env.h.push(s3, files(ns, '3'));
    await env.h.pushEvent(s3, { mergedPr: 82, before: s2 });
    await promoteOffered(s3);
    since = env.h.calls.length;
    expect(await clickAction(env.h, { sha: s3, checkRunId: deployCheck(s3).checkRunId as number, login: 'writer', identifier: PROMOTE, inProgress: true })).toBe(202);
    const clicked = await waitForReply(env.h, 82, since, 'clicked **Promote to prod-eu**');
    expect(clicked.body.body).toContain(`:white_check_mark: @writer clicked **Promote to prod-eu** on the deploy of ${s3.slice(0, 7)}`);
    expect((await completed(s3)).body.conclusion).toBe('success');
    expect(await value('prod', ns)).toBe('3');
  }, 180_000);

  it('a commit waiting for approval survives a restarted worker: after the restart, a writer\'s promote applies it to prod-eu and completes the same check', async () => {
    gh ??= commandsApi(env.h);
    gh.roles.set('writer', 'write');
    const ns = await namespaces('envs-r');
    const s1 = sha(`restart-1-${ns}`);
    await env.h.push(s1, files(ns, '1', '0s'));
    await env.h.pushEvent(s1, { mergedPr: 85 });
    await promoteOffered(s1);
    expect(await value('prod', ns)).toBeUndefined();

    // The worker goes away and another starts: only Redis and the clusters carry the wait.
    await env.h.restart();
    const since = env.h.calls.length;
    await comment(env.h, '/mergeops promote web prod-eu', { issue: 85, login: 'writer' });
    const ok = await waitForReply(env.h, 85, since, '> /mergeops promote web prod-eu');
    expect(ok.body.body).toContain(`:white_check_mark: Promoting ${s1.slice(0, 7)}`);
    const done = await completed(s1);
    expect(done.body.conclusion).toBe('success');
    expect(done.body.output.summary).toContain('<code>prod-eu</code> (<code>prod</code>) ✅ deployed (promoted by @writer)');
    expect(await value('prod', ns)).toBe('1');
    // One check run for the commit, before and after the restart.
    expect(env.h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === s1 && c.body.name === 'mergeops / deploy')).toHaveLength(1);
  }, 120_000);

  it('the soak holds neither the job nor the branch lease: a delayed job goes on later, and a newer merge deploys staging meanwhile', async () => {
    const ns = await namespaces('envs-s');
    const s1 = sha(`soak-1-${ns}`);
    await env.h.push(s1, files(ns, '1', '10m'));
    await env.h.pushEvent(s1, { mergedPr: 90 });
    await waitFor(async () => (await value('staging', ns)) === '1' || undefined, 'staging applied');
    // The continuation waits in the queue as a delayed job, due at the soak's end; no deploy job runs.
    const delayed = await waitFor(async () => (await env.h.rt.queues.deploy.getDelayed()).find((j) => j.data.sha === s1), 'the delayed continuation of the soak');
    expect(delayed.data).toMatchObject({ reason: 'continue', environments: ['prod-eu'], apps: ['web · prod-eu'] });
    expect(delayed.opts.delay).toBeGreaterThan(9 * 60_000);
    await waitFor(async () => (await env.h.rt.queues.deploy.getActiveCount()) === 0 || undefined, 'no deploy job running');
    const redis = new Redis(process.env['MERGEOPS_TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379');
    try {
      expect(await redis.exists(`${env.h.prefix}:deploy-lock:${REPO.id}:main`)).toBe(0);
    } finally {
      redis.disconnect();
    }
    // A newer merge deploys staging at once, ten minutes before the soak would end.
    const s2 = sha(`soak-2-${ns}`);
    await env.h.push(s2, files(ns, '2', '10m'));
    await env.h.pushEvent(s2, { mergedPr: 91, before: s1 });
    await waitFor(async () => (await value('staging', ns)) === '2' || undefined, 'staging applied by the newer merge during the soak', 30_000);
    expect(await value('prod', ns)).toBeUndefined();
    const check = await waitFor(() => env.h.calls.find((x) => x.method === 'POST' && !x.status && x.path.endsWith('/check-runs') && x.body.head_sha === s2 && x.body.name === 'mergeops / deploy'), 'the newer deploy check');
    expect(check.body.status).toBe('in_progress');
    expect(check.body.output.summary).toContain('⏳ soaking until');
  }, 120_000);
});
