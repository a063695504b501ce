import { describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { rerun } from '../../support/commands.js';
import { waitFor } from '../../support/github.js';
import { configMap, fanOutConfig, useThreeClusters, webDeployment } from '../../support/environments.js';
import { REPO, sha, type Recorded } from '../../support/harness.js';
import { get, namespace, rollOut, uniqueName } from '../../support/kube.js';

/**
 * When a Deployment first appeared in a cluster, bounded from below: `absentAt` is when the
 * last read that still found nothing was sent (the object was created after it), `seenAt`
 * when it was first found. Reads every 50 ms until `stop.done`.
 */
function appearance(c: Cluster, ns: string, name: string, stop: { done: boolean }): { absentAt: number; seenAt: number; done: Promise<void> } {
  const seen = { absentAt: 0, seenAt: 0, done: Promise.resolve() };
  seen.done = (async () => {
    while (!stop.done && !seen.seenAt) {
      const sent = Date.now();
      if (await get(c, 'apps/v1', 'Deployment', ns, name)) seen.seenAt = Date.now();
      else seen.absentAt = sent;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  return seen;
}

const deploymentsOf = (calls: Recorded[], s: string): string[] =>
  calls
    .filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s)
    .map((c) => String(c.body.environment))
    .sort();

describe('environments fan out: staging, then prod-eu and prod-us side by side, on three real API servers', () => {
  const env = useThreeClusters();

  async function namespaces(ns: string, skip: string[] = []): Promise<void> {
    const all: [Cluster, string][] = [
      [env.staging, 'staging'],
      [env.prodEu, 'prod-eu'],
      [env.prodUs, 'prod-us'],
    ];
    for (const [c, e] of all) if (!skip.includes(e)) await namespace(c, `${ns}-${e}`);
  }

  it('a merge applies staging, waits for its health and a 3 s soak, then applies prod-eu and prod-us in parallel, each with its own GitHub Deployment', async () => {
    const ns = uniqueName('envs-fd');
    await namespaces(ns);
    const s = sha(`fanout-${ns}`);
    const files = { 'deploy/web/staging/app.yaml': webDeployment('nginx:1.27'), 'deploy/web/prod-eu/app.yaml': webDeployment('nginx:1.27'), 'deploy/web/prod-us/app.yaml': webDeployment('nginx:1.27') };
    await env.h.push(s, { '.github/mergeops.yml': fanOutConfig(ns, 'fan', { soak: '3s' }), ...files });
    const stop = { done: false };
    const eu = appearance(env.prodEu, `${ns}-prod-eu`, 'web', stop);
    const us = appearance(env.prodUs, `${ns}-prod-us`, 'web', stop);
    let stagingHealthyAt = 0;
    const prodsAtStagingHealthy: unknown[] = [];
    const staging = rollOut(env.staging, `${ns}-staging`, 'web', stop, async () => {
      prodsAtStagingHealthy.push(await get(env.prodEu, 'apps/v1', 'Deployment', `${ns}-prod-eu`, 'web'), await get(env.prodUs, 'apps/v1', 'Deployment', `${ns}-prod-us`, 'web'));
      stagingHealthyAt = Date.now();
    });
    // Each production rollout is reported done only once BOTH production Deployments exist:
    // a deploy that waited for prod-eu's health before starting prod-us would run out its 20 s wait.
    const bothProds = async (): Promise<void> => {
      await waitFor(async () => (eu.seenAt && us.seenAt) || stop.done || undefined, 'both production Deployments', 30_000);
    };
    const prodEu = rollOut(env.prodEu, `${ns}-prod-eu`, 'web', stop, bothProds);
    const prodUs = rollOut(env.prodUs, `${ns}-prod-us`, 'web', stop, bothProds);
    await env.h.pushEvent(s, { mergedPr: 71 });
    const check = await env.h.waitForDeploy(s);
    stop.done = true;
    await Promise.all([staging, prodEu, prodUs, eu.done, us.done]);

    expect(check.body.conclusion).toBe('success');
    expect(prodsAtStagingHealthy).toEqual([null, null]);
    // The soak (3 s) starts once mergeops sees staging healthy: each production Deployment was
    // still absent on a read sent 2 s or more after staging's rollout was reported (a second
    // of the soak left for that read's latency). Without the soak, production is written
    // within about 1.4 s here (the health poll, 1 s, and the apply).
    expect(eu.absentAt - stagingHealthyAt).toBeGreaterThanOrEqual(2000);
    expect(us.absentAt - stagingHealthyAt).toBeGreaterThanOrEqual(2000);
    const summary = String(check.body.output.summary);
    expect(summary).toContain('<code>staging</code> (<code>staging</code>) ✅ deployed');
    expect(summary).toContain('<code>prod-eu</code> (<code>prod-eu</code>) ✅ deployed');
    expect(summary).toContain('<code>prod-us</code> (<code>prod-us</code>) ✅ deployed');
    expect(summary).toContain(`| ✅ | <code>fan · prod-us</code> | <code>prod-us</code> / <code>${ns}-prod-us</code> | deployed: 1 created`);
    // Each environment's objects and inventory live in its own cluster only.
    expect(await get(env.prodEu, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-fan.prod-eu`)).not.toBeNull();
    expect(await get(env.prodUs, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-fan.prod-us`)).not.toBeNull();
    expect(await get(env.prodEu, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-fan.prod-us`)).toBeNull();
    expect((await get(env.prodUs, 'apps/v1', 'Deployment', `${ns}-prod-us`, 'web'))?.metadata.labels?.['mergeops.dev/app']).toBe('fan.prod-us');
    expect(deploymentsOf(env.h.calls, s)).toEqual(['fan · prod-eu', 'fan · prod-us', 'fan · staging']);
    const statuses = env.h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/statuses') && c.path.includes('/deployments/'));
    expect(statuses.length).toBeGreaterThanOrEqual(3);
  });

  it('a rollout that fails in staging (an image that never becomes ready) stops the waves: both prods are not started, say why, and get no Deployment', async () => {
    const ns = uniqueName('envs-ff');
    await namespaces(ns);
    const s = sha(`fanfail-${ns}`);
    await env.h.push(s, {
      '.github/mergeops.yml': fanOutConfig(ns, 'fanf'),
      'deploy/web/staging/app.yaml': webDeployment('registry.invalid/web:never'),
      'deploy/web/prod-eu/app.yaml': webDeployment('registry.invalid/web:never'),
      'deploy/web/prod-us/app.yaml': webDeployment('registry.invalid/web:never'),
    });
    // The Deployment controller's verdict on pods that never start: progress deadline exceeded.
    const stop = { done: false };
    const controller = (async () => {
      while (!stop.done) {
        const d = await get(env.staging, 'apps/v1', 'Deployment', `${ns}-staging`, 'web');
        if (d && !(d['status'] as { conditions?: unknown[] } | undefined)?.conditions) {
          await env.staging.client.request('PATCH', `/apis/apps/v1/namespaces/${ns}-staging/deployments/web/status`, {
            body: {
              status: {
                observedGeneration: d.metadata['generation'],
                replicas: 1,
                unavailableReplicas: 1,
                conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded', message: 'ReplicaSet "web-6d4cf56db6" has timed out progressing.' }],
              },
            },
            contentType: 'application/merge-patch+json',
          });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await env.h.pushEvent(s, { mergedPr: 72 });
    const check = await env.h.waitForDeploy(s);
    stop.done = true;
    await controller;

    expect(check.body.conclusion).toBe('failure');
    const summary = String(check.body.output.summary);
    expect(summary).toContain('<code>staging</code> (<code>staging</code>) ❌ failed');
    expect(summary).toContain('timed out progressing');
    expect(summary).toContain('<code>prod-eu</code> (<code>prod-eu</code>) ⛔ not started: staging failed');
    expect(summary).toContain('<code>prod-us</code> (<code>prod-us</code>) ⛔ not started: staging failed');
    expect(summary).toContain(`| ⛔ | <code>fanf · prod-eu</code> | <code>prod-eu</code> / <code>${ns}-prod-eu</code> | not started: staging failed |`);
    expect(summary).toContain(`| ⛔ | <code>fanf · prod-us</code> | <code>prod-us</code> / <code>${ns}-prod-us</code> | not started: staging failed |`);
    expect(await get(env.prodEu, 'apps/v1', 'Deployment', `${ns}-prod-eu`, 'web')).toBeNull();
    expect(await get(env.prodUs, 'apps/v1', 'Deployment', `${ns}-prod-us`, 'web')).toBeNull();
    const deployments = await waitFor(() => {
      const d = deploymentsOf(env.h.calls, s);
      return d.length ? d : undefined;
    }, 'deployments of the failed merge');
    expect(deployments).toEqual(['fanf · staging']);
  });

  it('previewCheck: true gives each production environment its own required-able check, judged against its own cluster only', async () => {
    const ns = uniqueName('envs-fp');
    // prod-us's cluster has no namespace for the app: its dry run fails there, and only there.
    await namespaces(ns, ['prod-us']);
    const base = sha(`fanbase-${ns}`);
    const head = sha(`fanhead-${ns}`);
    const config = fanOutConfig(ns, 'fanp', { prodKeys: '    previewCheck: true\n' });
    const files = (v: string) => ({ '.github/mergeops.yml': config, 'deploy/web/staging/cm.yaml': configMap('web', v), 'deploy/web/prod-eu/cm.yaml': configMap('web', v), 'deploy/web/prod-us/cm.yaml': configMap('web', v) });
    await env.h.push(base, files('1'));
    await env.h.push(head, files('2'));
    expect(await env.h.open(73, head, { baseSha: base })).toBe(202);
    const { check } = await env.h.waitForPreview(head);
    expect(check.body.conclusion).toBe('failure');

    const envCheck = (name: string) =>
      waitFor(() => env.h.calls.find((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === head && c.body.name === name), name);
    const eu = await envCheck('mergeops / preview (prod-eu)');
    const us = await envCheck('mergeops / preview (prod-us)');
    // Written completed, one request each.
    expect(eu.body).toMatchObject({ status: 'completed', conclusion: 'success' });
    expect(String(eu.body.output.summary)).toContain('Environment `prod-eu` → cluster `prod-eu`: 1 app planned.');
    expect(us.body).toMatchObject({ status: 'completed', conclusion: 'failure' });
    expect(String(us.body.output.summary)).toContain(`${ns}-prod-us`);
    expect(String(us.body.output.summary)).not.toContain('prod-eu');
    // staging did not ask for one.
    const names = env.h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === head).map((c) => c.body.name);
    expect(names.sort()).toEqual(['mergeops / preview', 'mergeops / preview (prod-eu)', 'mergeops / preview (prod-us)']);

    // GitHub's Re-run on an environment's check previews the commit again.
    const starts = () => env.h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === head && c.body.name === 'mergeops / preview');
    expect(await rerun(env.h, { id: eu.checkRunId as number, name: 'mergeops / preview (prod-eu)', headSha: head, branch: 'feature-73', pr: { number: 73, baseSha: base } })).toBe(202);
    await waitFor(() => (starts().length === 2 ? true : undefined), 'the re-run preview');
    await waitFor(() => (env.h.calls.filter((c) => c.method === 'POST' && !c.status && c.path.endsWith('/check-runs') && c.body.head_sha === head && c.body.name === 'mergeops / preview (prod-eu)').length === 2 ? true : undefined), "prod-eu's check written again");
  });
});
