import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import yaml from 'js-yaml';
import { editKustomization, editManifests } from '../../../src/images/edit.js';
import { normaliseRepository, parseImageRef, retag, sameRepository } from '../../../src/images/reference.js';

/**
 * Property tests of image references and the minimal manifest edits: references parse to
 * a canonical repository that every spelling shares, retagging keeps the name as written,
 * and an edit changes exactly the image fields of the bumped repository — every other byte,
 * comment and field stays — and is idempotent.
 */
const RUNS = 300;

const component = fc.stringMatching(/^[a-z0-9]{1,6}(?:[._-][a-z0-9]{1,4})?$/);
const registry = fc.constantFrom('', 'ghcr.io/', 'registry.example.com:5000/', 'localhost/', 'docker.io/', 'index.docker.io/', 'GHCR.io/');
const tag = fc.stringMatching(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}$/);
const digest = fc.stringMatching(/^[0-9a-f]{64}$/).map((h) => `sha256:${h}`);
const repoName = fc.tuple(registry, fc.array(component, { minLength: 1, maxLength: 3 })).map(([r, parts]) => `${r}${parts.join('/')}`);
const reference = fc.tuple(repoName, fc.option(tag, { nil: undefined }), fc.option(digest, { nil: undefined })).map(([name, t, d]) => ({
  name,
  tag: t,
  digest: d,
  raw: `${name}${t !== undefined ? `:${t}` : ''}${d !== undefined ? `@${d}` : ''}`,
}));

describe('image references (property)', () => {
  it(`${RUNS} generated references parse, with the tag and digest as written and a canonical repository`, () => {
    fc.assert(
      fc.property(reference, (r) => {
        const ref = parseImageRef(r.raw);
        expect(ref).not.toBeNull();
        expect(ref?.tag).toBe(r.tag);
        expect(ref?.digest).toBe(r.digest?.toString());
        expect(r.raw.slice(0, ref?.nameEnd)).toBe(r.name);
        // Canonical means stable: normalising the canonical form changes nothing.
        expect(normaliseRepository(ref?.repository ?? '')).toBe(ref?.repository);
        expect(sameRepository(r.raw, r.name)).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it(`${RUNS} retags keep the name byte for byte and carry exactly the new tag and digest`, () => {
    fc.assert(
      fc.property(reference, tag, fc.option(digest, { nil: undefined }), (r, newTag, newDigest) => {
        const ref = parseImageRef(r.raw);
        if (!ref) throw new Error('generator made an unparsable reference');
        const out = retag(r.raw, ref, newTag, newDigest);
        expect(out.startsWith(r.name)).toBe(true);
        const again = parseImageRef(out);
        expect(again).toMatchObject({ repository: ref.repository, tag: newTag });
        expect(again?.digest).toBe(newDigest);
      }),
      { numRuns: RUNS },
    );
  });
});

/** A Deployment with the given container images, comments and quoting styles mixed in. */
function manifest(images: { raw: string; quote: '' | '"' | "'" }[], crlf: boolean): string {
  const lines = [
    '# generated for the property test',
    'apiVersion: apps/v1',
    'kind: Deployment',
    'metadata:',
    '  name: web  # keep me',
    'spec:',
    '  template:',
    '    spec:',
    '      containers:',
    ...images.flatMap((img, i) => [`        - name: c${i}`, `          image: ${img.quote}${img.raw}${img.quote}   # container ${i}`, `          args: ["--image=${img.raw}"]`]),
  ];
  return `${lines.join(crlf ? '\r\n' : '\n')}${crlf ? '\r\n' : '\n'}`;
}

type Doc = { spec: { template: { spec: { containers: { image: string; args: string[] }[] } } } };

describe('manifest image edits (property)', () => {
  it(`${RUNS} generated manifests: only the bumped repository's image fields change, everything else is identical, a second edit is a no-op`, () => {
    const image = fc.record({ ref: reference, quote: fc.constantFrom<'' | '"' | "'">('', '"', "'") });
    fc.assert(
      fc.property(fc.array(image, { minLength: 1, maxLength: 5 }), fc.nat(4), tag, fc.option(digest, { nil: undefined }), fc.boolean(), (imgs, pick, newTag, newDigest, crlf) => {
        const target = imgs[pick % imgs.length]?.ref.name as string;
        const before = manifest(imgs.map((i) => ({ raw: i.ref.raw, quote: i.quote })), crlf);
        const update = newDigest ? { repository: target, tag: newTag, digest: newDigest } : { repository: target, tag: newTag };
        const { text, changed } = editManifests(before, update);

        const expected = imgs.map((i) => {
          const ref = parseImageRef(i.ref.raw);
          return ref && sameRepository(ref.repository, target) ? retag(i.ref.raw, ref, newTag, newDigest) : i.ref.raw;
        });
        // Failsafe schema: every scalar a string (an image named `00` is not the number 0).
        const after = yaml.load(text, { schema: yaml.FAILSAFE_SCHEMA }) as Doc;
        const orig = yaml.load(before, { schema: yaml.FAILSAFE_SCHEMA }) as Doc;
        expect(after.spec.template.spec.containers.map((c) => c.image)).toEqual(expected);
        // Text that merely mentions the image (args) is never touched.
        expect(after.spec.template.spec.containers.map((c) => c.args)).toEqual(orig.spec.template.spec.containers.map((c) => c.args));
        expect(changed).toBe(expected.filter((e, i) => e !== imgs[i]?.ref.raw).length);
        // Byte-preserving: only image lines differ, line count and comments are intact.
        const [bl, al] = [before.split('\n'), text.split('\n')];
        expect(al).toHaveLength(bl.length);
        al.forEach((line, i) => {
          if (line !== bl[i]) expect(bl[i]).toMatch(/^ {10}image: /);
        });
        expect(text.match(/# container \d/g)).toHaveLength(imgs.length);
        expect(editManifests(text, update)).toEqual({ text, changed: 0 });
      }),
      { numRuns: RUNS },
    );
  });

  it(`${RUNS} generated kustomizations: the matching images entry gets the tag, others stay, and the edit is idempotent`, () => {
    fc.assert(
      fc.property(fc.uniqueArray(repoName, { minLength: 1, maxLength: 4, selector: normaliseRepository }), fc.nat(3), tag, (names, pick, newTag) => {
        const target = names[pick % names.length] as string;
        const before = `images:\n${names.map((n, i) => `  - name: ${n}   # image ${i}\n    newTag: "old-${i}"\n`).join('')}resources: [deployment.yaml]\n`;
        const { text, changed } = editKustomization(before, { repository: target, tag: newTag });
        // Failsafe schema: every scalar a string, as kustomize reads names and tags.
        const after = yaml.load(text, { schema: yaml.FAILSAFE_SCHEMA }) as { images: { name: string; newTag: string }[]; resources: string[] };
        expect(changed).toBe(1);
        expect(after.images.map((i) => i.newTag)).toEqual(names.map((n, i) => (n === target ? newTag : `old-${i}`)));
        expect(after.images.map((i) => i.name)).toEqual(names);
        expect(after.resources).toEqual(['deployment.yaml']);
        expect(editKustomization(text, { repository: target, tag: newTag })).toEqual({ text, changed: 0 });
      }),
      { numRuns: RUNS },
    );
  });
});
