import type { KubeObject } from './objects.js';

/**
 * What a workload's pods read: its pod template and the ConfigMaps and Secrets it takes
 * values from. Shared by the rollout analysis (diff/) and restartOnConfigChange (render/).
 */

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** The kinds whose pods come from a pod template: what the rollout analysis and restartOnConfigChange look at. */
const WORKLOAD_KINDS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job', 'CronJob']);

export function isWorkload(o: KubeObject | null | undefined): o is KubeObject {
  return !!o && WORKLOAD_KINDS.has(o.kind) && /^(apps|batch)\/v1$/.test(o.apiVersion);
}

/** The pod template of a workload (a CronJob's is inside its job template). */
export function podTemplate(o: KubeObject | null | undefined): Obj | undefined {
  if (!o) return undefined;
  const spec = obj(o['spec']);
  const t = o.kind === 'CronJob' ? obj(obj(obj(spec['jobTemplate'])['spec'])['template']) : obj(spec['template']);
  return Object.keys(t).length ? t : undefined;
}

export interface ConfigUse {
  kind: 'ConfigMap' | 'Secret';
  name: string;
  via: 'env' | 'envFrom' | 'volume' | 'projected volume';
  /** Mounted with subPath somewhere: those files never update. */
  subPath?: boolean;
}

export function containersOf(spec: Obj): Obj[] {
  return [...arr(spec['initContainers']), ...arr(spec['containers'])];
}

/** The ConfigMaps and Secrets a pod template reads, and how. */
export function configUses(template: Obj | undefined): ConfigUse[] {
  const spec = obj(template?.['spec']);
  const out: ConfigUse[] = [];
  const add = (u: ConfigUse): void => {
    if (!out.some((x) => x.kind === u.kind && x.name === u.name && x.via === u.via)) out.push(u);
  };
  for (const c of containersOf(spec)) {
    for (const e of arr(c['env'])) {
      const from = obj(e['valueFrom']);
      const cm = str(obj(from['configMapKeyRef'])['name']);
      const sec = str(obj(from['secretKeyRef'])['name']);
      if (cm) add({ kind: 'ConfigMap', name: cm, via: 'env' });
      if (sec) add({ kind: 'Secret', name: sec, via: 'env' });
    }
    for (const e of arr(c['envFrom'])) {
      const cm = str(obj(e['configMapRef'])['name']);
      const sec = str(obj(e['secretRef'])['name']);
      if (cm) add({ kind: 'ConfigMap', name: cm, via: 'envFrom' });
      if (sec) add({ kind: 'Secret', name: sec, via: 'envFrom' });
    }
  }
  const subPathVolumes = new Set(containersOf(spec).flatMap((c) => arr(c['volumeMounts']).filter((m) => str(m['subPath']) || str(m['subPathExpr'])).map((m) => str(m['name']) ?? '')));
  for (const v of arr(spec['volumes'])) {
    const subPath = subPathVolumes.has(str(v['name']) ?? '');
    const cm = str(obj(v['configMap'])['name']);
    const sec = str(obj(v['secret'])['secretName']);
    if (cm) add({ kind: 'ConfigMap', name: cm, via: 'volume', subPath });
    if (sec) add({ kind: 'Secret', name: sec, via: 'volume', subPath });
    for (const s of arr(obj(v['projected'])['sources'])) {
      const pcm = str(obj(s['configMap'])['name']);
      const psec = str(obj(s['secret'])['name']);
      if (pcm) add({ kind: 'ConfigMap', name: pcm, via: 'projected volume', subPath });
      if (psec) add({ kind: 'Secret', name: psec, via: 'projected volume', subPath });
    }
  }
  return out;
}

/** The data a ConfigMap or Secret gives its pods, comparable across `data` and `stringData` (never shown). */
export function configPayload(o: KubeObject): Record<string, string> {
  const out: Record<string, string> = {};
  if (o.kind === 'Secret') {
    for (const [k, v] of Object.entries(obj(o['data']))) out[k] = Buffer.from(String(v), 'base64').toString('hex');
    for (const [k, v] of Object.entries(obj(o['stringData']))) out[k] = Buffer.from(String(v), 'utf8').toString('hex');
  } else {
    for (const [k, v] of Object.entries(obj(o['data']))) out[k] = Buffer.from(String(v), 'utf8').toString('hex');
    for (const [k, v] of Object.entries(obj(o['binaryData']))) out[k] = Buffer.from(String(v), 'base64').toString('hex');
  }
  return out;
}
