import type { RegistryAccess, RegistryAccessMap } from '../../config/registries.js';
import { RegistryError, RegistryRateLimitError, type BuildInfo, type ImageDatasource } from './datasource.js';

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');
/** Registries page tags lists; a runaway Link chain stops here (100 × 1,000 tags). */
const MAX_PAGES = 100;
const PAGE_SIZE = 1000;
/** Tag lists and manifests are small; anything larger is refused before it is held in memory. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
const TIMEOUT_MS = 30_000;

interface Token {
  value: string;
  expiresAt: number;
}

type FetchFn = typeof fetch;

/**
 * The OCI distribution API (`/v2/…`), which Docker Hub, GHCR, Quay, Harbor, ECR and the
 * CNCF Distribution server all speak. Handles the auth challenge (anonymous or with the
 * operator's credentials: `Bearer` token service or `Basic`), `Link` pagination and 429s.
 */
export class OciDatasource implements ImageDatasource {
  private readonly tokens = new Map<string, Token>();

  private readonly fetchFn: FetchFn;
  private readonly pageSize: number;

  constructor(
    private readonly access: RegistryAccessMap = new Map(),
    opts: { fetch?: FetchFn; pageSize?: number } = {},
  ) {
    this.fetchFn = opts.fetch ?? fetch;
    this.pageSize = opts.pageSize ?? PAGE_SIZE;
  }

  async listTags(repository: string): Promise<string[]> {
    const { host, name } = split(repository);
    const tags: string[] = [];
    let next: string | null = `/v2/${name}/tags/list?n=${this.pageSize}`;
    for (let page = 0; next !== null; page++) {
      if (page === MAX_PAGES) throw new RegistryError(`${repository}: more than ${MAX_PAGES} pages of tags; refusing to read further`);
      const res = await this.get(host, name, next, { accept: 'application/json' });
      if (res.status === 404) throw new RegistryError(`${repository} does not exist on ${host} (404); check the images: repository name`, 404);
      await expectOk(res, repository);
      const body = JSON.parse(await readCapped(res)) as { tags?: unknown };
      if (body.tags !== null && body.tags !== undefined && !Array.isArray(body.tags)) throw new RegistryError(`${host} answered a tags list without a tags array`);
      for (const t of (body.tags as unknown[] | null | undefined) ?? []) if (typeof t === 'string') tags.push(t);
      next = nextLink(res.headers.get('link'), host);
    }
    return tags;
  }

  async digest(repository: string, tag: string): Promise<string | null> {
    const { host, name } = split(repository);
    const res = await this.get(host, name, `/v2/${name}/manifests/${encodeURIComponent(tag)}`, { accept: MANIFEST_TYPES }, 'HEAD');
    if (res.status === 404) return null;
    await expectOk(res, `${repository}:${tag}`);
    return res.headers.get('docker-content-digest');
  }

  async buildInfo(repository: string, tag: string): Promise<BuildInfo> {
    const info: BuildInfo = {};
    try {
      const { host, name } = split(repository);
      const res = await this.get(host, name, `/v2/${name}/manifests/${encodeURIComponent(tag)}`, { accept: MANIFEST_TYPES });
      await expectOk(res, `${repository}:${tag}`);
      const digest = res.headers.get('docker-content-digest');
      if (digest) info.digest = digest;
      const manifest = JSON.parse(await readCapped(res)) as { annotations?: Record<string, string>; config?: { digest?: string } };
      let labels: Record<string, string> = { ...manifest.annotations };
      if (manifest.config?.digest) {
        const blob = await this.get(host, name, `/v2/${name}/blobs/${manifest.config.digest}`, { accept: '*/*' });
        if (blob.ok) {
          const config = JSON.parse(await readCapped(blob)) as { created?: string; config?: { Labels?: Record<string, string> } };
          if (config.created) info.created = config.created;
          labels = { ...config.config?.Labels, ...labels };
        }
      }
      if (labels['org.opencontainers.image.created'] && !info.created) info.created = labels['org.opencontainers.image.created'];
      if (labels['org.opencontainers.image.revision']) info.revision = labels['org.opencontainers.image.revision'];
      if (labels['org.opencontainers.image.source']) info.source = labels['org.opencontainers.image.source'];
    } catch {
      // Build info decorates the PR body; a registry that will not say must not block the bump.
    }
    return info;
  }

  /** One request with auth: tries the cached token, answers a 401 challenge once, retries. */
  private async get(host: string, name: string, pathAndQuery: string, headers: Record<string, string>, method = 'GET'): Promise<Response> {
    const access = accessFor(this.access, host);
    const url = `${baseUrl(host, access)}${pathAndQuery}`;
    const scope = `repository:${name}:pull`;
    const cached = this.tokens.get(`${host} ${scope}`);
    const auth = cached && cached.expiresAt > Date.now() ? `Bearer ${cached.value}` : undefined;
    let res = await this.send(url, method, { ...headers, ...(auth ? { authorization: auth } : {}) });
    if (res.status === 401) {
      await res.body?.cancel();
      const authorization = await this.answerChallenge(host, access, scope, res.headers.get('www-authenticate'));
      res = await this.send(url, method, { ...headers, authorization });
    }
    if (res.status === 429) {
      await res.body?.cancel();
      throw new RegistryRateLimitError(host, retryAfterMs(res.headers.get('retry-after')));
    }
    return res;
  }

  private async send(url: string, method: string, headers: Record<string, string>): Promise<Response> {
    try {
      return await this.fetchFn(url, { method, headers, redirect: 'follow', signal: AbortSignal.timeout(TIMEOUT_MS) });
    } catch (err) {
      throw new RegistryError(`cannot reach ${new URL(url).host}: ${(err as Error).message}`);
    }
  }

  private async answerChallenge(host: string, access: RegistryAccess, scope: string, header: string | null): Promise<string> {
    const challenge = parseChallenge(header ?? '');
    const basic = access.username !== undefined ? `Basic ${Buffer.from(`${access.username}:${access.password ?? ''}`).toString('base64')}` : undefined;
    if (challenge?.scheme === 'basic') {
      if (!basic) throw new RegistryError(`${host} asks for a username and password; add them under registries."${host}" in MERGEOPS_REGISTRIES`, 401);
      return basic;
    }
    const realm = challenge?.params['realm'];
    if (challenge?.scheme !== 'bearer' || !realm) throw new RegistryError(`${host} answered 401 without a usable WWW-Authenticate challenge`, 401);
    const tokenUrl = new URL(realm);
    // The realm receives our credentials: only over TLS, unless the operator marked the registry insecure.
    if (tokenUrl.protocol !== 'https:' && !(access.insecure || isLoopback(host))) throw new RegistryError(`${host} sent a token realm over plain HTTP (${tokenUrl.origin}); refusing to send credentials there`, 401);
    if (challenge.params['service']) tokenUrl.searchParams.set('service', challenge.params['service']);
    tokenUrl.searchParams.set('scope', challenge.params['scope'] ?? scope);
    const res = await this.send(tokenUrl.toString(), 'GET', basic ? { authorization: basic } : {});
    if (!res.ok) {
      await res.body?.cancel();
      const hint = basic ? 'check the credentials in MERGEOPS_REGISTRIES' : `add credentials for ${host} to MERGEOPS_REGISTRIES`;
      throw new RegistryError(`the token service of ${host} answered ${res.status}; ${hint}`, res.status);
    }
    const body = JSON.parse(await readCapped(res)) as { token?: string; access_token?: string; expires_in?: number };
    const value = body.token ?? body.access_token;
    if (!value) throw new RegistryError(`the token service of ${host} returned no token`);
    // Renew a little early; 60 s is the spec's default lifetime.
    this.tokens.set(`${host} ${scope}`, { value, expiresAt: Date.now() + Math.max(0, (body.expires_in ?? 60) - 10) * 1000 });
    return `Bearer ${value}`;
  }
}

/** `ghcr.io/acme/app` → host `ghcr.io`, name `acme/app`; Docker Hub's API lives on registry-1. */
function split(repository: string): { host: string; name: string } {
  const slash = repository.indexOf('/');
  if (slash < 0) throw new RegistryError(`"${repository}" is not a canonical repository (host/path)`);
  const host = repository.slice(0, slash);
  return { host: host === 'docker.io' ? 'registry-1.docker.io' : host, name: repository.slice(slash + 1) };
}

function isLoopback(host: string): boolean {
  const h = host.replace(/:\d+$/, '');
  return h === 'localhost' || h === '127.0.0.1' || h === '[::1]';
}

function accessFor(map: RegistryAccessMap, host: string): RegistryAccess {
  return map.get(host) ?? map.get(host === 'registry-1.docker.io' ? 'docker.io' : host) ?? { insecure: false };
}

function baseUrl(host: string, access: RegistryAccess): string {
  return `${access.insecure || isLoopback(host) ? 'http' : 'https'}://${host}`;
}

async function expectOk(res: Response, what: string): Promise<void> {
  if (res.ok) return;
  await res.body?.cancel();
  const hint = res.status === 401 || res.status === 403 ? '; add or check its credentials in MERGEOPS_REGISTRIES' : '';
  throw new RegistryError(`${what}: the registry answered ${res.status} ${res.statusText}${hint}`, res.status);
}

async function readCapped(res: Response): Promise<string> {
  const declared = Number(res.headers.get('content-length'));
  if (declared > MAX_BODY_BYTES) throw new RegistryError(`registry response of ${declared} bytes is over the ${MAX_BODY_BYTES}-byte limit`);
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (!res.body) return '';
  for await (const chunk of res.body) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new RegistryError(`registry response over the ${MAX_BODY_BYTES}-byte limit`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** `Retry-After` in seconds or as an HTTP date; 60 s when absent. */
export function retryAfterMs(header: string | null): number {
  if (!header) return 60_000;
  const secs = Number(header);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? 60_000 : Math.max(0, at - Date.now());
}

/** `Bearer realm="…",service="…",scope="…"` → scheme and parameters. */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } | null {
  const m = /^\s*(\w+)\s*(.*)$/.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of (m[2] ?? '').matchAll(/(\w+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) params[(p[1] ?? '').toLowerCase()] = p[2] ?? p[3] ?? '';
  return { scheme: (m[1] ?? '').toLowerCase(), params };
}

/**
 * The `rel="next"` target of a Link header, resolved against the registry. A link to
 * another host is refused: following it would send our token elsewhere.
 */
export function nextLink(header: string | null, host: string): string | null {
  if (!header) return null;
  for (const part of header.split(',')) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (!m?.[1]) continue;
    const url = new URL(m[1], `http://${host}`);
    if (url.host !== host) throw new RegistryError(`${host} sent a next-page link to another host (${url.host}); refusing to follow it`);
    return `${url.pathname}${url.search}`;
  }
  return null;
}
