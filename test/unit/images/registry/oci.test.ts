import { describe, expect, it } from '@jest/globals';
import { OciDatasource, nextLink, parseChallenge, retryAfterMs } from '../../../../src/images/registry/oci.js';
import { RegistryError } from '../../../../src/images/registry/datasource.js';

/** A registry that pages its tags list the way the distribution spec (and Docker Hub, GHCR) do. */
function pagingRegistry(all: string[], linkHost?: string): { fetch: typeof fetch; urls: string[] } {
  const urls: string[] = [];
  return {
    urls,
    fetch: async (input) => {
      const url = new URL(String(input));
      urls.push(url.toString());
      const n = Number(url.searchParams.get('n'));
      const last = url.searchParams.get('last');
      const from = last ? all.indexOf(last) + 1 : 0;
      const page = all.slice(from, from + n);
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (from + n < all.length) headers['link'] = `<${linkHost ? `https://${linkHost}` : ''}${url.pathname}?n=${n}&last=${page[page.length - 1]}>; rel="next"`;
      return new Response(JSON.stringify({ name: 'acme/app', tags: page }), { status: 200, headers });
    },
  };
}

describe('OciDatasource paging', () => {
  it('follows Link rel="next" until the last page', async () => {
    const all = Array.from({ length: 7 }, (_, i) => `1.0.${i}`);
    const reg = pagingRegistry(all);
    expect(await new OciDatasource(new Map(), { fetch: reg.fetch, pageSize: 3 }).listTags('registry.example/acme/app')).toEqual(all);
    expect(reg.urls).toEqual([
      'https://registry.example/v2/acme/app/tags/list?n=3',
      'https://registry.example/v2/acme/app/tags/list?n=3&last=1.0.2',
      'https://registry.example/v2/acme/app/tags/list?n=3&last=1.0.5',
    ]);
  });

  it('refuses a next link to another host (it would receive our token)', async () => {
    const reg = pagingRegistry(['a', 'b', 'c'], 'evil.example');
    const err = await new OciDatasource(new Map(), { fetch: reg.fetch, pageSize: 1 }).listTags('registry.example/acme/app').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toContain('evil.example');
  });

  it('uses Docker Hub API host and library/ for official images', async () => {
    const reg = pagingRegistry(['1.27']);
    await new OciDatasource(new Map(), { fetch: reg.fetch }).listTags('docker.io/library/nginx');
    expect(reg.urls[0]).toBe('https://registry-1.docker.io/v2/library/nginx/tags/list?n=1000');
  });

  it('asks for credentials by name when a registry wants Basic auth', async () => {
    const basic: typeof fetch = async () => new Response('', { status: 401, headers: { 'www-authenticate': 'Basic realm="r"' } });
    const err = await new OciDatasource(new Map(), { fetch: basic }).listTags('registry.example/acme/app').catch((e: unknown) => e);
    expect((err as Error).message).toContain('registries."registry.example" in MERGEOPS_REGISTRIES');
  });

  it('sends configured credentials to the token service and never over plain HTTP', async () => {
    const seen: { url: string; auth: string | null }[] = [];
    const f: typeof fetch = async (input, init) => {
      const url = String(input);
      const auth = new Headers(init?.headers).get('authorization');
      seen.push({ url, auth });
      if (url.startsWith('https://auth.example/token')) return new Response(JSON.stringify({ token: 't0k' }), { status: 200 });
      if (auth === 'Bearer t0k') return new Response(JSON.stringify({ tags: ['1'] }), { status: 200 });
      return new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="https://auth.example/token",service="reg"' } });
    };
    const ds = new OciDatasource(new Map([['registry.example', { username: 'bot', password: 'pw', insecure: false }]]), { fetch: f });
    expect(await ds.listTags('registry.example/acme/app')).toEqual(['1']);
    const tokenCall = seen.find((s) => s.url.startsWith('https://auth.example/token'));
    expect(tokenCall?.auth).toBe(`Basic ${Buffer.from('bot:pw').toString('base64')}`);
    expect(tokenCall?.url).toContain('service=reg');

    const plain: typeof fetch = async () => new Response('', { status: 401, headers: { 'www-authenticate': 'Bearer realm="http://auth.example/token"' } });
    const err = await new OciDatasource(new Map([['registry.example', { username: 'bot', password: 'pw', insecure: false }]]), { fetch: plain }).listTags('registry.example/acme/app').catch((e: unknown) => e);
    expect((err as Error).message).toContain('refusing to send credentials');
  });
});

describe('header parsing', () => {
  it('parses WWW-Authenticate challenges', () => {
    expect(parseChallenge('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/app:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://ghcr.io/token', service: 'ghcr.io', scope: 'repository:acme/app:pull' },
    });
    expect(parseChallenge('Basic realm="Registry Realm"')?.scheme).toBe('basic');
  });

  it('reads relative and absolute next links', () => {
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', 'r.example')).toBe('/v2/a/tags/list?n=2&last=b');
    expect(nextLink('<https://r.example/v2/a/tags/list?last=b>; rel=next', 'r.example')).toBe('/v2/a/tags/list?last=b');
    expect(nextLink(null, 'r.example')).toBeNull();
  });

  it('reads Retry-After as seconds or a date', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(null)).toBe(60_000);
    const inTen = new Date(Date.now() + 10_000).toUTCString();
    expect(retryAfterMs(inTen)).toBeGreaterThan(8000);
  });
});
