import fs from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { MAX_ENVIRONMENT_CHECKS, clusterAppName, configAppName, parseRepoConfig, type RepoConfig } from '../../../src/config/repo-config.js';
import { ConfigError } from '../../../src/config/validate.js';
import { appKey } from '../../../src/engine/engine.js';
import { fieldManager } from '../../../src/cluster/inventory.js';
import { inventoryName } from '../../../src/cluster/inventory-store.js';
import { thrown } from '../../support/expect-error.js';

const parse = (text: string): RepoConfig => parseRepoConfig(text, 'main');
const configError = (text: string): string => thrown(() => parse(text), ConfigError).message;

/** The README's worked example, as written there: the code follows the documentation. */
function readmeExample(): string {
  const readme = fs.readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('### Environments\n'));
  const m = /```yaml\n([\s\S]*?)```/.exec(section);
  if (!m?.[1]) throw new Error('README has no yaml block under ### Environments');
  return m[1];
}

const TWO = `
environments:
  - name: staging
    cluster: staging
  - name: prod
    cluster: prod
apps:
`;

describe('environments in .github/mergeops.yml', () => {
  it("expands the README's staging → prod example into one unit per app and environment", () => {
    const cfg = parse(readmeExample());
    expect(cfg.environments).toEqual([
      { name: 'staging', cluster: 'staging', after: [], soakMs: 0 },
      { name: 'prod', cluster: 'prod', after: ['staging'], soakMs: 600_000, approval: 'write' },
    ]);
    expect(cfg.apps.map((a) => [a.name, a.cluster, a.path, a.namespace, a.unit])).toEqual([
      ['web · staging', 'staging', 'deploy/web/overlays/staging', 'web', { app: 'web', environment: 'staging' }],
      ['web · prod', 'prod', 'deploy/web/overlays/prod', 'web', { app: 'web', environment: 'prod' }],
    ]);
  });

  it('gives each (app, environment) its own inventory, field manager and Deployment name, also on one cluster', () => {
    const cfg = parse(`${TWO.replace('cluster: prod', 'cluster: staging')}  - name: web\n    path: deploy/web\n    namespace: web-{env}\n`);
    const keys = cfg.apps.map((a) => appKey(7, 'acme/shop', a));
    expect(keys.map(inventoryName)).toEqual(['mergeops-7-web.staging', 'mergeops-7-web.prod']);
    expect(keys.map(fieldManager)).toEqual(['mergeops/7/web.staging', 'mergeops/7/web.prod']);
    expect(cfg.apps.map((a) => [a.name, a.cluster, a.namespace])).toEqual([
      ['web · staging', 'staging', 'web-staging'],
      ['web · prod', 'staging', 'web-prod'],
    ]);
    expect(cfg.apps.map(configAppName)).toEqual(['web', 'web']);
  });

  it('keeps an app without environments exactly as before: its name is what the cluster knows it by', () => {
    const cfg = parse('apps:\n  - name: web\n    path: deploy/web\n');
    expect(cfg.environments).toBeUndefined();
    expect(cfg.apps[0]?.unit).toBeUndefined();
    expect(clusterAppName(cfg.apps[0]!)).toBe('web');
    expect(inventoryName(appKey(7, 'acme/shop', cfg.apps[0]!))).toBe('mergeops-7-web');
  });

  it('defaults after to the environment before, honours [] and explicit fan-out, and reads soak', () => {
    const cfg = parse(`
environments:
  - name: staging
    cluster: a
  - name: prod-eu
    cluster: b
    soak: 10m
  - name: prod-us
    cluster: c
    after: [staging]
  - name: sandbox
    cluster: a
    after: []
apps:
  - name: web
    path: deploy/{env}
    environments: [staging, prod-us]
    helm:
      valuesFiles: ["values-{env}.yaml"]
`);
    expect(cfg.environments?.map((e) => [e.name, e.after, e.soakMs])).toEqual([
      ['staging', [], 0],
      ['prod-eu', ['staging'], 600_000],
      ['prod-us', ['staging'], 0],
      ['sandbox', [], 0],
    ]);
    expect(cfg.apps.map((a) => [a.name, a.path, a.helm?.valuesFiles])).toEqual([
      ['web · staging', 'deploy/staging', ['values-staging.yaml']],
      ['web · prod-us', 'deploy/prod-us', ['values-prod-us.yaml']],
    ]);
  });

  it('points images[].apps at every environment of the apps it names', () => {
    const cfg = parse(`${TWO}  - name: web\n    path: deploy/{env}\n  - name: api\n    path: api/{env}\n    environments: [staging]\nimages:\n  - repository: ghcr.io/acme/web\n    policy: { semver: "^1" }\n    apps: [web]\n  - repository: ghcr.io/acme/all\n    policy: { semver: "^1" }\n`);
    expect(cfg.images.map((r) => r.apps)).toEqual([
      ['web · staging', 'web · prod'],
      ['web · staging', 'web · prod', 'api · staging'],
    ]);
  });

  it.each([
    ['an unknown environment in after', `environments:\n  - name: staging\n    cluster: s\n  - name: prod\n    cluster: p\n    after: [stagign]\napps:\n  - name: web\n    path: w\n`, 'environments[1].after[0]: no environment named "stagign" (environments: staging, prod)'],
    ['an environment after itself', `environments:\n  - name: prod\n    cluster: p\n    after: [prod]\napps:\n  - name: web\n    path: w\n`, 'environments[0].after[0]: "prod" cannot come after itself'],
    ['a cycle', `environments:\n  - name: a\n    cluster: p\n    after: [b]\n  - name: b\n    cluster: p\napps:\n  - name: web\n    path: w\n`, 'environments[0].after: the environments come after each other in a circle (a → b → a)'],
    ['a duplicate environment', `environments:\n  - name: a\n    cluster: p\n  - name: a\n    cluster: q\napps:\n  - name: web\n    path: w\n`, 'environments[1].name: duplicate environment name "a"'],
    ['an environment without a cluster', `environments:\n  - name: a\napps:\n  - name: web\n    path: w\n`, 'environments[0].cluster: is required'],
    ['{env} without environments', `apps:\n  - name: web\n    path: deploy/{env}\n`, 'apps[0].path: "deploy/{env}" holds {env}, which only a file with a top-level environments: list expands'],
    ['{env} in a values file without environments', `apps:\n  - name: web\n    path: w\n    helm:\n      valuesFiles: ["values-{env}.yaml"]\n`, 'apps[0].helm.valuesFiles[0]: "values-{env}.yaml" holds {env}'],
    ['an app naming environments without any', `apps:\n  - name: web\n    path: w\n    environments: [prod]\n`, 'apps[0].environments: names environments, but this file has no top-level environments: list'],
    ['an app naming an unknown environment', `${TWO}  - name: web\n    path: w\n    environments: [staging, qa]\n`, 'apps[0].environments[1]: no environment named "qa" (environments: staging, prod)'],
    ['an app with a cluster of its own', `${TWO}  - name: web\n    path: w\n    cluster: prod\n`, 'apps[0].cluster: the environments decide where an app deploys (staging → cluster staging, prod → cluster prod)'],
    ['a namespace that is no name once expanded', `${TWO}  - name: web\n    path: w\n    namespace: "{env}-"\n`, 'apps[0].namespace: "staging-" (in environment staging) is not valid'],
    ['a unit name too long for a label', `${TWO}  - name: ${'w'.repeat(60)}\n    path: w\n`, 'longer than the 63 characters a Kubernetes label allows'],
    [
      'more environment checks than the bound',
      `environments:\n${Array.from({ length: MAX_ENVIRONMENT_CHECKS + 1 }, (_, i) => `  - name: e${i}\n    cluster: c\n    previewCheck: true\n`).join('')}apps:\n  - name: web\n    path: w\n`,
      `environments[${MAX_ENVIRONMENT_CHECKS}].previewCheck: more than ${MAX_ENVIRONMENT_CHECKS} environments ask for their own preview check`,
    ],
    ['a previewCheck that is no boolean', `${TWO.replace('cluster: prod\n', 'cluster: prod\n    previewCheck: required\n')}  - name: web\n    path: w\n`, 'environments[1].previewCheck: expected true or false'],
  ])('refuses %s with its key path', (_what, text, message) => {
    expect(configError(text)).toContain(message);
  });

  it('expands {env} in an app\'s url: per environment (its Deployments\' environment_url), and refuses {env} without environments and an address that is no http(s) one', () => {
    const cfg = parse(`${TWO}  - name: web\n    path: w\n    url: https://{env}.shop.example.com/\n`);
    expect(cfg.apps.map((a) => [a.name, a.url])).toEqual([
      ['web · staging', 'https://staging.shop.example.com/'],
      ['web · prod', 'https://prod.shop.example.com/'],
    ]);
    expect(configError('apps:\n  - name: web\n    path: w\n    url: https://{env}.example.com\n')).toContain('apps[0].url: "https://{env}.example.com" holds {env}');
    expect(configError(`${TWO}  - name: web\n    path: w\n    url: "javascript:alert(1)"\n`)).toContain('apps[0].url:');
  });

  it('reads previewCheck only where it is set true', () => {
    const cfg = parse(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    previewCheck: true\n')}  - name: web\n    path: w\n`);
    expect(cfg.environments?.map((e) => [e.name, e.previewCheck])).toEqual([
      ['staging', undefined],
      ['prod', true],
    ]);
  });

  it('reads approval: as the repository role that promotes the environment, and refuses one that is no role', () => {
    const cfg = parse(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    approval: maintain\n')}  - name: web\n    path: w\n`);
    expect(cfg.environments?.map((e) => [e.name, e.approval])).toEqual([
      ['staging', undefined],
      ['prod', 'maintain'],
    ]);
    expect(configError(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    approval: owner\n')}  - name: web\n    path: w\n`)).toContain('environments[1].approval: expected one of read, triage, write, maintain, admin');
    expect(configError(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    approval: none\n')}  - name: web\n    path: w\n`)).toContain('environments[1].approval: expected one of read, triage, write, maintain, admin');
  });

  it('reads promote: pr as a promotion from the environment before, and the long form with from and files', () => {
    const short = parse(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    promote: pr\n')}  - name: web\n    path: deploy/{env}\n`);
    expect(short.environments?.map((e) => e.promote)).toEqual([undefined, { from: 'staging', files: [] }]);
    const long = parse(
      `environments:\n  - name: staging\n    cluster: s\n  - name: qa\n    cluster: s\n    after: []\n  - name: prod\n    cluster: p\n    after: [staging, qa]\n    promote: { pr: true, from: qa, files: [config.env, settings/app.properties] }\napps:\n  - name: web\n    path: deploy/{env}\n`,
    );
    expect(long.environments?.[2]?.promote).toEqual({ from: 'qa', files: ['config.env', 'settings/app.properties'] });
  });

  it.each([
    ['promote on the first environment', `environments:\n  - name: staging\n    cluster: s\n    promote: pr\napps:\n  - name: web\n    path: w\n`, 'environments[0].promote: "staging" comes after no environment, so there is nothing to promote from'],
    ['promote from an environment it does not come after', `environments:\n  - name: staging\n    cluster: s\n  - name: qa\n    cluster: s\n  - name: prod\n    cluster: p\n    after: [qa]\n    promote: { pr: true, from: staging }\napps:\n  - name: web\n    path: w\n`, 'environments[2].promote.from: promotes from "staging", which is not one it comes after (after: qa)'],
    ['promote: something else', `${TWO.replace('cluster: prod\n', 'cluster: prod\n    promote: auto\n')}  - name: web\n    path: w\n`, 'environments[1].promote'],
    ['promote files leaving the folder', `${TWO.replace('cluster: prod\n', 'cluster: prod\n    promote: { pr: true, files: [/etc/passwd] }\n')}  - name: web\n    path: w\n`, 'environments[1].promote.files[0]'],
    ['promote files climbing out of the folder', `${TWO.replace('cluster: prod\n', 'cluster: prod\n    promote: { pr: true, files: [a/../../x.env] }\n')}  - name: web\n    path: w\n`, 'environments[1].promote.files[0]'],
    ['images[].environments without environments', `apps:\n  - name: web\n    path: w\nimages:\n  - repository: ghcr.io/acme/web\n    policy: { semver: "^1" }\n    environments: [staging]\n`, 'images[0].environments: names environments, but this file has no top-level environments: list'],
    ['images[].environments naming an unknown one', `${TWO}  - name: web\n    path: w/{env}\nimages:\n  - repository: ghcr.io/acme/web\n    policy: { semver: "^1" }\n    environments: [stagign]\n`, 'images[0].environments[0]: no environment named "stagign" (environments: staging, prod)'],
  ])('refuses %s with its key path', (_what, text, message) => {
    expect(configError(text)).toContain(message);
  });

  it('points a bump with images[].environments at those environments only: the later ones get it by promotion', () => {
    const cfg = parse(`${TWO.replace('cluster: prod\n', 'cluster: prod\n    promote: pr\n')}  - name: web\n    path: deploy/{env}\nimages:\n  - repository: ghcr.io/acme/web\n    policy: { semver: "^1" }\n    environments: [staging]\n  - repository: ghcr.io/acme/sidecar\n    policy: { semver: "^1" }\n`);
    expect(cfg.images.map((r) => r.apps)).toEqual([['web · staging'], ['web · staging', 'web · prod']]);
    expect(cfg.images[0]).not.toHaveProperty('environments');
  });
});
