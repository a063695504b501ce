import crypto from 'node:crypto';
import type { RenderedObject } from '../objects.js';
import { CONFIG_HASH_ANNOTATION } from '../rollout-checks.js';
import { configPayload, configUses, isWorkload, podTemplate } from '../workloads.js';

/**
 * `restartOnConfigChange: true`: each workload whose pods read a ConfigMap or Secret of the
 * same render gets the pod-template annotation `mergeops.dev/config-hash`, a hash of those
 * configs' data, so a change to them changes the pod template and the pods restart (what
 * charts do by hand with `checksum/config`). Configs the render does not hold are not
 * hashed (mergeops cannot see their next value). One hash over all of them: a Secret's
 * value shows in no annotation. Returns new objects; the rendered ones stay as they were.
 */
export function withConfigHashes(rendered: RenderedObject[], defaultNamespace: string | undefined): RenderedObject[] {
  const ns = (o: RenderedObject['object']): string => o.metadata.namespace ?? defaultNamespace ?? 'default';
  const configs = new Map<string, RenderedObject['object']>();
  for (const { object: o } of rendered) {
    if ((o.kind === 'ConfigMap' || o.kind === 'Secret') && o.apiVersion === 'v1') configs.set(`${o.kind}/${ns(o)}/${o.metadata.name ?? ''}`, o);
  }
  return rendered.map((r) => {
    const o = r.object;
    if (!isWorkload(o)) return r;
    const read = [...new Set(configUses(podTemplate(o)).map((u) => `${u.kind}/${ns(o)}/${u.name}`))].sort().filter((k) => configs.has(k));
    if (read.length === 0) return r;
    const h = crypto.createHash('sha256');
    for (const k of read) h.update(`${k}\n${JSON.stringify(Object.entries(configPayload(configs.get(k) as RenderedObject['object'])).sort())}\n`);
    const copy = structuredClone(o);
    const template = podTemplate(copy) as Record<string, unknown>;
    const meta = (template['metadata'] ??= {}) as { annotations?: Record<string, string> };
    meta.annotations = { ...meta.annotations, [CONFIG_HASH_ANNOTATION]: h.digest('hex').slice(0, 16) };
    return { ...r, object: copy };
  });
}
