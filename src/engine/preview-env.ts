import { groupKind } from '../config/clusters.js';
import { APP_TOKEN, PR_NUMBER_TOKEN, configAppName, type App, type PreviewEnvironmentSpec } from '../config/repo-config.js';
import { UserError } from '../errors.js';
import { objectRef, type KubeObject, type RenderedObject } from '../objects.js';
import type { InventoryKey } from '../cluster/inventory.js';

/** The label a pull request carries to get its preview environments (`when: label`, the default). */
export const PREVIEW_ENV_LABEL = 'mergeops: preview-env';
/** Where `set:` values name the environment's namespace. */
export const NAMESPACE_TOKEN = '{namespace}';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Kinds a preview environment's render may never hold, whatever role the operator bound:
 * the guards mergeops puts in every preview namespace, and RBAC (the API server refuses
 * escalation anyway; this names it before anything is sent).
 */
export const PREVIEW_DENY_KINDS = ['ResourceQuota', 'LimitRange', 'rbac.authorization.k8s.io/Role', 'rbac.authorization.k8s.io/RoleBinding'];

export interface TemplateVars {
  number: number;
  app: string;
  namespace?: string;
}

/** `{number}`, `{app}` and `{namespace}` filled in. */
export function fillTemplate(text: string, v: TemplateVars): string {
  let out = text.split(PR_NUMBER_TOKEN).join(String(v.number)).split(APP_TOKEN).join(v.app);
  if (v.namespace !== undefined) out = out.split(NAMESPACE_TOKEN).join(v.namespace);
  return out;
}

/** The environment's namespace for PR `pr`; one that is not a namespace name once filled in is the config's mistake. */
export function previewNamespaceName(spec: Pick<PreviewEnvironmentSpec, 'namespace'>, pr: number, app: string): string {
  const ns = fillTemplate(spec.namespace, { number: pr, app });
  if (!DNS_LABEL.test(ns)) throw new UserError(`previewEnvironment.namespace of app ${app} makes "${ns}" for #${pr}, which is not a namespace name (lowercase letters, digits and "-", at most 63 characters); shorten it`);
  return ns;
}

/**
 * The inventory key of an app's preview environment for one PR: its own, so the environment
 * never shares an inventory, a field manager or a Lease with the app's real deploys.
 */
export function previewKey(repoId: number, repo: string, app: App, pr: number): InventoryKey {
  return { repoId, repo, app: `${configAppName(app)}.pr-${pr}` };
}

/**
 * Helm values with dotted keys as paths (`ingress.host: x` is `ingress: {host: x}`, as
 * `helm --set` reads it) and templates filled in, merged over `base`.
 */
export function previewValues(base: Record<string, unknown> | undefined, values: Record<string, unknown> | undefined, v: TemplateVars): Record<string, unknown> | undefined {
  if (!values) return base;
  const out: Record<string, unknown> = structuredClone(base ?? {});
  const fill = (x: unknown): unknown => (typeof x === 'string' ? fillTemplate(x, v) : Array.isArray(x) ? x.map(fill) : isMapping(x) ? Object.fromEntries(Object.entries(x).map(([k, y]) => [k, fill(y)])) : x);
  for (const [key, value] of Object.entries(values)) {
    const parts = key.split('.');
    let at = out;
    for (const p of parts.slice(0, -1)) {
      if (!isMapping(at[p])) at[p] = {};
      at = at[p] as Record<string, unknown>;
    }
    at[parts.at(-1) as string] = fill(value);
  }
  return out;
}

function isMapping(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The app as its preview environment applies it: the environment's cluster and namespace,
 * everything it created pruned when the render drops it, Git winning (the namespace is the
 * environment's alone), no adoption or release, never healed, its own health wait.
 */
export function previewApp(app: App, spec: PreviewEnvironmentSpec, pr: number, namespace: string): App {
  const v: TemplateVars = { number: pr, app: configAppName(app), namespace };
  const out: App = { ...app, cluster: spec.cluster, namespace, createNamespace: false, prune: true, pruneEmpty: true, waitMs: spec.waitMs, conflicts: 'overwrite', failOn: [], adopt: [], selfHeal: false };
  delete out.release;
  delete out.review;
  delete out.previewEnvironment;
  if (spec.values) {
    const values = previewValues(app.helm?.values, spec.values, v);
    out.helm = { ...(app.helm ?? { valuesFiles: [] }), ...(values ? { values } : {}) };
  }
  return out;
}

/** An object of the render the environment does not apply, and why. */
export interface RefusedObject {
  ref: string;
  why: string;
}

export interface PlacedRender {
  objects: RenderedObject[];
  refused: RefusedObject[];
}

/**
 * Moves the render into the environment's namespace: every namespaced object goes there
 * (whatever namespace it named), cluster-scoped objects are refused and listed (a PR may
 * not create them), and so are Secrets when the render comes from a fork (`refuseSecrets`)
 * and kinds the cluster does not know. Then the `set:` fields are written. `namespaced`
 * answers from the cluster's discovery; undefined is an unknown kind.
 */
export async function placeInNamespace(
  rendered: RenderedObject[],
  namespace: string,
  namespaced: (apiVersion: string, kind: string) => Promise<boolean | undefined>,
  opts: { refuseSecrets: boolean; set: PreviewEnvironmentSpec['set']; vars: TemplateVars },
): Promise<PlacedRender> {
  const out: PlacedRender = { objects: [], refused: [] };
  for (const r of rendered) {
    const o = r.object;
    const scoped = await namespaced(o.apiVersion, o.kind);
    if (scoped === undefined) {
      out.refused.push({ ref: objectRef(o), why: `the cluster has no kind ${o.kind} in ${o.apiVersion}` });
      continue;
    }
    if (!scoped) {
      out.refused.push({ ref: objectRef(o), why: `cluster-scoped (${groupKind(o)}): a preview environment holds only objects of its namespace` });
      continue;
    }
    if (opts.refuseSecrets && o.apiVersion === 'v1' && o.kind === 'Secret') {
      out.refused.push({ ref: objectRef(o), why: "a Secret from a fork's head: a fork's environment gets none" });
      continue;
    }
    const object: KubeObject = structuredClone(o);
    object.metadata.namespace = namespace;
    for (const s of opts.set) {
      if (s.kind !== object.kind || (s.name !== undefined && s.name !== object.metadata.name)) continue;
      setPath(object, s.path, fillTemplate(s.value, opts.vars));
    }
    out.objects.push({ ...r, object });
  }
  return out;
}

/** Writes `value` at a dotted path, making mappings (or, for a numeric step, lists) on the way. */
export function setPath(obj: Record<string, unknown>, path: string, value: string): void {
  const parts = path.split('.');
  let at: Record<string, unknown> | unknown[] = obj;
  for (const [i, p] of parts.entries()) {
    const last = i === parts.length - 1;
    const key: string | number = Array.isArray(at) && /^\d+$/.test(p) ? Number(p) : p;
    const container = at as Record<string | number, unknown>;
    if (last) {
      container[key] = value;
      return;
    }
    const nextIsIndex = /^\d+$/.test(parts[i + 1] as string);
    if (typeof container[key] !== 'object' || container[key] === null) container[key] = nextIsIndex ? [] : {};
    at = container[key] as Record<string, unknown> | unknown[];
  }
}
