import { describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { validateRepoConfig, type App } from '../../../src/config/repo-config.js';
import { affectedApps, changedPaths, normalise, scanInputs, under, type AffectedInput } from '../../../src/engine/affected.js';

function apps(entries: Record<string, unknown>[]): App[] {
  return validateRepoConfig({ apps: entries }, 'main').apps;
}

const three = apps([
  { name: 'web', path: 'apps/web' },
  { name: 'api', path: 'apps/api', namespace: 'shop' },
  { name: 'jobs', path: 'apps/jobs' },
]);

function decide(over: Partial<AffectedInput>) {
  const input: AffectedInput = {
    apps: three,
    baseApps: three,
    changed: { complete: true, paths: [] },
    inputs: new Map(three.map((a) => [a.name, [a.path]])),
    ...over,
  };
  return affectedApps(input);
}
const names = (xs: App[]) => xs.map((a) => a.name);

describe('affectedApps', () => {
  it('a file under one app’s path affects that app only', () => {
    const d = decide({ changed: { complete: true, paths: ['apps/api/deploy.yaml'] } });
    expect(names(d.affected)).toEqual(['api']);
    expect(names(d.unaffected)).toEqual(['web', 'jobs']);
    expect(d.why.get('api')).toBe('apps/api/deploy.yaml changed');
    expect(d.fallback).toBeUndefined();
  });

  it('a path that only shares a prefix with an app’s folder does not affect it', () => {
    expect(names(decide({ changed: { complete: true, paths: ['apps/web-old/x.yaml', 'apps/webx'] } }).affected)).toEqual([]);
  });

  it('a file a render reads outside the app’s folder (a kustomize base) affects every app reading it', () => {
    const inputs = new Map<string, string[]>([
      ['web', ['apps/web', 'bases/common']],
      ['api', ['apps/api', 'bases/common/cm.yaml']],
      ['jobs', ['apps/jobs']],
    ]);
    expect(names(decide({ inputs, changed: { complete: true, paths: ['bases/common/cm.yaml'] } }).affected)).toEqual(['web', 'api']);
  });

  it('a file only the base revision’s render read (deleted by the change) still counts', () => {
    const d = decide({ changed: { complete: true, paths: ['bases/old/cm.yaml'] }, baseInputs: new Map([['jobs', ['apps/jobs', 'bases/old']]]) });
    expect(names(d.affected)).toEqual(['jobs']);
  });

  it('a changed config entry affects that app; an unchanged entry written in another key order does not', () => {
    const head = apps([
      { name: 'web', path: 'apps/web' },
      { name: 'api', path: 'apps/api', namespace: 'shop', prune: false },
      { namespace: undefined, path: 'apps/jobs', name: 'jobs' },
    ]);
    const d = decide({ apps: head, changed: { complete: true, paths: ['.github/mergeops.yml'] } });
    expect(names(d.affected)).toEqual(['api']);
    expect(d.why.get('api')).toBe('its config entry changed');
  });

  it('an app new in the config is affected; a removed one is simply not there to render', () => {
    const head = [...three.slice(0, 2), ...apps([{ name: 'cron', path: 'apps/cron' }])];
    const d = decide({ apps: head, inputs: new Map(head.map((a) => [a.name, [a.path]])) });
    expect(names(d.affected)).toEqual(['cron']);
    expect(d.why.get('cron')).toBe('new in the config');
    expect(names(d.unaffected)).toEqual(['web', 'api']);
  });

  it('an app whose inputs are unknown (its kustomization does not parse) is affected', () => {
    const d = decide({ inputs: new Map([['web', null], ['api', ['apps/api']], ['jobs', ['apps/jobs']]]) });
    expect(names(d.affected)).toEqual(['web']);
  });

  it('an untrusted file list affects every app and says why', () => {
    const d = decide({ changed: { complete: false, reason: 'a force-push' } });
    expect(names(d.affected)).toEqual(['web', 'api', 'jobs']);
    expect(d.fallback).toBe('a force-push');
    expect(d.why.get('jobs')).toBe('a force-push');
  });

  it('an unknown base config affects every app', () => {
    const d = decide({ baseApps: null, changed: { complete: true, paths: [] } });
    expect(names(d.affected)).toHaveLength(3);
    expect(d.fallback).toMatch(/base revision/);
  });

  it('a change at the repository root affects an app whose render reads the root', () => {
    expect(names(decide({ inputs: new Map([['web', ['.']], ['api', ['apps/api']], ['jobs', ['apps/jobs']]]), changed: { complete: true, paths: ['README.md'] } }).affected)).toEqual(['web']);
  });
});

describe('paths', () => {
  it('normalise: GitHub’s form, whatever the scan wrote', () => {
    expect(normalise('./apps/web/')).toBe('apps/web');
    expect(normalise('apps//web/../api')).toBe('apps/api');
    expect(normalise('')).toBe('.');
    expect(under('apps/web/x', 'apps/web')).toBe(true);
    expect(under('apps/webx', 'apps/web')).toBe(false);
  });

  it('changedPaths: a rename contributes its old and new name, once each', () => {
    expect(changedPaths([{ filename: 'a/new.yaml', previous_filename: 'b/old.yaml' }, { filename: 'a/new.yaml' }])).toEqual(['a/new.yaml', 'b/old.yaml']);
  });
});

describe('scanInputs', () => {
  it('lists a kustomize base the app reads, and a base it names that the change deleted', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'affected-'));
    const write = (f: string, text: string) => {
      fs.mkdirSync(path.dirname(path.join(dir, f)), { recursive: true });
      fs.writeFileSync(path.join(dir, f), text);
    };
    write('apps/web/kustomization.yaml', 'resources:\n  - ../../bases/common\n  - ../../bases/gone\n');
    write('bases/common/kustomization.yaml', 'resources: [cm.yaml]\n');
    write('bases/common/cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n');
    write('apps/bad/kustomization.yaml', 'resources: [https://example.com/x]\n');
    const [web, bad] = apps([{ name: 'web', path: 'apps/web' }, { name: 'bad', path: 'apps/bad' }]) as [App, App];
    const inputs = await scanInputs([web, bad], dir);
    expect(inputs.get('web')).toEqual(expect.arrayContaining(['apps/web', 'bases/common', 'bases/common/cm.yaml', 'bases/gone']));
    expect(inputs.get('bad')).toBeNull();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
