import type { ApplyResult } from '../../../src/cluster/apply.js';
import { APP_LABEL, REPO_ID_LABEL, withInventory } from '../../../src/cluster/inventory.js';
import { objectProblem } from '../../../src/engine/engine.js';
import type { ClusterPlan } from '../../../src/cluster/plan.js';
import { detectDrift } from '../../../src/diff/drift.js';
import { appliedOf, planChanges } from '../../../src/cluster/changes.js';
import { renderTarget, type AppApply, type AppEngine, type AppPlan, type AppTarget } from '../../../src/engine/engine.js';
import { leafPaths, managedFields, type FieldSet } from '../../../src/managed-fields.js';
import { identity, isUnchanged, objectRef, type KubeObject, type PlannedObject, type RenderedObject, type ResourceInfo, type SourceRef } from '../../../src/objects.js';

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'CustomResourceDefinition']);

/**
 * An in-memory cluster behind the engine's seam: renders for real (plain manifests), plans
 * against the objects it holds (the "dry-run" result is the desired object), applies and
 * prunes into its map. Tests script what the server refuses and what never gets healthy.
 */
export class FakeCluster implements AppEngine {
  /** Live objects by identity. */
  readonly live = new Map<string, KubeObject>();
  /** ref → the server's message refusing the object. */
  readonly refuse = new Map<string, string>();
  /** ref → why it does not become healthy. */
  readonly unhealthy = new Map<string, string>();
  /** Thrown from plan/apply instead, as the real client throws it: ClusterUnreachableError (transient, retried), a KubeApiError… */
  down: Error | null = null;
  readonly applies: { app: string; force: boolean }[] = [];
  /** `planned <unit>` when an apply's dry-run is done, `applied <unit>` when its writes are: in order. */
  readonly timeline: string[] = [];

  /** Puts an object in the cluster as a human would (no inventory marks unless given). */
  put(o: KubeObject): void {
    this.live.set(identity(o), structuredClone(o));
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.live.get(identity({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }));
  }

  /** A hand edit (`kubectl edit`): sets one field and takes it over in managedFields, as the server records it. */
  handEdit(o: { apiVersion: string; kind: string; namespace?: string; name: string }, path: string[], value: unknown, manager = 'kubectl-edit'): void {
    const live = this.get(o.apiVersion, o.kind, o.namespace, o.name);
    if (!live) throw new Error(`no ${o.kind} ${o.name} to edit`);
    let node = live as Record<string, unknown>;
    for (const seg of path.slice(0, -1)) node = (node[seg] ??= {}) as Record<string, unknown>;
    node[path.at(-1) as string] = value;
    const fpath = path.map((seg) => `f:${seg}`);
    const entries = managedFields(live).map((e) => ({ ...e, fieldsV1: without(e.fieldsV1 ?? {}, fpath) }));
    const mine = entries.find((e) => e.manager === manager) ?? { manager, operation: 'Update', apiVersion: live.apiVersion, fieldsType: 'FieldsV1', fieldsV1: {} };
    mine.fieldsV1 = withPath(mine.fieldsV1 ?? {}, fpath);
    live.metadata['managedFields'] = [...entries.filter((e) => e.manager !== manager), mine];
  }

  async plan(t: AppTarget, opts: { orphans?: boolean; force?: boolean } = {}): Promise<AppPlan> {
    if (this.down) throw this.down;
    const rendered = await renderTarget(t.app, t.dir);
    const plan: ClusterPlan = { objects: [], orphans: [], stale: [], inventory: null, unobserved: [], errors: [], warnings: [], request: { fieldManager: `mergeops-${t.app.name}`, force: opts.force ?? t.app.conflicts === 'overwrite' }, ours: new Set([`mergeops-${t.app.name}`, 'mergeops']) };
    const desiredIds = new Set<string>();
    for (const r of rendered) {
      const desired = withInventory(r.object, t.key);
      if (!CLUSTER_SCOPED.has(desired.kind)) desired.metadata.namespace ??= t.app.namespace ?? 'default';
      desiredIds.add(identity(desired));
      const ref = objectRef(desired);
      const refused = this.refuse.get(ref);
      if (refused) {
        plan.errors.push({ ref, message: refused, source: r.source });
        continue;
      }
      const live = this.live.get(identity(desired)) ?? null;
      const p: PlannedObject = { desired, source: r.source, resource: resourceOf(desired), live, merged: applied(desired, live, [...plan.ours][0] as string) };
      plan.objects.push(p);
    }
    if (opts.orphans ?? true) {
      plan.orphans = [...this.live.values()].filter((o) => o.metadata.labels?.[APP_LABEL] === t.key.app && o.metadata.labels?.[REPO_ID_LABEL] === String(t.key.repoId) && !desiredIds.has(identity(o)));
    }
    return { plan, problems: plan.errors.map(objectProblem), warnings: plan.warnings.map(objectProblem), changes: planChanges(plan, t.app.prune) };
  }

  async identities(t: AppTarget, rendered: RenderedObject[]): Promise<{ id: string; ref: string; source: SourceRef }[]> {
    return rendered.map((r) => {
      const o = { apiVersion: r.object.apiVersion, kind: r.object.kind, metadata: { ...r.object.metadata } };
      if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace ??= t.app.namespace ?? 'default';
      return { id: identity(o), ref: objectRef(o), source: r.source };
    });
  }

  async drift(t: AppTarget): Promise<ReturnType<typeof detectDrift>> {
    const { plan } = await this.plan(t, { orphans: false, force: true });
    return detectDrift(plan.objects, plan.ours).filter((e) => e.fields.length > 0);
  }

  async apply(t: AppTarget, opts: { force?: boolean; ready?: Promise<boolean> } = {}): Promise<AppApply> {
    const { plan } = await this.plan(t);
    this.timeline.push(`planned ${t.app.name}`);
    // As the engine: planned now, written only once the environments before it deployed.
    if (opts.ready && !(await opts.ready)) return { changes: [], warnings: [], cancelled: true };
    this.applies.push({ app: t.app.name, force: opts.force ?? t.app.conflicts === 'overwrite' });
    // The writes' round trip to the API server: other work goes on meanwhile, as on a real one.
    await new Promise((resolve) => setTimeout(resolve, 5));
    const result: ApplyResult = { created: [], configured: [], unchanged: [], pruned: [], replaced: [], orphans: plan.orphans.map(objectRef), errors: [], warnings: [], objects: [] };
    if (plan.errors.length) {
      result.errors = plan.errors;
      return appliedOf(result, t.app.prune);
    }
    for (const p of plan.objects) {
      const ref = objectRef(p.desired);
      if (isUnchanged(p, plan.ours)) result.unchanged.push(ref);
      else (p.live ? result.configured : result.created).push(ref);
      this.live.set(identity(p.desired), structuredClone(p.merged as KubeObject));
      result.objects.push({ ref, resource: resourceOf(p.desired), name: p.desired.metadata.name ?? '', ...(p.desired.metadata.namespace ? { namespace: p.desired.metadata.namespace } : {}) });
    }
    if (t.app.prune) {
      for (const o of plan.orphans) {
        this.live.delete(identity(o));
        result.pruned.push(objectRef(o));
      }
    }
    this.timeline.push(`applied ${t.app.name}`);
    const out: AppApply = appliedOf(result, t.app.prune);
    if (t.app.waitMs > 0) {
      const unhealthy = result.objects.filter((o) => this.unhealthy.has(o.ref)).map((o) => ({ ref: o.ref, reason: this.unhealthy.get(o.ref) as string }));
      out.health = { healthy: unhealthy.length === 0, unhealthy };
    }
    return out;
  }
}

/**
 * What a server-side apply by `manager` makes of `live`: the desired object, with this
 * manager owning every field it sets and other managers keeping only the fields it does not.
 */
function applied(desired: KubeObject, live: KubeObject | null, manager: string): KubeObject {
  const out = structuredClone(desired);
  const mine = fieldSetOf(desired);
  const others = managedFields(live)
    .filter((e) => e.manager !== manager)
    .map((e) => ({ ...e, fieldsV1: leafPaths(mine).reduce((set, path) => without(set, path), e.fieldsV1 ?? {}) }))
    .filter((e) => leafPaths(e.fieldsV1).length > 0);
  out.metadata['managedFields'] = [{ manager, operation: 'Apply', apiVersion: desired.apiVersion, fieldsType: 'FieldsV1', fieldsV1: mine }, ...others];
  return out;
}

/** The field set an apply of `o` owns: every leaf it sets (lists are owned whole). */
function fieldSetOf(o: unknown): FieldSet {
  const set: FieldSet = {};
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return set;
  for (const [k, v] of Object.entries(o)) {
    if (['apiVersion', 'kind', 'status'].includes(k) || (k === 'managedFields' || k === 'name' || k === 'namespace')) continue;
    set[`f:${k}`] = typeof v === 'object' && v !== null && !Array.isArray(v) ? fieldSetOf(v) : {};
  }
  return set;
}

function withPath(set: FieldSet, path: string[]): FieldSet {
  const out = structuredClone(set);
  let node = out;
  for (const seg of path) node = node[seg] ??= {};
  return out;
}

function without(set: FieldSet, path: string[]): FieldSet {
  const out = structuredClone(set);
  let node: FieldSet | undefined = out;
  for (const seg of path.slice(0, -1)) {
    node = node[seg];
    if (!node) return out;
  }
  delete node[path.at(-1) as string];
  return out;
}

function resourceOf(o: KubeObject): ResourceInfo {
  const [group, version] = o.apiVersion.includes('/') ? (o.apiVersion.split('/') as [string, string]) : ['', o.apiVersion];
  return { group, version, kind: o.kind, plural: `${o.kind.toLowerCase()}s`, namespaced: !CLUSTER_SCOPED.has(o.kind), verbs: ['get', 'list', 'patch', 'delete'] };
}
