import { describe, expect, it } from '@jest/globals';
import {
  REPO_CONFIG_PATH,
  parseRepoConfig,
  safeRelativePath,
  validateRepoConfig,
  type RepoConfig,
} from '../../../src/config/repo-config.js';
import { ConfigError } from '../../../src/config/validate.js';
import { thrown } from '../../support/expect-error.js';

const configError = (fn: () => unknown): ConfigError => thrown(fn, ConfigError);


function parse(text: string, defaultBranch = 'main'): RepoConfig {
  return parseRepoConfig(text, defaultBranch);
}

describe('parseRepoConfig: valid configs', () => {
  it('reads the config path constant', () => {
    expect(REPO_CONFIG_PATH).toBe('.github/mergeops.yml');
  });

  it('fills in defaults for a minimal app', () => {
    const cfg = parse('apps:\n  - name: web\n    path: deploy/web\n', 'trunk');
    expect(cfg).toEqual({
      apps: [
        {
          name: 'web',
          path: 'deploy/web',
          cluster: 'default',
          branch: 'trunk',
          prune: true,
          pruneEmpty: false,
          waitMs: 300_000,
          conflicts: 'overwrite',
          createNamespace: false,
          failOn: [],
          adopt: [],
          selfHeal: false,
        },
      ],
      images: [],
    });
    expect(cfg.apps[0]).not.toHaveProperty('namespace');
    expect(cfg.apps[0]).not.toHaveProperty('helm');
  });

  it('keeps explicit settings', () => {
    const cfg = parse(
      [
        'apps:',
        '  - name: api',
        '    path: ./k8s//api/',
        '    cluster: prod-eu',
        '    namespace: backend',
        '    branch: release/v2',
        '    prune: false',
        '    pruneEmpty: true',
        '    wait: 5m',
        '    conflicts: fail',
        '    createNamespace: true',
        '    failOn: [warnings]',
        '    adopt: [ConfigMap/backend/legacy-config, Namespace/backend]',
        '    selfHeal: true',
        '    helm:',
        '      releaseName: api',
        '      valuesFiles: [values.yaml, prod.yaml]',
        '      values: { replicas: 3 }',
      ].join('\n'),
    );
    expect(cfg.apps[0]).toEqual({
      name: 'api',
      path: 'k8s/api',
      cluster: 'prod-eu',
      namespace: 'backend',
      branch: 'release/v2',
      prune: false,
      pruneEmpty: true,
      waitMs: 300_000,
      conflicts: 'fail',
      createNamespace: true,
      failOn: ['warnings'],
      adopt: ['ConfigMap/backend/legacy-config', 'Namespace/backend'],
      selfHeal: true,
      helm: { releaseName: 'api', valuesFiles: ['values.yaml', 'prod.yaml'], values: { replicas: 3 } },
    });
  });

  it.each([
    ['300s', 300_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['0s', 0],
    [0, 0],
    [45, 45_000],
  ])('wait %p → %p ms', (wait, ms) => {
    const text = `apps:\n  - name: a\n    path: a\n    wait: ${typeof wait === 'string' ? JSON.stringify(wait) : wait}\n`;
    expect(parse(text).apps[0]?.waitMs).toBe(ms);
  });

  it('treats null optional keys as unset', () => {
    const cfg = parse('apps:\n  - name: a\n    path: a\n    cluster:\n    prune: ~\n');
    expect(cfg.apps[0]?.cluster).toBe('default');
    expect(cfg.apps[0]?.prune).toBe(true);
  });

  it('accepts "." style paths as the repo root', () => {
    expect(parse('apps:\n  - name: a\n    path: .\n').apps[0]?.path).toBe('.');
    expect(parse('apps:\n  - name: a\n    path: ./\n').apps[0]?.path).toBe('.');
  });

  it('parses image rules with each policy kind and defaults', () => {
    const cfg = parse(
      [
        'apps:',
        '  - { name: web, path: web }',
        '  - { name: api, path: api }',
        'images:',
        '  - repository: ghcr.io/acme/web',
        '    policy: { semver: "^1.2.0" }',
        '    apps: [web]',
        '  - repository: ghcr.io/acme/api',
        '    policy: { regex: "^main-(\\\\d+)$", order: numeric }',
        '    pullRequest: { labels: [deps], group: images, automerge: true }',
        '  - repository: registry.local:5000/acme/tool',
        '    policy: { digest: stable }',
        '    helm: { repository: tool.image.repo, tag: tool.image.version }',
        '  - repository: ghcr.io/acme/pinned',
        '    policy: { semver: ">=2", pinDigest: true }',
      ].join('\n'),
    );
    expect(cfg.images).toEqual([
      {
        repository: 'ghcr.io/acme/web',
        policy: { kind: 'semver', range: '^1.2.0', prerelease: false },
        pinDigest: false,
        apps: ['web'],
        pullRequest: { labels: [], automerge: false },
      },
      {
        repository: 'ghcr.io/acme/api',
        policy: { kind: 'regex', pattern: '^main-(\\d+)$', order: 'numeric' },
        pinDigest: false,
        apps: ['web', 'api'],
        pullRequest: { labels: ['deps'], group: 'images', automerge: true },
      },
      {
        repository: 'registry.local:5000/acme/tool',
        policy: { kind: 'digest', tag: 'stable' },
        pinDigest: false,
        apps: ['web', 'api'],
        helmKeys: { repository: 'tool.image.repo', tag: 'tool.image.version' },
        pullRequest: { labels: [], automerge: false },
      },
      {
        repository: 'ghcr.io/acme/pinned',
        policy: { kind: 'semver', range: '>=2', prerelease: false },
        pinDigest: true,
        apps: ['web', 'api'],
        pullRequest: { labels: [], automerge: false },
      },
    ]);
  });

  it('defaults a regex policy to alphabetical order', () => {
    const cfg = parse('apps: [{name: a, path: a}]\nimages:\n  - repository: ghcr.io/x/y\n    policy: { regex: "^v" }\n');
    expect(cfg.images[0]?.policy).toEqual({ kind: 'regex', pattern: '^v', order: 'alphabetical' });
  });

  it('keeps semver prerelease when set', () => {
    const cfg = parse('apps: [{name: a, path: a}]\nimages:\n  - repository: ghcr.io/x/y\n    policy: { semver: ">=1", prerelease: true }\n');
    expect(cfg.images[0]?.policy).toEqual({ kind: 'semver', range: '>=1', prerelease: true });
  });

  it('validateRepoConfig works on already-parsed values', () => {
    const cfg = validateRepoConfig({ apps: [{ name: 'x', path: 'y' }] }, 'dev');
    expect(cfg.apps[0]?.branch).toBe('dev');
  });
});

describe('parseRepoConfig: errors name the key path', () => {
  it('rejects an unknown key in an app', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    foo: 1\n'));
    expect(e.path).toBe('apps[0]');
    expect(e.message).toContain('apps[0]');
    expect(e.message).toContain('unknown key "foo"');
  });

  it('rejects an unknown key at the root', () => {
    const e = configError(() => parse('apps: [{name: a, path: a}]\nextra: true\n'));
    expect(e.path).toBe('');
    expect(e.message).toContain('unknown key "extra"');
  });

  it('rejects an unknown key in the second app with its index', () => {
    const e = configError(() => parse('apps:\n  - {name: a, path: a}\n  - {name: b, path: b, bogus: x}\n'));
    expect(e.path).toBe('apps[1]');
    expect(e.message).toMatch(/^apps\[1\]: unknown key "bogus"/);
  });

  it('rejects a string where a boolean is expected', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    prune: "yes"\n'));
    expect(e.path).toBe('apps[0].prune');
    expect(e.message).toContain('apps[0].prune');
    expect(e.message).toContain('expected true or false');
    expect(e.message).toContain('"yes"');
  });

  it('rejects YAML 1.1 style booleans (core schema keeps them strings)', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    force: yes\n'));
    expect(e.path).toBe('apps[0].force');
  });

  it('keeps force: accepted for compatibility: true is Git wins (the default), false is conflicts: fail; a contradiction is an error', () => {
    const conflicts = (extra: string) => parse(`apps:\n  - name: a\n    path: a\n${extra}`).apps[0]?.conflicts;
    expect(conflicts('')).toBe('overwrite');
    expect(conflicts('    force: true\n')).toBe('overwrite');
    expect(conflicts('    force: false\n')).toBe('fail');
    expect(conflicts('    conflicts: fail\n    force: false\n')).toBe('fail');
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    conflicts: overwrite\n    force: false\n'));
    expect(e.path).toBe('apps[0].force');
    expect(e.message).toContain('contradicts conflicts: overwrite');
    expect(configError(() => parse('apps:\n  - name: a\n    path: a\n    conflicts: keep\n')).message).toContain('overwrite (Git wins, the default) or fail');
  });

  it('checks createNamespace, failOn and adopt', () => {
    expect(configError(() => parse('apps:\n  - name: a\n    path: a\n    createNamespace: true\n')).path).toBe('apps[0].createNamespace');
    const f = configError(() => parse('apps:\n  - name: a\n    path: a\n    failOn: [errors]\n'));
    expect(f.path).toBe('apps[0].failOn[0]');
    expect(f.message).toContain('warnings or a rollout check: config-not-reloaded, selector-mismatch, quota, pdb-blocks, hpa-fights, wait-too-short, route-missing-backend');
    const rollout = parse('apps:\n  - name: a\n    path: a\n    failOn: [warnings, config-not-reloaded, quota]\n    restartOnConfigChange: true\n');
    expect(rollout.apps[0]).toMatchObject({ failOn: ['warnings', 'config-not-reloaded', 'quota'], restartOnConfigChange: true });
    const a = configError(() => parse('apps:\n  - name: a\n    path: a\n    adopt: [payments-config]\n'));
    expect(a.path).toBe('apps[0].adopt[0]');
    expect(a.message).toContain('Kind/namespace/name');
  });

  it('reads release: (object, and optionally to whom) and checks both', () => {
    const c = parse('apps:\n  - name: a\n    path: a\n    release:\n      - object: ConfigMap/shop/payments-config\n        to: acme/billing/pay\n      - object: Namespace/shop\n');
    expect(c.apps[0]?.release).toEqual([{ object: 'ConfigMap/shop/payments-config', to: 'acme/billing/pay' }, { object: 'Namespace/shop' }]);
    expect(parse('apps:\n  - name: a\n    path: a\n').apps[0]?.release).toBeUndefined();
    const o = configError(() => parse('apps:\n  - name: a\n    path: a\n    release: [{ object: payments-config }]\n'));
    expect(o.path).toBe('apps[0].release[0].object');
    expect(o.message).toContain('Kind/namespace/name');
    const t = configError(() => parse('apps:\n  - name: a\n    path: a\n    release: [{ object: ConfigMap/shop/x, to: billing }]\n'));
    expect(t.path).toBe('apps[0].release[0].to');
    expect(t.message).toContain('owner/repo (any app of that repository) or owner/repo/app');
  });

  it('rejects a non-boolean pruneEmpty', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    pruneEmpty: 1\n'));
    expect(e.path).toBe('apps[0].pruneEmpty');
  });

  it('rejects a number where a string is expected', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: 42\n'));
    expect(e.path).toBe('apps[0].path');
    expect(e.message).toContain('expected a string');
  });

  it('rejects a missing name', () => {
    const e = configError(() => parse('apps:\n  - path: a\n'));
    expect(e.path).toBe('apps[0].name');
    expect(e.message).toContain('is required');
  });

  it('rejects a missing path', () => {
    const e = configError(() => parse('apps:\n  - name: a\n'));
    expect(e.path).toBe('apps[0].path');
    expect(e.message).toContain('is required');
  });

  it('rejects duplicate app names, pointing at the second', () => {
    const e = configError(() => parse('apps:\n  - {name: a, path: x}\n  - {name: b, path: y}\n  - {name: a, path: z}\n'));
    expect(e.path).toBe('apps[2].name');
    expect(e.message).toContain('duplicate app name "a"');
  });

  it.each(['Web', 'web_app', '-web', 'web-', 'a'.repeat(64), 'we b', ''])('rejects invalid app name %p', (name) => {
    const e = configError(() => parse(`apps:\n  - name: ${JSON.stringify(name)}\n    path: a\n`));
    expect(e.path).toBe('apps[0].name');
  });

  it('accepts a 63 character app name', () => {
    expect(parse(`apps:\n  - name: ${'a'.repeat(63)}\n    path: a\n`).apps[0]?.name).toHaveLength(63);
  });

  it.each(['../other', 'a/../../b', 'a/..', '..'])('rejects a path with ".." (%p)', (p) => {
    const e = configError(() => parse(`apps:\n  - name: a\n    path: ${JSON.stringify(p)}\n`));
    expect(e.path).toBe('apps[0].path');
    expect(e.message).toContain('".."');
  });

  it.each(['/etc', 'C:/x', 'c:x', 'a\\b', 'a\0b'])('rejects an absolute or odd path %p', (p) => {
    const e = configError(() => parse(`apps:\n  - name: a\n    path: ${JSON.stringify(p)}\n`));
    expect(e.path).toBe('apps[0].path');
    expect(e.message).toContain('relative to the repository root');
  });

  it('rejects an invalid cluster, namespace and branch', () => {
    expect(configError(() => parse('apps:\n  - {name: a, path: a, cluster: Prod}\n')).path).toBe('apps[0].cluster');
    expect(configError(() => parse('apps:\n  - {name: a, path: a, namespace: "my_ns"}\n')).path).toBe('apps[0].namespace');
    expect(configError(() => parse('apps:\n  - {name: a, path: a, branch: "a b"}\n')).path).toBe('apps[0].branch');
    expect(configError(() => parse('apps:\n  - {name: a, path: a, branch: "a..b:c"}\n')).path).toBe('apps[0].branch');
  });

  it.each(['5x', '-1', '1m5h', 'soon', ''])('rejects bad wait %p', (w) => {
    const e = configError(() => parse(`apps:\n  - name: a\n    path: a\n    wait: ${JSON.stringify(w)}\n`));
    expect(e.path).toBe('apps[0].wait');
    expect(e.message).toContain('duration');
  });

  it('rejects a negative numeric wait', () => {
    expect(configError(() => parse('apps:\n  - {name: a, path: a, wait: -5}\n')).path).toBe('apps[0].wait');
  });

  it('rejects an app that is not a mapping', () => {
    const e = configError(() => parse('apps:\n  - web\n'));
    expect(e.path).toBe('apps[0]');
    expect(e.message).toContain('expected a mapping, got string "web"');
  });

  it('rejects apps that is not a list', () => {
    // The exact path is pinned in the 'root-level keys' tests below.
    const e = configError(() => parse('apps: {name: a}\n'));
    expect(e.path).toMatch(/apps$/);
    expect(e.message).toContain('apps: expected a list, got a mapping');
  });

  it('rejects an empty apps list', () => {
    const e = configError(() => parse('apps: []\n'));
    expect(e.path).toBe('apps');
    expect(e.message).toContain('no apps');
  });

  it('rejects a config without apps', () => {
    expect(configError(() => parse('apps:\n')).path).toBe('apps');
    expect(configError(() => parse('images: []\n')).path).toBe('apps');
  });

  it('rejects unknown keys in helm settings', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    helm: { chart: x }\n'));
    expect(e.path).toBe('apps[0].helm');
    expect(e.message).toContain('unknown key "chart"');
  });

  it('rejects non-string helm values files with their index', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    helm: { valuesFiles: [a.yaml, 3] }\n'));
    expect(e.path).toBe('apps[0].helm.valuesFiles[1]');
  });

  it('rejects helm values that are not a mapping', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n    helm: { values: [1] }\n'));
    expect(e.path).toBe('apps[0].helm.values');
  });
});

describe('parseRepoConfig: root-level keys have no leading dot (regression)', () => {
  it('names apps that is a mapping as "apps"', () => {
    const e = configError(() => parse('apps: {name: a}\n'));
    expect(e.path).toBe('apps');
    expect(e.message.startsWith('apps: expected a list')).toBe(true);
    expect(e.message).toBe('apps: expected a list, got a mapping');
  });

  it('names apps that is a scalar as "apps"', () => {
    const e = configError(() => parse('apps: web\n'));
    expect(e.path).toBe('apps');
    expect(e.message).toBe('apps: expected a list, got string "web"');
  });

  it.each([
    ['images: {repository: ghcr.io/acme/web}', 'images: expected a list, got a mapping'],
    ['images: ghcr.io/acme/web', 'images: expected a list, got string "ghcr.io/acme/web"'],
  ])('names images that is not a list as "images" (%p)', (images, message) => {
    const e = configError(() => parse(`apps: [{name: a, path: a}]\n${images}\n`));
    expect(e.path).toBe('images');
    expect(e.message).toBe(message);
  });

  it('validateRepoConfig reports the same paths on parsed values', () => {
    expect(configError(() => validateRepoConfig({ apps: { name: 'a' } }, 'main')).path).toBe('apps');
    expect(configError(() => validateRepoConfig({ apps: [{ name: 'a', path: 'a' }], images: 'x' }, 'main')).path).toBe('images');
  });
});

describe('parseRepoConfig: image rules', () => {
  const base = 'apps:\n  - {name: web, path: web}\nimages:\n  - repository: ghcr.io/acme/web\n';

  it.each([
    ['none', 'policy: {}'],
    ['two', 'policy: { semver: "1", digest: latest }'],
    ['all three', 'policy: { semver: "1", regex: "x", digest: latest }'],
  ])('requires exactly one of semver/regex/digest (%s)', (_label, policy) => {
    const e = configError(() => parse(`${base}    ${policy}\n`));
    expect(e.path).toBe('images[0].policy');
    expect(e.message).toContain('exactly one of semver, regex or digest');
  });

  it('rejects a missing policy', () => {
    const e = configError(() => parse(base));
    expect(e.path).toBe('images[0].policy');
    expect(e.message).toContain('expected a mapping');
  });

  it('rejects an invalid regex', () => {
    const e = configError(() => parse(`${base}    policy: { regex: "^(unclosed" }\n`));
    expect(e.path).toBe('images[0].policy.regex');
    expect(e.message).toContain('not a valid regular expression');
  });

  it('rejects an invalid order', () => {
    const e = configError(() => parse(`${base}    policy: { regex: "x", order: random }\n`));
    expect(e.path).toBe('images[0].policy.order');
  });

  it('rejects images.apps naming an unknown app', () => {
    const e = configError(() => parse(`${base}    policy: { semver: "1" }\n    apps: [web, ghost]\n`));
    expect(e.path).toBe('images[0].apps[1]');
    expect(e.message).toContain('no app named "ghost"');
  });

  it('rejects an invalid repository', () => {
    const e = configError(() => parse('apps:\n  - {name: web, path: web}\nimages:\n  - repository: "GHCR.io/Acme"\n    policy: { digest: x }\n'));
    expect(e.path).toBe('images[0].repository');
  });

  it('rejects unknown keys in pullRequest', () => {
    const e = configError(() => parse(`${base}    policy: { semver: "1" }\n    pullRequest: { reviewers: [me] }\n`));
    expect(e.path).toBe('images[0].pullRequest');
    expect(e.message).toContain('unknown key "reviewers"');
  });

  it('rejects a non-boolean automerge', () => {
    const e = configError(() => parse(`${base}    policy: { semver: "1" }\n    pullRequest: { automerge: "true" }\n`));
    expect(e.path).toBe('images[0].pullRequest.automerge');
  });
});

describe('parseRepoConfig: document-level errors', () => {
  it('turns invalid YAML into a ConfigError mentioning the line', () => {
    const e = configError(() => parse('apps:\n  - name: a\n    path: a\n  bad: [unclosed\n'));
    expect(e.message).toMatch(/invalid YAML/);
    expect(e.message).toMatch(/\(line \d+\)/);
    expect(e.path).toBe('');
  });

  it('reports the right line for a tab-indentation error on line 3', () => {
    const e = configError(() => parse('apps:\n  - name: a\n\tpath: a\n'));
    expect(e.message).toContain('(line 3)');
  });

  it.each([
    ['a list', '- a\n- b\n', 'got a list'],
    ['a string', 'just text\n', 'got string "just text"'],
    ['a number', '42\n', 'got number 42'],
  ])('rejects a non-mapping root (%s)', (_label, text, got) => {
    const e = configError(() => parse(text));
    expect(e.path).toBe('');
    expect(e.message).toContain('expected a mapping');
    expect(e.message).toContain(got);
  });

  it('rejects an empty file', () => {
    const e = configError(() => parse(''));
    expect(e.message).toContain('found 0');
    expect(configError(() => parse('# only a comment\n')).message).toContain('found 0');
  });

  it('rejects more than one document', () => {
    const e = configError(() => parse('apps: [{name: a, path: a}]\n---\napps: [{name: b, path: b}]\n'));
    expect(e.message).toContain('exactly one YAML document, found 2');
  });

  it('accepts a leading --- marker', () => {
    expect(parse('---\napps: [{name: a, path: a}]\n').apps).toHaveLength(1);
  });
});

describe('safeRelativePath', () => {
  it('normalises', () => {
    expect(safeRelativePath('a/./b//c/', 'k')).toBe('a/b/c');
    expect(safeRelativePath('', 'k')).toBe('.');
  });

  it('allows dots inside names', () => {
    expect(safeRelativePath('a/..b/c..', 'k')).toBe('a/..b/c..');
  });

  it('names the key path in errors', () => {
    const e = configError(() => safeRelativePath('/abs', 'apps[3].path'));
    expect(e.path).toBe('apps[3].path');
    expect(e.message.startsWith('apps[3].path: ')).toBe(true);
  });
});
