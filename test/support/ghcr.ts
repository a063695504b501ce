import crypto from 'node:crypto';
import nock from 'nock';

/**
 * GHCR (GitHub's container registry) as nock, speaking the OCI distribution API the way
 * ghcr.io does for a public package: every /v2 request without a token gets 401 with a
 * Bearer challenge naming https://ghcr.io/token; the token service hands out an anonymous
 * pull token for the requested scope; tags lists and manifests need that token. Manifests
 * answer with the digest header and the OCI index media type. Requests are recorded.
 */
export interface GhcrStandIn {
  /** `acme/guestbook` → tag → digest. */
  images: Map<string, Map<string, string>>;
  requests: { method: string; path: string }[];
}

export function ghcrStandIn(images: Record<string, Record<string, string>>): GhcrStandIn {
  const standIn: GhcrStandIn = { images: new Map(Object.entries(images).map(([n, tags]) => [n, new Map(Object.entries(tags))])), requests: [] };
  const tokens = new Map<string, string>();
  const challenge = (name: string): Record<string, string> => ({
    'www-authenticate': `Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:${name}:pull"`,
    'content-type': 'application/json',
  });
  const unauthorized = { errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] };
  const authorized = (name: string, auth: string | string[] | undefined): boolean => {
    const token = tokens.get(name);
    return token !== undefined && auth === `Bearer ${token}`;
  };
  const scope = nock('https://ghcr.io').persist();
  scope.get('/token').query(true).reply(function (uri) {
    standIn.requests.push({ method: 'GET', path: uri });
    const url = new URL(uri, 'https://ghcr.io');
    const m = /^repository:([^:]+):pull$/.exec(url.searchParams.get('scope') ?? '');
    if (url.searchParams.get('service') !== 'ghcr.io' || !m?.[1]) return [400, { errors: [{ code: 'DENIED', message: 'invalid scope or service' }] }];
    const token = Buffer.from(`v1:${m[1]}:${crypto.randomBytes(8).toString('hex')}`).toString('base64');
    tokens.set(m[1], token);
    return [200, { token }];
  });
  scope.get(/^\/v2\/.+\/tags\/list/).reply(function (uri) {
    standIn.requests.push({ method: 'GET', path: uri });
    const name = /^\/v2\/(.+)\/tags\/list/.exec(uri)?.[1] ?? '';
    if (!authorized(name, this.req.headers['authorization'])) return [401, unauthorized, challenge(name)];
    const tags = standIn.images.get(name);
    if (!tags) return [404, { errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }];
    return [200, { name, tags: [...tags.keys()] }, { 'content-type': 'application/json' }];
  });
  const manifest = function (this: nock.ReplyFnContext, method: string, uri: string): nock.ReplyFnResult {
    standIn.requests.push({ method, path: uri });
    const [, name = '', ref = ''] = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(uri) ?? [];
    if (!authorized(name, this.req.headers['authorization'])) return [401, method === 'HEAD' ? '' : unauthorized, challenge(name)];
    const digest = standIn.images.get(name)?.get(decodeURIComponent(ref));
    if (!digest) return [404, method === 'HEAD' ? '' : { errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }];
    const body = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [] });
    return [200, method === 'HEAD' ? '' : body, { 'docker-content-digest': digest, 'content-type': 'application/vnd.oci.image.index.v1+json', 'content-length': String(body.length) }];
  };
  scope.head(/^\/v2\/.+\/manifests\/[^/]+$/).reply(function (uri) {
    return manifest.call(this, 'HEAD', uri);
  });
  scope.get(/^\/v2\/.+\/manifests\/[^/]+$/).reply(function (uri) {
    return manifest.call(this, 'GET', uri);
  });
  return standIn;
}
