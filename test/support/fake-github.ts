import http from 'node:http';
import type net from 'node:net';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';

export interface FakeCall {
  method: string;
  path: string;
  body: any; // request bodies are JSON of many shapes; tests read the fields they assert
}

/**
 * GitHub over real HTTP for app processes the test starts as children (nock lives in the
 * test's own process and cannot reach them). Serves the calls a preview makes under
 * `/api/v3` (GHE_HOST points the app here), records them, and lets the test hold a
 * tarball download open to catch a worker mid-job.
 */
export interface FakeGitHub {
  host: string;
  calls: FakeCall[];
  tarballs: Map<string, Buffer>;
  /** Manifest codes GitHub would accept once (setup mode's POST /app-manifests/{code}/conversions). */
  manifestCodes: Map<string, { id: number; slug: string; pem: string; webhook_secret: string }>;
  /** While set, tarball downloads of this SHA wait for `release()`. */
  hold: string | null;
  release(): void;
  close(): Promise<void>;
}

export async function startFakeGitHub(): Promise<FakeGitHub> {
  let nextCheck = 1000;
  let nextComment = 9000;
  const comments = new Map<number, { pr: number; body: string }>();
  const waiting: (() => void)[] = [];
  const fake: FakeGitHub = {
    host: '',
    calls: [],
    tarballs: new Map(),
    manifestCodes: new Map(),
    hold: null,
    release: () => {
      fake.hold = null;
      for (const w of waiting.splice(0)) w();
    },
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
  const repoLabels = new Set<string>();
  const issueLabels = new Map<number, Set<string>>();
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '').replace(/^\/api\/v3/, '').split('?')[0] as string;
      const method = req.method ?? 'GET';
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as unknown) : null;
      fake.calls.push({ method, path, body });
      let m: RegExpExecArray | null;
      if (method === 'POST' && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
        return json(res, 201, { token: 'ghs_fakeinstallationtoken0000000000', expires_at: new Date(Date.now() + 3600_000).toISOString() });
      }
      if (method === 'POST' && (m = /^\/app-manifests\/([^/]+)\/conversions$/.exec(path))) {
        // Unauthenticated, and each code converts once (GitHub: 404 for a used or unknown code).
        const app = fake.manifestCodes.get(m[1] as string);
        if (!app) return json(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest' });
        fake.manifestCodes.delete(m[1] as string);
        return json(res, 201, { ...app, client_id: 'Iv1.fake', client_secret: 'fake-client-secret', html_url: `https://github.com/apps/${app.slug}`, owner: { login: 'acme' } });
      }
      if (method === 'GET' && (m = /^\/repos\/[^/]+\/[^/]+\/contents\/(.+)$/.exec(path))) {
        // Contents at ?ref=<sha>, read from that commit's tarball; the raw media type answers the file's text, as GitHub does.
        const ref = new URL(req.url ?? '', 'http://x').searchParams.get('ref') ?? '';
        const t = fake.tarballs.get(ref);
        if (!t) return json(res, 404, { message: 'Not Found' });
        void fileOf(t, decodeURIComponent(m[1] as string)).then((text) => {
          if (text === null) return json(res, 404, { message: 'Not Found' });
          res.writeHead(200, { 'content-type': 'application/vnd.github.raw; charset=utf-8' });
          res.end(text);
          return undefined;
        });
        return undefined;
      }
      if ((m = /\/tarball\/([0-9a-f]+)$/.exec(path))) {
        const sha = m[1] as string;
        const send = (): void => {
          const t = fake.tarballs.get(sha);
          if (!t) return json(res, 404, { message: 'Not Found' });
          res.writeHead(200, { 'content-type': 'application/x-gzip' });
          res.end(t);
        };
        if (fake.hold === sha) waiting.push(send);
        else send();
        return undefined;
      }
      if (method === 'POST' && path.endsWith('/check-runs')) return json(res, 201, { id: ++nextCheck });
      if (method === 'PATCH' && (m = /\/check-runs\/(\d+)$/.exec(path))) return json(res, 200, { id: Number(m[1]) });
      if ((m = /\/issues\/(\d+)\/comments$/.exec(path))) {
        const pr = Number(m[1]);
        if (method === 'GET') return json(res, 200, [...comments.entries()].filter(([, c]) => c.pr === pr).map(([id, c]) => ({ id, body: c.body, user: { type: 'Bot' } })));
        const id = ++nextComment;
        comments.set(id, { pr, body: (body as { body: string }).body });
        return json(res, 201, { id });
      }
      if (method === 'PATCH' && (m = /\/issues\/comments\/(\d+)$/.exec(path))) {
        const c = comments.get(Number(m[1]));
        if (!c) return json(res, 404, { message: 'Not Found' });
        c.body = (body as { body: string }).body;
        return json(res, 200, { id: Number(m[1]) });
      }
      // Labels, as GitHub keeps them: the repository's label set and each issue's labels.
      if ((m = /^\/repos\/[^/]+\/[^/]+\/labels(?:\/([^/]+))?$/.exec(path))) {
        if (method === 'GET' && m[1]) return repoLabels.has(decodeURIComponent(m[1])) ? json(res, 200, { name: decodeURIComponent(m[1]) }) : json(res, 404, { message: 'Not Found' });
        if (method === 'POST') {
          const name = (body as { name: string }).name;
          if (repoLabels.has(name)) return json(res, 422, { message: 'Validation Failed', errors: [{ resource: 'Label', code: 'already_exists', field: 'name' }] });
          repoLabels.add(name);
          return json(res, 201, { name });
        }
      }
      if ((m = /^\/repos\/[^/]+\/[^/]+\/issues\/(\d+)\/labels(?:\/([^/]+))?$/.exec(path))) {
        const issue = Number(m[1]);
        const on = issueLabels.get(issue) ?? new Set<string>();
        issueLabels.set(issue, on);
        if (method === 'GET') return json(res, 200, [...on].map((name) => ({ name })));
        if (method === 'POST') {
          for (const name of (body as { labels: string[] }).labels) on.add(name);
          return json(res, 200, [...on].map((name) => ({ name })));
        }
        if (method === 'DELETE' && m[2]) {
          if (!on.delete(decodeURIComponent(m[2]))) return json(res, 404, { message: 'Label does not exist' });
          return json(res, 200, [...on].map((name) => ({ name })));
        }
      }
      return json(res, 404, { message: `fake GitHub has no ${method} ${path}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return fake;
}

/** One file of a gzipped repository tarball (entries are `<top folder>/<path>`), or null. */
async function fileOf(tarball: Buffer, file: string): Promise<string | null> {
  const extract = tar.extract();
  let found: string | null = null;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.type === 'file' && header.name.split('/').slice(1).join('/') === file) found = Buffer.concat(chunks).toString('utf8');
      next();
    });
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', () => resolve());
    extract.on('error', reject);
    extract.end(gunzipSync(tarball));
  });
  return found;
}
