import crypto from 'node:crypto';
import type { App } from '../config/repo-config.js';
import { canonical } from '../managed-fields.js';
import { identity, type RenderedObject } from '../objects.js';

/**
 * The app's settings that change what an apply sends or removes, besides the objects: an
 * app whose objects are the same but whose `prune:` or namespace changed must still be
 * applied. `wait`, `selfHeal`, `failOn` and `review` change only what is reported.
 */
const APPLY_SETTINGS = ['cluster', 'namespace', 'prune', 'pruneEmpty', 'conflicts', 'createNamespace', 'adopt', 'release'] as const;

/**
 * One hash of what deploying the app would ask of its cluster: its rendered objects (in
 * identity order, keys sorted, so file order and YAML formatting do not count) and its
 * apply settings. Equal hashes mean an apply would send the same requests: a preview need
 * not plan an app whose hash equals the base's, and a deploy need not apply an app whose
 * hash equals the one its inventory recorded at its last successful deploy.
 */
export function desiredHash(app: App, rendered: readonly RenderedObject[]): string {
  const h = crypto.createHash('sha256');
  h.update(JSON.stringify(canonical(Object.fromEntries(APPLY_SETTINGS.map((k) => [k, app[k] ?? null])))));
  const objects = rendered.map((r) => ({ id: identity(r.object), json: JSON.stringify(canonical(r.object)) })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const o of objects) h.update('\n').update(o.json);
  return `sha256:${h.digest('hex')}`;
}
