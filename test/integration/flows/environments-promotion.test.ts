import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { waitFor } from '../../support/github.js';
import { comment, commandsApi, waitForReply } from '../../support/commands.js';
import { useTwoClusters } from '../../support/environments.js';
import { sha } from '../../support/harness.js';
import { get, namespace, uniqueName } from '../../support/kube.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

/**
 * Promotion by pull request, image bumps per environment, locks and rollback per
 * environment — through the whole app, on two real API servers (`staging` the run's own,
 * `prod` a second kube-apiserver + etcd), a real registry (CNCF Distribution) polled for
 * builds, real kustomize. GitHub is the stand-in, every request held to its OpenAPI description.
 */
describe('environments: promotion pull requests, bumps of staging only, locks and rollback per environment', () => {
  const env = useTwoClusters({ MERGEOPS_IMAGE_POLL_INTERVAL_MS: '700' });
  let reg: TestRegistry;
  let ns: string;
  let image: string;

  const config = (): string =>
    [
      'environments:',
      '  - name: staging',
      '    cluster: staging',
      '  - name: prod',
      '    cluster: prod',
      '    promote: pr',
      'apps:',
      '  - name: pweb',
      '    path: deploy/pweb/{env}',
      `    namespace: ${ns}-{env}`,
      '    wait: 0',
      'images:',
      `  - repository: ${image}`,
      '    policy: { semver: "^1" }',
      '    environments: [staging]',
      '',
    ].join('\n');
  const overlay = (tag: string, note: string): string => `# ${note}\nresources:\n  - ../base\nimages:\n  - name: ${image}\n    newTag: "${tag}"   # moved by mergeops\n`;
  const deployment = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: pweb\nspec:\n  selector:\n    matchLabels: {app: pweb}\n  template:\n    metadata:\n      labels: {app: pweb}\n    spec:\n      containers:\n        - name: pweb\n          image: IMAGE:0.0.1\n`;
  const files = (staging: string, prod: string): Record<string, string> => ({
    '.github/mergeops.yml': config(),
    'deploy/pweb/base/kustomization.yaml': 'resources:\n  - deployment.yaml\n',
    'deploy/pweb/base/deployment.yaml': deployment.replace('IMAGE', image),
    'deploy/pweb/staging/kustomization.yaml': overlay(staging, 'staging overlay'),
    'deploy/pweb/prod/kustomization.yaml': overlay(prod, 'production overlay'),
  });
  const running = async (environment: 'staging' | 'prod'): Promise<string | undefined> => {
    const d = await get(env[environment], 'apps/v1', 'Deployment', `${ns}-${environment}`, 'pweb');
    return (d?.['spec'] as { template: { spec: { containers: { image: string }[] } } } | undefined)?.template.spec.containers[0]?.image;
  };
  const deploymentsOf = (s: string): string[] => env.h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/deployments') && c.body.ref === s).map((c) => c.body.environment as string);
  /** [before, after] for each line that differs; the texts keep their line count. */
  const changedLines = (a: string, b: string): [string, string][] => {
    const x = a.split('\n');
    const y = b.split('\n');
    expect(y).toHaveLength(x.length);
    return x.flatMap((l, i) => (l === y[i] ? [] : [[l, y[i] as string] as [string, string]]));
  };
  const s1 = sha('promotion-main-1');
  let bumpHead = '';
  let promoHead = '';

  beforeAll(async () => {
    reg = await startRegistry();
    image = `${reg.host}/acme/pweb`;
    ns = uniqueName('envs-p');
    await namespace(env.staging, `${ns}-staging`);
    await namespace(env.prod, `${ns}-prod`);
    await reg.pushImage('acme/pweb', '1.0.0');
  }, 60_000);

  afterAll(async () => reg?.stop());

  it('a build bumps staging only; its merge applies staging only; the promotion PR carries exactly the tag; merging it applies prod only', async () => {
    // The first deploy: both environments, nothing promoted yet (prod already equals staging: no PR).
    await env.h.push(s1, files('1.0.0', '1.0.0'));
    await env.h.pushEvent(s1, { mergedPr: 90 });
    await env.h.waitForDeploy(s1);
    expect(await running('staging')).toBe(`${image}:1.0.0`);
    expect(await running('prod')).toBe(`${image}:1.0.0`);

    // A new build: the bump (images[].environments: [staging]) edits staging's overlay only.
    await reg.pushImage('acme/pweb', '1.1.0');
    const bumpBranch = `mergeops/bump/${reg.host.replace(':', '-')}-acme-pweb`;
    const bump = await waitFor(() => env.h.git.pulls.find((p) => p.head === bumpBranch), 'the bump PR', 60_000);
    bumpHead = env.h.git.refs.get(bumpBranch) as string;
    expect(bump.title).toBe(`Bump ${image} from 1.0.0 to 1.1.0`);
    const bumped = env.h.git.files.get(bumpHead) ?? {};
    expect(bumped['deploy/pweb/prod/kustomization.yaml']).toBe(files('1.0.0', '1.0.0')['deploy/pweb/prod/kustomization.yaml']);
    expect(changedLines(overlay('1.0.0', 'staging overlay'), String(bumped['deploy/pweb/staging/kustomization.yaml']))).toEqual([['    newTag: "1.0.0"   # moved by mergeops', '    newTag: "1.1.0"   # moved by mergeops']]);

    // Its merge deploys staging; prod (promoted by pull request) is not touched by it.
    await env.h.pushEvent(bumpHead, { before: s1, mergedPr: bump.number });
    const check = await env.h.waitForDeploy(bumpHead);
    expect(check.body.conclusion).toBe('success');
    expect(await running('staging')).toBe(`${image}:1.1.0`);
    expect(await running('prod')).toBe(`${image}:1.0.0`);
    expect(deploymentsOf(bumpHead)).toEqual(['pweb · staging']);

    // Staging healthy: one promotion PR, whose only change is the tag characters in prod's overlay.
    const promo = await waitFor(() => env.h.git.pulls.find((p) => p.head === 'mergeops/promote/pweb/prod'), 'the promotion PR', 60_000);
    promoHead = env.h.git.refs.get('mergeops/promote/pweb/prod') as string;
    expect(promo).toMatchObject({ base: 'main', state: 'open', title: `Promote pweb to prod: ${image} 1.0.0 → 1.1.0` });
    expect(promo.body).toContain(`| \`${image}\` | \`1.0.0\` | \`1.1.0\` |`);
    const promoted = env.h.git.files.get(promoHead) ?? {};
    for (const [file, text] of Object.entries(files('1.1.0', '1.0.0'))) if (file !== 'deploy/pweb/prod/kustomization.yaml') expect(promoted[file]).toBe(text);
    expect(changedLines(overlay('1.0.0', 'production overlay'), String(promoted['deploy/pweb/prod/kustomization.yaml']))).toEqual([['    newTag: "1.0.0"   # moved by mergeops', '    newTag: "1.1.0"   # moved by mergeops']]);
    // It is a normal PR: it gets its own preview, planned against prod's cluster.
    const preview = await env.h.waitForPreview(promoHead);
    expect(String(preview.comment.body.body)).toContain('prod');

    // Merging it applies prod only.
    await env.h.pushEvent(promoHead, { before: bumpHead, mergedPr: promo.number });
    const promotedCheck = await env.h.waitForDeploy(promoHead);
    expect(promotedCheck.body.conclusion).toBe('success');
    expect(await running('prod')).toBe(`${image}:1.1.0`);
    expect(deploymentsOf(promoHead)).toEqual(['pweb · prod']);
  });

  it('a lock on prod holds prod only (named in the check); unlocking applies what was merged meanwhile', async () => {
    const gh = commandsApi(env.h);
    gh.roles.set('writer', 'write');
    let since = env.h.calls.length;
    await comment(env.h, '/mergeops lock pweb prod release freeze', { issue: 60, login: 'writer', isPullRequest: false });
    expect((await waitForReply(env.h, 60, since)).body.body).toContain(':white_check_mark: Locked `pweb · prod`: merges are recorded, not applied, until `/mergeops unlock pweb prod`.');

    // A merge that changes both overlays (a hand edit of both tags): staging applies, prod is held.
    const s4 = sha('promotion-main-4');
    await env.h.push(s4, files('1.0.0', '1.0.0'));
    await env.h.pushEvent(s4, { before: promoHead, mergedPr: 91 });
    const check = await env.h.waitForDeploy(s4);
    const summary = String(check.body.output.summary);
    expect(summary).toContain('<code>staging</code> (<code>staging</code>) ✅ deployed → <code>prod</code> (<code>prod</code>) 🔒 held');
    expect(summary).toContain('applies on `/mergeops unlock pweb prod`');
    expect(await running('staging')).toBe(`${image}:1.0.0`);
    expect(await running('prod')).toBe(`${image}:1.1.0`);
    expect(deploymentsOf(s4)).toEqual(['pweb · staging']);

    since = env.h.calls.length;
    await comment(env.h, '/mergeops unlock pweb prod', { issue: 60, login: 'writer', isPullRequest: false });
    expect((await waitForReply(env.h, 60, since)).body.body).toContain(`Applying ${s4.slice(0, 7)}, merged while locked, to \`pweb · prod\``);
    await waitFor(async () => ((await running('prod')) === `${image}:1.0.0` ? true : undefined), 'prod applied after the unlock', 60_000);
  });

  it("rollback of prod opens a PR restoring prod's own files to its previous deploy, leaving staging's alone", async () => {
    const gh = commandsApi(env.h);
    gh.roles.set('writer', 'write');
    // The unlock's deploy of prod is recorded (its Deployment succeeded) before asking for the one before it.
    const s4 = sha('promotion-main-4');
    await waitFor(() => env.h.git.deployments.find((d) => d.environment === 'pweb · prod' && d.sha === s4 && d.statuses.some((x) => x.state === 'success')), "prod's deploy of the unlocked commit", 60_000);
    const since = env.h.calls.length;
    await comment(env.h, '/mergeops rollback pweb', { issue: 61, login: 'writer', isPullRequest: false });
    expect((await waitForReply(env.h, 61, since)).body.body).toContain('name the environment to roll back `pweb` in: `/mergeops rollback pweb staging` or `/mergeops rollback pweb prod`');
    const again = env.h.calls.length;
    await comment(env.h, '/mergeops rollback pweb prod', { issue: 61, login: 'writer', isPullRequest: false });
    const reply = await waitForReply(env.h, 61, again);
    // prod runs the unlock's commit (1.0.0) now; its deploy before that was the promotion's merge (1.1.0).
    expect(reply.body.body).toContain(`rolling \`pweb · prod\` back to ${promoHead.slice(0, 7)} (1 file)`);
    const pr = env.h.git.pulls.find((p) => p.head === `mergeops/rollback-pweb.prod-${promoHead.slice(0, 7)}`);
    expect(pr).toMatchObject({ base: 'main', title: `Roll back pweb · prod to ${promoHead.slice(0, 7)}` });
    const head = env.h.git.files.get(env.h.git.refs.get(pr?.head ?? '') as string) ?? {};
    expect(head['deploy/pweb/prod/kustomization.yaml']).toBe(overlay('1.1.0', 'production overlay'));
    expect(head['deploy/pweb/staging/kustomization.yaml']).toBe(overlay('1.0.0', 'staging overlay'));
  });
});
