import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OciDatasource } from '../../../src/images/registry/oci.js';
import { RegistryError, RegistryRateLimitError } from '../../../src/images/registry/datasource.js';
import { startRegistry, type TestRegistry } from '../../support/registry.js';

describe('OciDatasource against a real Distribution registry', () => {
  let open: TestRegistry;
  let guarded: TestRegistry;

  beforeAll(async () => {
    [open, guarded] = await Promise.all([startRegistry(), startRegistry({ tokenAuth: true })]);
  });
  afterAll(async () => {
    await open?.stop();
    await guarded?.stop();
  });

  it('lists every tag of a repository', async () => {
    const tags = ['1.0.0', '1.1.0', '1.2.0', '2.0.0-rc.1', 'latest'];
    for (const t of tags) await open.pushImage('acme/paged', t);
    // Distribution 2.8 answers the whole list in one page (paging of tags came in 3.0); the
    // Link-following path is covered against a paging server in the unit tests.
    expect((await new OciDatasource().listTags(`${open.host}/acme/paged`)).sort()).toEqual([...tags].sort());
  });

  it('reads a tag digest and the build labels', async () => {
    const digest = await open.pushImage('acme/info', '3.1.0', { 'org.opencontainers.image.revision': 'abc123', 'org.opencontainers.image.source': 'https://github.com/acme/info' });
    const ds = new OciDatasource();
    expect(await ds.digest(`${open.host}/acme/info`, '3.1.0')).toBe(digest);
    expect(await ds.digest(`${open.host}/acme/info`, 'nope')).toBeNull();
    const info = await ds.buildInfo(`${open.host}/acme/info`, '3.1.0');
    expect(info).toMatchObject({ digest, revision: 'abc123', source: 'https://github.com/acme/info' });
    expect(info.created).toMatch(/^\d{4}-/);
  });

  it('answers the bearer-token challenge and reuses the token', async () => {
    await guarded.pushImage('acme/private', '0.1.0');
    await guarded.pushImage('acme/private', '0.2.0');
    const requests: string[] = [];
    const counting: typeof fetch = (input, init) => {
      requests.push(String(input));
      return fetch(input, init);
    };
    const ds = new OciDatasource(new Map(), { fetch: counting });
    expect((await ds.listTags(`${guarded.host}/acme/private`)).sort()).toEqual(['0.1.0', '0.2.0']);
    expect(await ds.digest(`${guarded.host}/acme/private`, '0.2.0')).toMatch(/^sha256:/);
    // 401 → token → retry, then the second call goes straight through with the cached token.
    expect(requests.filter((u) => u.includes('/token?'))).toHaveLength(1);
    expect(requests.filter((u) => u.includes('/token?'))[0]).toContain('scope=repository%3Aacme%2Fprivate%3Apull');
  });

  it('says what is wrong for a missing repository', async () => {
    const err = await new OciDatasource().listTags(`${open.host}/acme/missing`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as Error).message).toContain('does not exist');
  });

  it('turns a 429 into a rate-limit error carrying Retry-After', async () => {
    const limited: typeof fetch = async () => new Response('slow down', { status: 429, headers: { 'retry-after': '7' } });
    const err = await new OciDatasource(new Map(), { fetch: limited }).listTags('registry.example/acme/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RegistryRateLimitError);
    expect((err as RegistryRateLimitError).retryAfterMs).toBe(7000);
  });
});
