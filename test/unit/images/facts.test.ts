import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import type { ImageRule } from '../../../src/config/repo-config.js';
import { RegistryFacts, type Announcement } from '../../../src/images/facts.js';
import type { BuildInfo, ImageDatasource } from '../../../src/images/registry/datasource.js';
import { RegistryError } from '../../../src/images/registry/datasource.js';

const D_REAL = `sha256:${'a'.repeat(64)}`;
const D_FORGED = `sha256:${'f'.repeat(64)}`;
const rule = (over: Partial<ImageRule> = {}): ImageRule => ({
  repository: 'registry.local:5000/acme/web',
  policy: { kind: 'semver', range: '^1', prerelease: false },
  pinDigest: false,
  apps: ['web'],
  pullRequest: { labels: [], automerge: false },
  ...over,
});

/** A registry in memory that records what it was asked, so tests can tell verified from trusted. */
class FakeRegistry implements ImageDatasource {
  asked: string[] = [];
  listFails = false;
  constructor(
    private readonly manifests: Record<string, string>,
    /** Tags the tags list shows (a lagging list may miss some manifests). */
    private readonly listed: string[] = Object.keys(manifests),
  ) {}
  async listTags(repository: string): Promise<string[]> {
    this.asked.push(`list ${repository}`);
    if (this.listFails) throw new RegistryError(`${repository}: the registry answered 503`, 503);
    return this.listed;
  }
  async digest(repository: string, tag: string): Promise<string | null> {
    this.asked.push(`head ${repository}:${tag}`);
    return this.manifests[tag] ?? null;
  }
  async buildInfo(): Promise<BuildInfo> {
    return {};
  }
}

const facts = (registry: ImageDatasource, events: Announcement[]): RegistryFacts => new RegistryFacts(registry, { repository: 'registry.local:5000/acme/web', events }, pino({ level: 'silent' }));

describe('RegistryFacts: the registry, not the announcement, decides', () => {
  it('an announced tag the registry does not have is ignored; the newest real one wins', async () => {
    const reg = new FakeRegistry({ '1.0.0': D_REAL, '1.1.0': D_REAL });
    expect(await facts(reg, [{ tag: '1.9.9', source: 'registry notification' }]).target(rule())).toEqual({ tag: '1.1.0' });
    expect(reg.asked).toContain('head registry.local:5000/acme/web:1.9.9');
  });

  it('an announced tag missing from a lagging tags list counts once its manifest answers', async () => {
    const reg = new FakeRegistry({ '1.0.0': D_REAL, '1.2.0': D_REAL }, ['1.0.0']);
    expect(await facts(reg, [{ tag: '1.2.0', source: 'registry notification' }]).target(rule())).toEqual({ tag: '1.2.0' });
  });

  it("a pinned digest is always the registry's, whatever the announcement said", async () => {
    const reg = new FakeRegistry({ '1.2.0': D_REAL });
    expect(await facts(reg, [{ tag: '1.2.0', digest: D_FORGED, source: 'registry notification' }]).target(rule({ pinDigest: true }))).toEqual({ tag: '1.2.0', digest: D_REAL });
    expect(reg.asked).toContain('head registry.local:5000/acme/web:1.2.0');
  });

  it('when the tags list fails, announced tags are used only if the registry serves them; otherwise the failure stands', async () => {
    const reg = new FakeRegistry({ '1.2.0': D_REAL });
    reg.listFails = true;
    expect(await facts(reg, [{ tag: '1.2.0', source: 'GHCR registry_package' }]).target(rule())).toEqual({ tag: '1.2.0' });
    await expect(facts(reg, [{ tag: '1.3.0', source: 'GHCR registry_package' }]).target(rule())).rejects.toThrow(/answered 503/);
  });

  it('announcements for another image are not considered', async () => {
    const reg = new FakeRegistry({ '1.0.0': D_REAL });
    const f = new RegistryFacts(reg, { repository: 'registry.local:5000/acme/other', events: [{ tag: '1.5.0', source: 'x' }] }, pino({ level: 'silent' }));
    expect(await f.target(rule())).toEqual({ tag: '1.0.0' });
    expect(reg.asked).toEqual(['list registry.local:5000/acme/web']);
  });
});
