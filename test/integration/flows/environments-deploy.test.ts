import { describe, expect, it } from '@jest/globals';
import { waitFor } from '../../support/github.js';
import { configMap, envConfig, webDeployment, useTwoClusters } from '../../support/environments.js';
import { REPO, sha } from '../../support/harness.js';
import { get, namespace, rollOut, uniqueName } from '../../support/kube.js';

describe('environments in the deploy (waves), on two real API servers', () => {
  const env = useTwoClusters();

  it('a merge deploys staging, waits for its health and soak, then prod; each gets its own GitHub Deployment', async () => {
    const ns = uniqueName('envs-d');
    await namespace(env.staging, `${ns}-staging`);
    await namespace(env.prod, `${ns}-prod`);
    const s = sha(`deploy-${ns}`);
    await env.h.push(s, { '.github/mergeops.yml': envConfig(ns, '    soak: 2s\n'), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/app.yaml': webDeployment('nginx:1.27'), 'deploy/web/prod/app.yaml': webDeployment('nginx:1.27') });
    const stop = { done: false };
    // What prod held at the moment staging's rollout was reported done: nothing may be there yet.
    let prodBeforeStagingHealthy: unknown = 'unset';
    let stagingHealthyAt = 0;
    let prodSeenAt = 0;
    const stagingController = rollOut(env.staging, `${ns}-staging`, 'web', stop, async () => {
      prodBeforeStagingHealthy = await get(env.prod, 'apps/v1', 'Deployment', `${ns}-prod`, 'web');
      stagingHealthyAt = Date.now();
    });
    const prodController = rollOut(env.prod, `${ns}-prod`, 'web', stop, async () => {
      prodSeenAt = Date.now();
    });
    await env.h.pushEvent(s, { mergedPr: 64 });
    const check = await env.h.waitForDeploy(s);
    stop.done = true;
    await Promise.all([stagingController, prodController]);

    expect(prodBeforeStagingHealthy).toBeNull();
    // prod's soak (2 s) starts once staging is healthy: prod's Deployment appears no sooner.
    expect(prodSeenAt - stagingHealthyAt).toBeGreaterThanOrEqual(2000);
    expect(check.body.conclusion).toBe('success');
    const summary = String(check.body.output.summary);
    expect(summary).toContain('**Environments:** <code>staging</code> (<code>staging</code>) ✅ deployed → <code>prod</code> (<code>prod</code>) ✅ deployed');
    expect(summary).toContain(`| ✅ | <code>web · prod</code> | <code>prod</code> / <code>${ns}-prod</code> | deployed: 1 created`);
    expect(await get(env.prod, 'apps/v1', 'Deployment', `${ns}-prod`, 'web')).not.toBeNull();
    // One inventory per app and environment, in each environment's own cluster.
    expect(await get(env.staging, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-web.staging`)).not.toBeNull();
    expect(await get(env.prod, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-web.prod`)).not.toBeNull();
    expect(await get(env.staging, 'v1', 'ConfigMap', 'mergeops-system', `mergeops-${REPO.id}-web.prod`)).toBeNull();
    const live = await get(env.prod, 'apps/v1', 'Deployment', `${ns}-prod`, 'web');
    expect(live?.metadata.labels?.['mergeops.dev/app']).toBe('web.prod');
    const environments = env.h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s).map((c) => c.body.environment);
    expect(environments.sort()).toEqual(['api · prod', 'api · staging', 'web · prod', 'web · staging']);
  });

  it('a staging health failure stops the waves: prod is not started, says why, and gets no Deployment', async () => {
    const ns = uniqueName('envs-f');
    await namespace(env.staging, `${ns}-staging`);
    await namespace(env.prod, `${ns}-prod`);
    const s = sha(`fail-${ns}`);
    // No controller reports staging's rollout: its health wait (2 s) runs out.
    await env.h.push(s, { '.github/mergeops.yml': envConfig(ns).replace('wait: 20s', 'wait: 2s'), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/app.yaml': webDeployment('nginx:1.27'), 'deploy/web/prod/app.yaml': webDeployment('nginx:1.27') });
    await env.h.pushEvent(s, { mergedPr: 65 });
    const check = await env.h.waitForDeploy(s);

    expect(check.body.conclusion).toBe('failure');
    const summary = String(check.body.output.summary);
    expect(summary).toContain('**Environments:** <code>staging</code> (<code>staging</code>) ❌ failed → <code>prod</code> (<code>prod</code>) ⛔ not started: staging failed');
    expect(summary).toContain(`| ⛔ | <code>web · prod</code> | <code>prod</code> / <code>${ns}-prod</code> | not started: staging failed |`);
    expect(summary).toContain(`| ⛔ | <code>api · prod</code> | <code>prod</code> / <code>${ns}-prod</code> | not started: staging failed |`);
    expect(await get(env.prod, 'apps/v1', 'Deployment', `${ns}-prod`, 'web')).toBeNull();
    expect(await get(env.prod, 'v1', 'ConfigMap', `${ns}-prod`, 'api')).toBeNull();
    const deployments = await waitFor(() => {
      const d = env.h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s);
      return d.length ? d : undefined;
    }, 'deployments of the failed merge');
    expect(deployments.map((c) => c.body.environment).sort()).toEqual(['api · staging', 'web · staging']);
  });
});
