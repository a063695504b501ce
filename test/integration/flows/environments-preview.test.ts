import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Cluster } from '../../../src/cluster/connect.js';
import { configMap, envConfig, startTwoClusters, type TwoClusters } from '../../support/environments.js';
import { sha, type Harness } from '../../support/harness.js';
import { get, namespace, uniqueName } from '../../support/kube.js';

describe('environments in the preview, on two real API servers', () => {
  let env: TwoClusters;
  let h: Harness;
  let staging: Cluster;
  let prod: Cluster;

  beforeAll(async () => {
    env = await startTwoClusters();
    ({ h, staging, prod } = env);
  }, 60_000);
  afterAll(async () => env?.stop());

  it('previews every environment against its own cluster in one comment; an environment the PR leaves alone is one line; the check lists the environments', async () => {
    const ns = uniqueName('envs-p');
    // Each namespace exists only in its own environment's cluster: a plan sent to the other cluster would fail.
    await namespace(staging, `${ns}-staging`);
    await namespace(prod, `${ns}-prod`);
    const base = sha(`base-${ns}`);
    const head = sha(`head-${ns}`);
    const files = { '.github/mergeops.yml': envConfig(ns), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/cm.yaml': configMap('web', 's1'), 'deploy/web/prod/cm.yaml': configMap('web', 'p1') };
    await h.push(base, files);
    await h.push(head, { ...files, 'deploy/web/staging/cm.yaml': configMap('web', 's2'), 'deploy/web/prod/cm.yaml': configMap('web', 'p2') });
    expect(await h.open(61, head, { baseSha: base })).toBe(202);
    const { check, comment } = await h.waitForPreview(head);

    expect(check.body.conclusion).toBe('success');
    const body = String(comment.body.body);
    expect(body).toContain(`<code>web · staging</code>`);
    expect(body).toContain(`<code>web · prod</code>`);
    // An environment whose render the PR does not change is one line, not a section.
    expect(body).toContain('**2 apps unchanged**');
    expect(body).toContain('<code>api · staging</code>, <code>api · prod</code>');
    expect(body).not.toMatch(/#### .*api · /);
    expect(body).toContain('**Environments** roll out in waves: <code>staging</code> (cluster <code>staging</code>) first, <code>prod</code> (cluster <code>prod</code>) once <code>staging</code> is healthy');
    const summary = String(check.body.output.summary);
    expect(summary).toContain('- environment `staging` → cluster `staging`: `web · staging` 1 created; `api · staging` unchanged');
    expect(summary).toContain('- environment `prod` → cluster `prod`: `web · prod` 1 created; `api · prod` unchanged');
    // A dry run only: neither cluster got the ConfigMap.
    expect(await get(staging, 'v1', 'ConfigMap', `${ns}-staging`, 'web')).toBeNull();
    expect(await get(prod, 'v1', 'ConfigMap', `${ns}-prod`, 'web')).toBeNull();
  });

  it('refuses approval: with a failed check naming the key, and an environment on a cluster the operator did not configure', async () => {
    const ns = uniqueName('envs-r');
    const refused = sha(`approval-${ns}`);
    await h.push(refused, { '.github/mergeops.yml': envConfig(ns).replace('    cluster: prod\n', '    cluster: prod\n    approval: write\n'), 'deploy/api/cm.yaml': configMap('api', '1') });
    expect(await h.open(62, refused)).toBe(202);
    const a = await h.waitForPreview(refused);
    expect(a.check.body.conclusion).toBe('failure');
    expect(String(a.check.body.output.summary)).toContain('environments[1].approval: approval gates are not supported by this version of mergeops yet');

    const unknown = sha(`unknown-${ns}`);
    await namespace(staging, `${ns}-staging`);
    await h.push(unknown, { '.github/mergeops.yml': envConfig(ns).replace('cluster: prod', 'cluster: qa'), 'deploy/api/cm.yaml': configMap('api', '1'), 'deploy/web/staging/cm.yaml': configMap('web', 's'), 'deploy/web/qa/cm.yaml': configMap('web', 'q') });
    expect(await h.open(63, unknown)).toBe(202);
    const u = await h.waitForPreview(unknown);
    expect(u.check.body.conclusion).toBe('failure');
    expect(String(u.check.body.output.summary)).toMatch(/`web · prod` → `qa`: failed/);
    expect(String(u.check.body.output.summary)).toContain('"qa"');
  });
});
