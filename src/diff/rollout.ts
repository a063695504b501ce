import { isDeepStrictEqual } from 'node:util';
import { normalize, objectRef, type KubeObject, type PlannedObject, type SourceRef } from '../objects.js';
import type { RolloutCheck } from '../rollout-checks.js';
import { configPayload, configUses, containersOf, isWorkload, podTemplate, type ConfigUse } from '../workloads.js';

/**
 * What a merge does to running workloads, from each (live, desired) pair of an app's plan
 * and a few live facts of its namespaces: whether pods restart and why, how the rollout
 * runs, whether changed config is picked up, whether there is room for it, and whether it
 * stalls, fights or loses traffic. Pure: the engine reads the facts (only for namespaces
 * where a workload changes), the preview and the CLI report the entries.
 */

/** One thing that may go wrong, named so `failOn:` can make it a failure. */
export interface RolloutFinding {
  check: RolloutCheck;
  /** One or two sentences; names in backticks, never a Secret value. */
  message: string;
  /** The app's `failOn:` names this check: the preview fails on it. */
  fails?: boolean;
}

/** The "Rollout" line of one workload (or route), with what may go wrong. */
export interface RolloutEntry {
  ref: string;
  kind: string;
  source?: SourceRef;
  /** `restart (image `web` 2.1.0 → 2.2.0): 6 pods replaced, …`, `scale 3 → 5, no restart`. */
  line: string;
  /** The line in a few words, for a table cell: `restarts 6 pods`, `scales 3 → 5`, `no restart`. */
  short: string;
  findings: RolloutFinding[];
}

/** Live objects of the namespaces whose workloads change, read by the engine (read-only). */
export interface RolloutFacts {
  quotas: KubeObject[];
  limitRanges: KubeObject[];
  pdbs: KubeObject[];
  hpas: KubeObject[];
  /** What could not be read (`ResourceQuota in shop: forbidden`): its checks were skipped. */
  unread?: string[];
}

export interface RolloutInput {
  objects: PlannedObject[];
  /** Live objects the render no longer has (prune candidates). */
  orphans: KubeObject[];
  facts?: RolloutFacts;
  app: { waitMs: number; conflicts: 'overwrite' | 'fail'; prune: boolean; failOn: readonly string[] };
}

const CONFIG_KINDS = new Set(['ConfigMap', 'Secret']);

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(obj) : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
/** Names from objects in backticks: no Kubernetes name holds one, but a stray value must not break the Markdown. */
const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;
const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;


/** The namespaces where a workload changes: the engine reads quota, limits, PDBs and HPAs only there. */
export function changedWorkloadNamespaces(objects: PlannedObject[]): string[] {
  const out = new Set<string>();
  for (const p of objects) {
    if (!isWorkload(p.merged) || !p.merged.metadata.namespace) continue;
    if (!p.live || p.replace || !isDeepStrictEqual(normalize(p.live)['spec'], normalize(p.merged)['spec'])) out.add(p.merged.metadata.namespace);
  }
  return [...out].sort();
}

export function analyzeRollout(input: RolloutInput): RolloutEntry[] {
  const ctx = new Context(input);
  const out: RolloutEntry[] = [];
  for (const p of input.objects) {
    if (!isWorkload(p.merged)) continue;
    const e = ctx.workload(p);
    if (e) out.push(e);
  }
  for (const p of input.objects) {
    if (!p.merged || !isRoute(p.merged)) continue;
    const findings = ctx.routeFindings(p.merged);
    if (findings.length) out.push(entry(p.merged, p.source, `routes to ${findings.length === 1 ? 'a backend' : 'backends'} the render no longer has`, 'traffic', findings));
  }
  for (const e of out) for (const f of e.findings) if (input.app.failOn.includes(f.check)) f.fails = true;
  return out;
}

function entry(o: KubeObject, source: SourceRef | undefined, line: string, short: string, findings: RolloutFinding[]): RolloutEntry {
  const e: RolloutEntry = { ref: objectRef(o), kind: o.kind, line, short, findings };
  if (source) e.source = source;
  return e;
}

// ── why the pod template changes ─────────────────────────────────────────────────────

/** `2.1.0 → 2.2.0` for one repository, the whole references otherwise. */
function imageChange(a: string | undefined, b: string | undefined): string {
  const split = (s: string): [string, string] => {
    const at = s.indexOf('@');
    const i = at >= 0 ? at : s.lastIndexOf(':') > s.lastIndexOf('/') ? s.lastIndexOf(':') : s.length;
    return [s.slice(0, i), s.slice(i + 1)];
  };
  if (!a || !b) return `${code(a ?? '(none)')} → ${code(b ?? '(none)')}`;
  const [ra, ta] = split(a);
  const [rb, tb] = split(b);
  return ra === rb && ta && tb ? `${code(ta)} → ${code(tb)}` : `${code(a)} → ${code(b)}`;
}

function keysChanged(a: Obj, b: Obj): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => !isDeepStrictEqual(a[k], b[k])).sort();
}

/** Why a pod template changes, as short phrases: `image `web` 2.1.0 → 2.2.0`, `env of `web``, `annotation `checksum/config``. */
export function templateReasons(before: Obj | undefined, after: Obj | undefined): string[] {
  const a = obj(before);
  const b = obj(after);
  const out: string[] = [];
  const ma = obj(a['metadata']);
  const mb = obj(b['metadata']);
  const annotations = keysChanged(obj(ma['annotations']), obj(mb['annotations']));
  if (annotations.length) out.push(`${annotations.length === 1 ? 'annotation' : 'annotations'} ${annotations.map(code).join(', ')}`);
  if (!isDeepStrictEqual(obj(ma['labels']), obj(mb['labels']))) out.push('pod labels');
  const sa = obj(a['spec']);
  const sb = obj(b['spec']);
  const byName = (spec: Obj): Map<string, Obj> => new Map(containersOf(spec).map((c) => [str(c['name']) ?? '', c]));
  const ca = byName(sa);
  const cb = byName(sb);
  // Config references renamed (a generator's hash suffix): the change reads by the config's name.
  const usesA = configUses(a);
  const usesB = configUses(b);
  const renamed = new Set<string>();
  for (const u of usesB) {
    if (usesA.some((x) => x.kind === u.kind && x.name === u.name)) continue;
    const stem = u.name.replace(/-[a-z0-9]{10}$/, '');
    const old = usesA.find((x) => x.kind === u.kind && x.via === u.via && x.name !== u.name && x.name.replace(/-[a-z0-9]{10}$/, '') === stem && !usesB.some((y) => y.kind === x.kind && y.name === x.name));
    if (old && !renamed.has(`${u.kind}/${u.name}`)) {
      renamed.add(`${u.kind}/${u.name}`);
      out.push(`${u.kind} ${code(old.name)} → ${code(u.name)}`);
    }
  }
  for (const [name, c] of cb) {
    const old = ca.get(name);
    if (!old) {
      out.push(`container ${code(name)} added`);
      continue;
    }
    if (old['image'] !== c['image']) out.push(`image ${code(name)} ${imageChange(str(old['image']), str(c['image']))}`);
    const rest = keysChanged(old, c).filter((k) => k !== 'image' && !(renamed.size && (k === 'env' || k === 'envFrom' || k === 'volumeMounts') && onlyRenames(old[k], c[k], usesA, usesB)));
    if (rest.length) out.push(`${rest.slice(0, 3).map(code).join(', ')}${rest.length > 3 ? ' …' : ''} of ${code(name)}`);
  }
  for (const name of ca.keys()) if (!cb.has(name)) out.push(`container ${code(name)} removed`);
  const podKeys = keysChanged(sa, sb).filter((k) => k !== 'containers' && k !== 'initContainers' && !(k === 'volumes' && renamed.size && onlyRenames(sa[k], sb[k], usesA, usesB)));
  if (podKeys.length) out.push(`pod ${podKeys.slice(0, 3).map(code).join(', ')}${podKeys.length > 3 ? ' …' : ''}`);
  return out;
}

/** Whether two fields differ only in the names of configs that were renamed. */
function onlyRenames(a: unknown, b: unknown, usesA: ConfigUse[], usesB: ConfigUse[]): boolean {
  let text = JSON.stringify(a ?? null);
  for (const u of usesA) {
    const stem = u.name.replace(/-[a-z0-9]{10}$/, '');
    const to = usesB.find((x) => x.kind === u.kind && x.name !== u.name && x.name.replace(/-[a-z0-9]{10}$/, '') === stem);
    if (to) text = text.split(JSON.stringify(u.name)).join(JSON.stringify(to.name));
  }
  return text === JSON.stringify(b ?? null);
}

// ── quantities ───────────────────────────────────────────────────────────────────────

const SUFFIX: Record<string, number> = { n: 1e-9, u: 1e-6, m: 1e-3, '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };

/** A Kubernetes quantity (`500m`, `1.5Gi`, `2e3`) as a number; undefined when it is not one. */
export function parseQuantity(q: unknown): number | undefined {
  if (typeof q === 'number') return q;
  if (typeof q !== 'string') return undefined;
  const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$/.exec(q.trim());
  if (!m) return undefined;
  const v = Number(m[1]) * (SUFFIX[m[2] ?? ''] ?? NaN);
  return Number.isFinite(v) ? v : undefined;
}

function formatQuantity(resource: string, v: number): string {
  if (resource.endsWith('cpu')) return v < 1 || !Number.isInteger(v) ? `${Math.round(v * 1000)}m` : String(v);
  if (resource.endsWith('memory')) {
    for (const [s, f] of [['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) if (Math.abs(v) >= f) return `${+(v / f).toFixed(2)}${s}`;
  }
  return String(+v.toFixed(2));
}

interface PodRequests {
  cpu: number;
  memory: number;
  /** Containers with no request for a resource the quota limits (and no LimitRange default). */
  missing: Set<'cpu' | 'memory'>;
  /** LimitRanges whose defaults filled in a request. */
  defaulted: Set<string>;
}

/** A pod's requests, with the namespace's LimitRange defaults where a container sets none (as admission does). */
function podRequests(template: Obj | undefined, limitRanges: KubeObject[]): PodRequests {
  const spec = obj(template?.['spec']);
  const out: PodRequests = { cpu: 0, memory: 0, missing: new Set(), defaulted: new Set() };
  const defaults = limitRanges.flatMap((lr) => arr(obj(lr['spec'])['limits']).filter((l) => l['type'] === 'Container').map((l) => ({ lr: lr.metadata.name ?? '', l })));
  const request = (c: Obj, r: 'cpu' | 'memory'): number | undefined => {
    const res = obj(c['resources']);
    const own = parseQuantity(obj(res['requests'])[r]) ?? parseQuantity(obj(res['limits'])[r]);
    if (own !== undefined) return own;
    for (const { lr, l } of defaults) {
      const d = parseQuantity(obj(l['defaultRequest'])[r]) ?? parseQuantity(obj(l['default'])[r]);
      if (d !== undefined) {
        out.defaulted.add(lr);
        return d;
      }
    }
    return undefined;
  };
  for (const r of ['cpu', 'memory'] as const) {
    let sum = 0;
    for (const c of arr(spec['containers'])) {
      const v = request(c, r);
      if (v === undefined) out.missing.add(r);
      else sum += v;
    }
    // Init containers run before the others: the pod needs the larger of the two.
    const init = Math.max(0, ...arr(spec['initContainers']).map((c) => request(c, r) ?? 0));
    out[r] = Math.max(sum, init);
  }
  return out;
}

// ── labels and selectors ─────────────────────────────────────────────────────────────

function matchesSelector(selector: Obj, labels: Obj): boolean {
  const ml = obj(selector['matchLabels']);
  const exprs = arr(selector['matchExpressions']);
  if (Object.keys(ml).length === 0 && exprs.length === 0) return false;
  if (!Object.entries(ml).every(([k, v]) => labels[k] === v)) return false;
  return exprs.every((e) => {
    const key = str(e['key']) ?? '';
    const values = Array.isArray(e['values']) ? (e['values'] as unknown[]) : [];
    switch (e['operator']) {
      case 'In': return values.includes(labels[key]);
      case 'NotIn': return !values.includes(labels[key]);
      case 'Exists': return key in labels;
      case 'DoesNotExist': return !(key in labels);
      default: return false;
    }
  });
}

/** A Service's selector (a plain map) against pod labels: an empty one selects nothing here (its endpoints are managed by hand). */
function serviceSelects(svc: KubeObject, labels: Obj): boolean {
  const sel = obj(obj(svc['spec'])['selector']);
  return Object.keys(sel).length > 0 && Object.entries(sel).every(([k, v]) => labels[k] === v);
}

const labelText = (labels: Obj): string => Object.entries(labels).map(([k, v]) => `${k}=${String(v)}`).join(',');

/** An int-or-percent of `total`, rounded as the controllers round it. */
function scaled(v: unknown, total: number, roundUp: boolean, dflt: number): number {
  if (typeof v === 'number') return v;
  const m = typeof v === 'string' ? /^(\d+)%$/.exec(v) : null;
  if (!m) return dflt;
  const x = (Number(m[1]) * total) / 100;
  return roundUp ? Math.ceil(x) : Math.floor(x);
}

const showIntOrPercent = (v: unknown, dflt: string): string => (v === undefined ? `${dflt} by default` : String(v));

function durationText(s: number): string {
  return s >= 60 && s % 60 === 0 ? `${s / 60}m` : `${s}s`;
}

function isRoute(o: KubeObject): boolean {
  return (o.kind === 'Ingress' && o.apiVersion.startsWith('networking.k8s.io/')) || (o.kind === 'HTTPRoute' && o.apiVersion.startsWith('gateway.networking.k8s.io/'));
}

// ── the analysis ─────────────────────────────────────────────────────────────────────

class Context {
  /** Changed ConfigMaps and Secrets (same name, other data), by `Kind/namespace/name`. */
  private readonly changedConfigs = new Set<string>();
  private readonly services: KubeObject[] = [];
  private readonly liveServices = new Map<string, KubeObject>();
  private readonly droppedServices = new Set<string>();
  private readonly facts: RolloutFacts;

  constructor(private readonly input: RolloutInput) {
    const renderPdbs: KubeObject[] = [];
    const renderHpas: KubeObject[] = [];
    for (const p of input.objects) {
      const o = p.merged;
      if (!o) continue;
      const key = `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
      if (CONFIG_KINDS.has(o.kind) && o.apiVersion === 'v1' && p.live && !isDeepStrictEqual(configPayload(p.live), configPayload(o))) this.changedConfigs.add(`${o.kind}/${key}`);
      if (o.kind === 'Service' && o.apiVersion === 'v1') {
        this.services.push(o);
        if (p.live) this.liveServices.set(key, p.live);
      }
      if (o.kind === 'PodDisruptionBudget') renderPdbs.push(o);
      if (o.kind === 'HorizontalPodAutoscaler') renderHpas.push(o);
    }
    if (input.app.prune) for (const o of input.orphans) if (o.kind === 'Service' && o.apiVersion === 'v1') this.droppedServices.add(`${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`);
    // What the render declares replaces the live object of the same name.
    const merge = (live: KubeObject[], rendered: KubeObject[]): KubeObject[] => [...rendered, ...live.filter((l) => !rendered.some((r) => r.metadata.name === l.metadata.name && r.metadata.namespace === l.metadata.namespace))];
    const f = input.facts ?? { quotas: [], limitRanges: [], pdbs: [], hpas: [] };
    this.facts = { ...f, pdbs: merge(f.pdbs, renderPdbs), hpas: merge(f.hpas, renderHpas) };
  }

  private inNs<T extends KubeObject>(xs: T[], ns: string | undefined): T[] {
    return xs.filter((x) => (x.metadata.namespace ?? '') === (ns ?? ''));
  }

  workload(p: PlannedObject): RolloutEntry | undefined {
    const o = p.merged as KubeObject;
    const live = p.live;
    const ns = o.metadata.namespace;
    const before = podTemplate(live);
    const after = podTemplate(o);
    const templateChanged = !!live && !isDeepStrictEqual(normTemplate(before), normTemplate(after));
    const specChanged = !live || p.replace === true || !isDeepStrictEqual(normalize(live)['spec'], normalize(o)['spec']);
    const findings: RolloutFinding[] = [];
    const parts: string[] = [];

    // Config not picked up: a changed config this workload reads, with no change to its pods.
    const uses = configUses(after).filter((u) => this.changedConfigs.has(`${u.kind}/${ns ?? ''}/${u.name}`));
    if (live && !templateChanged && uses.length) {
      const restartless = uses.filter((u) => u.via === 'env' || u.via === 'envFrom' || u.subPath);
      const inPlace = uses.filter((u) => !restartless.some((r) => r.kind === u.kind && r.name === u.name));
      if (restartless.length) {
        const how = restartless.map((u) => `${u.kind} ${code(u.name)} through ${u.subPath && (u.via === 'volume' || u.via === 'projected volume') ? `a ${u.via} mounted with subPath (never updated in place)` : u.via}`);
        findings.push({
          check: 'config-not-reloaded',
          message: `${code(o.metadata.name ?? '')} reads ${how.join(' and ')}; its pod template does not change, so its pods keep the old values until they restart. Fix: generate the config with a kustomize configMapGenerator/secretGenerator (its hash suffix renames it), add a checksum annotation of it to the pod template, or set restartOnConfigChange: true on the app.`,
        });
      }
      if (inPlace.length) parts.push(`no restart: ${inPlace.map((u) => `${u.kind} ${code(u.name)}`).join(', ')} ${inPlace.length === 1 ? 'is' : 'are'} mounted as a volume and ${inPlace.length === 1 ? 'updates' : 'update'} in place after the kubelet sync (about a minute); the app must re-read ${inPlace.length === 1 ? 'it' : 'them'}`);
    }
    if (!specChanged && findings.length === 0 && parts.length === 0) return undefined;

    const replicas = (x: KubeObject | null): number | undefined => num(obj(x?.['spec'])['replicas']);
    const newR = o.kind === 'Deployment' || o.kind === 'StatefulSet' ? (replicas(o) ?? replicas(live) ?? 1) : 0;
    const oldR = live ? (replicas(live) ?? 1) : 0;
    const picked = configUses(after).filter((u) => this.changedConfigs.has(`${u.kind}/${ns ?? ''}/${u.name}`)).map((u) => `${u.kind} ${code(u.name)}`);
    const why = templateChanged ? templateReasons(before, after) : [];
    const reason = `${why.length ? ` (${why.slice(0, 3).join(', ')}${why.length > 3 ? ' …' : ''})` : ''}${picked.length ? `, picking up the new ${picked.join(', ')}` : ''}`;
    let peakPods = newR;
    let batches = newR;
    let short = 'no restart';

    if (!live) {
      short = o.kind === 'Deployment' || o.kind === 'StatefulSet' ? `new, ${plural(newR, 'pod')}` : 'new';
      parts.push(o.kind === 'Deployment' || o.kind === 'StatefulSet' ? `new: ${plural(newR, 'pod')} start` : o.kind === 'DaemonSet' ? 'new: one pod starts on each node' : o.kind === 'CronJob' ? 'new: runs on its schedule' : 'new: the Job runs');
    } else if (o.kind === 'Job') {
      if (p.replace) short = 'recreated, runs again';
      if (p.replace) parts.push(`recreated${reason}: the Job is deleted and created again (mergeops.dev/recreate), so it runs again`);
      else if (templateChanged) parts.push(`the pod template of a Job cannot change in place${reason}`);
      else if (specChanged) parts.push('no restart: Job fields outside the pod template change');
    } else if (o.kind === 'CronJob') {
      if (templateChanged) short = 'next runs change';
      if (templateChanged) parts.push(`next runs use the new template${reason}; a Job already running finishes on the old one`);
      else if (specChanged) parts.push('no restart: the schedule or job settings change');
    } else if (templateChanged) {
      const spec = obj(o['spec']);
      if (o.kind === 'Deployment') {
        const strategy = obj(spec['strategy']);
        if (strategy['type'] === 'Recreate') {
          short = `restarts ${plural(oldR, 'pod')}, all at once`;
          parts.push(`restart${reason}: all ${plural(oldR, 'pod')} stop before ${newR === 1 ? 'the new one starts' : `the ${newR} new ones start`} (strategy Recreate): no pod serves in between`);
          peakPods = newR;
          batches = 1;
        } else {
          const ru = obj(strategy['rollingUpdate']);
          const surge = scaled(ru['maxSurge'], newR, true, Math.ceil(newR * 0.25));
          let unavailable = scaled(ru['maxUnavailable'], newR, false, Math.floor(newR * 0.25));
          if (surge === 0 && unavailable === 0) unavailable = 1;
          peakPods = newR + surge;
          batches = Math.ceil(newR / Math.max(1, surge + unavailable));
          short = `restarts ${plural(newR, 'pod')}, peak ${peakPods}`;
          parts.push(`restart${reason}: ${plural(newR, 'pod')} replaced, up to ${surge} extra (maxSurge ${showIntOrPercent(ru['maxSurge'], '25%')}) and ${unavailable} unavailable (maxUnavailable ${showIntOrPercent(ru['maxUnavailable'], '25%')}) at a time; peak ${plural(peakPods, 'pod')}`);
        }
      } else if (o.kind === 'StatefulSet') {
        const us = obj(spec['updateStrategy']);
        const name = o.metadata.name ?? '';
        if (us['type'] === 'OnDelete') {
          parts.push(`no restart by itself${reason}: updateStrategy OnDelete, so each pod takes the new template only when it is deleted`);
          batches = 0;
        } else {
          const partition = num(obj(us['rollingUpdate'])['partition']) ?? 0;
          const updated = Math.max(0, newR - partition);
          batches = updated;
          const order = updated > 1 ? `${code(`${name}-${newR - 1}`)} first down to ${code(`${name}-${partition}`)}` : updated === 1 ? code(`${name}-${newR - 1}`) : '';
          short = `restarts ${plural(updated, 'pod')}, one at a time`;
          parts.push(`restart${reason}: ${plural(updated, 'pod')} replaced one at a time, highest ordinal first${order ? ` (${order})` : ''}${partition > 0 ? `; partition ${partition}: ordinals below it keep the old template` : ''}`);
        }
      } else if (o.kind === 'DaemonSet') {
        const us = obj(spec['updateStrategy']);
        if (us['type'] === 'OnDelete') parts.push(`no restart by itself${reason}: updateStrategy OnDelete, so each node's pod takes the new template only when it is deleted`);
        else {
          const ru = obj(us['rollingUpdate']);
          const surge = ru['maxSurge'] ?? 0;
          short = 'restarts one pod per node';
          const unavailable = ru['maxUnavailable'] ?? 1;
          parts.push(`restart${reason}: one pod per node replaced, ${String(unavailable)} node${unavailable === 1 ? '' : 's'} at a time (maxUnavailable${ru['maxUnavailable'] === undefined ? ', the default' : ''})${surge !== 0 ? `, the new pod starting first (maxSurge ${String(surge)})` : ''}`);
        }
        batches = 0;
      }
      if (o.kind !== 'DaemonSet' && newR !== oldR) parts.push(`replicas ${oldR} → ${newR}`);
    } else if (specChanged && newR !== oldR && (o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      parts.push(`scale ${oldR} → ${newR}, no restart`);
      short = `scales ${oldR} → ${newR}`;
      peakPods = newR;
      batches = 0;
    } else if (specChanged && parts.length === 0) {
      parts.push('no restart: only fields outside the pod template change');
      batches = 0;
    }

    if (specChanged && (o.kind === 'Deployment' || o.kind === 'StatefulSet')) {
      findings.push(...this.quota(o, ns, before, after, oldR, newR, peakPods));
      findings.push(...this.pdb(o, ns, newR, after));
      findings.push(...this.hpa(p, ns));
      if (templateChanged || !live) findings.push(...this.waitFinding(o, batches));
    }
    if (specChanged && templateChanged) findings.push(...this.selectors(o, ns, before, after));
    if (parts.length === 0) parts.push('no restart: the pod template does not change');
    return entry(o, p.source, parts.join('; '), short, findings);
  }

  /** Requests added at the rollout's peak and after it, against the namespace's quotas. */
  private quota(o: KubeObject, ns: string | undefined, before: Obj | undefined, after: Obj | undefined, oldR: number, newR: number, peakPods: number): RolloutFinding[] {
    const quotas = this.inNs(this.facts.quotas, ns);
    if (!quotas.length) return [];
    const limitRanges = this.inNs(this.facts.limitRanges, ns);
    const oldReq = podRequests(before, limitRanges);
    const newReq = podRequests(after, limitRanges);
    const out: RolloutFinding[] = [];
    const name = code(o.metadata.name ?? '');
    for (const q of quotas) {
      const hard = obj(obj(q['status'])['hard'] ?? obj(q['spec'])['hard']);
      const specHard = obj(obj(q['spec'])['hard']);
      const used = obj(obj(q['status'])['used']);
      const qname = code(q.metadata.name ?? '');
      for (const [resource, r] of [['requests.cpu', 'cpu'], ['cpu', 'cpu'], ['requests.memory', 'memory'], ['memory', 'memory']] as const) {
        const h = parseQuantity(specHard[resource] ?? hard[resource]);
        if (h === undefined) continue;
        if (newReq.missing.has(r)) {
          out.push({ check: 'quota', message: `${name}'s pods set no ${r} request and no LimitRange gives one, but ResourceQuota ${qname} limits ${code(resource)}: the API server refuses every new pod. Set resources.requests.${r} on each container, or add a LimitRange default.` });
          continue;
        }
        const u = parseQuantity(used[resource]) ?? 0;
        const current = oldR * oldReq[r];
        // At the peak old and new pods count together (the larger request for each); after it, only the new pods.
        const extraPeak = peakPods * Math.max(newReq[r], oldReq[r]) - current;
        const extraAfter = newR * newReq[r] - current;
        const extra = Math.max(extraPeak, extraAfter);
        if (extra > 0 && u + extra > h) {
          const defaulted = newReq.defaulted.size ? ` (requests from LimitRange ${[...newReq.defaulted].map(code).join(', ')} defaults)` : '';
          out.push({ check: 'quota', message: `${name} needs ${formatQuantity(r, extra)} more ${code(resource)} at the rollout's peak (${plural(peakPods, 'pod')} of ${formatQuantity(r, newReq[r])} each${defaulted}), but ResourceQuota ${qname} has ${formatQuantity(r, Math.max(0, h - u))} left (hard ${formatQuantity(r, h)}, used ${formatQuantity(r, u)}): the surge pods are refused and the rollout stalls.` });
        }
      }
      const hp = parseQuantity(specHard['pods'] ?? hard['pods']);
      if (hp !== undefined) {
        const u = parseQuantity(used['pods']) ?? 0;
        const extra = peakPods - oldR;
        if (extra > 0 && u + extra > hp) out.push({ check: 'quota', message: `${name} needs ${plural(extra, 'more pod')} at the rollout's peak (${peakPods}), but ResourceQuota ${qname} allows ${Math.max(0, hp - u)} more (hard ${hp}, used ${u}).` });
      }
    }
    return out;
  }

  private pdb(o: KubeObject, ns: string | undefined, replicas: number, after: Obj | undefined): RolloutFinding[] {
    const labels = obj(obj(after?.['metadata'])['labels']);
    const out: RolloutFinding[] = [];
    for (const pdb of this.inNs(this.facts.pdbs, ns)) {
      const spec = obj(pdb['spec']);
      if (!matchesSelector(obj(spec['selector']), labels)) continue;
      let allowed: number;
      let rule: string;
      if (spec['maxUnavailable'] !== undefined) {
        allowed = scaled(spec['maxUnavailable'], replicas, true, 0);
        rule = `maxUnavailable ${String(spec['maxUnavailable'])}`;
      } else {
        allowed = replicas - scaled(spec['minAvailable'] ?? 1, replicas, true, 1);
        rule = `minAvailable ${String(spec['minAvailable'] ?? 1)}`;
      }
      if (allowed <= 0) {
        out.push({ check: 'pdb-blocks', message: `PodDisruptionBudget ${code(pdb.metadata.name ?? '')} (${rule}) allows no disruption of ${code(o.metadata.name ?? '')} at ${plural(replicas, 'replica')}: evictions and node drains block until it has more replicas or the budget allows one pod.` });
      }
    }
    return out;
  }

  private hpa(p: PlannedObject, ns: string | undefined): RolloutFinding[] {
    const o = p.merged as KubeObject;
    const gitReplicas = num(obj(p.desired['spec'])['replicas']);
    if (gitReplicas === undefined) return [];
    const out: RolloutFinding[] = [];
    for (const h of this.inNs(this.facts.hpas, ns)) {
      const spec = obj(h['spec']);
      const target = obj(spec['scaleTargetRef']);
      if (target['kind'] !== o.kind || target['name'] !== o.metadata.name) continue;
      const current = num(obj(h['status'])['currentReplicas']) ?? num(obj(p.live?.['spec'])['replicas']);
      const range = `${num(spec['minReplicas']) ?? 1}–${num(spec['maxReplicas']) ?? '?'}${current !== undefined ? `, now ${current}` : ''}`;
      const wins = this.input.app.conflicts === 'overwrite'
        ? `Git wins: every deploy resets it to ${gitReplicas}, then the HPA scales it again`
        : `with conflicts: fail the deploy refuses once the HPA has changed it`;
      out.push({ check: 'hpa-fights', message: `HorizontalPodAutoscaler ${code(h.metadata.name ?? '')} owns the replicas of ${code(o.metadata.name ?? '')} (${range}) while Git sets ${gitReplicas}; ${wins}. Drop spec.replicas from Git to leave them to the HPA.` });
    }
    return out;
  }

  /** minReadySeconds per batch of the rollout against the app's health wait. */
  private waitFinding(o: KubeObject, batches: number): RolloutFinding[] {
    const waitS = this.input.app.waitMs / 1000;
    if (waitS <= 0 || batches <= 0) return [];
    const spec = obj(o['spec']);
    const minReady = num(spec['minReadySeconds']) ?? 0;
    const least = minReady * batches;
    const deadline = num(spec['progressDeadlineSeconds']);
    const out: RolloutFinding[] = [];
    if (least > waitS) {
      out.push({ check: 'wait-too-short', message: `${code(o.metadata.name ?? '')} takes at least ${durationText(least)} to roll out (${plural(batches, 'step')} × minReadySeconds ${minReady}), longer than the app's wait: ${durationText(waitS)}: the deploy reports it unhealthy while it is still rolling out. Raise wait: or lower minReadySeconds.` });
    } else if (o.kind === 'Deployment' && deadline !== undefined && deadline > waitS && least > 0) {
      out.push({ check: 'wait-too-short', message: `${code(o.metadata.name ?? '')}'s progressDeadlineSeconds ${deadline} is longer than the app's wait: ${durationText(waitS)}, and minReadySeconds ${minReady} makes each step wait: a slow rollout is reported as a timeout before Kubernetes says why it stalled.` });
    }
    return out;
  }

  /** Services that selected the old pods and no longer select the new ones. */
  private selectors(o: KubeObject, ns: string | undefined, before: Obj | undefined, after: Obj | undefined): RolloutFinding[] {
    const oldLabels = obj(obj(before?.['metadata'])['labels']);
    const newLabels = obj(obj(after?.['metadata'])['labels']);
    const out: RolloutFinding[] = [];
    for (const svc of this.inNs(this.services, ns)) {
      const liveSvc = this.liveServices.get(`${ns ?? ''}/${svc.metadata.name ?? ''}`) ?? svc;
      if (serviceSelects(liveSvc, oldLabels) && !serviceSelects(svc, newLabels)) {
        out.push({ check: 'selector-mismatch', message: `Service ${code(svc.metadata.name ?? '')} selects ${code(labelText(obj(obj(svc['spec'])['selector'])))}, but the new pods of ${code(o.metadata.name ?? '')} are labelled ${code(labelText(newLabels))}: once the rollout ends it reaches none of them.` });
      }
    }
    return out;
  }

  /** An Ingress's or HTTPRoute's backends that the render dropped, or whose port its Service no longer has. */
  routeFindings(route: KubeObject): RolloutFinding[] {
    const ns = route.metadata.namespace ?? '';
    const backends: { name: string; port?: number | string }[] = [];
    const spec = obj(route['spec']);
    if (route.kind === 'Ingress') {
      const add = (b: Obj): void => {
        const s = obj(b['service']);
        const name = str(s['name']);
        const port = obj(s['port']);
        if (name) backends.push({ name, ...(num(port['number']) !== undefined ? { port: num(port['number']) as number } : str(port['name']) ? { port: str(port['name']) as string } : {}) });
      };
      add(obj(spec['defaultBackend']));
      for (const rule of arr(spec['rules'])) for (const path of arr(obj(rule['http'])['paths'])) add(obj(path['backend']));
    } else {
      for (const rule of arr(spec['rules'])) {
        for (const b of arr(rule['backendRefs'])) {
          if ((b['kind'] ?? 'Service') !== 'Service' || (b['group'] ?? '') !== '' || (str(b['namespace']) ?? ns) !== ns) continue;
          const name = str(b['name']);
          if (name) backends.push({ name, ...(num(b['port']) !== undefined ? { port: num(b['port']) as number } : {}) });
        }
      }
    }
    const out: RolloutFinding[] = [];
    const seen = new Set<string>();
    for (const b of backends) {
      const key = `${b.name}:${String(b.port ?? '')}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const svc = this.services.find((s) => s.metadata.name === b.name && (s.metadata.namespace ?? '') === ns);
      const what = `${route.kind} ${code(route.metadata.name ?? '')}`;
      if (!svc) {
        if (this.droppedServices.has(`${ns}/${b.name}`)) out.push({ check: 'route-missing-backend', message: `${what} sends traffic to Service ${code(b.name)}, which the render no longer has (the merge prunes it): that traffic gets errors.` });
        continue;
      }
      if (b.port === undefined) continue;
      const ports = arr(obj(svc['spec'])['ports']);
      const has = typeof b.port === 'number' ? ports.some((p) => p['port'] === b.port) : ports.some((p) => p['name'] === b.port);
      if (!has) out.push({ check: 'route-missing-backend', message: `${what} sends traffic to port ${code(String(b.port))} of Service ${code(b.name)}, which no longer has it (ports: ${ports.map((p) => code(String(p['name'] ?? p['port']))).join(', ') || 'none'}).` });
    }
    return out;
  }
}

/** A pod template without what the server owns: compared between live and desired. */
function normTemplate(t: Obj | undefined): Obj {
  const copy = structuredClone(obj(t));
  const meta = obj(copy['metadata']);
  delete meta['creationTimestamp'];
  if (Object.keys(meta).length === 0) delete copy['metadata'];
  return copy;
}

/** A finding in a few words, for the risk summary and the table (the message has the detail). */
export const CHECK_LABELS: Record<RolloutCheck, string> = {
  'config-not-reloaded': 'keeps the old config',
  'selector-mismatch': 'Service stops matching its pods',
  quota: 'no room in the ResourceQuota',
  'pdb-blocks': 'PodDisruptionBudget blocks evictions',
  'hpa-fights': 'fights its HPA over replicas',
  'wait-too-short': 'rollout outlasts wait:',
  'route-missing-backend': 'routes to a missing backend',
};
