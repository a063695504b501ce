import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { REPO_CONFIG_SCHEMA_FILE, repoConfigJsonSchema } from '../../../src/config/repo-config.js';

const file = path.resolve(REPO_CONFIG_SCHEMA_FILE);
const generated = `${JSON.stringify(repoConfigJsonSchema(), null, 2)}\n`;

describe('the published JSON Schema of .github/mergeops.yml', () => {
  it('is the one generated from the config schema (npm run schema rewrites it)', () => {
    if (process.env['MERGEOPS_UPDATE_SCHEMA'] === '1') fs.writeFileSync(file, generated);
    expect(fs.readFileSync(file, 'utf8')).toBe(generated);
  });

  it('describes every key the app accepts, and no others', () => {
    const s = repoConfigJsonSchema() as { additionalProperties: boolean; properties: { apps: { anyOf: { items?: { properties: Record<string, unknown>; required: string[]; additionalProperties: boolean } }[] } } };
    expect(s.additionalProperties).toBe(false);
    const app = s.properties.apps.anyOf.find((a) => a.items)?.items;
    expect(Object.keys(app?.properties ?? {}).sort()).toEqual(['adopt', 'branch', 'cluster', 'conflicts', 'createNamespace', 'environments', 'failOn', 'force', 'helm', 'name', 'namespace', 'path', 'previewEnvironment', 'prune', 'pruneEmpty', 'release', 'restartOnConfigChange', 'review', 'selfHeal', 'url', 'wait'].sort());
    expect(app?.required.sort()).toEqual(['name', 'path']);
    expect(app?.additionalProperties).toBe(false);
  });

  it('describes the environments, approval: and promote: included', () => {
    const s = repoConfigJsonSchema() as { properties: { environments: { anyOf: { items?: { properties: Record<string, { description?: string }>; required: string[] } }[] } } };
    const env = s.properties.environments.anyOf.find((a) => a.items)?.items;
    expect(Object.keys(env?.properties ?? {}).sort()).toEqual(['after', 'approval', 'cluster', 'name', 'previewCheck', 'promote', 'soak']);
    expect(env?.required.sort()).toEqual(['cluster', 'name']);
    expect(env?.properties['approval']?.description).toMatch(/^Hold this environment/);
    expect(env?.properties['promote']?.description).toMatch(/^pr: this environment is not applied by the merge/);
  });

  it("covers the organisation's defaults file too: _extends, and appDefaults with every app key but name, path, adopt, release and environments", () => {
    const s = repoConfigJsonSchema() as { properties: Record<string, { anyOf?: { properties?: Record<string, unknown>; required?: string[] }[] }> };
    expect(Object.keys(s.properties).sort()).toEqual(['_extends', 'appDefaults', 'apps', 'dashboard', 'environments', 'images', 'version']);
    const defaults = s.properties['appDefaults']?.anyOf?.find((a) => a.properties);
    expect(Object.keys(defaults?.properties ?? {}).sort()).toEqual(['branch', 'cluster', 'conflicts', 'createNamespace', 'failOn', 'force', 'helm', 'namespace', 'previewEnvironment', 'prune', 'pruneEmpty', 'restartOnConfigChange', 'review', 'selfHeal', 'wait'].sort());
    expect(defaults?.required ?? []).toEqual([]);
  });
});
