// Apart from github.ts so that code which must not load nock (the benchmarks' worker
// process) can build repository tarballs too.
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';

/** A gzipped tarball shaped like GitHub's: every entry under `owner-repo-sha/`. */
export type RepoFiles = Record<string, string | { symlink: string }>;

export async function makeTarball(files: RepoFiles, prefix = 'acme-deploys-0000000'): Promise<Buffer> {
  const pack = tar.pack();
  pack.entry({ name: `${prefix}/`, type: 'directory' });
  for (const [name, content] of Object.entries(files)) {
    if (typeof content === 'string') pack.entry({ name: `${prefix}/${name}` }, content);
    else pack.entry({ name: `${prefix}/${name}`, type: 'symlink', linkname: content.symlink });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  const gz = pack.pipe(createGzip());
  for await (const c of gz) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
