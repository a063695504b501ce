import { describe, expect, it } from '@jest/globals';
import type { ImageRule } from '../../../src/config/repo-config.js';
import { planBump, type ImageFile } from '../../../src/images/plan.js';
import { bumpBody, bumpBranch, bumpTitle, compareLink, githubRepoOf } from '../../../src/report/bump.js';

const rule = (over: Partial<ImageRule> = {}): ImageRule => ({
  repository: 'ghcr.io/acme/web',
  policy: { kind: 'semver', range: '>=1.0.0 <2', prerelease: false },
  pinDigest: false,
  apps: ['web'],
  pullRequest: { labels: [], automerge: false },
  ...over,
});
const D1 = `sha256:${'1'.repeat(64)}`;
const D2 = `sha256:${'2'.repeat(64)}`;

const kustomization = `images:
  - name: ghcr.io/acme/web
    newTag: "1.2.0" # bumped by mergeops
`;
const manifests = (tag: string): string => `apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      containers:
        - name: web
          image: ghcr.io/acme/web:${tag}
`;

describe('planBump', () => {
  it('edits only files whose uses are older, keeping everything else', () => {
    const files: ImageFile[] = [
      { path: 'apps/web/kustomization.yaml', kind: 'kustomization', text: kustomization },
      { path: 'apps/web/other.yaml', kind: 'manifests', text: manifests('1.3.0') },
    ];
    const plan = planBump([{ rule: rule(), target: { tag: '1.3.0' }, files }]);
    expect(plan.files).toEqual([{ path: 'apps/web/kustomization.yaml', text: kustomization.replace('"1.2.0"', '"1.3.0"'), fields: 1 }]);
    expect(plan.changes).toEqual([{ repository: 'ghcr.io/acme/web', from: ['1.2.0'], to: '1.3.0', policy: 'semver >=1.0.0 <2' }]);
  });

  it('never downgrades a file that is ahead, and opens nothing when all are current', () => {
    const ahead = [{ path: 'a.yaml', kind: 'manifests' as const, text: manifests('1.9.0') }];
    expect(planBump([{ rule: rule(), target: { tag: '1.3.0' }, files: ahead }]).files).toEqual([]);
    const mixed = [{ path: 'a.yaml', kind: 'manifests' as const, text: manifests('1.1.0') + '---\n' + manifests('1.9.0') }];
    expect(planBump([{ rule: rule(), target: { tag: '1.3.0' }, files: mixed }]).files).toEqual([]);
    const current = [{ path: 'a.yaml', kind: 'manifests' as const, text: manifests('1.3.0') }];
    expect(planBump([{ rule: rule(), target: { tag: '1.3.0' }, files: current }])).toEqual({ changes: [], files: [] });
  });

  it('re-pins a moved digest under a digest policy and leaves other tags alone', () => {
    const r = rule({ policy: { kind: 'digest', tag: 'stable' } });
    const files = [
      { path: 'a.yaml', kind: 'manifests' as const, text: manifests(`stable@${D1}`) },
      { path: 'b.yaml', kind: 'manifests' as const, text: manifests('1.0.0') },
    ];
    const plan = planBump([{ rule: r, target: { tag: 'stable', digest: D2 }, files }]);
    expect(plan.files.map((f) => f.path)).toEqual(['a.yaml']);
    expect(plan.files[0]?.text).toContain(`image: ghcr.io/acme/web:stable@${D2}`);
    expect(plan.changes[0]).toMatchObject({ from: [`stable@${D1}`], to: `stable@${D2}` });
    expect(planBump([{ rule: r, target: { tag: 'stable', digest: D1 }, files }]).files).toEqual([]);
  });

  it('pins a digest with pinDigest even when the tag is unchanged', () => {
    const plan = planBump([{ rule: rule({ pinDigest: true }), target: { tag: '1.3.0', digest: D2 }, files: [{ path: 'a.yaml', kind: 'manifests', text: manifests('1.3.0') }] }]);
    expect(plan.files[0]?.text).toContain(`ghcr.io/acme/web:1.3.0@${D2}`);
  });

  it('applies a group of rules to one file in turn', () => {
    const text = manifests('1.2.0') + '        - name: side\n          image: ghcr.io/acme/side:1.0.0\n';
    const side = rule({ repository: 'ghcr.io/acme/side', pullRequest: { labels: [], group: 'web', automerge: false } });
    const files = [{ path: 'a.yaml', kind: 'manifests' as const, text }];
    const plan = planBump([
      { rule: rule({ pullRequest: { labels: [], group: 'web', automerge: false } }), target: { tag: '1.3.0' }, files },
      { rule: side, target: { tag: '1.1.0' }, files },
    ]);
    expect(plan.files).toHaveLength(1);
    expect(plan.files[0]?.text).toBe(text.replace('web:1.2.0', 'web:1.3.0').replace('side:1.0.0', 'side:1.1.0'));
    expect(plan.files[0]?.fields).toBe(2);
    expect(bumpTitle(plan, 'web')).toBe('Bump web: web to 1.3.0, side to 1.1.0');
  });
});

describe('bump PR text', () => {
  it('names one branch per group or image, safe as a git ref', () => {
    expect(bumpBranch('guestbook', 'main', 'main')).toBe('mergeops/bump/guestbook');
    expect(bumpBranch('ghcr.io/acme/web', 'main', 'main')).toBe('mergeops/bump/ghcr.io-acme-web');
    expect(bumpBranch('127.0.0.1:5000/acme/web', 'release/1.x', 'main')).toBe('mergeops/bump/127.0.0.1-5000-acme-web-into-release-1.x');
  });

  it('titles and describes the change with files and build info', () => {
    const plan = { changes: [{ repository: 'ghcr.io/acme/web', from: ['1.2.0'], to: '1.3.0', policy: 'semver >=1 <2' }], files: [{ path: 'apps/web/kustomization.yaml', text: '', fields: 1 }] };
    expect(bumpTitle(plan, 'ghcr.io/acme/web')).toBe('Bump ghcr.io/acme/web from 1.2.0 to 1.3.0');
    const body = bumpBody(plan, new Map([['ghcr.io/acme/web', { digest: D1, revision: 'abc123' }]]), ['registry notification', 'registry notification']);
    expect(body).toContain('| `ghcr.io/acme/web` | `1.2.0` | `1.3.0` | semver >=1 <2 |');
    expect(body).toContain(`digest \`${D1}\``);
    expect(body).toContain('revision `abc123`');
    expect(body).toContain('- `apps/web/kustomization.yaml` (1 field)');
    expect(body.match(/registry notification/g)).toHaveLength(1);
  });
});

describe('bump PR body: compare link and declining', () => {
  const plan = { changes: [{ repository: 'ghcr.io/acme/web', from: ['1.2.0'], to: '1.3.0', policy: 'semver >=1 <2' }], files: [{ path: 'apps/web/kustomization.yaml', text: '', fields: 1 }] };
  const OLD = '1111111111111111111111111111111111111111';
  const NEW = '2222222222222222222222222222222222222222';

  it.each([
    ['https://github.com/acme/web', 'acme/web'],
    ['https://github.com/acme/web.git', 'acme/web'],
    ['git@github.com:acme/web.git', 'acme/web'],
    ['https://github.com/acme/web/tree/main/app', 'acme/web'],
    ['https://gitlab.com/acme/web', null],
    ['https://github.com.evil.example/acme/web', null],
    [undefined, null],
  ])('reads %s as a GitHub repository: %s', (source, repo) => {
    expect(githubRepoOf(source)).toBe(repo);
  });

  it('links the exact commit range when both builds name their revision', () => {
    const body = bumpBody(plan, new Map([['ghcr.io/acme/web', { source: 'https://github.com/acme/web', revision: NEW }]]), [], new Map([['ghcr.io/acme/web', { revision: OLD }]]));
    expect(body).toContain(`  - Changes: [acme/web@1111111...2222222](https://github.com/acme/web/compare/${OLD}...${NEW}) (the commits between the two builds)`);
  });

  it('falls back to the new commit, then to the tags, and has no link for other hosts', () => {
    expect(compareLink('https://github.com/acme/web', {}, { revision: NEW }, '1.2.0', '1.3.0')).toContain(`https://github.com/acme/web/commit/${NEW}`);
    expect(compareLink('https://github.com/acme/web', {}, {}, '1.2.0', '1.3.0')).toBe('[acme/web: 1.2.0...1.3.0](https://github.com/acme/web/compare/1.2.0...1.3.0) (by tag: neither build names its revision)');
    expect(compareLink('https://gitlab.com/acme/web', { revision: OLD }, { revision: NEW }, '1.2.0', '1.3.0')).toBeNull();
    expect(bumpBody(plan, new Map([['ghcr.io/acme/web', { source: 'https://gitlab.com/acme/web' }]]), [])).not.toContain('Changes:');
  });

  it('says that closing the pull request declines this version', () => {
    expect(bumpBody(plan, new Map(), [])).toContain('**Closing this pull request without merging declines `1.3.0`:** mergeops will not open it again; a newer build the policy allows opens a new one.');
  });
});
