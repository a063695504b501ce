import { describe, expect, it } from '@jest/globals';
import { editHelmValues, editKustomization, editManifests } from '../../../src/images/edit.js';

/**
 * Asserts `after` is `before` with exactly the listed substitutions, in order, each at a
 * place where `before` had `from`: everything between them is byte-identical.
 */
function expectOnly(before: string, after: string, subs: [from: string, to: string][]): void {
  let i = 0;
  let j = 0;
  for (const [from, to] of subs) {
    const at = before.indexOf(from, i);
    expect(at).toBeGreaterThanOrEqual(0);
    const gap = at - i;
    expect(after.slice(j, j + gap)).toBe(before.slice(i, at)); // identical up to the span
    expect(after.slice(j + gap, j + gap + to.length)).toBe(to);
    i = at + from.length;
    j += gap + to.length;
  }
  expect(after.slice(j)).toBe(before.slice(i)); // identical suffix
  expect(after.length - before.length).toBe(subs.reduce((n, [f, t]) => n + t.length - f.length, 0));
}

/** The one differing span between two strings: common prefix and suffix stripped. */
function diffSpan(a: string, b: string): { removed: string; added: string } {
  let p = 0;
  while (p < a.length && a[p] === b[p]) p++;
  let s = 0;
  while (s < a.length - p && s < b.length - p && a[a.length - 1 - s] === b[b.length - 1 - s]) s++;
  return { removed: a.slice(p, a.length - s), added: b.slice(p, b.length - s) };
}

const KUSTOMIZATION = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml   # the app
images:
  # the web front end
  - name: ghcr.io/acme/web
    newTag: "1.4.2"   # bumped by mergeops
  -   name: nginx
      newTag: 1.25.3
  - name: redis        # no tag yet
  - name: app
    newName: ghcr.io/acme/api
    newTag: 'v2.0.0'
    digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
labels:
  - pairs: {team: web}
`;

describe('editKustomization', () => {
  it('changes only the quoted tag of the matching entry', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/web', tag: '1.5.0' });
    expect(out.changed).toBe(1);
    expect(diffSpan(KUSTOMIZATION, out.text)).toEqual({ removed: '4.2', added: '5.0' });
    expectOnly(KUSTOMIZATION, out.text, [['"1.4.2"', '"1.5.0"']]);
  });

  it('matches Docker Hub short names and keeps odd indentation', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'docker.io/library/nginx', tag: '1.27.0' });
    expect(out.changed).toBe(1);
    expectOnly(KUSTOMIZATION, out.text, [['newTag: 1.25.3', 'newTag: 1.27.0']]);
  });

  it('adds a missing newTag under the name, at its indentation', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'redis', tag: '7.4.1' });
    expect(out.changed).toBe(1);
    expectOnly(KUSTOMIZATION, out.text, [['# no tag yet\n', '# no tag yet\n    newTag: 7.4.1\n']]);
  });

  it('quotes an added tag YAML would read as a number', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'redis', tag: '7.10' });
    expect(out.text).toContain('    newTag: "7.10"\n');
  });

  it('matches on newName and replaces the digest when pinning', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const out = editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/api', tag: 'v2.1.0', digest });
    expect(out.changed).toBe(1);
    expectOnly(KUSTOMIZATION, out.text, [
      ["'v2.0.0'", "'v2.1.0'"],
      [`sha256:${'0'.repeat(64)}`, digest],
    ]);
  });

  it('drops a stale digest when bumping without one', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/api', tag: 'v2.1.0' });
    expect(out.text).not.toContain('digest:');
    expect(out.text).toContain("newTag: 'v2.1.0'\nlabels:");
  });

  it('adds a digest after the tag when pinning for the first time', () => {
    const out = editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/web', tag: '1.4.2', digest: 'sha256:abc' });
    expect(out.changed).toBe(1);
    expectOnly(KUSTOMIZATION, out.text, [['# bumped by mergeops\n', '# bumped by mergeops\n    digest: sha256:abc\n']]);
  });

  it('leaves the file alone for an unknown image or a tag already current', () => {
    expect(editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/other', tag: '9' })).toEqual({ text: KUSTOMIZATION, changed: 0 });
    expect(editKustomization(KUSTOMIZATION, { repository: 'ghcr.io/acme/web', tag: '1.4.2' })).toEqual({ text: KUSTOMIZATION, changed: 0 });
  });

  it('keeps CRLF line endings, also on added lines', () => {
    const crlf = KUSTOMIZATION.replace(/\n/g, '\r\n');
    const bumped = editKustomization(crlf, { repository: 'nginx', tag: '1.27.0' });
    expectOnly(crlf, bumped.text, [['1.25.3', '1.27.0']]);
    const added = editKustomization(crlf, { repository: 'redis', tag: '8.0.0' });
    expectOnly(crlf, added.text, [['# no tag yet\r\n', '# no tag yet\r\n    newTag: 8.0.0\r\n']]);
    expect(added.text.replace(/\r\n/g, '')).not.toContain('\n');
  });
});

const VALUES = `# Default values for shop.
replicaCount: 2

image:
  # where the app comes from
  repository: ghcr.io/acme/shop
  pullPolicy: IfNotPresent
  tag: "1.8.0"    # overrides appVersion

config: |
  image:
    repository: ghcr.io/acme/shop
    tag: 0.0.1

worker:
  image:
    repository: docker.io/bitnami/redis
    tag: 7.2.4
`;

describe('editHelmValues', () => {
  it('updates the quoted tag next to a matching repository, comments kept', () => {
    const out = editHelmValues(VALUES, { repository: 'ghcr.io/acme/shop', tag: '1.10.0' });
    expect(out.changed).toBe(1);
    expect(diffSpan(VALUES, out.text)).toEqual({ removed: '8', added: '10' });
    expectOnly(VALUES, out.text, [['"1.8.0"', '"1.10.0"']]);
  });

  it('follows a configured key path into a nested block', () => {
    const keys = { repository: 'worker.image.repository', tag: 'worker.image.tag' };
    const out = editHelmValues(VALUES, { repository: 'bitnami/redis', tag: '7.4.0' }, keys);
    expect(out.changed).toBe(1);
    expectOnly(VALUES, out.text, [['tag: 7.2.4', 'tag: 7.4.0']]);
  });

  it('adds quotes to an unquoted tag only when YAML would read it as a number', () => {
    const keys = { repository: 'worker.image.repository', tag: 'worker.image.tag' };
    const out = editHelmValues(VALUES, { repository: 'bitnami/redis', tag: '7.10' }, keys);
    expectOnly(VALUES, out.text, [['tag: 7.2.4', 'tag: "7.10"']]);
  });

  it('does not touch another repository or text inside a block scalar', () => {
    expect(editHelmValues(VALUES, { repository: 'ghcr.io/acme/other', tag: '2.0.0' })).toEqual({ text: VALUES, changed: 0 });
    const keys = { repository: 'config.image.repository', tag: 'config.image.tag' };
    expect(editHelmValues(VALUES, { repository: 'ghcr.io/acme/shop', tag: '2.0.0' }, keys).changed).toBe(0);
  });
});

const MANIFESTS = `# shop workloads
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
spec:
  template:
    spec:
      initContainers:
      - name: migrate
        image: "ghcr.io/acme/shop:1.8.0"   # same image, runs migrations
        args: ["migrate"]
      containers:
        - name: shop
          image: ghcr.io/acme/shop:1.8.0
          env:
            - name: SIDECAR_IMAGE
              value: ghcr.io/acme/shop:1.8.0
        - name: proxy
          image: 'nginx:1.25'
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: ghcr.io/acme/shop:1.8.0@sha256:${'1'.repeat(64)}
            name: report
          - {name: inline, image: ghcr.io/acme/shop:1.8.0}
...
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  compose.yaml: |
    services:
      shop:
        image: ghcr.io/acme/shop:1.8.0
`;

describe('editManifests', () => {
  it('rewrites every image field of the repository and nothing else', () => {
    const out = editManifests(MANIFESTS, { repository: 'ghcr.io/acme/shop', tag: '1.9.0' });
    expect(out.changed).toBe(3);
    expectOnly(MANIFESTS, out.text, [
      ['"ghcr.io/acme/shop:1.8.0"', '"ghcr.io/acme/shop:1.9.0"'],
      ['image: ghcr.io/acme/shop:1.8.0', 'image: ghcr.io/acme/shop:1.9.0'],
      // the digest pinned the old image, so it goes with the bump
      [`image: ghcr.io/acme/shop:1.8.0@sha256:${'1'.repeat(64)}`, 'image: ghcr.io/acme/shop:1.9.0'],
    ]);
    // env values, flow mappings and text inside block scalars are left as they were
    expect(out.text).toContain('value: ghcr.io/acme/shop:1.8.0');
    expect(out.text).toContain('{name: inline, image: ghcr.io/acme/shop:1.8.0}');
    expect(out.text).toContain('        image: ghcr.io/acme/shop:1.8.0\n');
  });

  it('pins a digest when given', () => {
    const digest = `sha256:${'f'.repeat(64)}`;
    const out = editManifests(MANIFESTS, { repository: 'ghcr.io/acme/shop', tag: '1.9.0', digest });
    expect(out.text).toContain(`image: ghcr.io/acme/shop:1.9.0@${digest}\n            name: report`);
    expect(out.text).toContain(`image: "ghcr.io/acme/shop:1.9.0@${digest}"   # same image`);
  });

  it('matches a Docker Hub short name in single quotes', () => {
    const out = editManifests(MANIFESTS, { repository: 'docker.io/library/nginx', tag: '1.27' });
    expect(out.changed).toBe(1);
    expectOnly(MANIFESTS, out.text, [["'nginx:1.25'", "'nginx:1.27'"]]);
  });

  it('adds a tag to an untagged image and keeps CRLF', () => {
    const text = 'containers:\r\n- name: a\r\n  image: nginx # latest\r\n- name: b\r\n  image: nginxinc/nginx-unprivileged:1.25\r\n';
    const out = editManifests(text, { repository: 'nginx', tag: '1.27' });
    expect(out.changed).toBe(1);
    expectOnly(text, out.text, [['image: nginx #', 'image: nginx:1.27 #']]);
  });

  it('returns the input unchanged when nothing matches or all are current', () => {
    expect(editManifests(MANIFESTS, { repository: 'ghcr.io/acme/nope', tag: '1' })).toEqual({ text: MANIFESTS, changed: 0 });
    const once = editManifests(MANIFESTS, { repository: 'nginx', tag: '1.27' }).text;
    expect(editManifests(once, { repository: 'nginx', tag: '1.27' })).toEqual({ text: once, changed: 0 });
  });
});

describe('values it cannot read safely', () => {
  it('leaves aliased or escaped tags alone', () => {
    const text = 'images:\n- name: nginx\n  newTag: *tag\nimage:\n  repository: nginx\n  tag: "1.2\\u0033"\n';
    expect(editKustomization(text, { repository: 'nginx', tag: '1.27' })).toEqual({ text, changed: 0 });
    expect(editHelmValues(text, { repository: 'nginx', tag: '1.27' })).toEqual({ text, changed: 0 });
  });
});
