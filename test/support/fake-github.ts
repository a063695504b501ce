import http from 'node:http';
import type net from 'node:net';
import { gunzipSync } from 'node:zlib';
import tar from 'tar-stream';
import { GitHubContract, parseBody } from './github-contract.js';
import { APP_ID, PRIVATE_KEY } from './github.js';
import { REPO } from './harness.js';
import { compareReply } from './compare.js';
import { HookDeliveries } from './hook-deliveries.js';
import { BOT_LOGIN, appRoute, standIn, type Route, type StandInReply } from './stand-in.js';

export interface FakeCall {
  method: string;
  path: string;
  body: any; // request bodies are JSON of many shapes; tests read the fields they assert
  /** Set when GitHub (the contract) refused the request. */
  status?: number;
}

/**
 * GitHub Enterprise over real HTTP for app processes the test starts as children (nock lives
 * in the test's own process and cannot reach them). Serves the calls a preview makes under
 * `/api/v3` (GHE_HOST points the app here), held to the same contract as the in-process
 * stand-in (test/support/github-contract.ts), with archives redirected to `/_codeload/` as
 * GHE does; records them, and lets the test hold a tarball download open to catch a worker
 * mid-job.
 */
export interface FakeGitHub {
  host: string;
  calls: FakeCall[];
  tarballs: Map<string, Buffer>;
  /** Manifest codes GitHub would accept once (setup mode's POST /app-manifests/{code}/conversions). */
  manifestCodes: Map<string, { id: number; slug: string; pem: string; webhook_secret: string }>;
  /** While set, tarball downloads of this SHA wait for `release()`. */
  hold: string | null;
  /** Branch heads, as `GET git/ref` answers them (a deploy confirms its commit there). */
  refs: Map<string, string>;
  /** `.github/mergeops.yml` on the default branch of the owner's other repositories (`acme/.github`), by full name; absent: 404. */
  defaultsFiles: Map<string, string>;
  /** Deployments created, with the states of their statuses. */
  deployments: { id: number; sha: string; environment: string; statuses: string[] }[];
  /** The app's webhook as GitHub runs it: set `hooks.url` to the app, send events, read the attempts. */
  hooks: HookDeliveries;
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
    refs: new Map(),
    defaultsFiles: new Map(),
    deployments: [],
    hooks: new HookDeliveries(() => `http://${fake.host}/api/v3`),
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
  const contract = new GitHubContract({ appId: APP_ID, privateKey: PRIVATE_KEY });
  const path = (uri: string): string => uri.split('?')[0] as string;
  const repoLabels = new Set<string>();
  const issueLabels = new Map<number, Set<string>>();
  const labelsOf = (issue: number): Set<string> => {
    const on = issueLabels.get(issue) ?? new Set<string>();
    issueLabels.set(issue, on);
    return on;
  };
  const record = (method: string, uri: string, body: unknown): void => void fake.calls.push({ method, path: path(uri), body: body ?? null });
  const routes: Route[] = [
    { method: 'POST', path: /^\/app\/installations\/\d+\/access_tokens$/, handle: (req) => [201, contract.issueToken(Number(req.uri.split('/')[3]))] },
    appRoute(APP_ID),
    ...fake.hooks.routes(),
    {
      method: 'POST',
      path: /^\/app-manifests\/[^/]+\/conversions$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        // Unauthenticated, and each code converts once (GitHub: 404 for a used or unknown code).
        const code = req.uri.split('/')[2] as string;
        const app = fake.manifestCodes.get(code);
        if (!app) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/apps#create-a-github-app-from-a-manifest' }];
        fake.manifestCodes.delete(code);
        return [201, { ...app, client_id: 'Iv1.fake', client_secret: 'fake-client-secret', html_url: `https://github.com/apps/${app.slug}`, owner: { login: 'acme' } }];
      },
    },
    {
      // Contents at ?ref=<sha>, read from that commit's tarball; the raw media type answers the file's text, as GitHub does.
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/contents\/.+/,
      handle: async (req) => {
        record(req.method, req.uri, null);
        const ref = req.url.searchParams.get('ref');
        // Without a ref, the default branch: what the organisation's defaults are read from.
        if (ref === null) {
          const [, , owner, repo] = (req.uri.split('?')[0] as string).split('/');
          const file = decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? '');
          const text = file === '.github/mergeops.yml' ? fake.defaultsFiles.get(`${owner}/${repo}`) : undefined;
          return text === undefined ? [404, { message: 'Not Found' }] : [200, text, { 'content-type': 'application/vnd.github.raw; charset=utf-8' }];
        }
        const t = fake.tarballs.get(ref);
        if (!t) return [404, { message: 'Not Found' }];
        const text = await fileOf(t, decodeURIComponent(req.url.pathname.split('/contents/')[1] ?? ''));
        return text === null ? [404, { message: 'Not Found' }] : [200, text, { 'content-type': 'application/vnd.github.raw; charset=utf-8' }];
      },
    },
    // Labels, as GitHub keeps them: the repository's label set and each issue's labels.
    { method: 'GET', path: /^\/repos\/[^/]+\/[^/]+\/labels\/[^/]+$/, handle: (req) => {
      const name = decodeURIComponent(req.url.pathname.split('/labels/')[1] ?? '');
      return repoLabels.has(name) ? [200, { name }] : [404, { message: 'Not Found' }];
    } },
    { method: 'POST', path: /^\/repos\/[^/]+\/[^/]+\/labels$/, handle: (req) => {
      record(req.method, req.uri, req.body);
      const name = (req.body as { name: string }).name;
      if (repoLabels.has(name)) return [422, { message: 'Validation Failed', errors: [{ resource: 'Label', code: 'already_exists', field: 'name' }] }];
      repoLabels.add(name);
      return [201, { name }];
    } },
    { method: 'GET', path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/labels(\?|$)/, handle: (req) => [200, [...labelsOf(Number(req.url.pathname.split('/')[5]))].map((name) => ({ name }))] },
    { method: 'POST', path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/labels$/, handle: (req) => {
      record(req.method, req.uri, req.body);
      const on = labelsOf(Number(req.url.pathname.split('/')[5]));
      for (const name of (req.body as { labels: string[] }).labels) on.add(name);
      return [200, [...on].map((name) => ({ name }))];
    } },
    { method: 'DELETE', path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/labels\/[^/]+$/, handle: (req) => {
      record(req.method, req.uri, null);
      const parts = req.url.pathname.split('/');
      const on = labelsOf(Number(parts[5]));
      if (!on.delete(decodeURIComponent(parts[7] ?? ''))) return [404, { message: 'Label does not exist' }];
      return [200, [...on].map((name) => ({ name }))];
    } },
    {
      // The files a pull request changed, from the two commits' tarballs.
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/compare\/[^/?]+/,
      handle: async (req) => {
        record(req.method, req.uri, null);
        const [, , owner = '', repo = ''] = req.url.pathname.split('/');
        const [base = '', head = ''] = decodeURIComponent(req.url.pathname.split('/compare/')[1] ?? '').split('...');
        const trees = new Map<string, Record<string, string>>();
        for (const sha of [base, head]) {
          const t = fake.tarballs.get(sha);
          if (t) trees.set(sha, await filesOf(t));
        }
        return compareReply(`http://${fake.host}/api/v3`, { owner, name: repo }, `${base}...${head}`, (sha) => trees.get(sha));
      },
    },
    {
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/tarball\/[0-9a-f]+$/,
      handle: (req) => {
        record(req.method, req.uri, null);
        const [, , owner, repo, , sha] = req.uri.split('/') as string[];
        if (!fake.tarballs.has(sha as string)) return [404, { message: 'Not Found' }];
        const download = `/_codeload/${owner}/${repo}/legacy.tar.gz/${sha}`;
        return [302, '', { location: `http://${fake.host}${download}?token=${contract.issueDownload(download)}` }];
      },
    },
    {
      method: 'GET',
      path: /^\/_codeload\//,
      handle: (req) =>
        new Promise<StandInReply>((resolve) => {
          const sha = req.url.pathname.split('/').pop() as string;
          const send = (): void => {
            const t = fake.tarballs.get(sha);
            resolve(t ? [200, t, { 'content-type': 'application/x-gzip' }] : [404, '404: Not Found']);
          };
          if (fake.hold === sha) waiting.push(send);
          else send();
        }),
    },
    // What a deploy reads to confirm its job (the repository, the branch head) and writes to report it.
    {
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+$/,
      handle: (req) => {
        record(req.method, req.uri, null);
        const [, , owner, name] = req.uri.split('?')[0]?.split('/') as string[];
        return [200, { id: REPO.id, name, full_name: `${owner}/${name}`, default_branch: 'main', owner: { login: owner } }];
      },
    },
    {
      // Octokit sends the ref URL-encoded (`heads%2Fmain`), as GitHub accepts it.
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/git\/ref\/.+/,
      handle: (req) => {
        record(req.method, req.uri, null);
        const branch = decodeURIComponent(req.uri.split('/git/ref/')[1] ?? '').replace(/^heads\//, '');
        const head = fake.refs.get(branch);
        return head ? [200, { ref: `refs/heads/${branch}`, object: { sha: head, type: 'commit' } }] : [404, { message: 'Not Found' }];
      },
    },
    {
      method: 'POST',
      path: /^\/repos\/[^/]+\/[^/]+\/deployments$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        const b = req.body as { ref: string; environment: string };
        const d = { id: 7000 + fake.deployments.length + 1, sha: b.ref, environment: b.environment, statuses: [] as string[] };
        fake.deployments.push(d);
        return [201, { id: d.id, sha: d.sha, environment: d.environment, created_at: new Date().toISOString() }];
      },
    },
    {
      method: 'POST',
      path: /^\/repos\/[^/]+\/[^/]+\/deployments\/\d+\/statuses$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        const d = fake.deployments.find((x) => x.id === Number(/deployments\/(\d+)\/statuses/.exec(req.uri)?.[1]));
        if (!d) return [404, { message: 'Not Found' }];
        d.statuses.push((req.body as { state: string }).state);
        return [201, { id: d.statuses.length, state: d.statuses.at(-1) }];
      },
    },
    {
      // No pull request merged these commits: a direct push.
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/commits\/[0-9a-f]+\/pulls/,
      handle: (req) => {
        record(req.method, req.uri, null);
        return [200, []];
      },
    },
    {
      method: 'POST',
      path: /^\/repos\/[^/]+\/[^/]+\/check-runs$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        const id = ++nextCheck;
        contract.checkRunCreated(id);
        return [201, { id }];
      },
    },
    {
      method: 'PATCH',
      path: /^\/repos\/[^/]+\/[^/]+\/check-runs\/\d+$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        return [200, { id: Number(req.uri.split('/').pop()) }];
      },
    },
    {
      method: 'GET',
      path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/comments(\?|$)/,
      handle: (req) => {
        record(req.method, req.uri, null);
        const pr = Number(/issues\/(\d+)\/comments/.exec(req.uri)?.[1]);
        return [200, [...comments.entries()].filter(([, c]) => c.pr === pr).map(([id, c]) => ({ id, body: c.body, user: { type: 'Bot', login: BOT_LOGIN } }))];
      },
    },
    {
      method: 'POST',
      path: /^\/repos\/[^/]+\/[^/]+\/issues\/\d+\/comments$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        const id = ++nextComment;
        comments.set(id, { pr: Number(/issues\/(\d+)\/comments/.exec(req.uri)?.[1]), body: (req.body as { body: string }).body });
        return [201, { id }];
      },
    },
    {
      method: 'PATCH',
      path: /^\/repos\/[^/]+\/[^/]+\/issues\/comments\/\d+$/,
      handle: (req) => {
        record(req.method, req.uri, req.body);
        const c = comments.get(Number(req.uri.split('/').pop()));
        if (!c) return [404, { message: 'Not Found' }];
        c.body = (req.body as { body: string }).body;
        return [200, { id: Number(req.uri.split('/').pop()) }];
      },
    },
  ];
  const github = standIn(contract, routes, {
    apiBase: 'http://placeholder/api/v3',
    onRefusal: (req, reply) => fake.calls.push({ method: req.method, path: path(req.uri), body: req.body ?? null, status: reply[0] }),
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = `http://${fake.host}${req.url ?? '/'}`;
      // GHE serves the API under /api/v3 and downloads under /_codeload on the same host.
      const apiUrl = url.replace(`http://${fake.host}/api/v3/`, `http://${fake.host}/`);
      void github
        .dispatch({ method: req.method ?? 'GET', url: apiUrl, headers: req.headers, body: parseBody(Buffer.concat(chunks).toString('utf8')) })
        .then(([status, body, headers]) => {
          const isBuffer = Buffer.isBuffer(body);
          const text = isBuffer || typeof body === 'string' ? body : JSON.stringify(body);
          res.writeHead(status, { ...(isBuffer || typeof body === 'string' ? {} : { 'content-type': 'application/json; charset=utf-8' }), ...headers });
          res.end(text);
        });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  fake.host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return fake;
}

/** One file of a gzipped repository tarball (entries are `<top folder>/<path>`), or null. */
async function fileOf(tarball: Buffer, file: string): Promise<string | null> {
  return (await filesOf(tarball))[file] ?? null;
}

/** Every file of a gzipped repository tarball, by its path inside the repository. */
async function filesOf(tarball: Buffer): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: unknown) => void chunks.push(c as Buffer));
    stream.on('end', () => {
      if (header.type === 'file') out[header.name.split('/').slice(1).join('/')] = Buffer.concat(chunks).toString('utf8');
      next();
    });
    stream.resume();
  });
  await new Promise<void>((resolve, reject) => {
    extract.on('finish', () => resolve());
    extract.on('error', reject);
    extract.end(gunzipSync(tarball));
  });
  return out;
}
