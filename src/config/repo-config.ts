import { parseYamlDocuments } from '../render/yaml.js';
import { RenderError } from '../render/types.js';
import {
  ConfigError,
  expectObj,
  optBool,
  optList,
  optString,
  optStringList,
  parseDuration,
  reqString,
  type Obj,
} from './validate.js';

export const REPO_CONFIG_PATH = '.github/mergeops.yml';

export interface HelmSettings {
  releaseName?: string;
  valuesFiles: string[];
  values?: Obj;
}

export interface App {
  name: string;
  /** Relative to the repo root, normalised, never escaping it. */
  path: string;
  cluster: string;
  namespace?: string;
  branch: string;
  prune: boolean;
  /** Allow a deploy whose render is empty to prune everything the app had. */
  pruneEmpty: boolean;
  waitMs: number;
  /**
   * What a deploy does with fields Git declares that another field manager (kubectl edit,
   * another controller) set: `overwrite` takes them over (Git wins), `fail` refuses.
   */
  conflicts: ConflictPolicy;
  /** Create the app's `namespace` (first, labelled as the app's) when it does not exist. */
  createNamespace: boolean;
  /** `warnings`: the API server's warnings on the dry-run fail the preview and the deploy. */
  failOn: FailOn[];
  /** Live objects (`Kind/namespace/name`) this app may take over although it did not create them. */
  adopt: string[];
  selfHeal: boolean;
  helm?: HelmSettings;
}

export type ConflictPolicy = 'overwrite' | 'fail';
export type FailOn = 'warnings';

export type ImagePolicy =
  | { kind: 'semver'; range: string; prerelease: boolean }
  | { kind: 'regex'; pattern: string; order: 'numeric' | 'alphabetical' }
  | { kind: 'digest'; tag: string };

export interface ImageRule {
  repository: string;
  policy: ImagePolicy;
  /** Write `tag@sha256:…` so the cluster runs exactly the build the PR names. */
  pinDigest: boolean;
  apps: string[];
  /** Where Helm values keep this image (default image.repository / image.tag). */
  helmKeys?: { repository: string; tag: string };
  pullRequest: { labels: string[]; group?: string; automerge: boolean };
}

export interface RepoConfig {
  apps: App[];
  images: ImageRule[];
}

/** DNS-1123 label: app names end up in label values, job ids and Deployment environments. */
const APP_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const BRANCH = /^[^\s~^:?*[\\]+$/;
const ADOPT_REF = /^[A-Za-z][A-Za-z0-9]*\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/;

export function parseRepoConfig(text: string, defaultBranch: string): RepoConfig {
  let docs;
  try {
    docs = parseYamlDocuments(text, REPO_CONFIG_PATH);
  } catch (err) {
    if (err instanceof RenderError) throw new ConfigError(`${err.message} (line ${err.line ?? '?'})`, '');
    throw err;
  }
  if (docs.length !== 1) throw new ConfigError(`expected exactly one YAML document, found ${docs.length}`, '');
  return validateRepoConfig(docs[0]?.value, defaultBranch);
}

export function validateRepoConfig(raw: unknown, defaultBranch: string): RepoConfig {
  const root = expectObj(raw, '', ['apps', 'images']);
  const appsRaw = optList(root, 'apps', '') ?? [];
  if (appsRaw.length === 0) throw new ConfigError('lists no apps; add at least one under "apps:"', 'apps');
  const apps = appsRaw.map((a, i) => parseApp(a, `apps[${i}]`, defaultBranch));
  const seen = new Set<string>();
  apps.forEach((a, i) => {
    if (seen.has(a.name)) throw new ConfigError(`duplicate app name "${a.name}"`, `apps[${i}].name`);
    seen.add(a.name);
  });
  const images = (optList(root, 'images', '') ?? []).map((r, i) => parseImageRule(r, `images[${i}]`, seen));
  return { apps, images };
}

function parseApp(raw: unknown, path: string, defaultBranch: string): App {
  const o = expectObj(raw, path, ['name', 'path', 'cluster', 'namespace', 'branch', 'prune', 'pruneEmpty', 'wait', 'conflicts', 'force', 'createNamespace', 'failOn', 'adopt', 'selfHeal', 'helm']);
  const app: App = {
    name: reqString(o, 'name', path, APP_NAME, 'use lowercase letters, digits and "-", at most 63 characters'),
    path: safeRelativePath(reqString(o, 'path', path), `${path}.path`),
    cluster: optString(o, 'cluster', path, APP_NAME, 'a cluster name the operator configured') ?? 'default',
    branch: optString(o, 'branch', path, BRANCH, 'a branch name') ?? defaultBranch,
    prune: optBool(o, 'prune', path) ?? true,
    pruneEmpty: optBool(o, 'pruneEmpty', path) ?? false,
    waitMs: o['wait'] === undefined ? 300_000 : parseDuration(o['wait'], `${path}.wait`),
    conflicts: parseConflicts(o, path),
    createNamespace: optBool(o, 'createNamespace', path) ?? false,
    failOn: (optStringList(o, 'failOn', path) ?? []).map((v, i) => {
      if (v !== 'warnings') throw new ConfigError(`unknown value "${v}"; allowed: warnings`, `${path}.failOn[${i}]`);
      return v;
    }),
    adopt: (optStringList(o, 'adopt', path) ?? []).map((v, i) => {
      if (!ADOPT_REF.test(v)) throw new ConfigError(`"${v}" is not Kind/namespace/name (or Kind/name for a cluster-scoped object), e.g. ConfigMap/shop/payments-config`, `${path}.adopt[${i}]`);
      return v;
    }),
    selfHeal: optBool(o, 'selfHeal', path) ?? false,
  };
  const ns = optString(o, 'namespace', path, APP_NAME, 'a Kubernetes namespace name');
  if (ns) app.namespace = ns;
  if (app.createNamespace && !app.namespace) throw new ConfigError('createNamespace: true needs the app\'s namespace to be set', `${path}.createNamespace`);
  if (o['helm'] !== undefined) app.helm = parseHelm(o['helm'], `${path}.helm`);
  return app;
}

/**
 * `conflicts:` (overwrite | fail), or the older `force:` it replaces: `force: true` is
 * `overwrite` (now the default), `force: false` keeps its old meaning, `fail`.
 */
function parseConflicts(o: Obj, path: string): ConflictPolicy {
  const conflicts = optString(o, 'conflicts', path, /^(overwrite|fail)$/, 'overwrite (Git wins, the default) or fail (keep fields other managers set)');
  const force = optBool(o, 'force', path);
  if (conflicts !== undefined && force !== undefined && (conflicts === 'overwrite') !== force) {
    throw new ConfigError(`force: ${force} contradicts conflicts: ${conflicts}; drop force (conflicts replaces it)`, `${path}.force`);
  }
  if (conflicts !== undefined) return conflicts as ConflictPolicy;
  return force === false ? 'fail' : 'overwrite';
}

function parseHelm(raw: unknown, path: string): HelmSettings {
  const o = expectObj(raw, path, ['releaseName', 'valuesFiles', 'values']);
  const h: HelmSettings = { valuesFiles: optStringList(o, 'valuesFiles', path) ?? [] };
  const rel = optString(o, 'releaseName', path, APP_NAME, 'a Helm release name');
  if (rel) h.releaseName = rel;
  if (o['values'] !== undefined) h.values = expectObj(o['values'], `${path}.values`, Object.keys(o['values'] ?? {}));
  return h;
}

function parseImageRule(raw: unknown, path: string, appNames: Set<string>): ImageRule {
  const o = expectObj(raw, path, ['repository', 'policy', 'apps', 'helm', 'pullRequest']);
  const apps = optStringList(o, 'apps', path) ?? [...appNames];
  apps.forEach((a, i) => {
    if (!appNames.has(a)) throw new ConfigError(`no app named "${a}" in apps`, `${path}.apps[${i}]`);
  });
  const pr = o['pullRequest'] === undefined ? {} : expectObj(o['pullRequest'], `${path}.pullRequest`, ['labels', 'group', 'automerge']);
  const pullRequest: ImageRule['pullRequest'] = {
    labels: optStringList(pr, 'labels', `${path}.pullRequest`) ?? [],
    automerge: optBool(pr, 'automerge', `${path}.pullRequest`) ?? false,
  };
  const group = optString(pr, 'group', `${path}.pullRequest`, APP_NAME, 'a short name');
  if (group) pullRequest.group = group;
  const policyObj = expectObj(o['policy'], `${path}.policy`, ['semver', 'prerelease', 'regex', 'order', 'digest', 'pinDigest']);
  const rule: ImageRule = {
    repository: reqString(o, 'repository', path, /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/, 'an image repository like ghcr.io/acme/app'),
    policy: parsePolicy(policyObj, `${path}.policy`),
    pinDigest: optBool(policyObj, 'pinDigest', `${path}.policy`) ?? false,
    apps,
    pullRequest,
  };
  if (o['helm'] !== undefined) {
    const h = expectObj(o['helm'], `${path}.helm`, ['repository', 'tag']);
    const key = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
    rule.helmKeys = {
      repository: optString(h, 'repository', `${path}.helm`, key, 'a dotted key path such as image.repository') ?? 'image.repository',
      tag: optString(h, 'tag', `${path}.helm`, key, 'a dotted key path such as image.tag') ?? 'image.tag',
    };
  }
  return rule;
}

function parsePolicy(o: Obj, path: string): ImagePolicy {
  const semver = optString(o, 'semver', path);
  const regex = optString(o, 'regex', path);
  const digest = optString(o, 'digest', path);
  const set = [semver, regex, digest].filter((v) => v !== undefined).length;
  if (set !== 1) throw new ConfigError('set exactly one of semver, regex or digest', path);
  if (semver !== undefined) return { kind: 'semver', range: semver, prerelease: optBool(o, 'prerelease', path) ?? false };
  if (regex !== undefined) {
    try {
      new RegExp(regex);
    } catch (err) {
      throw new ConfigError(`not a valid regular expression: ${(err as Error).message}`, `${path}.regex`);
    }
    const order = optString(o, 'order', path, /^(numeric|alphabetical)$/, 'numeric or alphabetical') ?? 'alphabetical';
    return { kind: 'regex', pattern: regex, order: order as 'numeric' | 'alphabetical' };
  }
  return { kind: 'digest', tag: digest ?? 'latest' };
}

/** Normalises a repo-relative path and refuses anything that could leave the checkout. */
export function safeRelativePath(p: string, keyPath: string): string {
  if (p.startsWith('/') || /^[a-zA-Z]:/.test(p) || p.includes('\\') || p.includes('\0')) {
    throw new ConfigError(`"${p}" must be a path relative to the repository root`, keyPath);
  }
  const parts: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw new ConfigError(`"${p}" must not contain ".."`, keyPath);
    parts.push(seg);
  }
  return parts.length === 0 ? '.' : parts.join('/');
}
