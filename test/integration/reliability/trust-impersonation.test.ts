import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kubeconfig } from '../../../src/kubeconfig.js';
import yaml from 'js-yaml';
import type { Cluster } from '../../../src/cluster/connect.js';
import { INVENTORY_FIELD_MANAGER, inventoryName } from '../../../src/cluster/inventory-store.js';
import type { KubeObject } from '../../../src/objects.js';
import { DEFAULT_TOOL_LIMITS, runTool, toolPath } from '../../../src/render/exec.js';
import { comment, commandsApi, waitForCheck, waitForReply, type CommandStandIn } from '../../support/commands.js';
import { waitFor } from '../../support/github.js';
import { REPO, sha, startHarness, type Harness } from '../../support/harness.js';
import { edit, get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const cm = (name: string, value: string, ns?: string) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${ns ? `  namespace: ${ns}\n` : ''}data:\n  value: "${value}"\n`;

/** The RBAC objects (and ServiceAccounts) the chart renders with these values. */
async function chartRbac(release: string, ns: string, values: string[]): Promise<KubeObject[]> {
  const out = await runTool(toolPath('helm'), ['template', release, path.join(ROOT, 'charts/mergeops'), '--namespace', ns, ...values.flatMap((v) => ['--set', v])], ROOT, DEFAULT_TOOL_LIMITS);
  const docs = yaml.loadAll(out, undefined, { schema: yaml.CORE_SCHEMA }) as (KubeObject | null)[];
  return docs.filter((d): d is KubeObject => d !== null && (d.apiVersion.startsWith('rbac.authorization.k8s.io/') || d.kind === 'ServiceAccount'));
}

/** What the API server's authorizer answers for `user` (a SubjectAccessReview, as `kubectl auth can-i --as` asks). */
async function can(admin: Cluster, user: string, attrs: { verb: string; resource: string; namespace?: string; name?: string; group?: string; subresource?: string }): Promise<boolean> {
  const groups = user.startsWith('system:serviceaccount:') ? ['system:serviceaccounts', `system:serviceaccounts:${user.split(':')[2]}`, 'system:authenticated'] : ['system:authenticated'];
  const review = await admin.client.request<{ status: { allowed: boolean } }>('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec: { user, groups, resourceAttributes: { group: '', ...attrs } } },
  });
  return review.status.allowed;
}

/**
 * Issue #24, "one identity for everything", end to end: mergeops runs with only the rights the
 * chart's impersonation mode gives its own ServiceAccount (token from the TokenRequest API),
 * and a grant names the team's ServiceAccount, whose Role (also the chart's) covers the team
 * namespace only. The in-process grant is deliberately wider (it allows kube-system): the API
 * server must be the second wall. Preview, deploy with prune, drift with self-heal, rollback
 * and `/mergeops deploy` run through the whole app as that ServiceAccount.
 */
describe('trust: grants enforced by the API server (impersonation)', () => {
  let admin: Cluster;
  let h: Harness;
  let gh: CommandStandIn;
  let dir: string;
  const prefix = uniqueName('imp');
  const opsNs = `${prefix}-ops`;
  const teamNs = `${prefix}-team`;
  const invNs = `${prefix}-inv`;
  const release = prefix;
  const mergeopsUser = `system:serviceaccount:${opsNs}:${release}-mergeops`;
  const teamUser = `system:serviceaccount:${teamNs}:mergeops-deployer`;
  const app = 'shop';
  const config = (extra = '') => `apps:\n  - name: ${app}\n    path: deploy\n    namespace: ${teamNs}\n    prune: true\n    selfHeal: true\n    wait: 0\n${extra}`;

  beforeAll(async () => {
    admin = await testCluster();
    for (const ns of [opsNs, teamNs, invNs]) await namespace(admin, ns);
    // The chart's own RBAC, as `helm install` would create it, made with the admin client.
    const rbac = await chartRbac(release, opsNs, [`rbac.inventoryNamespace=${invNs}`, `rbac.teams[0].namespace=${teamNs}`]);
    for (const o of rbac) await put(admin, { ...o, metadata: { ...o.metadata, namespace: o.metadata.namespace ?? (o.kind.startsWith('Cluster') ? undefined : opsNs) } } as KubeObject);
    // mergeops' own credentials: a token of its ServiceAccount from the TokenRequest API.
    const tokenRequest = await admin.client.request<{ status: { token: string } }>('POST', `/api/v1/namespaces/${opsNs}/serviceaccounts/${release}-mergeops/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 3600 } },
    });
    const kc = new Kubeconfig();
    kc.loadFromFile(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-imp-'));
    const kubeconfig = path.join(dir, 'mergeops.kubeconfig');
    fs.writeFileSync(
      kubeconfig,
      yaml.dump({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'envtest', cluster: { server: kc.getCurrentCluster()?.server, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'mergeops', user: { token: tokenRequest.status.token } }],
        contexts: [{ name: 'mergeops', context: { cluster: 'envtest', user: 'mergeops' } }],
        'current-context': 'mergeops',
      }),
    );
    h = await startHarness(
      [
        'clusters:',
        '  default:',
        `    kubeconfig: ${kubeconfig}`,
        `    inventoryNamespace: ${invNs}`,
        '    grants:',
        `      - repos: ["${REPO.owner}/${REPO.name}"]`,
        // Wider than the ServiceAccount's Role on purpose: kube-system passes the first wall.
        `        namespaces: ["${teamNs}", kube-system]`,
        `        serviceAccount: ${teamNs}/mergeops-deployer`,
      ].join('\n'),
      // Drift is seen through watches: the object watches too must work as the ServiceAccount.
      { MERGEOPS_DRIFT_TRIGGER: 'watch' },
    );
    gh = commandsApi(h);
    gh.roles.set('writer', 'write');
  });
  afterAll(async () => {
    await h?.stop();
    admin?.client.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("gives mergeops' own identity only impersonation, discovery and its inventories, and the team identity only its namespace", async () => {
    // mergeops itself: none of the team's objects, no Secrets, no exec, no tokens, no RBAC.
    expect(await can(admin, mergeopsUser, { verb: 'create', resource: 'configmaps', namespace: teamNs })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'get', resource: 'secrets', namespace: teamNs })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'list', resource: 'secrets' })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'create', resource: 'pods', subresource: 'exec', namespace: teamNs })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'create', resource: 'serviceaccounts', subresource: 'token', namespace: teamNs, name: 'mergeops-deployer' })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'bind', group: 'rbac.authorization.k8s.io', resource: 'clusterroles', name: 'cluster-admin' })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'impersonate', resource: 'serviceaccounts', namespace: teamNs, name: 'mergeops-deployer' })).toBe(true);
    // The name is impersonable in the team namespace only.
    expect(await can(admin, mergeopsUser, { verb: 'impersonate', resource: 'serviceaccounts', namespace: 'kube-system', name: 'mergeops-deployer' })).toBe(false);
    expect(await can(admin, mergeopsUser, { verb: 'patch', resource: 'configmaps', namespace: invNs })).toBe(true);
    // The team identity: its namespace, not kube-system, not the inventories.
    expect(await can(admin, teamUser, { verb: 'patch', resource: 'configmaps', namespace: teamNs })).toBe(true);
    expect(await can(admin, teamUser, { verb: 'patch', resource: 'configmaps', namespace: 'kube-system' })).toBe(false);
    expect(await can(admin, teamUser, { verb: 'get', resource: 'configmaps', namespace: invNs, name: inventoryName({ repoId: REPO.id, app }) })).toBe(false);
    expect(await can(admin, teamUser, { verb: 'list', resource: 'configmaps', namespace: invNs })).toBe(false);
  });

  it('a manifest in kube-system, which the widened grant allows, previews the API server\'s Forbidden at its file and line; nothing is written', async () => {
    const head = sha(`${prefix}-kube-system`);
    await h.push(head, {
      '.github/mergeops.yml': config(),
      'deploy/a.yaml': cm('a', 'pr'),
      'deploy/system.yaml': `# grab kube-system\n${cm(`${prefix}-grab`, 'x', 'kube-system')}`,
    });
    expect(await h.open(11, head)).toBe(202);
    const { check, comment: preview } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('failure');
    const forbidden = (check.body.output.annotations as { path: string; start_line: number; message: string }[]).find((a) => a.path === 'deploy/system.yaml');
    expect(forbidden?.start_line).toBe(2);
    // The server's own words, for the ServiceAccount: not mergeops' in-process "not allowed".
    expect(forbidden?.message).toContain(`configmaps "${prefix}-grab" is forbidden: User "${teamUser}" cannot patch resource "configmaps" in API group "" in the namespace "kube-system"`);
    expect(forbidden?.message).toContain(`the API server refused serviceAccount ${teamNs}/mergeops-deployer`);
    expect(forbidden?.message).not.toContain('not allowed:');
    expect(preview.body.body).toContain('is forbidden');
    expect(await get(admin, 'v1', 'ConfigMap', 'kube-system', `${prefix}-grab`)).toBeNull();
    expect(await get(admin, 'v1', 'ConfigMap', teamNs, 'a')).toBeNull();
  });

  // Deployed commits, shared by the tests below (they run in order).
  const m1 = sha(`${prefix}-m1`);
  const m2 = sha(`${prefix}-m2`);

  it('a preview and a deploy with prune of an allowed app work with the ServiceAccount\'s Role only; the inventory is written as mergeops', async () => {
    await h.push(m1, { '.github/mergeops.yml': config(), 'deploy/a.yaml': cm('a', '1'), 'deploy/b.yaml': cm('b', '1') });
    expect(await h.open(12, m1)).toBe(202);
    const { check: previewCheck, comment: preview } = await h.waitForPreview(m1);
    expect(previewCheck.body.conclusion).toBe('success');
    expect(preview.body.body).toContain(`<code>v1 ConfigMap ${teamNs}/b</code>`);

    h.git.refs.set('main', m1);
    expect(await h.pushEvent(m1, { mergedPr: 12 })).toBe(202);
    expect((await h.waitForDeploy(m1)).body.conclusion).toBe('success');
    const a = await get(admin, 'v1', 'ConfigMap', teamNs, 'a');
    expect(a?.['data']).toEqual({ value: '1' });
    // mergeops itself may not create ConfigMaps in the team namespace (first test): these
    // were written as the ServiceAccount.
    expect(await can(admin, mergeopsUser, { verb: 'create', resource: 'configmaps', namespace: teamNs })).toBe(false);
    const inventory = await get(admin, 'v1', 'ConfigMap', invNs, inventoryName({ repoId: REPO.id, app }));
    expect(inventory?.['data']).toMatchObject({ objects: `v1 ConfigMap ${teamNs}/a\nv1 ConfigMap ${teamNs}/b\n` });
    // Every write of it (the pending record before the apply, the record after health) was mergeops' own.
    expect([...new Set((inventory?.metadata['managedFields'] as { manager: string }[]).map((f) => f.manager))]).toEqual([INVENTORY_FIELD_MANAGER]);

    // m2 drops b: the prune deletes it, as the ServiceAccount.
    await h.push(m2, { '.github/mergeops.yml': config(), 'deploy/a.yaml': cm('a', '2') });
    h.git.refs.set('main', m2);
    expect(await h.pushEvent(m2, { mergedPr: 13, before: m1 })).toBe(202);
    const deployed = await h.waitForDeploy(m2);
    expect(deployed.body.conclusion).toBe('success');
    expect(deployed.body.output.summary).toContain('1 pruned');
    expect(await get(admin, 'v1', 'ConfigMap', teamNs, 'b')).toBeNull();
    expect((await get(admin, 'v1', 'ConfigMap', teamNs, 'a'))?.['data']).toEqual({ value: '2' });
  });

  it('drift is seen by a watch and self-healed, both as the ServiceAccount (mergeops itself may not watch the team namespace)', async () => {
    expect(await can(admin, mergeopsUser, { verb: 'watch', resource: 'configmaps', namespace: teamNs })).toBe(false);
    // No scan is queued: the watch on the team's ConfigMaps sees the edit.
    const since = h.calls.length;
    await edit(admin, 'v1', 'ConfigMap', teamNs, 'a', (o) => void (o['data'] = { value: 'hand-edited' }));
    const drift = await waitFor(() => h.calls.find((c) => c.method === 'PATCH' && String(c.body.output?.title).startsWith(`Drift in ${app}`)), 'the drift check run');
    expect(drift.body.output.title).toBe(`Drift in ${app}: 1 object differs from this commit; re-applying (selfHeal)`);
    await waitFor(async () => ((await get(admin, 'v1', 'ConfigMap', teamNs, 'a'))?.['data'] as { value?: string } | undefined)?.value === '2' || undefined, 'self-heal to take the edit back');
    // The heal's report comes after the cluster: the next test must not take it for its own.
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('success');
  });

  it('/mergeops deploy re-applies the last deployed commit as the ServiceAccount', async () => {
    await admin.client.request('DELETE', `/api/v1/namespaces/${teamNs}/configmaps/a`);
    gh.pulls.set(13, { head: m2, merged: true });
    const since = h.calls.length;
    await comment(h, `/mergeops deploy ${app}`, { issue: 13, login: 'writer' });
    expect((await waitForReply(h, 13, since, '> /mergeops deploy')).body.body).toContain(`:white_check_mark: Re-applying ${m2.slice(0, 7)} (the last deployed commit) for \`${app}\``);
    expect((await waitForCheck(h, m2, 'mergeops / deploy', since)).body.conclusion).toBe('success');
    expect((await get(admin, 'v1', 'ConfigMap', teamNs, 'a'))?.['data']).toEqual({ value: '2' });
  });

  it('a rollback PR previews and deploys as the ServiceAccount: b comes back, a returns to 1', async () => {
    let since = h.calls.length;
    await comment(h, `/mergeops rollback ${app}`, { issue: 60, login: 'writer', isPullRequest: false });
    expect((await waitForReply(h, 60, since)).body.body).toContain(`:white_check_mark: Opened #100 rolling \`${app}\` back to ${m1.slice(0, 7)}`);
    const head = h.git.refs.get(h.git.pulls[0]?.head ?? '') as string;
    const { check, comment: preview } = await h.waitForPreview(head);
    expect(check.body.conclusion).toBe('success');
    expect(preview.body.body).toContain('<code>data.value</code> <code>2</code> → <code>1</code>');

    since = h.calls.length;
    h.git.refs.set('main', head);
    expect(await h.pushEvent(head, { mergedPr: 100, before: m2 })).toBe(202);
    expect((await h.waitForDeploy(head)).body.conclusion).toBe('success');
    expect((await get(admin, 'v1', 'ConfigMap', teamNs, 'a'))?.['data']).toEqual({ value: '1' });
    expect((await get(admin, 'v1', 'ConfigMap', teamNs, 'b'))?.['data']).toEqual({ value: '1' });
  });
});
