import { createGunzip } from 'node:zlib';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Transform } from 'node:stream';
import tar from 'tar-stream';
import { UnsafePathError, checkSymlinkTarget, entryPath, isInside } from './paths.js';
import { UserError } from '../errors.js';

export interface ExtractLimits {
  /** Compressed bytes read from the network. */
  maxArchiveBytes: number;
  /** Bytes written to disk: a small gzip can inflate to a huge tree (tar bomb). */
  maxExtractedBytes: number;
  maxEntries: number;
}

/**
 * Files up to this size are gathered in memory and written with one synchronous call. A
 * monorepo is thousands of small manifests: three thread-pool round trips per file (open,
 * write, close) made a 1,000-file checkout take ~250 ms on tmpfs, inline it takes ~40 ms,
 * and the event loop still gets a turn between entries. (On a disk where creating a file
 * is slow, the create itself dominates either way: see the chart's `worker.tmpMedium`.)
 */
const INLINE_FILE_BYTES = 256 * 1024;

export const DEFAULT_EXTRACT_LIMITS: ExtractLimits = {
  maxArchiveBytes: 100 * 1024 * 1024,
  maxExtractedBytes: 512 * 1024 * 1024,
  maxEntries: 100_000,
};

export class ArchiveTooLargeError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'ArchiveTooLargeError';
  }
}

/**
 * Extracts a gzipped tarball into `root` (which must exist and be empty) and returns the
 * bytes written. Refuses the
 * whole archive on the first unsafe entry rather than skipping it: a repo that contains
 * such an entry is either broken or hostile, and the user must hear about it.
 */
export async function extractTarball(input: Readable, root: string, limits: ExtractLimits, stripComponents = 1): Promise<number> {
  const realRoot = await fs.realpath(root);
  let archiveBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      archiveBytes += chunk.length;
      if (archiveBytes > limits.maxArchiveBytes) {
        cb(new ArchiveTooLargeError(`repository archive is larger than ${mib(limits.maxArchiveBytes)}; raise MERGEOPS_MAX_ARCHIVE_BYTES if this is expected`));
      } else cb(null, chunk);
    },
  });
  const extract = tar.extract();
  let entries = 0;
  let written = 0;
  const symlinks: string[] = [];
  // Folders this extraction made or checked: a folder, never a link. No later entry can
  // turn one into a link (the name is taken), so each is checked once, not per file.
  const folders = new Set<string>([realRoot]);
  // The first real reason the archive was refused. Aborting mid-entry also surfaces a
  // generic "premature close" from the stream plumbing, which must not mask it.
  let fatal: unknown = null;
  /** Counts a chunk about to be written against the unpacked-size cap (a tar bomb stops here). */
  const count = (chunk: Buffer): void => {
    written += chunk.length;
    if (written > limits.maxExtractedBytes) {
      fatal ??= new ArchiveTooLargeError(`repository unpacks to more than ${mib(limits.maxExtractedBytes)} (tar bomb?)`);
      throw fatal;
    }
  };

  extract.on('entry', (header, stream, next) => {
    const done = (err?: unknown): void => {
      if (err) {
        fatal ??= err;
        stream.resume();
        extract.destroy(err as Error);
      } else next();
    };
    (async () => {
      entries++;
      if (entries > limits.maxEntries) throw new ArchiveTooLargeError(`repository archive has more than ${limits.maxEntries} entries`);
      const rel = entryPath(header.name, stripComponents);
      if (rel === null) {
        stream.resume();
        return;
      }
      const target = path.join(realRoot, rel);
      try {
        ensureParent(realRoot, rel, folders);
      } catch (err) {
        throw err instanceof UnsafePathError ? new UnsafePathError(err.message, header.name) : err;
      }
      switch (header.type) {
        case 'directory':
          mkdirNoFollow(target, folders);
          stream.resume();
          return;
        case 'file':
        case 'contiguous-file': {
          if ((header.size ?? 0) <= INLINE_FILE_BYTES) {
            const chunks: Buffer[] = [];
            for await (const chunk of stream as AsyncIterable<Buffer>) {
              count(chunk);
              chunks.push(chunk);
            }
            // 'wx' (O_CREAT | O_EXCL) never follows a link nor overwrites: the same name twice is refused.
            fsSync.writeFileSync(target, Buffer.concat(chunks), { flag: 'wx', mode: 0o644 });
            return;
          }
          const fh = await fs.open(target, 'wx', 0o644);
          try {
            for await (const chunk of stream as AsyncIterable<Buffer>) {
              count(chunk);
              await fh.write(chunk);
            }
          } finally {
            await fh.close();
          }
          return;
        }
        case 'symlink': {
          const linkTarget = header.linkname ?? '';
          checkSymlinkTarget(rel, linkTarget);
          await fs.symlink(linkTarget, target);
          symlinks.push(target);
          stream.resume();
          return;
        }
        default:
          // Git never produces hard links, devices or FIFOs; refusing them closes the
          // classic hard-link-to-/etc trick.
          throw new UnsafePathError(`entry type "${header.type}" is not allowed`, header.name);
      }
    })().then(() => done(), (err: unknown) => done(entryError(err, header.name)));
  });

  try {
    await pipeline(input, counter, createGunzip(), extract);
  } catch (err) {
    await new Promise((r) => setImmediate(r));
    throw fatal ?? err;
  }

  // Lexical checks cannot see through chains (`a -> .`, `b -> a/..`); the real path can.
  for (const link of symlinks) {
    const real = (await fs.realpath(link).catch(() => null)) ?? (await physicalTarget(link));
    if (!isInside(realRoot, real)) {
      throw new UnsafePathError('symlink resolves outside the checkout', path.relative(realRoot, link));
    }
  }
  return written;
}

/**
 * Where a dangling link points, following every existing link on the way as the kernel
 * would (`r -> .` then `r/..` is the checkout's parent, not the checkout).
 */
async function physicalTarget(link: string): Promise<string> {
  let cur = await fs.realpath(path.dirname(link));
  for (const part of (await fs.readlink(link)).split('/')) {
    if (part === '' || part === '.') continue;
    const next = part === '..' ? path.dirname(cur) : path.join(cur, part);
    cur = (await fs.realpath(next).catch(() => null)) ?? next;
  }
  return cur;
}

/** Creates the parent folders of `rel`, refusing to write through any symlink. */
function ensureParent(realRoot: string, rel: string, folders: Set<string>): void {
  const parts = rel.split('/').slice(0, -1);
  let cur = realRoot;
  for (const part of parts) {
    cur = path.join(cur, part);
    mkdirNoFollow(cur, folders);
  }
}

/** Synchronous: a folder is one quick syscall, cheaper inline than a thread-pool round trip. */
function mkdirNoFollow(dir: string, folders: Set<string>): void {
  if (folders.has(dir)) return;
  const st = fsSync.lstatSync(dir, { throwIfNoEntry: false });
  if (st === undefined) fsSync.mkdirSync(dir);
  else if (st.isSymbolicLink()) throw new UnsafePathError('entry would be written through a symlink', dir);
  else if (!st.isDirectory()) throw new UnsafePathError('entry is both a file and a folder', dir);
  folders.add(dir);
}

/**
 * Errors the archive's own shape causes (the same name twice, a file where a folder must
 * be, an empty link target) are the repository's problem, reported like any unsafe entry;
 * anything else (a full disk) stays ours and is retried.
 */
const ENTRY_ERRNO = new Set(['EEXIST', 'ENOENT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP']);

function entryError(err: unknown, entry: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  return code && ENTRY_ERRNO.has(code) ? new UnsafePathError(`entry cannot be extracted (${code})`, entry) : err;
}

function mib(n: number): string {
  return `${Math.round(n / 1024 / 1024)} MiB`;
}
