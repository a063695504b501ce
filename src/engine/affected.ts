import path from 'node:path';
import type { App } from '../config/repo-config.js';
import { canonical } from '../managed-fields.js';
import { renderInputs } from '../render/index.js';

/**
 * What a change touched, as far as GitHub could tell: the repo-relative paths of every file
 * added, modified, removed or renamed (both names), or why no list can be trusted (a
 * force-push, a branch created, a truncated list, no base, GitHub failing to answer).
 */
export type ChangedFiles = { complete: true; paths: string[] } | { complete: false; reason: string };

/** What decides one app: its head entry, its base entry (absent: new), what its render reads. */
export interface AffectedInput {
  /** The apps that would be rendered without the file list (head config, this branch). */
  apps: readonly App[];
  /** The same branch's apps at the base revision; null when the base config is unknown. */
  baseApps: readonly App[] | null;
  changed: ChangedFiles;
  /** What each app's render reads at the head (by app name); null: unknown (the scan failed). */
  inputs: ReadonlyMap<string, readonly string[] | null>;
  /** The same at the base revision, so a file the base read and the change deleted counts. */
  baseInputs?: ReadonlyMap<string, readonly string[] | null>;
}

export interface AffectedDecision {
  affected: App[];
  unaffected: App[];
  /** Why each affected app is affected (one short phrase, for logs and reports). */
  why: Map<string, string>;
  /** Set when every app is affected because the file list cannot be trusted. */
  fallback?: string;
}

/**
 * Which apps a change affects: an app whose config entry changed (or is new), whose path
 * or render inputs hold a changed file, or whose inputs are unknown. When the file list
 * cannot be trusted, or the base config is unknown, every app is affected and `fallback`
 * says why. Pure: the caller gathers the inputs (`scanInputs`).
 */
export function affectedApps(input: AffectedInput): AffectedDecision {
  const out: AffectedDecision = { affected: [], unaffected: [], why: new Map() };
  const fallback = !input.changed.complete ? input.changed.reason : input.baseApps === null ? 'the base revision’s config could not be read' : undefined;
  if (fallback !== undefined) {
    out.fallback = fallback;
    for (const app of input.apps) {
      out.affected.push(app);
      out.why.set(app.name, fallback);
    }
    return out;
  }
  const changed = (input.changed as { paths: string[] }).paths.map(normalise);
  const base = new Map((input.baseApps ?? []).map((a) => [a.name, a]));
  for (const app of input.apps) {
    const why = reasonFor(app, base.get(app.name), changed, input.inputs.get(app.name), input.baseInputs?.get(app.name));
    if (why === null) out.unaffected.push(app);
    else {
      out.affected.push(app);
      out.why.set(app.name, why);
    }
  }
  return out;
}

function reasonFor(app: App, before: App | undefined, changed: string[], inputs: readonly string[] | null | undefined, baseInputs: readonly string[] | null | undefined): string | null {
  if (!before) return 'new in the config';
  if (!sameEntry(app, before)) return 'its config entry changed';
  if (inputs === null || inputs === undefined) return 'what its render reads is unknown';
  // The app's path always counts, even when the scan did not list it.
  const roots = [app.path, ...inputs, ...(baseInputs ?? [])].map(normalise);
  const hit = changed.find((f) => roots.some((r) => under(f, r)));
  return hit === undefined ? null : `${hit} changed`;
}

/** Two entries of one app configure the same deploy: equal after key order is ignored. */
export function sameEntry(a: App, b: App): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

/** `f` is `root` or inside it; the repository root (`.`) holds everything. */
export function under(f: string, root: string): boolean {
  return root === '.' || f === root || f.startsWith(`${root}/`);
}

/** Repo-relative, forward slashes, no `./` or trailing slash: how GitHub names paths. */
export function normalise(p: string): string {
  const n = path.posix.normalize(p.replace(/\\/g, '/')).replace(/^\.\/+/, '').replace(/\/+$/, '');
  return n === '' ? '.' : n;
}

/**
 * What each app's render reads in a checkout (`renderInputs`), by app name; null for an app
 * whose scan failed (a kustomization that does not parse): such an app is affected, and its
 * render reports the error.
 */
export async function scanInputs(apps: readonly App[], dir: string): Promise<Map<string, string[] | null>> {
  const out = new Map<string, string[] | null>();
  for (const app of apps) out.set(app.name, await renderInputs(app, dir).catch(() => null));
  return out;
}

/** Unique paths of a change list; a rename contributes both names. */
export function changedPaths(files: readonly { filename: string; previous_filename?: string }[]): string[] {
  return [...new Set(files.flatMap((f) => (f.previous_filename ? [f.filename, f.previous_filename] : [f.filename])))];
}
