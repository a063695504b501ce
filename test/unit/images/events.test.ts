import { describe, expect, it } from '@jest/globals';
import { fromRegistryPackage, fromRegistryWebhook } from '../../../src/images/events.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('fromRegistryWebhook', () => {
  it('takes tagged manifest pushes from a Distribution envelope and skips blob pushes and pulls', () => {
    const body = {
      events: [
        { action: 'push', target: { mediaType: 'application/octet-stream', digest: DIGEST, repository: 'acme/web', url: 'http://reg.local:5000/v2/acme/web/blobs/x' }, request: { host: 'reg.local:5000' } },
        { action: 'push', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: DIGEST, repository: 'acme/web', tag: '1.4.0', url: 'http://reg.local:5000/v2/acme/web/manifests/sha256:a' }, request: { host: 'reg.local:5000' } },
        { action: 'pull', target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', repository: 'acme/web', tag: '1.3.0' } },
        { action: 'push', target: { mediaType: 'application/vnd.docker.distribution.manifest.v2+json', repository: 'acme/web', digest: DIGEST }, request: { host: 'reg.local:5000' } },
      ],
    };
    expect(fromRegistryWebhook(body)).toEqual([{ repository: 'reg.local:5000/acme/web', tag: '1.4.0', digest: DIGEST, source: 'registry notification' }]);
  });

  it('reads Docker Hub and Harbor webhooks', () => {
    expect(fromRegistryWebhook({ push_data: { tag: '2.0', pusher: 'bob' }, repository: { repo_name: 'acme/api', namespace: 'acme' }, callback_url: 'https://registry.hub.docker.com/u/acme/api/hook/1/' })).toEqual([
      { repository: 'docker.io/acme/api', tag: '2.0', source: 'Docker Hub webhook' },
    ]);
    expect(fromRegistryWebhook({ push_data: { tag: '1.27' }, repository: { repo_name: 'nginx' } })?.[0]?.repository).toBe('docker.io/library/nginx');
    const harbor = { type: 'PUSH_ARTIFACT', occur_at: 1, event_data: { resources: [{ digest: DIGEST, tag: 'v3', resource_url: 'harbor.acme.io/prod/web:v3' }], repository: { name: 'web', namespace: 'prod' } } };
    expect(fromRegistryWebhook(harbor)).toEqual([{ repository: 'harbor.acme.io/prod/web', tag: 'v3', digest: DIGEST, source: 'Harbor webhook' }]);
    expect(fromRegistryWebhook({ ...harbor, type: 'DELETE_ARTIFACT' })).toEqual([]);
  });

  it('returns null for anything else and drops invalid tags', () => {
    expect(fromRegistryWebhook({ hello: 'world' })).toBeNull();
    expect(fromRegistryWebhook('x')).toBeNull();
    const bad = fromRegistryWebhook({ push_data: { tag: 'x y;rm -rf' }, repository: { repo_name: 'acme/api' } });
    expect(bad).toEqual([{ repository: 'docker.io/acme/api', source: 'Docker Hub webhook' }]);
    expect(fromRegistryWebhook({ push_data: {}, repository: { repo_name: '../../etc' } })).toEqual([]);
  });
});

describe('fromRegistryPackage', () => {
  const payload = {
    action: 'published',
    registry_package: {
      id: 1,
      name: 'Guestbook',
      namespace: 'Acme',
      ecosystem: 'CONTAINER',
      package_type: 'CONTAINER',
      owner: { login: 'Acme' },
      package_version: { id: 2, version: DIGEST, name: DIGEST, container_metadata: { tag: { name: '1.3.0', digest: DIGEST } }, package_url: 'ghcr.io/acme/guestbook:1.3.0' },
      registry: { about_url: 'https://docs.github.com/packages', name: 'GitHub CONTAINER registry', type: 'CONTAINER', url: 'https://ghcr.io/acme', vendor: 'GitHub Inc' },
    },
  };

  it('names the GHCR image in lowercase with its tag and digest', () => {
    expect(fromRegistryPackage(payload)).toEqual({ repository: 'ghcr.io/acme/guestbook', tag: '1.3.0', digest: DIGEST, source: 'GHCR registry_package' });
  });

  it('ignores other package types and untagged versions keep only the digest', () => {
    expect(fromRegistryPackage({ ...payload, registry_package: { ...payload.registry_package, package_type: 'npm' } })).toBeNull();
    const untagged = structuredClone(payload);
    untagged.registry_package.package_version.container_metadata.tag.name = '';
    expect(fromRegistryPackage(untagged)).toEqual({ repository: 'ghcr.io/acme/guestbook', digest: DIGEST, source: 'GHCR registry_package' });
  });
});
