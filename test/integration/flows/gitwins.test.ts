import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { fieldManager, withInventory } from '../../../src/cluster/inventory.js';
import { writeInventory } from '../../../src/cluster/inventory-store.js';
import type { Cluster } from '../../../src/cluster/connect.js';
import type { KubeObject } from '../../../src/objects.js';
import { deliver, waitFor } from '../../support/github.js';
import { REPO, prPayload, sha, startHarness, type Harness, type Recorded } from '../../support/harness.js';
import { edit, get, namespace, put, testCluster, uniqueName } from '../../support/kube.js';

/**
 * Git wins, and the preview tells the truth about the merge (#14), plus the cluster side
 * of "a PR must not read or steer what it does not own" (#13 items 1 and 3): every case
 * through the whole app — signed webhook → Redis → worker → real API server → GitHub stand-in.
 */
const KEY = (app: string) => ({ repoId: REPO.id, repo: `${REPO.owner}/${REPO.name}`, app });
const configOf = (app: string, ns: string, extra = '') => `apps:\n  - name: ${app}\n    path: deploy\n    namespace: ${ns}\n    wait: 0\n${extra}`;
const cm = (name: string, data: Record<string, string>, annotations: Record<string, string> = {}) =>
  [
    'apiVersion: v1',
    'kind: ConfigMap',
    'metadata:',
    `  name: ${name}`,
    ...(Object.keys(annotations).length ? ['  annotations:', ...Object.entries(annotations).map(([k, v]) => `    ${k}: "${v}"`)] : []),
    'data:',
    ...Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`),
    '',
  ].join('\n');
const deployment = (app: string, annotations = '') =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n${annotations}spec:\n  replicas: 1\n  selector:\n    matchLabels: {app: ${app}}\n  template:\n    metadata:\n      labels: {app: ${app}}\n    spec:\n      containers:\n        - name: web\n          image: nginx:1.27\n`;
const data = (o: KubeObject | null) => o?.['data'] as Record<string, string> | undefined;
const managers = (o: KubeObject | null) => ((o?.metadata['managedFields'] ?? []) as { manager: string; operation: string; fieldsV1?: unknown }[]);

describe('Git wins: preview = deploy, end to end against the real API server', () => {
  let h: Harness;
  let cluster: Cluster;
  let pr = 400;

  beforeAll(async () => {
    cluster = await testCluster();
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["gw-*"]\n`);
  });
  afterAll(async () => {
    await h?.stop();
    cluster?.client.close();
  });

  /**
   * A PR previewing `files`; its base is `base`, or else a commit without them (the PR adds
   * the app, so the app is affected and planned). The preview's check and comment.
   */
  async function preview(seed: string, files: Record<string, string>, base?: string): Promise<{ check: Recorded; body: string }> {
    const head = sha(`${seed}-head`);
    await h.push(head, files);
    const baseSha = base ?? sha(`${seed}-base`);
    if (!base) await h.push(baseSha, { 'README.md': 'before the app\n' });
    expect(await h.open(++pr, head, { baseSha })).toBe(202);
    const { check, comment } = await h.waitForPreview(head);
    return { check, body: String(comment.body.body) };
  }

  /** A merge: the push of `files` to main; the completed deploy check. */
  async function merge(seed: string, files: Record<string, string>): Promise<Recorded> {
    const s = sha(`${seed}-merge`);
    await h.push(s, files);
    expect(await h.pushEvent(s, { mergedPr: ++pr })).toBe(202);
    return h.waitForDeploy(s);
  }

  it('(a) drift by kubectl edit (an update) and by another apply manager: the preview names each field it reverts and who set it; the merge deploys and Git wins', async () => {
    const ns = uniqueName('gw-a');
    await namespace(cluster, ns);
    const app = 'web-a';
    const secret = (password: string) => `apiVersion: v1\nkind: Secret\nmetadata:\n  name: creds\nstringData:\n  user: admin\n  password: ${password}\n`;
    const v1 = { '.github/mergeops.yml': configOf(app, ns), 'deploy/web-config.yaml': cm('web-config', { THEME: 'light', SIZE: 'm' }), 'deploy/limits.yaml': cm('limits', { MAX: '10' }), 'deploy/secret.yaml': secret('git-pw-1') };
    expect((await merge('a1', v1)).body.conclusion).toBe('success');

    // kubectl edit: GET, change, PUT (an update by manager kubectl-edit), adding a key Git does not have.
    await edit(cluster, 'v1', 'ConfigMap', ns, 'web-config', (o) => {
      (o['data'] as Record<string, string>)['THEME'] = 'blue';
      (o['data'] as Record<string, string>)['EXTRA'] = 'hand-added';
    });
    // A hand edit of a Secret value: its new value is not this app's, so it is never compared.
    await edit(cluster, 'v1', 'Secret', ns, 'creds', (o) => void ((o['data'] as Record<string, string>)['password'] = Buffer.from('hand-pw').toString('base64')));
    // Another server-side apply manager takes a field Git declares.
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'limits', namespace: ns }, data: { MAX: '99' } }, 'ops-tool');

    const v2 = { ...v1, 'deploy/web-config.yaml': cm('web-config', { THEME: 'dark', SIZE: 'm' }), 'deploy/secret.yaml': secret('git-pw-2') };
    const { check, body } = await preview('a2', v2, sha('a1-merge'));
    expect(check.body.conclusion).toBe('success');
    // The key this app wrote is compared; the hand-set one is only "set", changed or not.
    expect(body).toContain('set <code>password</code> (its live value was not written by this app, so it is not compared)');
    expect(body).toContain('the merge reverts <code>.data.password</code> (set by <code>kubectl-edit</code>) (value not shown)');
    for (const v of ['hand-pw', 'git-pw-1', 'git-pw-2']) expect(JSON.stringify([body, check.body])).not.toContain(v);
    expect(body).toContain('the merge reverts <code>.data.THEME</code>: live <code>blue</code> (set by <code>kubectl-edit</code>) → Git <code>dark</code>; keeps <code>.data.EXTRA</code> (set by <code>kubectl-edit</code>) (Git does not declare it)');
    expect(body).toContain('the merge reverts <code>.data.MAX</code>: live <code>99</code> (set by <code>ops-tool</code>) → Git <code>10</code>');

    const deployed = await merge('a2', v2);
    expect(deployed.body.conclusion).toBe('success');
    const web = await get(cluster, 'v1', 'ConfigMap', ns, 'web-config');
    expect(data(web)).toEqual({ THEME: 'dark', SIZE: 'm', EXTRA: 'hand-added' });
    expect(data(await get(cluster, 'v1', 'ConfigMap', ns, 'limits'))).toEqual({ MAX: '10' });
    expect(Buffer.from(data(await get(cluster, 'v1', 'Secret', ns, 'creds'))?.['password'] ?? '', 'base64').toString()).toBe('git-pw-2');
    // The app's own field manager now owns THEME; kubectl-edit keeps only what Git does not declare.
    const edits = managers(web).find((m) => m.manager === 'kubectl-edit');
    expect(JSON.stringify(edits?.fieldsV1)).not.toContain('THEME');
    expect(JSON.stringify(managers(web).find((m) => m.manager === fieldManager(KEY(app)))?.fieldsV1)).toContain('f:THEME');
    expect(managers(web).map((m) => m.manager)).not.toContain('mergeops');
  });

  it('(b) conflicts: fail keeps other managers\' fields: the preview fails with the conflict and the deploy refuses the same way, writing nothing', async () => {
    const ns = uniqueName('gw-b');
    await namespace(cluster, ns);
    const app = 'web-b';
    const config = configOf(app, ns, '    conflicts: fail\n');
    expect((await merge('b1', { '.github/mergeops.yml': config, 'deploy/web-config.yaml': cm('web-config', { THEME: 'light' }) })).body.conclusion).toBe('success');
    await edit(cluster, 'v1', 'ConfigMap', ns, 'web-config', (o) => void ((o['data'] as Record<string, string>)['THEME'] = 'blue'));
    const before = (await get(cluster, 'v1', 'ConfigMap', ns, 'web-config'))?.metadata['resourceVersion'];

    const v2 = { '.github/mergeops.yml': config, 'deploy/web-config.yaml': cm('web-config', { THEME: 'dark' }) };
    const { check, body } = await preview('b2', v2, sha('b1-merge'));
    expect(check.body.conclusion).toBe('failure');
    const annotation = (check.body.output.annotations as { path: string; start_line: number; message: string }[]).find((a) => a.path === 'deploy/web-config.yaml');
    expect(annotation?.message).toMatch(/Apply failed with 1 conflict: conflict with "kubectl-edit".*\.data\.THEME.*the app sets conflicts: fail/s);
    expect(body).toContain('conflict with "kubectl-edit"');

    const deployed = await merge('b2', v2);
    expect(deployed.body.conclusion).toBe('failure');
    expect(deployed.body.output.summary).toMatch(/conflict with "kubectl-edit".*\.data\.THEME.*the app sets conflicts: fail/s);
    const live = await get(cluster, 'v1', 'ConfigMap', ns, 'web-config');
    expect(data(live)).toEqual({ THEME: 'blue' });
    expect(live?.metadata['resourceVersion']).toBe(before);
  });

  it('(c) an immutable selector change fails the preview with what to do; with mergeops.dev/recreate it previews as replace and the deploy recreates it', async () => {
    const ns = uniqueName('gw-c');
    await namespace(cluster, ns);
    const app = 'web-c';
    const config = configOf(app, ns);
    expect((await merge('c1', { '.github/mergeops.yml': config, 'deploy/deployment.yaml': deployment('web') })).body.conclusion).toBe('success');
    const uid = (await get(cluster, 'apps/v1', 'Deployment', ns, 'web'))?.metadata['uid'];

    const plain = await preview('c2', { '.github/mergeops.yml': config, 'deploy/deployment.yaml': deployment('web-v2') }, sha('c1-merge'));
    expect(plain.check.body.conclusion).toBe('failure');
    const problem = (plain.check.body.output.annotations as { path: string; message: string }[]).find((a) => a.path === 'deploy/deployment.yaml')?.message;
    expect(problem).toContain('field is immutable');
    expect(problem).toContain('annotate it in Git with mergeops.dev/recreate: "true"');

    const recreate = { '.github/mergeops.yml': config, 'deploy/deployment.yaml': deployment('web-v2', '  annotations:\n    mergeops.dev/recreate: "true"\n') };
    const replaced = await preview('c3', recreate, sha('c1-merge'));
    expect(replaced.check.body.conclusion).toBe('success');
    expect(replaced.body).toContain(`♻️ <b>replace</b> <code>apps/v1 Deployment ${ns}/web</code>`);
    // The preview wrote nothing: the old Deployment is still there.
    expect((await get(cluster, 'apps/v1', 'Deployment', ns, 'web'))?.metadata['uid']).toBe(uid);

    const deployed = await merge('c3', recreate);
    expect(deployed.body.conclusion).toBe('success');
    const live = await get(cluster, 'apps/v1', 'Deployment', ns, 'web');
    expect(live?.metadata['uid']).not.toBe(uid);
    expect((live?.['spec'] as { selector: unknown }).selector).toEqual({ matchLabels: { app: 'web-v2' } });
  });

  it('(d) a missing namespace: without createNamespace the error says what to do; with it the preview shows the Namespace created and the deploy creates it first, labelled as the app\'s', async () => {
    const ns = uniqueName('gw-d');
    const app = 'web-d';
    const files = (extra: string) => ({ '.github/mergeops.yml': configOf(app, ns, extra), 'deploy/settings.yaml': cm('settings', { MODE: 'fast' }) });

    const missing = await preview('d1', files(''));
    expect(missing.check.body.conclusion).toBe('failure');
    const message = (missing.check.body.output.annotations as { path: string; message: string }[]).find((a) => a.path === 'deploy/settings.yaml')?.message;
    expect(message).toContain(`namespace "${ns}" does not exist (the API server says: namespaces "${ns}" not found)`);
    expect(message).toContain(`Add a Namespace manifest for "${ns}" to the app's files, or set createNamespace: true on app "${app}" in .github/mergeops.yml`);

    const created = await preview('d2', files('    createNamespace: true\n'));
    expect(created.check.body.conclusion).toBe('success');
    expect(created.body).toContain(`➕ <b>create</b> <code>v1 Namespace ${ns}</code>`);
    expect(created.body).toContain(`➕ <b>create</b> <code>v1 ConfigMap ${ns}/settings</code>`);
    expect(await get(cluster, 'v1', 'Namespace', undefined, ns)).toBeNull();

    const deployed = await merge('d2', files('    createNamespace: true\n'));
    expect(deployed.body.conclusion).toBe('success');
    const live = await get(cluster, 'v1', 'Namespace', undefined, ns);
    expect(live?.metadata.labels).toMatchObject({ 'app.kubernetes.io/managed-by': 'mergeops', 'mergeops.dev/app': app, 'mergeops.dev/repo-id': String(REPO.id) });
    expect(live?.metadata.annotations).toMatchObject({ 'mergeops.dev/prune': 'disabled' });
    expect(data(await get(cluster, 'v1', 'ConfigMap', ns, 'settings'))).toEqual({ MODE: 'fast' });

    // Outside the grant, createNamespace creates nothing.
    const outside = await preview('d3', { '.github/mergeops.yml': `apps:\n  - name: web-d2\n    path: deploy\n    namespace: elsewhere-${ns}\n    createNamespace: true\n`, 'deploy/settings.yaml': cm('settings', { MODE: 'fast' }) });
    expect(outside.check.body.conclusion).toBe('failure');
    expect(outside.check.body.output.summary).toContain(`\`v1 Namespace elsewhere-${ns}\`: not allowed: namespace "elsewhere-${ns}" is not granted`);
  });

  it('(e) a deprecated API version: the server\'s warning is a check-run warning at the file and line, and in the comment; failOn: [warnings] makes it a failure', async () => {
    const ns = uniqueName('gw-e');
    await namespace(cluster, ns);
    const group = `${ns}.example.com`;
    const warning = `${group}/v1beta1 Gizmo is deprecated; use ${group}/v1 (test ${ns})`;
    const schema = { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } };
    await put(cluster, {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `gizmos.${group}` },
      spec: {
        group,
        scope: 'Namespaced',
        names: { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo', listKind: 'GizmoList' },
        versions: [
          { name: 'v1beta1', served: true, storage: false, deprecated: true, deprecationWarning: warning, schema },
          { name: 'v1', served: true, storage: true, schema },
        ],
      },
    });
    await waitFor(async () => (await cluster.discovery.resolve(`${group}/v1beta1`, 'Gizmo')) ?? undefined, 'the Gizmo CRD to be served');
    const gizmo = `apiVersion: ${group}/v1beta1\nkind: Gizmo\nmetadata:\n  name: g1\nspec:\n  size: 3\n`;
    const files = (extra: string) => ({ '.github/mergeops.yml': configOf('web-e', ns, extra), 'deploy/objects.yaml': `${cm('plain', { A: '1' })}---\n${gizmo}` });

    const warned = await preview('e1', files(''));
    expect(warned.check.body.conclusion).toBe('success');
    const annotations = warned.check.body.output.annotations as { path: string; start_line: number; annotation_level: string; message: string; title: string }[];
    expect(annotations).toEqual([{ path: 'deploy/objects.yaml', start_line: 8, end_line: 8, annotation_level: 'warning', title: `${group}/v1beta1 Gizmo ${ns}/g1`, message: warning }]);
    expect(warned.body).toContain(`- ⚠️ <code>${group}/v1beta1 Gizmo ${ns}/g1</code>: ${warning}`);

    const failing = await preview('e2', files('    failOn: [warnings]\n'));
    expect(failing.check.body.conclusion).toBe('failure');
    const failure = (failing.check.body.output.annotations as { annotation_level: string; message: string; start_line: number }[]).find((a) => a.annotation_level === 'failure');
    expect(failure).toMatchObject({ start_line: 8, message: `the API server warns: ${warning} (failOn: [warnings] makes warnings failures)` });
  });

  it('(f) a ValidatingAdmissionPolicy with validationActions [Deny] fails the preview with its message; one with [Warn] shows as a warning', async () => {
    const ns = uniqueName('gw-f');
    await namespace(cluster, ns);
    const policy = (name: string, value: string, message: string) => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicy',
      metadata: { name },
      spec: {
        failurePolicy: 'Fail',
        matchConstraints: { resourceRules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE', 'UPDATE'], resources: ['configmaps'] }] },
        validations: [{ expression: `!has(object.data) || !('mode' in object.data) || object.data['mode'] != '${value}'`, message }],
      },
    });
    const binding = (name: string, action: string) => ({
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingAdmissionPolicyBinding',
      metadata: { name },
      spec: { policyName: name, validationActions: [action], matchResources: { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } } } },
    });
    const deny = `${ns}-deny`;
    const warn = `${ns}-warn`;
    await put(cluster, policy(deny, 'unsafe', 'mode unsafe is not allowed in this cluster'));
    await put(cluster, binding(deny, 'Deny'));
    await put(cluster, policy(warn, 'risky', 'mode risky is discouraged'));
    await put(cluster, binding(warn, 'Warn'));
    // Policies take effect once the API server has loaded them: wait until a dry run is denied.
    const probe = (mode: string) =>
      cluster.client.requestWithStatus('PATCH', `/api/v1/namespaces/${ns}/configmaps/probe`, {
        body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'probe' }, data: { mode } },
        contentType: 'application/apply-patch+yaml',
        query: { dryRun: 'All', fieldManager: 'probe' },
      });
    await waitFor(async () => ((await probe('unsafe').then(() => false, () => true)) && (await probe('risky')).warnings.length > 0) || undefined, 'both admission policies to take effect', 30_000);

    const files = { '.github/mergeops.yml': configOf('web-f', ns), 'deploy/unsafe.yaml': cm('unsafe', { mode: 'unsafe' }), 'deploy/risky.yaml': cm('risky', { mode: 'risky' }) };
    const { check, body } = await preview('f1', files);
    expect(check.body.conclusion).toBe('failure');
    const annotations = check.body.output.annotations as { path: string; annotation_level: string; message: string }[];
    expect(annotations.find((a) => a.path === 'deploy/unsafe.yaml')).toMatchObject({ annotation_level: 'failure' });
    expect(annotations.find((a) => a.path === 'deploy/unsafe.yaml')?.message).toContain(`ValidatingAdmissionPolicy '${deny}' with binding '${deny}' denied request: mode unsafe is not allowed in this cluster`);
    expect(annotations.find((a) => a.path === 'deploy/risky.yaml')).toMatchObject({ annotation_level: 'warning' });
    expect(annotations.find((a) => a.path === 'deploy/risky.yaml')?.message).toContain('mode risky is discouraged');
    expect(body).toContain('mode unsafe is not allowed in this cluster');
    await cluster.client.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${deny}`);
    await cluster.client.request('DELETE', `/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicybindings/${warn}`);
  });

  it('#13.1 a fork PR naming an unmanaged live ConfigMap: its live values are never shown, the check fails with the take-over message, and a deploy refuses before any write', async () => {
    const ns = uniqueName('gw-g');
    await namespace(cluster, ns);
    const password = `pw-${Math.random().toString(36).slice(2)}`;
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'payments-config', namespace: ns }, data: { DB_URL: `postgres://pay:${password}@db:5432/pay`, REGION: 'eu-secret-region' } });
    const before = await get(cluster, 'v1', 'ConfigMap', ns, 'payments-config');
    const app = 'payments';
    const files = { '.github/mergeops.yml': configOf(app, ns), 'deploy/evil.yaml': cm('payments-config', { A: 'x' }) };
    const head = sha('g-fork');
    const base = sha('g-base');
    await h.push(head, files);
    // The base branch defines the app (a fork previews at its targets only); the fork adds the file.
    await h.push(base, { '.github/mergeops.yml': files['.github/mergeops.yml'] });
    const p = prPayload('opened', ++pr, head, base) as Record<string, any>; // fixture JSON is untyped
    Object.assign(p['pull_request']['head']['repo'], { full_name: 'mallory/deploys', fork: true, id: 666 });
    p['pull_request']['head']['repo'].owner.login = 'mallory';
    expect((await deliver(h.rt.url as string, 'pull_request', p)).status).toBe(202);
    const { check, comment } = await h.waitForPreview(head);

    expect(check.body.conclusion).toBe('failure');
    const text = JSON.stringify([comment.body, check.body]);
    for (const leaked of [password, 'postgres://', 'eu-secret-region', 'DB_URL', 'REGION']) expect(text).not.toContain(leaked);
    const message = (check.body.output.annotations as { path: string; message: string }[]).find((a) => a.path === 'deploy/evil.yaml')?.message;
    expect(message).toContain(`would take over \`v1 ConfigMap ${ns}/payments-config\`, which this app does not manage; its live content is not shown.`);
    expect(message).toContain(`add "ConfigMap/${ns}/payments-config" to adopt: of app "${app}"`);
    expect(message).toContain(`mergeops.dev/adopt: "${REPO.owner}/${REPO.name}/${app}"`);

    // Merged anyway: the deploy refuses in its dry-run phase; the object is untouched.
    const deployed = await merge('g', files);
    expect(deployed.body.conclusion).toBe('failure');
    expect(deployed.body.output.summary).toContain('which this app does not manage');
    const after = await get(cluster, 'v1', 'ConfigMap', ns, 'payments-config');
    expect(after?.metadata['resourceVersion']).toBe(before?.metadata['resourceVersion']);
    expect(after?.metadata.labels).toBeUndefined();

    // The owner opts in on the live object: the same commit now deploys and adopts it.
    await put(cluster, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'payments-config', namespace: ns, annotations: { 'mergeops.dev/adopt': `${REPO.owner}/${REPO.name}/${app}` } } }, 'owner');
    expect((await merge('g-adopted', files)).body.conclusion).toBe('success');
    expect((await get(cluster, 'v1', 'ConfigMap', ns, 'payments-config'))?.metadata.labels).toMatchObject({ 'mergeops.dev/app': app });
  });

  it('#13.3 a second repo can neither take over nor prune the first repo\'s object; a prune candidate outside the grant is kept and named', async () => {
    const ns = uniqueName('gw-h');
    await namespace(cluster, ns);
    const app = 'shop';
    // The first repo (id 888) deployed `shared` with its own field manager and marks.
    const first = { repoId: 888, repo: 'acme/first', app };
    await put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'shared', namespace: ns }, data: { OWNER: 'first' } }, first), fieldManager(first));
    await put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'first-only', namespace: ns }, data: { OWNER: 'first' } }, first), fieldManager(first));
    // An object this app deployed into a namespace it was granted then and is not any more
    // (the operator narrowed the grant): its marks, and its ref in the app's inventory.
    const foreign = uniqueName('other');
    await namespace(cluster, foreign);
    await put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stray', namespace: foreign }, data: {} }, KEY(app)), fieldManager(KEY(app)));
    await writeInventory(cluster, KEY(app), { objects: [`v1 ConfigMap ${foreign}/stray`], retained: [] });

    const takeOver = { '.github/mergeops.yml': configOf(app, ns), 'deploy/shared.yaml': cm('shared', { OWNER: 'second' }) };
    const refused = await merge('h1', takeOver);
    expect(refused.body.conclusion).toBe('failure');
    expect(refused.body.output.summary).toContain(`v1 ConfigMap ${ns}/shared\\\`, which belongs to app "${app}" of acme/first, another mergeops app`);
    expect(data(await get(cluster, 'v1', 'ConfigMap', ns, 'shared'))).toEqual({ OWNER: 'first' });

    // A deploy of the same app name that prunes: only this repo's objects are candidates, and
    // the one outside the grant is re-checked and kept.
    const own = { '.github/mergeops.yml': configOf(app, ns), 'deploy/mine.yaml': cm('mine', { OWNER: 'second' }) };
    const { check } = await preview('h2', own, sha('h1-merge'));
    expect(check.body.conclusion).toBe('success');
    expect(check.body.output.summary).toContain(`\`v1 ConfigMap ${foreign}/stray\`: not pruned although Git no longer has it: namespace "${foreign}" is not granted`);
    const deployed = await merge('h2', own);
    expect(deployed.body.conclusion).toBe('success');
    expect(deployed.body.output.summary).toContain('1 created, 0 configured, 0 unchanged, 0 pruned');
    expect(deployed.body.output.summary).toContain(`${foreign}/stray</code>: not pruned although Git no longer has it`);
    for (const [n, name] of [[ns, 'shared'], [ns, 'first-only'], [foreign, 'stray']] as const) expect(await get(cluster, 'v1', 'ConfigMap', n, name)).not.toBeNull();
  });

  it('objects applied under the old shared "mergeops" field manager are handed to the app\'s own manager: no self-conflict under conflicts: fail, and a field dropped from Git is removed', async () => {
    const ns = uniqueName('gw-m');
    await namespace(cluster, ns);
    const app = 'legacy';
    await put(cluster, withInventory({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'old', namespace: ns }, data: { A: '1', B: '1' } }, KEY(app)), 'mergeops');
    const config = configOf(app, ns, '    conflicts: fail\n');
    const changed = { '.github/mergeops.yml': config, 'deploy/old.yaml': cm('old', { A: '2', B: '1' }) };
    const { check } = await preview('m1', changed);
    expect(check.body.conclusion).toBe('success');
    expect((await merge('m1', changed)).body.conclusion).toBe('success');
    const migrated = await get(cluster, 'v1', 'ConfigMap', ns, 'old');
    expect(managers(migrated).map((m) => m.manager)).toEqual([fieldManager(KEY(app))]);
    expect(data(migrated)).toEqual({ A: '2', B: '1' });

    expect((await merge('m2', { '.github/mergeops.yml': config, 'deploy/old.yaml': cm('old', { A: '2' }) })).body.conclusion).toBe('success');
    expect(data(await get(cluster, 'v1', 'ConfigMap', ns, 'old'))).toEqual({ A: '2' });
  });
});
