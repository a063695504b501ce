import crypto from 'node:crypto';
import { REPO_CONFIG_PATH, type App } from '../config/repo-config.js';
import { identity, objectRef, type KubeObject, type PlannedObject, type RenderedObject, type ResourceInfo, type SourceRef } from '../objects.js';
import { mapLimit } from '../util/pool.js';
import { KubeApiError, type KubeResponse } from './client.js';
import { CLUSTER_CONCURRENCY, type Cluster } from './connect.js';
import { resourcePath } from './discovery.js';
import {
  ADOPTED_ANNOTATION,
  ADOPT_ANNOTATION,
  LEGACY_FIELD_MANAGER,
  PRUNE_ANNOTATION,
  RECREATE_ANNOTATION,
  adoptRef,
  adoptValue,
  fieldManager,
  ownershipOf,
  withInventory,
  type InventoryKey,
} from './inventory.js';
import { grantsFingerprint, inventoryNamespace, readInventory, type InventoryRecord } from './inventory-store.js';
import { findLive, getOrNull, type RepoDiscovery } from './live.js';
import { releasedByApp, takeOverRefusal, type OwnerConfigs } from './ownership.js';
import { checkGrants, checkNamespaceMetadata, type Violation } from '../policy/grants.js';
import { isTransient } from '../errors.js';

export interface ObjectError {
  ref: string;
  message: string;
  source?: SourceRef;
}

/** Something to read but not (unless the app says `failOn: [warnings]`) to fail on. */
export interface ObjectWarning {
  ref: string;
  message: string;
  source?: SourceRef;
  /** `server`: a `Warning` header of the dry-run; `mergeops`: a prune this plan refuses. */
  from: 'server' | 'mergeops';
}

export interface ClusterPlan {
  objects: PlannedObject[];
  /** Live objects of this app (in its inventory, carrying its marks) that the render no longer has, and that may be pruned. */
  orphans: KubeObject[];
  /** Every live object of this app the render no longer has: the orphans and those prune must keep (named in warnings). */
  stale: KubeObject[];
  /** What the app's inventory recorded at its last deploy; null when it has none yet (found through its labels). */
  inventory: InventoryRecord | null;
  /**
   * Refs the inventory records that this plan could not look at (their type is gone from
   * discovery, or may not be listed): neither shown as deletions nor pruned, and carried
   * forward into the next record, so a failed read never shrinks what is recorded.
   */
  unobserved: string[];
  errors: ObjectError[];
  warnings: ObjectWarning[];
  /** The request every object's apply sends; the dry-run sent exactly this. */
  request: ApplyRequest;
  /** This app's field managers (its own and the legacy shared one): who "we" are in managedFields. */
  ours: ReadonlySet<string>;
}

/** What a server-side apply of this app sends besides the object: the same for dry-run and deploy. */
export interface ApplyRequest {
  fieldManager: string;
  force: boolean;
}

export interface PlanOptions {
  concurrency: number;
  /** Off for the drift scan, which only needs the objects. */
  orphans: boolean;
  /**
   * Overrides the app's `conflicts:` (the drift scan asks what Git winning would revert).
   * Previews and deploys leave it unset, so both send the same request.
   */
  force?: boolean;
  /** The app's inventory when the caller already read it (null: it has none); read here otherwise. */
  inventory?: InventoryRecord | null;
  /** Label discovery shared with the other apps of the repository in this job. */
  discovery?: RepoDiscovery;
  /** Reads the config of another mergeops app's repository, for its `release:` (absent: only its annotation can release). */
  owners?: OwnerConfigs;
}

/** The request for an app: its own field manager; Git wins unless the app says `conflicts: fail`. */
export function applyRequest(app: App, key: InventoryKey, force?: boolean): ApplyRequest {
  return { fieldManager: fieldManager(key), force: force ?? app.conflicts === 'overwrite' };
}

/** The server-side apply of one object, as the deploy sends it; the plan adds only `dryRun=All`. */
export function sendApply(cluster: Cluster, p: PlannedObject, request: ApplyRequest, dryRun: boolean, force = request.force) {
  const resource = p.resource as ResourceInfo;
  return cluster.client.requestWithStatus<KubeObject>('PATCH', resourcePath(resource, p.desired.metadata.namespace, p.desired.metadata.name), {
    body: p.desired,
    contentType: 'application/apply-patch+yaml',
    query: { ...(dryRun ? { dryRun: 'All' } : {}), fieldManager: request.fieldManager, force: String(force) },
  });
}

/**
 * One object's apply request, hashed: the object as sent, its field manager and force, and
 * the grants it is sent under. With the object's resourceVersion it is the stamp the
 * inventory keeps of each object a successful deploy applied or found unchanged.
 */
export function requestHash(desired: KubeObject, request: ApplyRequest, grants: string): string {
  return crypto.createHash('sha256').update(JSON.stringify(desired)).update(`\0${request.fieldManager}\0${request.force}\0${grants}`).digest('hex').slice(0, 16);
}

export function appliedStamp(resourceVersion: string, request: string): string {
  return `${resourceVersion} ${request}`;
}

const MIGRATE_NOTE = 'fields set by the old shared `mergeops` field manager are handed to this app\'s own manager first';

/**
 * Asks the live cluster what applying the render would change: the live object and a
 * server-side apply with dryRun=All — the very request the deploy sends, same field
 * manager and force — so defaults, admission, quotas, conflicts and immutable fields show
 * as the server would produce them. Objects that exist but are not this app's are never
 * shown: the plan refuses them unless adopted.
 */
export async function planApp(
  cluster: Cluster,
  app: App,
  rendered: RenderedObject[],
  key: InventoryKey,
  opts: PlanOptions = { concurrency: CLUSTER_CONCURRENCY, orphans: true },
): Promise<ClusterPlan> {
  const request = applyRequest(app, key, opts.force);
  const ours: ReadonlySet<string> = new Set([request.fieldManager, LEGACY_FIELD_MANAGER]);
  const errors: ObjectError[] = [];
  const warnings: ObjectWarning[] = [];
  let inventory: InventoryRecord | null = null;
  let unobserved: string[] = [];
  const result = (objects: PlannedObject[], orphans: KubeObject[], stale: KubeObject[] = []): ClusterPlan => ({ objects, orphans, stale, inventory, unobserved, errors, warnings, request, ours });
  // Kinds defined by CRDs in this same render: unknown to the server until applied.
  const crdKinds = new Map(rendered.filter((r) => r.object.kind === 'CustomResourceDefinition').flatMap((r) => crdGvks(r.object)));
  const renderNamespaces = new Set(rendered.filter((r) => r.object.kind === 'Namespace' && r.object.apiVersion === 'v1').map((r) => r.object.metadata.name));
  const all = [...rendered];
  const created = await namespaceToCreate(cluster, app, key, renderNamespaces);
  if (created) {
    all.unshift(created);
    renderNamespaces.add(created.object.metadata.name);
  }

  const placed: PlannedObject[] = [];
  const seen = new Map<string, SourceRef>();
  for (const r of all) {
    const desired = withInventory(r.object, key);
    const resource = await cluster.discovery.resolve(desired.apiVersion, desired.kind);
    const namespaced = resource ? resource.namespaced : crdKinds.get(`${desired.apiVersion}/${desired.kind}`);
    if (namespaced) desired.metadata.namespace ??= app.namespace ?? 'default';
    else if (namespaced === false) delete desired.metadata.namespace;
    const id = identity(desired);
    const prev = seen.get(id);
    if (prev) {
      errors.push({ ref: objectRef(desired), message: `defined twice (also at ${prev.file}:${prev.line})`, source: r.source });
      continue;
    }
    seen.set(id, r.source);
    if (!resource) {
      if (crdKinds.has(`${desired.apiVersion}/${desired.kind}`)) {
        placed.push({ desired, source: r.source, live: null, merged: desired, note: 'its CustomResourceDefinition is created by this change, so the server could not validate it yet' });
      } else {
        errors.push({ ref: objectRef(desired), message: `the cluster has no kind ${desired.kind} in ${desired.apiVersion} (is its CustomResourceDefinition installed?)`, source: r.source });
      }
      continue;
    }
    placed.push({ desired, source: r.source, resource, live: null, merged: null });
  }

  // Policy first: an app that reaches outside its grant is not sent to the server at all.
  const violations = [
    ...inInventoryNamespace(placed.map((p) => p.desired), cluster),
    ...checkGrants(
      placed.map((p) => ({ object: p.desired, namespaced: p.resource ? p.resource.namespaced : p.desired.metadata.namespace !== undefined })),
      key.repo,
      cluster.target.name,
      cluster.target.grants,
    ),
  ];
  if (violations.length > 0) {
    const sources = new Map(placed.map((p) => [objectRef(p.desired), p.source]));
    for (const v of violations) {
      const e: ObjectError = { ref: v.ref, message: `not allowed: ${v.rule}` };
      const source = sources.get(v.ref);
      if (source) e.source = source;
      errors.push(e);
    }
    return result([], []);
  }

  // The inventory (one GET) names where the app's objects are; one LIST per (type,
  // namespace) of those and of the render finds every object this app already owns, so
  // steady-state plans need no GET per object (half the requests). For the rest, the
  // dry-run's status tells whether the object exists (201: it would be created), so only
  // objects that exist without our marks are read one by one.
  inventory = opts.inventory !== undefined ? opts.inventory : await readInventory(cluster, key);
  const live = await findLive(cluster, key, placed, inventory, opts.orphans, opts.discovery);
  const { owned, stale } = live;
  unobserved = live.unobserved;
  for (const ref of unobserved) warnings.push({ ref, message: 'recorded in the app\'s inventory but could not be read now (its type is not served or may not be listed), so it is kept recorded and neither shown as deleted nor pruned', from: 'mergeops' });
  const refused = new Set<PlannedObject>();
  // In every request's hash: under other grants the server may answer an unchanged object otherwise.
  const grants = grantsFingerprint(cluster.target, key.repo);
  await mapLimit(placed, opts.concurrency, async (p) => {
    try {
      await planObject(p);
    } catch (err) {
      // The identity the requests act as may not even read the object: the server's verdict
      // on this object, at its file and line, not a failure of the whole plan.
      if (!(err instanceof KubeApiError && err.status === 403)) throw err;
      refused.add(p);
      errors.push({ ref: objectRef(p.desired), message: forbiddenMessage(err, cluster), source: p.source });
    }
  });
  async function planObject(p: PlannedObject): Promise<void> {
    if (!p.resource) return;
    const ref = objectRef(p.desired);
    const path = resourcePath(p.resource, p.desired.metadata.namespace, p.desired.metadata.name);
    const listed = owned.get(identity(p.desired));
    // A list returns the preferred version; another version must be read as itself.
    if (listed?.apiVersion === p.desired.apiVersion) p.live = listed;
    // A Namespace the app takes over carries a mark saying so on every apply, so its labels
    // stay the operator's later too. Read first: the mark is part of the dry-run's request.
    if (p.desired.kind === 'Namespace' && p.desired.apiVersion === 'v1') {
      p.live ??= await getOrNull(cluster, path);
      if (p.live && adoptedByApp(p.live, app, key)) p.desired.metadata.annotations = { ...p.desired.metadata.annotations, [ADOPTED_ANNOTATION]: 'true' };
    }
    let failure: KubeApiError | undefined;
    let answer: KubeResponse<KubeObject> | undefined;
    p.request = requestHash(p.desired, request, grants);
    // Still at the version this app's last successful deploy left it, and asked for by the
    // same request: nobody wrote it since, so the dry-run would answer the live object.
    const stamped = p.live !== null && inventory?.applied?.[ref] === appliedStamp(String(p.live.metadata['resourceVersion'] ?? ''), p.request);
    if (stamped && p.live) answer = { status: 200, body: p.live, warnings: [] };
    else {
      try {
        answer = await sendApply(cluster, p, request, true);
      } catch (err) {
        // Only the server's verdict on this object is the user's problem; anything else (a 5xx
        // or 429 the client's retries did not outlast among them) is ours and retried.
        if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
        failure = err;
      }
    }
    if (failure?.status === 403) {
      errors.push({ ref, message: forbiddenMessage(failure, cluster), source: p.source });
      return;
    }
    const ns = p.desired.metadata.namespace;
    const missingNamespace = failure !== undefined && isMissingNamespace(failure, ns);
    const mayExist = failure ? !missingNamespace : answer?.status !== 201;
    if (p.live === null && (listed || mayExist)) p.live = await getOrNull(cluster, path);

    // Ownership before anything the server said: an object that is not this app's is
    // refused without a word of its live content (errors can quote it, too).
    if (p.live) {
      const owner = ownershipOf(p.live, key);
      // The owner's config is read only when this app asks for the object (GitHub reads cost).
      const ownerConfig = owner.owner === 'other' && opts.owners && app.adopt.includes(adoptRef(p.desired)) ? await opts.owners.read(owner) : undefined;
      const takeover = takeOverRefusal(p.live, p.desired, app, key, ownerConfig);
      if (takeover) {
        refused.add(p);
        errors.push({ ref, message: takeover, source: p.source });
        return;
      }
      // Pod Security and other labels keep a Namespace in check: not the repo's to change on one its app did not create.
      const relabel = checkNamespaceMetadata(p.desired, p.live, !adoptedByApp(p.live, app, key), key.repo, cluster.target.name, cluster.target.grants);
      if (relabel) {
        refused.add(p);
        errors.push({ ref, message: `not allowed: ${relabel.rule}`, source: p.source });
        return;
      }
      if (managedByLegacy(p.live)) {
        p.migrate = true;
        p.note = MIGRATE_NOTE;
      }
    }

    if (failure && failure.status === 409 && !request.force && conflictManagers(failure).every((m) => m === LEGACY_FIELD_MANAGER)) {
      // The deploy hands the old manager's fields to this app's manager before applying,
      // so these conflicts are with ourselves; what the apply then does is a forced one.
      try {
        answer = await sendApply(cluster, p, request, true, true);
        failure = undefined;
      } catch (err) {
        if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
        failure = err;
      }
    }
    if (!failure) {
      p.merged = answer?.body ?? null;
      if (p.migrate) delete p.note;
      for (const w of answer?.warnings ?? []) warnings.push({ ref, message: w, source: p.source, from: 'server' });
      // An object the server warns about is asked again next time: a warning it repeats (a deprecated API version) keeps showing.
      if (answer?.warnings.length) delete p.request;
      return;
    }
    if (missingNamespace && ns && renderNamespaces.has(ns)) {
      p.merged = p.desired;
      p.note = `namespace ${ns} is created by this change, so the server could not validate this object yet`;
      return;
    }
    if (missingNamespace && ns) {
      errors.push({ ref, message: missingNamespaceMessage(ns, app, failure), source: p.source });
      return;
    }
    if (isImmutable(failure) && p.live) {
      if (p.desired.metadata.annotations?.[RECREATE_ANNOTATION] !== 'true') {
        errors.push({ ref, message: `${failure.message} — this field cannot be changed in place. To replace the object, annotate it in Git with ${RECREATE_ANNOTATION}: "true": the deploy then deletes it, waits until it is gone and creates it again (a Deployment's Pods restart, a Job runs again)`, source: p.source });
        return;
      }
      // The delete is what the server can check now; the new object is checked when created.
      try {
        await cluster.client.request('DELETE', path, { query: { dryRun: 'All', propagationPolicy: 'Background' } });
      } catch (err) {
        if (!(err instanceof KubeApiError) || isTransient(err)) throw err;
        errors.push({ ref, message: `cannot be replaced: the delete is refused: ${err.message}`, source: p.source });
        return;
      }
      p.replace = true;
      p.merged = p.desired;
      p.note = `replaced: an immutable field changes, so the deploy deletes this object, waits until it is gone and creates it again (${RECREATE_ANNOTATION}: "true")`;
      return;
    }
    errors.push({ ref, message: `${failure.message}${conflictHint(failure, request)}`, source: p.source });
  }

  if (app.failOn.includes('warnings')) {
    for (const w of warnings.splice(0)) {
      const e: ObjectError = { ref: w.ref, message: `the API server warns: ${w.message} (failOn: [warnings] makes warnings failures)` };
      if (w.source) e.source = w.source;
      errors.push(e);
    }
  }

  const orphans = opts.orphans ? pruneCandidates(stale, cluster, app, key, warnings) : [];
  return result(placed.filter((p) => p.merged !== null && !refused.has(p)), orphans, opts.orphans ? stale : []);
}

/**
 * Each rendered object's identity as the cluster will know it: the server's scope decides
 * whether an object without a namespace lands in the app's namespace (namespaced kinds) or
 * has none (cluster-scoped), kinds of CRDs in the same render included. Lets a deploy find
 * two apps declaring one object before either writes it.
 */
export async function renderedIdentities(cluster: Cluster, app: App, rendered: RenderedObject[]): Promise<{ id: string; ref: string; source: SourceRef }[]> {
  const crdKinds = new Map(rendered.filter((r) => r.object.kind === 'CustomResourceDefinition').flatMap((r) => crdGvks(r.object)));
  const out: { id: string; ref: string; source: SourceRef }[] = [];
  for (const r of rendered) {
    const o = { apiVersion: r.object.apiVersion, kind: r.object.kind, metadata: { ...r.object.metadata } };
    const resource = await cluster.discovery.resolve(o.apiVersion, o.kind);
    // Unknown kinds are taken as namespaced, as most custom resources are.
    const namespaced = resource ? resource.namespaced : (crdKinds.get(`${o.apiVersion}/${o.kind}`) ?? true);
    if (namespaced) o.metadata.namespace ??= app.namespace ?? 'default';
    else delete o.metadata.namespace;
    out.push({ id: identity(o), ref: objectRef(o), source: r.source });
  }
  return out;
}

/**
 * The API server's `Forbidden`, with who was refused and who can change that: the identity
 * the operator's grant names (impersonated), or mergeops' own service account.
 */
export function forbiddenMessage(err: KubeApiError, cluster: Pick<Cluster, 'client' | 'target'>): string {
  const who = cluster.client.actingAs;
  const where = `cluster "${cluster.target.name}"`;
  return who
    ? `${err.message} (the API server refused ${who.named}, the identity the operator's grant names for this repository on ${where}; remove the object from Git, or ask the operator to allow it in that identity's Role)`
    : `${err.message} (the API server refused mergeops' own identity on ${where}; ask the operator to extend its RBAC, or to name a serviceAccount in this repository's grant)`;
}

/** What to do about a server-side apply conflict, appended to the server's message. */
export function conflictHint(err: KubeApiError, request: ApplyRequest): string {
  if (err.status !== 409 || request.force) return '';
  return ' (the app sets conflicts: fail, so fields another field manager set are not taken over and this apply is refused; remove the field from Git, or drop conflicts: fail so Git wins)';
}

function conflictManagers(err: KubeApiError): string[] {
  const found = (err.details.causes ?? []).map((c) => /conflict with "([^"]+)"/.exec(c.message ?? '')?.[1]);
  return found.length && found.every((m) => m !== undefined) ? (found as string[]) : [''];
}

function isMissingNamespace(err: KubeApiError, ns: string | undefined): boolean {
  return err.status === 404 && ns !== undefined && err.details.kind === 'namespaces' && err.details.name === ns;
}

function missingNamespaceMessage(ns: string, app: App, err: KubeApiError): string {
  return `namespace "${ns}" does not exist (the API server says: ${err.message}). Add a Namespace manifest for "${ns}" to the app's files, or set createNamespace: true on app "${app.name}" in ${REPO_CONFIG_PATH}; either way the namespace must be granted to this repository`;
}

/** Deployment selectors, Job templates, Service clusterIPs…: the server says "field is immutable". */
function isImmutable(err: KubeApiError): boolean {
  if (err.status !== 422) return false;
  return /immutable/i.test(err.message) || (err.details.causes ?? []).some((c) => /immutable/i.test(c.message ?? ''));
}

function managedByLegacy(live: KubeObject): boolean {
  const mf = live.metadata['managedFields'];
  return Array.isArray(mf) && mf.some((e: { manager?: string; operation?: string }) => e.manager === LEGACY_FIELD_MANAGER && e.operation === 'Apply');
}

/**
 * Whether a live object is (or is becoming) the app's by adoption rather than creation: not
 * the app's yet, or marked adopted earlier, or named by the owner's annotation or `adopt:`.
 */
function adoptedByApp(live: KubeObject, app: App, key: InventoryKey): boolean {
  const a = live.metadata.annotations ?? {};
  return ownershipOf(live, key).owner !== 'this-app' || a[ADOPTED_ANNOTATION] !== undefined || a[ADOPT_ANNOTATION] === adoptValue(key) || app.adopt.includes(adoptRef(live));
}

/**
 * `createNamespace: true`: the app's namespace, labelled as the app's, when it does not exist
 * yet (or was created this way before, so it is not an orphan). A namespace someone else
 * made is left alone.
 */
async function namespaceToCreate(cluster: Cluster, app: App, key: InventoryKey, inRender: Set<string | undefined>): Promise<RenderedObject | null> {
  if (!app.createNamespace || !app.namespace || inRender.has(app.namespace)) return null;
  let live: KubeObject | null;
  try {
    live = await getOrNull(cluster, `/api/v1/namespaces/${encodeURIComponent(app.namespace)}`);
  } catch (err) {
    // An identity that may not read Namespaces: the Namespace's own dry-run below gets the
    // server's Forbidden, reported at the config like any object's.
    if (!(err instanceof KubeApiError && err.status === 403)) throw err;
    live = null;
  }
  if (live && ownershipOf(live, key).owner !== 'this-app') return null;
  return {
    object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: app.namespace, annotations: { [PRUNE_ANNOTATION]: 'disabled' } } },
    source: { file: REPO_CONFIG_PATH, line: 1 },
  };
}

/**
 * Every prune candidate is re-checked: still inside the app's grant (an operator may have
 * narrowed it), not marked to be kept, and not released by the app to another one. The
 * rest are named, not deleted.
 */
function pruneCandidates(orphans: KubeObject[], cluster: Cluster, app: App, key: InventoryKey, warnings: ObjectWarning[]): KubeObject[] {
  const outside = new Map(
    [...inInventoryNamespace(orphans, cluster), ...checkGrants(orphans.map((o) => ({ object: o, namespaced: o.metadata.namespace !== undefined })), key.repo, cluster.target.name, cluster.target.grants)].map((v) => [v.ref, v.rule]),
  );
  return orphans.filter((o) => {
    const ref = objectRef(o);
    const rule = outside.get(ref);
    if (rule) warnings.push({ ref, message: `not pruned although Git no longer has it: ${rule}`, from: 'mergeops' });
    else if (o.metadata.annotations?.[PRUNE_ANNOTATION] === 'disabled') warnings.push({ ref, message: `not pruned although Git no longer has it: it carries ${PRUNE_ANNOTATION}: disabled`, from: 'mergeops' });
    else {
      const released = releasedByApp(o, app, key);
      if (!released) return true;
      warnings.push({ ref, message: `not pruned although Git no longer has it: ${released}`, from: 'mergeops' });
    }
    return false;
  });
}

/**
 * The inventory namespace holds every app's record of what it deployed; an object there
 * (or that Namespace itself) could forge or delete another app's inventory, so no grant,
 * not even `*`, lets an app deploy or prune there.
 */
function inInventoryNamespace(objects: KubeObject[], cluster: Cluster): Violation[] {
  const ns = inventoryNamespace(cluster);
  return objects
    .filter((o) => o.metadata.namespace === ns || (o.apiVersion === 'v1' && o.kind === 'Namespace' && o.metadata.name === ns))
    .map((o) => ({
      ref: objectRef(o),
      rule: `namespace "${ns}" holds mergeops' app inventories on cluster "${cluster.target.name}" (its inventoryNamespace in MERGEOPS_CLUSTERS), so no app may deploy into it; use another namespace`,
    }));
}

/** `group/version/Kind` → namespaced, for every version a CRD serves. */
function crdGvks(crd: KubeObject): [string, boolean][] {
  const spec = crd['spec'] as { group?: string; scope?: string; names?: { kind?: string }; versions?: { name?: string }[] } | undefined;
  if (!spec?.group || !spec.names?.kind) return [];
  return (spec.versions ?? []).map((v) => [`${spec.group}/${v.name}/${spec.names?.kind}`, spec.scope !== 'Cluster']);
}
