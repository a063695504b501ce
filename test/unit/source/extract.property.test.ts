import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { ArchiveTooLargeError, DEFAULT_EXTRACT_LIMITS, extractTarball } from '../../../src/source/extract.js';
import { UnsafePathError, checkSymlinkTarget, entryPath, isInside } from '../../../src/source/paths.js';

/**
 * Property tests: whatever names, link targets and entry orders an archive holds, the
 * extraction either refuses it with UnsafePathError / ArchiveTooLargeError or leaves a
 * tree whose every path — links followed — stays inside the checkout, and nothing outside
 * the checkout appears or changes. The generators favour the hostile pieces (`..`,
 * absolute paths, backslashes, links to links) over random letters.
 */
const EXTRACT_RUNS = 150;
const PATH_RUNS = 2000;

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'sub', 'x.yaml', '..data', '...', 'r', 'z') },
  { weight: 2, arbitrary: fc.constantFrom('..', '.', '') },
  { weight: 1, arbitrary: fc.constantFrom('C:', '\\', 'a\\..', '/', 'etc') },
);
const relName = fc.array(segment, { minLength: 1, maxLength: 5 }).map((s) => s.join('/'));
const name = fc.oneof({ weight: 5, arbitrary: relName }, { weight: 1, arbitrary: relName.map((n) => `/${n}`) });
const linkTarget = fc.oneof(
  { weight: 4, arbitrary: relName },
  { weight: 1, arbitrary: fc.constantFrom('/etc/passwd', '/', '..', '../sibling.txt', '../../..', '.', 'r/..', 'r/../sibling.txt') },
);

type Entry = { kind: 'file'; name: string } | { kind: 'dir'; name: string } | { kind: 'symlink'; name: string; target: string } | { kind: 'hardlink'; name: string; target: string };

const entry: fc.Arbitrary<Entry> = fc.oneof(
  { weight: 3, arbitrary: name.map((n): Entry => ({ kind: 'file', name: n })) },
  { weight: 1, arbitrary: name.map((n): Entry => ({ kind: 'dir', name: n })) },
  { weight: 3, arbitrary: fc.tuple(name, linkTarget).map(([n, t]): Entry => ({ kind: 'symlink', name: n, target: t })) },
  { weight: 1, arbitrary: fc.tuple(name, linkTarget).map(([n, t]): Entry => ({ kind: 'hardlink', name: n, target: t })) },
);

async function tarball(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = (async () => {
    const chunks: Buffer[] = [];
    for await (const c of pack) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  })();
  const add = (header: Parameters<tar.Pack['entry']>[0], content = '') =>
    new Promise<void>((resolve, reject) => pack.entry(header, content, (err) => (err ? reject(err) : resolve())));
  await add({ name: 'top/', type: 'directory' });
  for (const e of entries) {
    // The top folder is stripped; an absolute generated name stays absolute.
    const n = e.name.startsWith('/') ? e.name : `top/${e.name}`;
    if (e.kind === 'file') await add({ name: n, type: 'file', mode: 0o644 }, 'payload');
    else if (e.kind === 'dir') await add({ name: n, type: 'directory', mode: 0o755 });
    else await add({ name: n, type: e.kind === 'symlink' ? 'symlink' : 'link', linkname: e.target });
  }
  pack.finalize();
  return gzipSync(await out);
}

/** Every path below dir, as real paths (links resolved when they resolve at all). */
function realPaths(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const abs = path.join(dir, e.name);
    const real = (() => {
      try {
        return fs.realpathSync(abs);
      } catch {
        return null; // dangling inside: checked lexically below
      }
    })();
    if (real !== null) out.push(real);
    else out.push(path.resolve(path.dirname(abs), fs.readlinkSync(abs)));
    if (e.isDirectory()) out.push(...realPaths(abs));
  }
  return out;
}

describe('tar extraction (property)', () => {
  it(`entryPath: ${PATH_RUNS} generated names either throw UnsafePathError or map inside the root`, () => {
    const root = '/checkout';
    fc.assert(
      fc.property(name, fc.integer({ min: 0, max: 2 }), (n, strip) => {
        let rel: string | null;
        try {
          rel = entryPath(n, strip);
        } catch (err) {
          expect(err).toBeInstanceOf(UnsafePathError);
          return;
        }
        if (rel === null) return;
        expect(rel.split('/')).not.toContain('..');
        expect(path.isAbsolute(rel)).toBe(false);
        expect(isInside(root, path.join(root, rel))).toBe(true);
      }),
      { numRuns: PATH_RUNS },
    );
  });

  it(`checkSymlinkTarget: ${PATH_RUNS} generated links either throw or resolve lexically inside`, () => {
    fc.assert(
      fc.property(relName, linkTarget, (link, target) => {
        const rel = link.split('/').filter((s) => s !== '' && s !== '.' && s !== '..').join('/') || 'l';
        try {
          checkSymlinkTarget(rel, target);
        } catch (err) {
          expect(err).toBeInstanceOf(UnsafePathError);
          return;
        }
        expect(isInside('/checkout', path.posix.resolve('/checkout', path.posix.dirname(rel), target))).toBe(true);
      }),
      { numRuns: PATH_RUNS },
    );
  });

  it(`extractTarball: ${EXTRACT_RUNS} generated archives are refused or stay inside; nothing outside changes`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 8 }), async (entries) => {
        const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-prop-'));
        const root = path.join(parent, 'checkout');
        fs.mkdirSync(root);
        fs.writeFileSync(path.join(parent, 'sibling.txt'), 'untouched');
        try {
          try {
            await extractTarball(Readable.from([await tarball(entries)]), root, DEFAULT_EXTRACT_LIMITS);
          } catch (err) {
            if (!(err instanceof UnsafePathError || err instanceof ArchiveTooLargeError)) throw err;
          }
          // Refused or not, whatever was written before the refusal is inside too.
          const realRoot = fs.realpathSync(root);
          for (const p of realPaths(root)) expect(isInside(realRoot, p)).toBe(true);
          expect(fs.readdirSync(parent).sort()).toEqual(['checkout', 'sibling.txt']);
          expect(fs.readFileSync(path.join(parent, 'sibling.txt'), 'utf8')).toBe('untouched');
        } finally {
          fs.rmSync(parent, { recursive: true, force: true });
        }
      }),
      { numRuns: EXTRACT_RUNS },
    );
  });
});
