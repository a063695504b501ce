import type { ApplyResult } from '../../../src/cluster/apply.js';
import { APP_LABEL, REPO_ID_LABEL, withInventory } from '../../../src/cluster/inventory.js';
import type { ClusterPlan } from '../../../src/cluster/plan.js';
import { detectDrift } from '../../../src/diff/drift.js';
import { applyChanges, planChanges } from '../../../src/engine/changes.js';
import { objectProblem, renderTarget, type AppApply, type AppEngine, type AppPlan, type AppTarget } from '../../../src/engine/engine.js';
import { identity, isUnchanged, objectRef, type KubeObject, type PlannedObject, type ResourceInfo } from '../../../src/objects.js';

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
  /** Thrown from plan/apply instead: the cluster went away (ours, retried). */
  down: Error | null = null;
  readonly applies: { app: string; force: boolean }[] = [];

  /** Puts an object in the cluster as a human would (no inventory marks unless given). */
  put(o: KubeObject): void {
    this.live.set(identity(o), structuredClone(o));
  }

  get(apiVersion: string, kind: string, namespace: string | undefined, name: string): KubeObject | undefined {
    return this.live.get(identity({ apiVersion, kind, metadata: { name, ...(namespace ? { namespace } : {}) } }));
  }

  async plan(t: AppTarget, opts: { orphans?: boolean } = {}): Promise<AppPlan> {
    if (this.down) throw this.down;
    const rendered = await renderTarget(t.app, t.dir);
    const plan: ClusterPlan = { objects: [], orphans: [], errors: [] };
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
      const p: PlannedObject = { desired, source: r.source, resource: resourceOf(desired), live: this.live.get(identity(desired)) ?? null, merged: structuredClone(desired) };
      plan.objects.push(p);
    }
    if (opts.orphans ?? true) {
      plan.orphans = [...this.live.values()].filter((o) => o.metadata.labels?.[APP_LABEL] === t.key.app && o.metadata.labels?.[REPO_ID_LABEL] === String(t.key.repoId) && !desiredIds.has(identity(o)));
    }
    return { plan, problems: plan.errors.map(objectProblem), changes: planChanges(plan, t.app.prune) };
  }

  async drift(t: AppTarget): Promise<ReturnType<typeof detectDrift>> {
    const { plan } = await this.plan(t, { orphans: false });
    return detectDrift(plan.objects, objectRef);
  }

  async apply(t: AppTarget, opts: { force: boolean }): Promise<AppApply> {
    this.applies.push({ app: t.app.name, force: opts.force });
    const { plan } = await this.plan(t);
    const result: ApplyResult = { created: [], configured: [], unchanged: [], pruned: [], orphans: plan.orphans.map(objectRef), errors: [], objects: [] };
    if (plan.errors.length) {
      result.errors = plan.errors;
      return { result, changes: applyChanges(result, t.app.prune) };
    }
    for (const p of plan.objects) {
      const ref = objectRef(p.desired);
      if (isUnchanged(p)) result.unchanged.push(ref);
      else (p.live ? result.configured : result.created).push(ref);
      this.live.set(identity(p.desired), structuredClone(p.desired));
      result.objects.push({ ref, resource: resourceOf(p.desired), name: p.desired.metadata.name ?? '', ...(p.desired.metadata.namespace ? { namespace: p.desired.metadata.namespace } : {}) });
    }
    if (t.app.prune) {
      for (const o of plan.orphans) {
        this.live.delete(identity(o));
        result.pruned.push(objectRef(o));
      }
    }
    const out: AppApply = { result, changes: applyChanges(result, t.app.prune) };
    if (t.app.waitMs > 0) {
      const unhealthy = result.objects.filter((o) => this.unhealthy.has(o.ref)).map((o) => ({ ref: o.ref, reason: this.unhealthy.get(o.ref) as string }));
      out.health = { healthy: unhealthy.length === 0, unhealthy };
    }
    return out;
  }
}

function resourceOf(o: KubeObject): ResourceInfo {
  const [group, version] = o.apiVersion.includes('/') ? (o.apiVersion.split('/') as [string, string]) : ['', o.apiVersion];
  return { group, version, kind: o.kind, plural: `${o.kind.toLowerCase()}s`, namespaced: !CLUSTER_SCOPED.has(o.kind), verbs: ['get', 'list', 'patch', 'delete'] };
}
