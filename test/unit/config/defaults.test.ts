import { describe, expect, it } from '@jest/globals';
import { isDefaultsOnly, readDefaultsFiles, resolveDefaults, type DefaultsFile } from '../../../src/config/defaults.js';
import { mergeConfig, type ConfigDefaults } from '../../../src/config/merge.js';
import { parseRepoConfig } from '../../../src/config/repo-config.js';
import { ConfigError } from '../../../src/config/validate.js';
import { thrown } from '../../support/expect-error.js';

const configError = (fn: () => unknown): ConfigError => thrown(fn, ConfigError);

const ORG = `appDefaults:
  prune: false
  wait: 10m
  review: { onRisk: action_required }
  failOn: [warnings]
  helm: { values: { replicas: 2, resources: { cpu: 100m, memory: 64Mi } } }
`;
const APPS_ONLY = 'apps:\n  - name: web\n    path: deploy/web\n';

/** The defaults of owner acme from these files, as GitHub would answer them (absent: 404). */
function defaultsOf(files: Record<string, string>): ConfigDefaults {
  return resolveDefaults('acme', (['acme/.github', ...Object.keys(files).filter((r) => r !== 'acme/.github')] as string[]).slice(0, 2).map((repo) => ({ repo, text: files[repo] ?? null })));
}

async function readAll(files: Record<string, string>): Promise<{ files: DefaultsFile[]; reads: string[] }> {
  const reads: string[] = [];
  const read = await readDefaultsFiles('acme', async (repo) => {
    reads.push(repo);
    return files[repo] ?? null;
  });
  return { files: read, reads };
}

describe('mergeConfig: the merge rule of every layer', () => {
  it('lets the nearer layer win key by key, merges mappings all the way down, and replaces lists and values', () => {
    const base = { wait: '10m', review: { onRisk: 'action_required' }, failOn: ['warnings'], helm: { values: { a: 1, nested: { x: 1, y: 2 } } } };
    const over = { wait: 0, failOn: [], helm: { values: { nested: { y: 3 } } } };
    expect(mergeConfig(base, over)).toEqual({ wait: 0, review: { onRisk: 'action_required' }, failOn: [], helm: { values: { a: 1, nested: { x: 1, y: 3 } } } });
  });

  it('keeps the base for a key the nearer layer leaves empty (key: ~), as YAML readers take it for unset', () => {
    expect(mergeConfig({ wait: '10m' }, { wait: null })).toEqual({ wait: '10m' });
  });
});

describe("an app on top of the organisation's defaults", () => {
  it('picks up prune, wait and review.onRisk from the organisation when its own file sets only apps:', () => {
    const app = parseRepoConfig(APPS_ONLY, 'main', defaultsOf({ 'acme/.github': ORG })).apps[0];
    expect(app).toMatchObject({ prune: false, waitMs: 600_000, review: { onRisk: 'action_required' }, failOn: ['warnings'] });
  });

  it('without defaults keeps the built-in ones (the same file, no organisation file)', () => {
    const app = parseRepoConfig(APPS_ONLY, 'main', defaultsOf({})).apps[0];
    expect(app).toMatchObject({ prune: true, waitMs: 300_000, failOn: [] });
    expect(app?.review).toBeUndefined();
  });

  it("keeps the app's own keys, merges its Helm values into the inherited ones and replaces inherited lists", () => {
    const text = `apps:
  - name: web
    path: deploy/web
    wait: 0
    failOn: []
    review: { onRisk: success }
    helm: { values: { resources: { memory: 1Gi } } }
`;
    const app = parseRepoConfig(text, 'main', defaultsOf({ 'acme/.github': ORG })).apps[0];
    expect(app).toMatchObject({ prune: false, waitMs: 0, failOn: [], helm: { valuesFiles: [], values: { replicas: 2, resources: { cpu: '100m', memory: '1Gi' } } } });
    expect(app?.review).toBeUndefined();
  });

  it("puts the repository's own appDefaults between the organisation's and each app", () => {
    const text = `appDefaults:
  wait: 2m
apps:
  - name: web
    path: deploy/web
  - name: api
    path: deploy/api
    wait: 30s
`;
    const apps = parseRepoConfig(text, 'main', defaultsOf({ 'acme/.github': ORG })).apps;
    expect(apps.map((a) => [a.name, a.waitMs, a.prune])).toEqual([
      ['web', 120_000, false],
      ['api', 30_000, false],
    ]);
  });

  it("never inherits the organisation's apps: or images: (they are the .github repository's own)", () => {
    const org = `${ORG}apps:\n  - name: org-site\n    path: site\nimages:\n  - repository: ghcr.io/acme/site\n    policy: { semver: "^1" }\n`;
    const config = parseRepoConfig(APPS_ONLY, 'main', defaultsOf({ 'acme/.github': org }));
    expect(config.apps.map((a) => a.name)).toEqual(['web']);
    expect(config.images).toEqual([]);
  });

  it('names the defaults files that applied (the preview footer shows them)', () => {
    expect(parseRepoConfig(APPS_ONLY, 'main', defaultsOf({ 'acme/.github': ORG })).defaultsFrom).toEqual(['acme/.github']);
    expect(parseRepoConfig(APPS_ONLY, 'main', defaultsOf({})).defaultsFrom).toBeUndefined();
  });

  it('says so when an inherited key makes an app invalid, and how to override it', () => {
    const d = defaultsOf({ 'acme/.github': 'appDefaults:\n  createNamespace: true\n' });
    const err = configError(() => parseRepoConfig(APPS_ONLY, 'main', d));
    expect(err.path).toBe('apps[0].createNamespace');
    expect(err.message).toContain("inherited from the organisation's defaults (acme/.github); set createNamespace on the app to override it");
  });

  it('refuses appDefaults keys that belong to one app (name, path, adopt, release, helm.releaseName)', () => {
    for (const key of ['name: x', 'path: x', 'adopt: [ConfigMap/a/b]', 'release: [{ object: ConfigMap/a/b }]', 'helm: { releaseName: x }']) {
      const err = configError(() => defaultsOf({ 'acme/.github': `appDefaults:\n  ${key}\n` }));
      expect(err.message).toMatch(/unknown key "(name|path|adopt|release|releaseName)"/);
      expect(err.message).toContain("in acme/.github's .github/mergeops.yml, the organisation's mergeops defaults; fix it there");
    }
  });

  it('accepts a file of defaults alone (the .github repository) as deploying nothing, but not an empty file', () => {
    expect(parseRepoConfig(ORG, 'main', undefined, { defaultsRepo: true }).apps).toEqual([]);
    expect(configError(() => parseRepoConfig('images: []\n', 'main')).message).toContain('lists no apps');
  });

  it('tells a file of defaults alone (deploys nothing, downloads nothing) from a repository config or a broken one', () => {
    expect(isDefaultsOnly(ORG)).toBe(true);
    expect(isDefaultsOnly('_extends: platform\n')).toBe(true);
    expect(isDefaultsOnly(`${ORG}${APPS_ONLY}`)).toBe(false);
    expect(isDefaultsOnly('images: []\n')).toBe(false);
    expect(isDefaultsOnly('appDefaults: [\n')).toBe(false);
  });

  it("refuses _extends in a repository's own file: only the organisation's file may extend another", () => {
    const err = configError(() => parseRepoConfig(`_extends: acme/platform\n${APPS_ONLY}`, 'main'));
    expect(err.path).toBe('_extends');
    expect(err.message).toContain("only the organisation's defaults file");
    expect(parseRepoConfig(`_extends: acme/platform\n${APPS_ONLY}`, 'main', undefined, { defaultsRepo: true }).apps).toHaveLength(1);
  });

  it('reads version: 1 (or none) and refuses any other version, saying what this mergeops reads', () => {
    expect(parseRepoConfig(`version: 1\n${APPS_ONLY}`, 'main').apps).toHaveLength(1);
    const err = configError(() => parseRepoConfig(`version: 2\n${APPS_ONLY}`, 'main'));
    expect(err.path).toBe('version');
    expect(err.message).toContain('this mergeops reads version 1 of the file');
  });
});

describe('_extends: one more defaults file, one level, same owner', () => {
  const PLATFORM = 'appDefaults:\n  prune: true\n  wait: 1m\n  selfHeal: true\n';

  it("builds the organisation's defaults on the extended file's, the organisation's keys winning", async () => {
    const files = { 'acme/.github': `_extends: platform\n${ORG}`, 'acme/platform': PLATFORM };
    const read = await readAll(files);
    expect(read.reads).toEqual(['acme/.github', 'acme/platform']);
    const d = resolveDefaults('acme', read.files);
    expect(d.sources).toEqual(['acme/.github', 'acme/platform']);
    const app = parseRepoConfig(APPS_ONLY, 'main', d).apps[0];
    expect(app).toMatchObject({ prune: false, waitMs: 600_000, selfHeal: true });
    expect(parseRepoConfig(APPS_ONLY, 'main', d).defaultsFrom).toEqual(['acme/.github', 'acme/platform']);
  });

  it('reads only the organisation file when it extends nothing, and nothing more when it does not exist', async () => {
    expect((await readAll({ 'acme/.github': ORG })).reads).toEqual(['acme/.github']);
    const none = await readAll({});
    expect(none.reads).toEqual(['acme/.github']);
    expect(resolveDefaults('acme', none.files)).toEqual({ sources: [], appDefaults: {} });
  });

  it('refuses a second level, naming both files', async () => {
    const read = await readAll({ 'acme/.github': '_extends: acme/platform\n', 'acme/platform': '_extends: acme/base\nappDefaults: { wait: 1m }\n' });
    expect(read.reads).toEqual(['acme/.github', 'acme/platform']);
    const err = configError(() => resolveDefaults('acme', read.files));
    expect(err.message).toContain('defaults extend one level only: acme/.github extends acme/platform, which may not extend acme/base');
  });

  it('refuses a repository of another owner without reading it (an installation belongs to one account)', async () => {
    const read = await readAll({ 'acme/.github': '_extends: evil/defaults\n' });
    expect(read.reads).toEqual(['acme/.github']);
    const err = configError(() => resolveDefaults('acme', read.files));
    expect(err.path).toBe('_extends');
    expect(err.message).toContain('"evil/defaults" is a repository of evil; defaults are read only from repositories of acme');
  });

  it('says what to do when the extended repository has no file (or the installation cannot see it)', async () => {
    const read = await readAll({ 'acme/.github': '_extends: platform\n' });
    const err = configError(() => resolveDefaults('acme', read.files));
    expect(err.message).toContain('acme/platform has no .github/mergeops.yml on its default branch, or this installation cannot see it');
  });
});
