import { REPO_CONFIG_PATH, type App } from '../config/repo-config.js';
import { managedFields, ownsPath } from '../managed-fields.js';
import { objectRef, type KubeObject } from '../objects.js';
import { ADOPT_ANNOTATION, adoptRef, adoptValue, fieldManager, ownershipOf, type InventoryKey } from './inventory.js';

/**
 * Who may write a live object, decided from the object alone plus what its owner's
 * reviewed config says: an object no mergeops app owns is taken over with `adopt:` (or the
 * annotation someone put on it); one another mergeops app owns — another repository's, or
 * another app of this one — changes hands only when that owner releases it, and the taker
 * still lists it under `adopt:`. Both halves come from reviewed branches: the taker's
 * config from its allowed branch, the owner's `release:` from its default branch or the
 * annotation its own deploy wrote. A pull request (a fork's above all) can move neither.
 */

/** A mergeops app that owns a live object, as its marks (or field manager) name it. */
export interface OwnerApp {
  repoId: number;
  /** `owner/repo`, or `repository id N` when the object does not name it. */
  repo: string;
  app: string;
}

/** One `release:` entry of the owner's config, with the app it sits under. */
export interface Release {
  app: string;
  object: string;
  to?: string;
}

/** What mergeops learnt of the owner's config on its default branch. */
export type OwnerConfig = { read: true; branch: string; apps: string[]; releases: Release[] } | { read: false; why: string };

/** Reads an owner's config from its default branch; the flows bind it to GitHub, the CLI has none. */
export interface OwnerConfigs {
  read(owner: OwnerApp): Promise<OwnerConfig>;
}

/** `owner/repo/app`, or `owner/repo` for any app of it: does it name this app? */
function namesTaker(to: string | undefined, key: InventoryKey): boolean {
  return to === key.repo || to === adoptValue(key);
}

/** The annotation's path in a managedFields field set. */
const ANNOTATION_PATH = ['f:metadata', 'f:annotations', `f:${ADOPT_ANNOTATION}`];

/** Whether `manager` applied the object's adopt annotation (it is in that manager's Git). */
function annotationWrittenBy(live: KubeObject, manager: string): boolean {
  return managedFields(live).some((e) => e.manager === manager && e.operation === 'Apply' && ownsPath(e.fieldsV1, ANNOTATION_PATH));
}

/** How the owner released the object to this app, or null when it did not. */
export function releaseOf(live: KubeObject, owner: OwnerApp, key: InventoryKey, config: OwnerConfig | undefined): 'annotation' | 'release' | null {
  const ownerKey = { repoId: owner.repoId, repo: owner.repo, app: owner.app };
  if (namesTaker(live.metadata.annotations?.[ADOPT_ANNOTATION], key) && annotationWrittenBy(live, fieldManager(ownerKey))) return 'annotation';
  if (!config?.read) return null;
  const ref = adoptRef(live);
  // The owning app says so; an app its repository has since removed is spoken for by any of its apps.
  const speaks = (r: Release): boolean => r.app === owner.app || !config.apps.includes(owner.app);
  return config.releases.some((r) => r.object === ref && speaks(r) && (r.to === undefined || namesTaker(r.to, key))) ? 'release' : null;
}

/**
 * Null when the app may write this live object: it is the app's, or adopted — one nobody
 * owns by `adopt:` or the annotation, one another mergeops app owns by `adopt:` and that
 * owner's release. Otherwise the refusal, naming the owner and every way to hand it over.
 * `ownerConfig` is the owner's config as read from its default branch (absent: not read).
 */
export function takeOverRefusal(live: KubeObject, desired: KubeObject, app: App, key: InventoryKey, ownerConfig?: OwnerConfig): string | null {
  const owner = ownershipOf(live, key);
  if (owner.owner === 'this-app') return null;
  const name = adoptRef(desired);
  const adopted = app.adopt.includes(name);
  if (owner.owner === 'nobody') {
    if (adopted || live.metadata.annotations?.[ADOPT_ANNOTATION] === adoptValue(key)) return null;
    return (
      `would take over \`${objectRef(desired)}\`, which this app does not manage; its live content is not shown. ` +
      `To take it over on purpose, add "${name}" to adopt: of app "${app.name}" in ${REPO_CONFIG_PATH} on the base branch, ` +
      `or have the object's owner annotate the live object with ${ADOPT_ANNOTATION}: "${adoptValue(key)}"; otherwise give the object in Git another name`
    );
  }
  const released = releaseOf(live, owner, key, ownerConfig);
  if (adopted && released) return null;
  const sameRepo = owner.repoId === key.repoId;
  const whose = sameRepo ? `app "${owner.app}" of this repository (${owner.repo})` : `app "${owner.app}" of ${owner.repo}`;
  const steps = [
    `would take over \`${objectRef(desired)}\`, which belongs to ${whose}, another mergeops app; its live content is not shown. It changes hands only when its owner releases it, and this app asks for it:`,
    adopted ? `this app's adopt: names "${name}" (done);` : `add "${name}" to adopt: of app "${app.name}" in ${REPO_CONFIG_PATH} on the base branch;`,
    `and either the owner adds { object: ${name}, to: ${adoptValue(key)} } under release: of app "${owner.app}" in ${sameRepo ? 'this repository' : owner.repo}'s ${REPO_CONFIG_PATH} on its default branch` +
      `${configStatus(ownerConfig, owner)},`,
    `or app "${owner.app}" declares the annotation ${ADOPT_ANNOTATION}: "${adoptValue(key)}" on the object in its own Git and deploys it` +
      `${annotationStatus(live, key)} (mergeops honours it only when that app's own deploy wrote it).`,
    `Otherwise give the object in Git another name.`,
  ];
  return steps.join(' ');
}

function configStatus(config: OwnerConfig | undefined, owner: OwnerApp): string {
  if (!config) return '';
  if (!config.read) return ` (${config.why})`;
  return ` (mergeops read it on ${config.branch}: ${config.apps.includes(owner.app) ? `app "${owner.app}"` : 'it'} does not release this object to this app)`;
}

function annotationStatus(live: KubeObject, key: InventoryKey): string {
  const value = live.metadata.annotations?.[ADOPT_ANNOTATION];
  if (value === undefined) return '';
  return namesTaker(value, key) ? ' (the live object carries it, but the owner\'s deploy did not write it, so it does not count)' : ` (the live object's says "${value}", not this app)`;
}

/**
 * Why the app's prune keeps an object Git no longer has because the app released it (its
 * `release:` names it, or its own deploy wrote the annotation): it is left for the app it
 * was handed to. Null when not released.
 */
export function releasedByApp(o: KubeObject, app: App, key: InventoryKey): string | null {
  const ref = adoptRef(o);
  const entry = app.release?.find((r) => r.object === ref);
  if (entry) return `app "${app.name}" releases it (release: in ${REPO_CONFIG_PATH}${entry.to ? `, to ${entry.to}` : ''}), so it is left for its next owner`;
  const to = o.metadata.annotations?.[ADOPT_ANNOTATION];
  if (to !== undefined && annotationWrittenBy(o, fieldManager(key))) return `app "${app.name}" released it with ${ADOPT_ANNOTATION}: "${to}", so it is left for its next owner`;
  return null;
}
