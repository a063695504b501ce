import { describe, expect, it } from '@jest/globals';
import type { ImagePolicy } from '../../../src/config/repo-config.js';
import { pickTag } from '../../../src/images/policy.js';
import { normaliseRepository, parseImageRef, sameRepository } from '../../../src/images/reference.js';

const semverP = (range: string, prerelease = false): ImagePolicy => ({ kind: 'semver', range, prerelease });
const regexP = (pattern: string, order: 'numeric' | 'alphabetical'): ImagePolicy => ({ kind: 'regex', pattern, order });

describe('pickTag', () => {
  const tags = ['1.2.0', '1.2.9', '1.3.0', '1.4.0-rc.1', '2.0.0', 'latest', 'v1.3.5'];
  it.each<[string, ImagePolicy, string[], string | undefined, string | null]>([
    ['caret range picks highest in major', semverP('^1.2.0'), tags, '1.2.0', 'v1.3.5'],
    ['tilde range stays in minor', semverP('~1.2.0'), tags, '1.2.0', '1.2.9'],
    ['open range takes the next major', semverP('>=1.0.0'), tags, '1.2.0', '2.0.0'],
    ['pre-releases excluded by default', semverP('>=1.4.0-rc.0 <2.0.0'), tags, '1.3.0', null],
    ['pre-releases included when allowed', semverP('>=1.4.0-rc.0 <2.0.0', true), tags, '1.3.0', '1.4.0-rc.1'],
    ['pre-release beats its base when allowed', semverP('^1.3.0', true), tags, 'v1.3.5', '1.4.0-rc.1'],
    ['v prefix on current', semverP('^1.0.0'), ['v1.0.0', 'v1.1.0'], 'v1.0.0', 'v1.1.0'],
    ['same version, keeps the current spelling', semverP('^1.0.0'), ['1.1.0', 'v1.1.0'], 'v1.0.0', 'v1.1.0'],
    ['same version, plain spelling', semverP('^1.0.0'), ['v1.1.0', '1.1.0'], '1.0.0', '1.1.0'],
    ['already current', semverP('^1.2.0'), tags, 'v1.3.5', null],
    ['already current, other spelling', semverP('^1.0.0'), ['1.1.0'], 'v1.1.0', null],
    ['never downgrade out of the range', semverP('^1.0.0'), tags, '2.0.0', null],
    ['unplaceable current is replaced', semverP('^1.0.0'), tags, 'latest', 'v1.3.5'],
    ['no current', semverP('^2.0.0'), tags, undefined, '2.0.0'],
    ['nothing in range', semverP('^3.0.0'), tags, '2.0.0', null],
    ['numeric: main-10 after main-9', regexP('main-(?<n>\\d+)', 'numeric'), ['main-9', 'main-10', 'dev-99'], 'main-8', 'main-10'],
    ['alphabetical: main-9 after main-10', regexP('main-(?<n>\\d+)', 'alphabetical'), ['main-9', 'main-10'], undefined, 'main-9'],
    ['numeric, already current', regexP('main-(?<n>\\d+)', 'numeric'), ['main-9', 'main-10'], 'main-10', null],
    ['numeric, never downgrade', regexP('main-(?<n>\\d+)', 'numeric'), ['main-9', 'main-10'], 'main-11', null],
    ['pattern is anchored', regexP('\\d+', 'numeric'), ['12', '99-debug', 'x100'], '11', '12'],
    ['the only named group orders, whatever its name', regexP('main-(?<build>\\d+)', 'numeric'), ['main-9', 'main-10'], 'main-8', 'main-10'],
    ['the n group wins among several', regexP('(?<branch>[a-z]+)-(?<n>\\d+)', 'numeric'), ['main-9', 'dev-10'], 'main-8', 'dev-10'],
    ['no named group orders the whole match', regexP('\\d{8}-[a-f0-9]+', 'alphabetical'), ['20240101-abc', '20240301-0ff', '20240201-fff'], '20240101-abc', '20240301-0ff'],
    ['numeric beyond double precision', regexP('(?<n>\\d+)', 'numeric'), ['90071992547409921', '90071992547409920'], '90071992547409920', '90071992547409921'],
    ['numeric skips non-numeric keys', regexP('b-(?<n>\\w+)', 'numeric'), ['b-x', 'b-2'], undefined, 'b-2'],
    ['digest policy returns its tag', { kind: 'digest', tag: 'stable' }, ['stable', 'latest'], 'stable', 'stable'],
    ['digest policy tag missing', { kind: 'digest', tag: 'stable' }, ['latest'], undefined, null],
  ])('%s', (_name, policy, list, current, want) => {
    expect(pickTag(policy, list, current)).toBe(want);
  });

  it('rejects an invalid semver range', () => {
    expect(() => pickTag(semverP('not a range!!'), ['1.0.0'], undefined)).toThrow(/invalid semver range/);
  });
});

describe('image references', () => {
  it.each<[string, string, string | undefined, string | undefined]>([
    ['nginx:1.27', 'docker.io/library/nginx', '1.27', undefined],
    ['nginx', 'docker.io/library/nginx', undefined, undefined],
    ['bitnami/redis:7', 'docker.io/bitnami/redis', '7', undefined],
    ['index.docker.io/library/nginx', 'docker.io/library/nginx', undefined, undefined],
    ['GHCR.io/acme/app:v1@sha256:abc123', 'ghcr.io/acme/app', 'v1', 'sha256:abc123'],
    ['localhost:5000/app', 'localhost:5000/app', undefined, undefined],
    ['registry.local:5000/team/app:2.0', 'registry.local:5000/team/app', '2.0', undefined],
  ])('%s', (raw, repository, tag, digest) => {
    const ref = parseImageRef(raw);
    expect(ref?.repository).toBe(repository);
    expect(ref?.tag).toBe(tag);
    expect(ref?.digest).toBe(digest);
  });

  it('rejects non-references', () => {
    expect(parseImageRef('Not An Image')).toBeNull();
    expect(parseImageRef('app:bad tag')).toBeNull();
    expect(parseImageRef('')).toBeNull();
  });

  it('compares repositories across spellings', () => {
    expect(sameRepository('nginx', 'docker.io/library/nginx')).toBe(true);
    expect(sameRepository('nginx', 'ghcr.io/library/nginx')).toBe(false);
    expect(normaliseRepository('ghcr.io/acme/app:1.0')).toBe('ghcr.io/acme/app');
  });
});
