import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './global-setup.js';

/** Debian's `docker-registry` package: the CNCF Distribution server (registry 2.8). */
export const REGISTRY_BIN = process.env['MERGEOPS_TEST_REGISTRY_BIN'] ?? '/usr/bin/docker-registry';

export interface TestRegistry {
  /** `127.0.0.1:<port>`: the image name prefix, e.g. `${host}/acme/web`. */
  host: string;
  /** Uploads a tiny image (config + one layer) and tags it; returns the manifest digest. */
  pushImage(name: string, tag: string, labels?: Record<string, string>): Promise<string>;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** Distribution notification endpoint, sent with `Authorization: Bearer <token>`. */
  notify?: { url: string; token: string };
  /** Require bearer tokens from a token service the test runs (the Docker Hub / GHCR flow). */
  tokenAuth?: boolean;
}

const sha256 = (b: Buffer | string): string => `sha256:${crypto.createHash('sha256').update(b).digest('hex')}`;

export async function startRegistry(opts: RegistryOptions = {}): Promise<TestRegistry> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-registry-'));
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config: string[] = [
    'version: 0.1',
    'log: { level: error, accesslog: { disabled: true } }',
    `storage: { filesystem: { rootdirectory: ${path.join(dir, 'data')} }, delete: { enabled: true } }`,
    `http: { addr: "${host}", secret: test-registry-secret }`,
  ];
  if (opts.notify) {
    config.push(
      'notifications:',
      '  endpoints:',
      '    - name: mergeops',
      `      url: ${opts.notify.url}`,
      `      headers: { Authorization: ["Bearer ${opts.notify.token}"] }`,
      '      timeout: 2s',
      '      threshold: 3',
      '      backoff: 500ms',
    );
  }
  let tokens: TokenService | undefined;
  if (opts.tokenAuth) {
    tokens = await startTokenService(dir);
    config.push(`auth: { token: { realm: "${tokens.realm}", service: test-registry, issuer: test-issuer, rootcertbundle: ${tokens.certFile} } }`);
  }
  fs.writeFileSync(path.join(dir, 'config.yml'), `${config.join('\n')}\n`);
  const proc: ChildProcess = spawn(REGISTRY_BIN, ['serve', path.join(dir, 'config.yml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const deadline = Date.now() + 15_000;
  for (;;) {
    const res = await fetch(`http://${host}/v2/`).catch(() => null);
    if (res && (res.status === 200 || res.status === 401)) break;
    if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`docker-registry did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }

  const auth = async (name: string): Promise<Record<string, string>> => (tokens ? { authorization: `Bearer ${tokens.issue(name)}` } : {});
  const upload = async (name: string, blob: Buffer): Promise<string> => {
    const digest = sha256(blob);
    const start = await fetch(`http://${host}/v2/${name}/blobs/uploads/`, { method: 'POST', headers: await auth(name) });
    if (start.status !== 202) throw new Error(`blob upload start: ${start.status} ${await start.text()}`);
    const location = new URL(start.headers.get('location') ?? '', `http://${host}`);
    location.searchParams.set('digest', digest);
    const put = await fetch(location, { method: 'PUT', headers: { ...(await auth(name)), 'content-type': 'application/octet-stream' }, body: blob });
    if (put.status !== 201) throw new Error(`blob upload: ${put.status} ${await put.text()}`);
    return digest;
  };

  return {
    host,
    pushImage: async (name, tag, labels = {}) => {
      const layer = crypto.randomBytes(64);
      const configBlob = Buffer.from(
        JSON.stringify({ architecture: 'amd64', os: 'linux', created: new Date().toISOString(), config: { Labels: labels }, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
      );
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: await upload(name, configBlob), size: configBlob.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: await upload(name, layer), size: layer.length }],
      });
      const res = await fetch(`http://${host}/v2/${name}/manifests/${tag}`, {
        method: 'PUT',
        headers: { ...(await auth(name)), 'content-type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
      });
      if (res.status !== 201) throw new Error(`manifest put: ${res.status} ${await res.text()}`);
      return res.headers.get('docker-content-digest') ?? sha256(manifest);
    },
    stop: async () => {
      proc.kill('SIGTERM');
      await tokens?.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface TokenService {
  realm: string;
  certFile: string;
  /** A push+pull token for `name`, as the test's own client. */
  issue(name: string): string;
  stop(): Promise<void>;
}

/**
 * The token service a registry with `auth: token` sends clients to: answers
 * `GET /token?service=…&scope=repository:<name>:pull` with a JWT signed by a key whose
 * self-signed certificate the registry trusts (the `x5c` header carries it).
 */
async function startTokenService(dir: string): Promise<TokenService> {
  const keyFile = path.join(dir, 'token.key');
  const certFile = path.join(dir, 'token.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '2', '-subj', '/CN=mergeops-test-token'], { stdio: 'ignore' });
  const key = crypto.createPrivateKey(fs.readFileSync(keyFile));
  const der = new crypto.X509Certificate(fs.readFileSync(certFile)).raw.toString('base64');
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const issue = (name: string, actions = ['pull', 'push']): string => {
    const now = Math.floor(Date.now() / 1000);
    const head = b64({ alg: 'RS256', typ: 'JWT', x5c: [der] });
    const claims = b64({ iss: 'test-issuer', sub: 'mergeops', aud: 'test-registry', iat: now, nbf: now - 10, exp: now + 300, jti: crypto.randomUUID(), access: [{ type: 'repository', name, actions }] });
    const sig = crypto.sign('sha256', Buffer.from(`${head}.${claims}`), key).toString('base64url');
    return `${head}.${claims}.${sig}`;
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scope = /^repository:([^:]+):/.exec(url.searchParams.get('scope') ?? '')?.[1];
    if (url.pathname !== '/token' || url.searchParams.get('service') !== 'test-registry' || !scope) {
      res.writeHead(400).end('{"errors":[{"code":"bad request"}]}');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token: issue(scope, ['pull']), expires_in: 300 }));
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return { realm: `http://127.0.0.1:${port}/token`, certFile, issue, stop: () => new Promise((r) => server.close(() => r())) };
}
