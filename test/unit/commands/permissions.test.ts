import { describe, expect, it } from '@jest/globals';
import { authorize, permissionOf, requiredPermission } from '../../../src/commands/permissions.js';
import { helpText, whoMay } from '../../../src/commands/help.js';

describe('requiredPermission', () => {
  it('defaults: help needs nothing, everything else write', () => {
    expect(requiredPermission('help', [])).toBe('none');
    for (const c of ['preview', 'deploy', 'lock', 'unlock', 'rollback'] as const) expect(requiredPermission(c, [])).toBe('write');
  });

  it('grants only raise, and the strictest grant wins', () => {
    expect(requiredPermission('rollback', [{ rollback: 'maintain' }])).toBe('maintain');
    expect(requiredPermission('rollback', [{ rollback: 'maintain' }, { rollback: 'admin' }])).toBe('admin');
    expect(requiredPermission('rollback', [{ rollback: 'read' }])).toBe('write');
    expect(requiredPermission('deploy', [{ rollback: 'admin' }])).toBe('write');
  });
});

describe('permissionOf', () => {
  it('reads triage and maintain from the role flags that the legacy field folds away', () => {
    expect(permissionOf({ permission: 'write', role_name: 'maintain', user: { permissions: { admin: false, maintain: true, push: true, triage: true, pull: true } } })).toBe('maintain');
    expect(permissionOf({ permission: 'read', role_name: 'triage', user: { permissions: { admin: false, maintain: false, push: false, triage: true, pull: true } } })).toBe('triage');
    expect(permissionOf({ permission: 'admin', role_name: 'admin' })).toBe('admin');
  });

  it('falls back to the legacy field for custom roles, and to none for anything unknown', () => {
    expect(permissionOf({ permission: 'write', role_name: 'deployer' })).toBe('write');
    expect(permissionOf({ permission: 'weird' })).toBe('none');
    expect(permissionOf({})).toBe('none');
  });
});

describe('authorize', () => {
  const actor = (permission: 'none' | 'read' | 'triage' | 'write' | 'maintain' | 'admin', forkAuthor = false) => ({ login: 'octocat', permission, forkAuthor });

  it('lets a user with enough access run the command and names what is missing otherwise', () => {
    expect(authorize('deploy', 'write', actor('write'))).toEqual({ allowed: true });
    expect(authorize('rollback', 'maintain', actor('write'))).toEqual({ allowed: false, reason: '`rollback` needs maintain access to this repository; @octocat has write access' });
    expect(authorize('preview', 'write', actor('none'))).toEqual({ allowed: false, reason: expect.stringContaining('@octocat has no access') });
  });

  it('anyone may ask for help', () => {
    expect(authorize('help', 'none', actor('none'))).toEqual({ allowed: true });
    expect(authorize('help', 'none', actor('read', true))).toEqual({ allowed: true });
  });

  it('a fork PR author without write runs nothing but help, whatever the required level says', () => {
    expect(authorize('preview', 'read', actor('triage', true))).toEqual({ allowed: false, reason: expect.stringContaining('from a fork without write access') });
    expect(authorize('preview', 'write', actor('write', true))).toEqual({ allowed: true });
  });
});

describe('help text', () => {
  it('lists every command with who may run it, including raised levels per app', () => {
    const apps = new Map([
      ['web', [{ rollback: 'maintain' as const }]],
      ['api', []],
    ]);
    expect(whoMay('rollback', apps)).toBe('write access (maintain for `web`)');
    expect(whoMay('help', apps)).toBe('anyone');
    const text = helpText(apps);
    for (const c of ['help', 'preview [app…]', 'deploy [app…]', 'lock <app [environment]…|all [environment]> [reason]', 'unlock <app [environment]…|all [environment]>', 'rollback <app> [environment] [to <sha>]']) expect(text).toContain(`\`/mergeops ${c}\``);
    expect(text).toContain('from a fork without write access can run only `help`');
    expect(text).toContain('Apps in this repository: `web`, `api`.');
  });

  it('names an unknown command, escaping backticks, and shows the usage of a malformed one', () => {
    expect(helpText(new Map(), { unknown: 'a`b' })).toContain("mergeops has no command `a'b`");
    // The reply puts the one :x: before it.
    expect(helpText(new Map(), { error: 'name the app to roll back', usage: 'rollback' }).startsWith('name the app to roll back\n\nUsage: `/mergeops rollback <app> [environment] [to <sha>]`')).toBe(true);
  });
});

describe('command permissions in MERGEOPS_CLUSTERS grants', () => {
  const load = async (commands: string) => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const { loadClusterTargets } = await import('../../../src/config/clusters.js');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'clusters-'));
    const file = path.join(dir, 'clusters.yaml');
    fs.writeFileSync(file, `clusters:\n  prod:\n    inCluster: true\n    grants:\n      - repos: [acme/*]\n        namespaces: [web]\n        commands: ${commands}\n`);
    try {
      return loadClusterTargets(file).get('prod')?.grants?.[0]?.commands;
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  it('reads raised levels per command', async () => {
    expect(await load('{rollback: maintain, deploy: admin}')).toEqual({ rollback: 'maintain', deploy: 'admin' });
  });

  it('refuses a level below the default, an unknown level and an unknown command, naming the key', async () => {
    await expect(load('{rollback: read}')).rejects.toThrow('MERGEOPS_CLUSTERS.clusters.prod.grants[0].commands.rollback: "read" is below the default (write)');
    await expect(load('{rollback: owner}')).rejects.toThrow('commands.rollback: expected one of none, read, triage, write, maintain, admin');
    await expect(load('{destroy: admin}')).rejects.toThrow('unknown key "destroy"');
  });
});
