import { describe, expect, it } from '@jest/globals';
import { configMap, envConfig, useTwoClusters } from '../../support/environments.js';
import { sha } from '../../support/harness.js';
import { get, namespace, uniqueName } from '../../support/kube.js';

describe('environments in the preview, on two real API servers', () => {
  const env = useTwoClusters();

  it('previews every environment against its own cluster in one comment; an environment the PR leaves alone is one line; the check lists the environments', async () => {
    const ns = uniqueName('envs-p');
    // Each namespace exists only in its own environment's cluster: a plan sent to the other cluster would fail.
    await namespace(env.staging, `${ns}-staging`);
    await namespace(env.prod, `${ns}-prod`);
    const base = sha(`base-${ns}`);
    const head = sha(`head-${ns}`);
    const files = { '.github/mergeops.yml': envConfig(ns, '', 'site'), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/cm.yaml': configMap('web', 's1'), 'deploy/web/prod/cm.yaml': configMap('web', 'p1') };
    await env.h.push(base, files);
    await env.h.push(head, { ...files, 'deploy/web/staging/cm.yaml': configMap('web', 's2'), 'deploy/web/prod/cm.yaml': configMap('web', 'p2') });
    expect(await env.h.open(61, head, { baseSha: base })).toBe(202);
    const { check, comment } = await env.h.waitForPreview(head);

    expect(check.body.conclusion).toBe('success');
    const body = String(comment.body.body);
    expect(body).toContain(`<code>site · staging</code>`);
    expect(body).toContain(`<code>site · prod</code>`);
    // An environment whose render the PR does not change is one line, not a section.
    expect(body).toContain('**2 apps unchanged**');
    expect(body).toContain('<code>api · staging</code>, <code>api · prod</code>');
    expect(body).not.toMatch(/#### .*api · /);
    expect(body).toContain('**Environments** roll out in waves: <code>staging</code> (cluster <code>staging</code>) first, <code>prod</code> (cluster <code>prod</code>) once <code>staging</code> is healthy');
    const summary = String(check.body.output.summary);
    expect(summary).toContain('- environment `staging` → cluster `staging`: `site · staging` 1 created; `api · staging` unchanged');
    expect(summary).toContain('- environment `prod` → cluster `prod`: `site · prod` 1 created; `api · prod` unchanged');
    // A dry run only: neither cluster got the ConfigMap.
    expect(await get(env.staging, 'v1', 'ConfigMap', `${ns}-staging`, 'web')).toBeNull();
    expect(await get(env.prod, 'v1', 'ConfigMap', `${ns}-prod`, 'web')).toBeNull();
  });

  it('refuses an approval: that is no repository role with a failed check naming the key, and an environment on a cluster the operator did not configure', async () => {
    const ns = uniqueName('envs-r');
    const refused = sha(`approval-${ns}`);
    await env.h.push(refused, { '.github/mergeops.yml': envConfig(ns, '', 'site').replace('    cluster: prod\n', '    cluster: prod\n    approval: owner\n'), 'deploy/api/cm.yaml': configMap('api', '1') });
    expect(await env.h.open(62, refused)).toBe(202);
    const a = await env.h.waitForPreview(refused);
    expect(a.check.body.conclusion).toBe('failure');
    expect(String(a.check.body.output.summary)).toContain('environments[1].approval: expected one of read, triage, write, maintain, admin');

    const unknown = sha(`unknown-${ns}`);
    await namespace(env.staging, `${ns}-staging`);
    await env.h.push(unknown, { '.github/mergeops.yml': envConfig(ns, '', 'site').replace('cluster: prod', 'cluster: qa'), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/cm.yaml': configMap('web', 's'), 'deploy/web/qa/cm.yaml': configMap('web', 'q') });
    expect(await env.h.open(63, unknown)).toBe(202);
    const u = await env.h.waitForPreview(unknown);
    expect(u.check.body.conclusion).toBe('failure');
    expect(String(u.check.body.output.summary)).toMatch(/`site · prod` → `qa`: failed/);
    expect(String(u.check.body.output.summary)).toContain('"qa"');
  });
});
