import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import tar from 'tar-stream';
import type { Cluster } from '../../../src/cluster/connect.js';
import { deliver, sign } from '../../support/github.js';
import { REPO, prPayload, sha, startHarness, type FaultReply, type Harness } from '../../support/harness.js';
import { namespace, testCluster, uniqueName } from '../../support/kube.js';
import { startFaultProxy, type FaultProxy } from '../../support/fault-proxy.js';

const MiB = 1024 * 1024;
/**
 * Half and a quarter of the defaults (100 MiB download, 512 MiB unpacked): the same code
 * path, a quarter of the disk writes, so the suite stays fast.
 */
const LIMITS = { MERGEOPS_MAX_ARCHIVE_BYTES: String(50 * MiB), MERGEOPS_MAX_EXTRACTED_BYTES: String(128 * MiB) };

/** A GitHub-shaped tarball from raw entries: names are used exactly as given. */
async function rawTarball(entries: { name: string; content?: string; symlink?: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.symlink !== undefined) pack.entry({ name: e.name, type: 'symlink', linkname: e.symlink });
    else if (e.content === undefined) pack.entry({ name: e.name, type: 'directory' });
    else pack.entry({ name: e.name }, e.content);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack.pipe(createGzip())) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** One file of `bytes` zeros, gzipped at `level`: level 0 stores (a huge download), 1 already squeezes zeros ~400:1 (a tar bomb). */
function zeroTarball(bytes: number, level: number): Readable {
  const pack = tar.pack();
  pack.entry({ name: 'top/', type: 'directory' });
  const entry = pack.entry({ name: 'top/big.yaml', size: bytes }, () => pack.finalize());
  const chunk = Buffer.alloc(MiB);
  let left = bytes;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!entry.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        entry.once('drain', pump);
        return;
      }
    }
    entry.end(Buffer.alloc(0));
  };
  pump();
  return pack.pipe(createGzip({ level })).pipe(new PassThrough());
}

/**
 * Hostile and broken input through the whole runtime: every case ends in a failed check
 * run that says why (or a 4xx), no job fails or is retried as if the fault were ours, the
 * worker keeps serving, and no checkout is left on disk.
 */
describe('bad input: each a clear failed check or 4xx; the worker keeps serving; nothing leaked', () => {
  let h: Harness;
  let cluster: Cluster;
  let ns: string;
  let tmp: string;
  // The workers reach the API server through a recording proxy: "nothing sent" and "nothing
  // written" are read from its request log.
  let proxy: FaultProxy;
  const savedTmp = process.env['TMPDIR'];
  const streams = new Map<string, () => Readable>();

  beforeAll(async () => {
    cluster = await testCluster();
    ns = uniqueName('relbad');
    await namespace(cluster, ns);
    // The workers' checkouts land here, so the test can prove none is left behind.
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-relbad-'));
    process.env['TMPDIR'] = tmp;
    proxy = await startFaultProxy(process.env['MERGEOPS_TEST_KUBECONFIG'] as string);
    h = await startHarness(`clusters:\n  default:\n    kubeconfig: ${proxy.kubeconfig}\n    grants:\n      - repos: ["${REPO.owner}/*"]\n        namespaces: ["relbad-*"]\n`, LIMITS, {
      fault: (method, uri): FaultReply | undefined => {
        const make = method === 'GET' ? streams.get(uri.split('/').pop() ?? '') : undefined;
        return make ? [200, make(), { 'content-type': 'application/x-gzip' }] : undefined;
      },
    });
  });
  afterAll(async () => {
    await h?.stop();
    await proxy?.close();
    cluster?.client.close();
    if (savedTmp === undefined) delete process.env['TMPDIR'];
    else process.env['TMPDIR'] = savedTmp;
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  const config = (extra = '') => `apps:\n  - name: rel-bad\n    path: deploy\n    namespace: ${ns}\n${extra}`;
  const cm = (name: string, extra = '') => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\n${extra}data:\n  a: "1"\n`;
  let pr = 100;

  /** Opens a PR at a commit holding `files` (or served by `stream`) and returns its finished check. */
  async function preview(seed: string, files: Record<string, string> | Buffer | (() => Readable)): Promise<{ conclusion: string; text: string; annotations: { path: string; message: string }[] }> {
    const s = sha(`${seed}-${ns}`);
    if (typeof files === 'function') streams.set(s, files);
    else if (Buffer.isBuffer(files)) h.tarballs.set(s, files);
    else await h.push(s, files);
    // A raw archive is still a mergeops repository's commit: the contents API sees its config.
    if (typeof files === 'function' || Buffer.isBuffer(files)) h.git.files.set(s, { '.github/mergeops.yml': config() });
    expect(await h.open(++pr, s)).toBe(202);
    const { check } = await h.waitForPreview(s);
    return { conclusion: check.body.conclusion, text: `${check.body.output.title}\n${check.body.output.summary}`, annotations: check.body.output.annotations ?? [] };
  }

  it('a 30 MB webhook body is refused with 413 before its signature is even checked; the next delivery is served', async () => {
    const body = JSON.stringify({ action: 'opened', padding: 'x'.repeat(30 * MiB) });
    const res = await fetch(`${h.rt.url}/api/github/webhooks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': 'pull_request', 'x-github-delivery': 'huge-1', 'x-hub-signature-256': sign(body) },
      body,
    });
    expect(res.status).toBe(413);
    expect(await h.rt.queues.preview.getJobs(['waiting', 'active', 'completed', 'failed', 'delayed', 'paused'])).toEqual([]);
    const s = sha(`after-huge-${ns}`);
    await h.push(s, { '.github/mergeops.yml': config(), 'deploy/a.yaml': cm('a') });
    const ok = await deliver(h.rt.url as string, 'pull_request', prPayload('opened', 99, s, sha('no-base')));
    expect(ok.status).toBe(202);
    expect((await h.waitForPreview(s)).check.body.conclusion).toBe('success');
  });

  it('config with wrong types and unknown keys: failed check naming the key', async () => {
    const wrongType = await preview('cfg-type', { '.github/mergeops.yml': config('    prune: "yes"\n'), 'deploy/a.yaml': cm('a') });
    expect(wrongType.conclusion).toBe('failure');
    expect(wrongType.text).toContain('invalid config: apps[0].prune: expected true or false, got string "yes"');
    const unknown = await preview('cfg-key', { '.github/mergeops.yml': config('    clsuter: prod\n'), 'deploy/a.yaml': cm('a') });
    expect(unknown.text).toContain('invalid config: apps[0]: unknown key "clsuter"');
    const notAList = await preview('cfg-apps', { '.github/mergeops.yml': 'apps: {name: web}\n' });
    expect(notAList.text).toContain('invalid config: apps: expected a list, got a mapping');
  });

  it('a YAML alias bomb and 10,000 levels of nesting: failed check at the file, in well under a second of work', async () => {
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 9; i++) bomb.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(9).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const r = await preview('yaml-bomb', {
      '.github/mergeops.yml': config(),
      'deploy/bomb.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\ndata:\n${bomb.map((l) => `  ${l}`).join('\n')}\n`,
      'deploy/deep.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n`,
    });
    expect(r.conclusion).toBe('failure');
    // Files render in path order: the bomb stops the app before the deep file is read.
    expect(r.annotations).toEqual([expect.objectContaining({ path: 'deploy/bomb.yaml', message: expect.stringMatching(/alias bomb/) })]);
    const deep = await preview('yaml-deep', { '.github/mergeops.yml': config(), 'deploy/deep.yaml': `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: deep\ndata: ${'['.repeat(10_000)}${']'.repeat(10_000)}\n` });
    expect(deep.annotations).toEqual([expect.objectContaining({ path: 'deploy/deep.yaml', message: expect.stringMatching(/nest(ed too deeply|ed deeper than 100 levels|ing exceeded maxDepth \(100\))/) })]);
  });

  it('a 200 MB tarball and a tar bomb (130 MiB of zeros in 0.6 MB): refused at the limits (50 MiB download, 128 MiB unpacked), nothing left on disk', async () => {
    const big = await preview('tar-200mb', () => zeroTarball(200 * MiB, 0));
    expect(big.conclusion).toBe('failure');
    expect(big.text).toContain('repository archive is larger than 50 MiB');
    const bomb = await preview('tar-bomb', () => zeroTarball(130 * MiB, 1));
    expect(bomb.conclusion).toBe('failure');
    expect(bomb.text).toContain('repository unpacks to more than 128 MiB (tar bomb?)');
  });

  it('tar entries with "..", absolute paths, symlinks out and empty link targets: the archive is refused, naming the entry', async () => {
    const cases: [string, { name: string; content?: string; symlink?: string }[], string][] = [
      ['dotdot', [{ name: 'top/' }, { name: 'top/../../evil.yaml', content: 'x' }], 'entry path contains ".." (entry "top/../../evil.yaml")'],
      ['absolute', [{ name: 'top/' }, { name: '/etc/cron.d/evil', content: 'x' }], 'entry has an absolute path (entry "/etc/cron.d/evil")'],
      ['symlink-out', [{ name: 'top/' }, { name: 'top/deploy/' }, { name: 'top/deploy/passwd.yaml', symlink: '../../../../etc/passwd' }], 'symlink points outside the checkout (../../../../etc/passwd)'],
      ['symlink-abs', [{ name: 'top/' }, { name: 'top/deploy/' }, { name: 'top/deploy/k.yaml', symlink: '/root/.kube/config' }], 'symlink points to an absolute path (/root/.kube/config)'],
      ['symlink-empty', [{ name: 'top/' }, { name: 'top/C:', symlink: '' }], 'entry cannot be extracted (ENOENT) (entry "top/C:")'],
    ];
    for (const [seed, entries, message] of cases) {
      const r = await preview(`tar-${seed}`, await rawTarball(entries));
      expect(r.conclusion).toBe('failure');
      expect(r.text).toContain(`the repository archive was refused: ${message}`);
    }
  });

  it('a 2 MB annotation, an unknown kind, a duplicate object and invalid names: each named in one failed check, nothing written', async () => {
    const first = proxy.requests.length;
    const r = await preview('objects', {
      '.github/mergeops.yml': config(),
      'deploy/a-huge.yaml': cm('huge', `  annotations:\n    big: "${'x'.repeat(2 * MiB)}"\n`),
      'deploy/b-unknown.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n',
      'deploy/c-dup.yaml': `${cm('twice')}---\n${cm('twice')}`,
      'deploy/d-names.yaml': `${cm('Web_App')}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ${'s'.repeat(64)}\nspec:\n  ports: [{port: 80}]\n`,
    });
    expect(r.conclusion).toBe('failure');
    // A duplicate stops the render before anything is sent to the cluster: no request of
    // that preview named the app's namespace.
    expect(r.text).toContain(`v1 ConfigMap twice is defined twice (also at deploy/c-dup.yaml:1)`);
    expect(proxy.requests.slice(first).filter((q) => q.path.includes(`/namespaces/${ns}/`))).toEqual([]);
    const second = proxy.requests.length;

    const rest = await preview('objects-2', {
      '.github/mergeops.yml': config(),
      'deploy/a-huge.yaml': cm('huge', `  annotations:\n    big: "${'x'.repeat(2 * MiB)}"\n`),
      'deploy/b-unknown.yaml': 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n',
      'deploy/d-names.yaml': `${cm('Web_App')}---\napiVersion: v1\nkind: Service\nmetadata:\n  name: ${'s'.repeat(64)}\nspec:\n  ports: [{port: 80}]\n`,
      'deploy/e-ok.yaml': cm('fine'),
    });
    expect(rest.conclusion).toBe('failure');
    const byFile = (f: string) => rest.annotations.filter((a) => a.path === f).map((a) => a.message).join('\n');
    expect(byFile('deploy/a-huge.yaml')).toMatch(/annotations: Too long: (must have at most|may not be more than) 262144 bytes/);
    expect(byFile('deploy/b-unknown.yaml')).toContain('the cluster has no kind Widget in example.com/v1');
    expect(byFile('deploy/d-names.yaml')).toMatch(/Web_App.*a lowercase RFC 1123 subdomain/s);
    expect(byFile('deploy/d-names.yaml')).toMatch(/must be no more than 63 characters/);
    // A preview only ever dry-runs: the server got the valid object as a dry run, and no write.
    const sent = proxy.requests.slice(second);
    expect(sent.some((q) => q.method === 'PATCH' && q.path.endsWith(`/namespaces/${ns}/configmaps/fine`) && !q.write)).toBe(true);
    expect(sent.filter((q) => q.write)).toEqual([]);
  });

  it('after all of it the worker still serves: a good PR succeeds, no job failed or was retried, no checkout left in TMPDIR', async () => {
    const good = await preview('good', { '.github/mergeops.yml': config(), 'deploy/a.yaml': cm('a') });
    expect(good.conclusion).toBe('success');
    const jobs = await h.rt.queues.preview.getJobs(['completed', 'failed', 'active', 'waiting', 'delayed']);
    // Every bad case above was a user problem reported on the first attempt, not a crash.
    expect(jobs.length).toBe(pr - 100 + 1);
    expect(jobs.filter((j) => j.failedReason || j.attemptsMade > 1).map((j) => `${j.id}: ${j.failedReason}`)).toEqual([]);
    expect(fs.readdirSync(tmp).filter((n) => n.startsWith('mergeops-src-'))).toEqual([]);
    process.stdout.write(`bad input: ${jobs.length} preview jobs, 0 failed, 0 retried\n`);
  });
});
