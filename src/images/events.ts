import { isObj, type Obj } from '../config/validate.js';
import { parseImageRef } from './reference.js';

/** "A registry has this image now", from any trigger; the bump flow decides what it means. */
export interface ImageEvent {
  /** Canonical repository (`host/path`). */
  repository: string;
  tag?: string;
  digest?: string;
  /** Which trigger saw it, for logs and the PR body. */
  source: string;
}

const str = (o: Obj | undefined, k: string): string | undefined => (o && typeof o[k] === 'string' ? (o[k] as string) : undefined);
const obj = (o: Obj | undefined, k: string): Obj | undefined => (o && isObj(o[k]) ? (o[k] as Obj) : undefined);

function event(repository: string | undefined, tag: string | undefined, digest: string | undefined, source: string): ImageEvent | null {
  if (!repository) return null;
  const ref = parseImageRef(repository);
  if (!ref || ref.tag !== undefined || ref.digest !== undefined) return null;
  const e: ImageEvent = { repository: ref.repository, source };
  // A tag that is not a valid tag is dropped rather than trusted into a manifest edit.
  if (tag && parseImageRef(`${ref.repository}:${tag}`)) e.tag = tag;
  if (digest && /^sha256:[a-f0-9]{64}$/.test(digest)) e.digest = digest;
  return e;
}

/** GitHub's `registry_package` (published) for a container on GHCR. */
export function fromRegistryPackage(payload: unknown): ImageEvent | null {
  if (!isObj(payload)) return null;
  const pkg = obj(payload, 'registry_package');
  if (str(pkg, 'package_type')?.toLowerCase() !== 'container') return null;
  const version = obj(pkg, 'package_version');
  const tag = obj(obj(version, 'container_metadata'), 'tag');
  const namespace = str(pkg, 'namespace') ?? str(obj(pkg, 'owner'), 'login');
  const name = str(pkg, 'name');
  // GHCR stores names lowercased; `namespace/name` is the image path under ghcr.io.
  const host = str(obj(pkg, 'registry'), 'url')?.replace(/^https?:\/\//, '').split('/')[0] || 'ghcr.io';
  if (!namespace || !name) return null;
  return event(`${host}/${namespace}/${name}`.toLowerCase(), str(tag, 'name') || undefined, str(tag, 'digest') ?? str(version, 'version'), 'GHCR registry_package');
}

/**
 * The body of `POST /registry/webhook`: a CNCF Distribution notification envelope (also what
 * Harbor's "Distribution"-style endpoints and GitLab send), Harbor's own format, or Docker
 * Hub's. Returns null when the body is none of them, [] when it is one with nothing to do.
 */
export function fromRegistryWebhook(body: unknown): ImageEvent[] | null {
  if (!isObj(body)) return null;
  if (Array.isArray(body['events'])) return distribution(body['events']);
  if (typeof body['type'] === 'string' && isObj(body['event_data'])) return harbor(body);
  if (isObj(body['push_data']) && isObj(body['repository'])) {
    const repo = str(obj(body, 'repository'), 'repo_name');
    const e = event(repo ? `docker.io/${repo}` : undefined, str(obj(body, 'push_data'), 'tag'), undefined, 'Docker Hub webhook');
    return e ? [e] : [];
  }
  return null;
}

function distribution(events: unknown[]): ImageEvent[] {
  const out: ImageEvent[] = [];
  for (const raw of events) {
    if (!isObj(raw) || raw['action'] !== 'push') continue;
    const target = obj(raw, 'target');
    // Blob uploads are pushes too; only a tagged manifest is a new image.
    const type = str(target, 'mediaType') ?? '';
    if (!/manifest|index/.test(type) || !str(target, 'tag')) continue;
    let host = str(obj(raw, 'request'), 'host');
    const url = str(target, 'url');
    if (url) {
      try {
        host = new URL(url).host;
      } catch {
        // keep the request host
      }
    }
    const e = event(host ? `${host}/${str(target, 'repository') ?? ''}` : undefined, str(target, 'tag'), str(target, 'digest'), 'registry notification');
    if (e) out.push(e);
  }
  return out;
}

function harbor(body: Obj): ImageEvent[] {
  if (body['type'] !== 'PUSH_ARTIFACT') return [];
  const resources = obj(body, 'event_data')?.['resources'];
  const out: ImageEvent[] = [];
  for (const r of Array.isArray(resources) ? resources : []) {
    if (!isObj(r)) continue;
    const ref = parseImageRef(str(r, 'resource_url') ?? '');
    const e = ref ? event(ref.repository, str(r, 'tag') ?? ref.tag, str(r, 'digest') ?? ref.digest, 'Harbor webhook') : null;
    if (e) out.push(e);
  }
  return out;
}
