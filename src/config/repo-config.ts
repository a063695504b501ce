import { z } from 'zod';
import { parseYamlDocuments } from '../yaml.js';
import { RenderError } from '../errors.js';
import { ConfigError, anyMapping, bool, check, describe, duration, fail, isObj, list, mapping, str, unset, type Obj } from './validate.js';
import { NO_DEFAULTS, mergeConfig, type ConfigDefaults } from './merge.js';
import { ROLLOUT_CHECKS, type RolloutCheck } from '../rollout-checks.js';
import { PERMISSION_LEVELS, isPermission, type Permission } from './command-permissions.js';

export const REPO_CONFIG_PATH = '.github/mergeops.yml';

/** DNS-1123 label: app names end up in label values, job ids and Deployment environments. */
const APP_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const BRANCH = /^[^\s~^:?*[\\]+$/;
const IMAGE_REPOSITORY = /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)+$/;
const DOTTED_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
const DEFAULT_WAIT_MS = 300_000;
/** `Kind/namespace/name`, or `Kind/name` for a cluster-scoped object: how `adopt:` names a live object. */
const ADOPT_REF = /^[A-Za-z][A-Za-z0-9]*\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?\/)?[a-z0-9]([-a-z0-9.:]*[a-z0-9])?$/;
/** `owner/repo` (any app of it) or `owner/repo/app` (`web.staging` for one environment of it): who a `release:` hands an object to. */
const RELEASE_TO = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+(\/[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?)?$/;
/** What `failOn:` may name: the dry-run's warnings, or a finding of the rollout analysis. */
const FAIL_ON = new RegExp(`^(warnings|${ROLLOUT_CHECKS.join('|')})$`);
const CONFLICTS_HINT = 'overwrite (Git wins, the default) or fail (keep fields other managers set)';
/** Where an app's `path`, `namespace` and Helm values files name the environment they are expanded for. */
export const ENV_TOKEN = '{env}';
/** A namespace that may hold `{env}`: checked again, as a DNS label, once expanded. */
const NAMESPACE_TEMPLATE = /^([a-z0-9-]|\{env\})+$/;

/**
 * `.github/mergeops.yml`, written once: the types below, the error messages and the
 * published JSON Schema (schema/mergeops.schema.json) all come from these schemas. Keys
 * are listed in the order they are checked, so the first error is the first in reading order.
 */
const helmValuesShape = {
  valuesFiles: unset(list(str())).describe('Values files inside the chart folder, applied in order.'),
  values: anyMapping(z.unknown()).optional().describe('Values set inline; they win over valuesFiles.'),
};
const helmSchema = mapping({
  releaseName: unset(str(APP_NAME, 'a Helm release name')).describe('Helm release name (default: the app name).'),
  ...helmValuesShape,
}).transform((h) => ({
  valuesFiles: h.valuesFiles ?? [],
  ...(h.releaseName ? { releaseName: h.releaseName } : {}),
  ...(h.values !== undefined ? { values: h.values } : {}),
}));

/** Where a preview environment's `namespace`, `url`, Helm `values` and `set` values name the pull request and the app. */
export const PR_NUMBER_TOKEN = '{number}';
export const APP_TOKEN = '{app}';
/** A preview namespace template: checked again, as a DNS label, once the PR number is in. */
const PREVIEW_NAMESPACE_TEMPLATE = /^([a-z0-9-]|\{number\}|\{app\})+$/;
/** A field of a rendered object, as `set:` names it: `spec.rules.0.host`. */
const FIELD_PATH = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;
export const DEFAULT_PREVIEW_NAMESPACE = `pr-${PR_NUMBER_TOKEN}-${APP_TOKEN}`;
const DEFAULT_PREVIEW_TTL_MS = 72 * 3600_000;

const previewEnvironmentSchema = mapping({
  cluster: unset(str(APP_NAME, 'a cluster name the operator configured')).describe("The cluster the environment runs on; the operator must grant it previewNamespaces (default: the app's cluster)."),
  namespace: unset(str(PREVIEW_NAMESPACE_TEMPLATE, 'a namespace name that may hold {number} and {app}')).describe(`The environment's namespace; every namespaced object of the render is moved into it (default: ${DEFAULT_PREVIEW_NAMESPACE}).`),
  url: unset(str()).describe('The address shown on the pull request and on its GitHub Deployment; may hold {number} and {app}.'),
  values: anyMapping(z.unknown()).optional().describe('Helm values for the environment, over the app\'s own; dotted keys are paths (ingress.host), and string values may hold {number} and {app}.'),
  set: unset(
    list(
      mapping({
        kind: str().describe('The kind of the rendered objects to change (Ingress).'),
        name: unset(str()).describe('Only the object of this name (default: every object of the kind).'),
        path: str(FIELD_PATH, 'a dotted field path such as spec.rules.0.host').describe('The field to set, as a dotted path; numbers index lists.'),
        value: str().describe('The value; may hold {number}, {app} and {namespace}.'),
      }),
    ),
  ).describe('Fields of the rendered objects set for the environment (any renderer: plain, kustomize or Helm), e.g. an Ingress host.'),
  ttl: duration().optional().describe('How long the environment lives without a push before it is removed: "72h" (default), or /mergeops env extend.'),
  wait: duration().optional().describe("How long bringing it up waits for health (default: the app's wait)."),
  when: unset(str(/^(label|always)$/, 'label or always')).describe('label: pull requests labelled "mergeops: preview-env" (default); always: every pull request from this repository (never a fork\'s).'),
});

/** The keys of one app; an app may inherit all but its identity (name, path) and `adopt`/`release` (objects of that one app). */
const appShape = {
  name: str(APP_NAME, 'use lowercase letters, digits and "-", at most 63 characters').describe('The app name: a DNS-1123 label, unique in this file.'),
  path: str().describe('Folder with plain manifests, a kustomization or a Helm chart, relative to the repository root.'),
  cluster: unset(str(APP_NAME, 'a cluster name the operator configured')).describe('A cluster the operator configured (default: "default").'),
  namespace: unset(str(NAMESPACE_TEMPLATE, 'a Kubernetes namespace name')).describe('Namespace for namespaced objects that name none; may hold {env} (web-{env}).'),
  branch: unset(str(BRANCH, 'a branch name')).describe("The branch this app deploys from (default: the repository's default branch)."),
  prune: unset(bool()).describe('Delete objects this app deployed that Git no longer has (default: true).'),
  pruneEmpty: unset(bool()).describe('Allow a deploy whose render is empty to prune everything the app had (default: false).'),
  wait: duration().optional().describe('How long a deploy waits for health: "300s", "5m", "1h30m", or 0 for no wait (default: 5m).'),
  conflicts: unset(str(/^(overwrite|fail)$/, CONFLICTS_HINT)).describe(
    'Fields Git declares that another field manager (kubectl edit, a controller) changed: overwrite takes them back on deploy (Git wins, the default); fail keeps them and the preview and deploy fail on the conflict.',
  ),
  force: unset(bool()).describe('Older spelling of conflicts, kept for compatibility: true is overwrite, false is fail.'),
  createNamespace: unset(bool()).describe("Create the app's namespace first (labelled as this app's) when it does not exist; it must be granted (default: false)."),
  failOn: unset(list(str(FAIL_ON, `warnings or a rollout check: ${ROLLOUT_CHECKS.join(', ')}`))).describe(
    `What fails the preview: warnings (the API server's warnings on the dry-run — deprecated APIs, Pod Security warn, policy Warn — fail the preview and the deploy), or a rollout check of the preview (${ROLLOUT_CHECKS.join(', ')}).`,
  ),
  restartOnConfigChange: unset(bool()).describe(
    'Restart a workload\'s pods when a ConfigMap or Secret of the render that they read changes: mergeops sets the pod-template annotation mergeops.dev/config-hash to a hash of those configs (default: false).',
  ),
  adopt: unset(list(str(ADOPT_REF, 'Kind/namespace/name (or Kind/name for a cluster-scoped object), e.g. ConfigMap/shop/payments-config'))).describe(
    'Live objects this app may take over although it did not create them (Kind/namespace/name). Without it such an object is refused, never adopted silently.',
  ),
  release: unset(
    list(
      mapping({
        object: str(ADOPT_REF, 'Kind/namespace/name (or Kind/name for a cluster-scoped object), e.g. ConfigMap/shop/payments-config').describe('The live object this app hands over, as adopt: names it.'),
        to: unset(str(RELEASE_TO, 'owner/repo (any app of that repository) or owner/repo/app')).describe('Who may take it: owner/repo or owner/repo/app (default: any mergeops app whose adopt: names it).'),
      }),
    ),
  ).describe(
    "Objects this app owns and hands over to another mergeops app (another repository's, or another app of this one), which must also list them under adopt:. Read from the default branch of this repository. This app's prune leaves a released object in place.",
  ),
  selfHeal: unset(bool()).describe('Re-apply the deployed commit when the drift watch finds hand edits (default: false).'),
  url: unset(str(/^https?:\/\/[^\s]+$/, 'an http(s) address, e.g. https://{env}.shop.example.com')).describe(
    "Where the deployed app answers: each GitHub Deployment of it links there (environment_url). {env} becomes the environment's name.",
  ),
  review: unset(
    mapping({
      onRisk: unset(str(/^(action_required|success)$/, 'action_required or success')).describe(
        'action_required: a preview that deletes objects or changes a Namespace, CRD or PersistentVolumeClaim ends mergeops / preview as action_required until someone with write access presses "Accept risk" (default: success).',
      ),
    }),
  ).describe('Risk gate for this app, so branch protection can demand a second look.'),
  helm: helmSchema.optional().describe('Helm settings, for a path holding a chart.'),
  environments: unset(list(str())).describe('The environments (names under the top-level environments:) this app deploys to (default: all of them).'),
  previewEnvironment: previewEnvironmentSchema.optional().describe("A running copy of the pull request's render, in a namespace of its own, linked from the PR (read from the base branch)."),
};

const appSchema = mapping(appShape).superRefine((a, ctx) => {
  if (a.conflicts !== undefined && a.force !== undefined && (a.conflicts === 'overwrite') !== a.force) {
    fail(ctx, `force: ${a.force} contradicts conflicts: ${a.conflicts}; drop force (conflicts replaces it)`, ['force']);
  }
  if (a.createNamespace && !a.namespace) fail(ctx, "createNamespace: true needs the app's namespace to be set", ['createNamespace']);
});

const policySchema = mapping({
  semver: unset(str()).describe('Newest tag in this semver range, e.g. "^1.2.0".'),
  prerelease: unset(bool()).describe('semver: allow prerelease tags (default: false).'),
  regex: unset(str()).describe('Newest tag matching this regular expression.'),
  order: unset(str(/^(numeric|alphabetical)$/, 'numeric or alphabetical')).describe('regex: how tags compare, by the capture group named n (`(?<n>…)`), else the only named group, else the whole tag (default: alphabetical).'),
  digest: unset(str()).describe('Follow the digest of this fixed tag, e.g. "stable".'),
  pinDigest: unset(bool()).describe('Write tag@sha256:… so the cluster runs exactly the build the PR names (default: false).'),
})
  .superRefine((p, ctx) => {
    if ([p.semver, p.regex, p.digest].filter((v) => v !== undefined).length !== 1) return fail(ctx, 'set exactly one of semver, regex or digest');
    if (p.regex !== undefined) {
      try {
        new RegExp(p.regex);
      } catch (err) {
        fail(ctx, `not a valid regular expression: ${(err as SyntaxError).message}`, ['regex']);
      }
    }
  })
  .transform((p) => ({
    pinDigest: p.pinDigest ?? false,
    policy:
      p.semver !== undefined
        ? { kind: 'semver' as const, range: p.semver, prerelease: p.prerelease ?? false }
        : p.regex !== undefined
          ? { kind: 'regex' as const, pattern: p.regex, order: (p.order ?? 'alphabetical') as 'numeric' | 'alphabetical' }
          : { kind: 'digest' as const, tag: p.digest ?? 'latest' },
  }));

const imageRuleSchema = mapping({
  repository: str(IMAGE_REPOSITORY, 'an image repository like ghcr.io/acme/app').describe('The image repository, e.g. ghcr.io/acme/app.'),
  policy: policySchema.describe('Which tag to bump to: exactly one of semver, regex or digest.'),
  apps: unset(list(str())).describe('Apps whose files reference the image (default: all apps).'),
  environments: unset(list(str())).describe("Only these environments' files are bumped (e.g. [staging]): the later ones get the new tag through their promotion pull requests (default: every environment)."),
  helm: mapping({
    repository: unset(str(DOTTED_KEY, 'a dotted key path such as image.repository')),
    tag: unset(str(DOTTED_KEY, 'a dotted key path such as image.tag')),
  })
    .optional()
    .describe('Where Helm values keep this image (default: image.repository and image.tag).'),
  pullRequest: mapping({
    labels: unset(list(str())).describe('Labels put on the bump pull request.'),
    group: unset(str(APP_NAME, 'a short name')).describe('Rules with the same group share one pull request.'),
    automerge: unset(bool()).describe('Turn on auto-merge (squash) for the pull request (default: false).'),
  })
    .optional()
    .describe('How the bump pull request is opened.'),
}).transform((r) => ({
  repository: r.repository,
  policy: r.policy.policy,
  pinDigest: r.policy.pinDigest,
  apps: r.apps,
  environments: r.environments,
  pullRequest: {
    labels: r.pullRequest?.labels ?? [],
    automerge: r.pullRequest?.automerge ?? false,
    ...(r.pullRequest?.group ? { group: r.pullRequest.group } : {}),
  },
  ...(r.helm ? { helmKeys: { repository: r.helm.repository ?? 'image.repository', tag: r.helm.tag ?? 'image.tag' } } : {}),
}));

/**
 * Environments of one file with their own preview check run: each is one more GitHub write
 * per preview, so how many a repository can ask for is bounded.
 */
export const MAX_ENVIRONMENT_CHECKS = 10;

/** The roles `approval:` may name: GitHub's repository roles (`none` approves nothing). */
const APPROVAL_ROLES: readonly Permission[] = PERMISSION_LEVELS.filter((p) => p !== 'none');

/**
 * `promote: pr`, or `promote: { pr: true, from: staging, files: [config.env] }`: this
 * environment is moved forward by a pull request that carries the source environment's image
 * tags (and the files listed) into this environment's own files, instead of by the merge.
 */
/** A path inside the app folder: relative, no `..` segment, no backslash or space. */
const PROMOTE_FILE = /^(?!(.*\/)?\.\.(\/|$))[^\s/\\][^\s\\]*$/;
const promoteSchema = z
  .union([
    z.literal('pr', { error: (iss) => `expected pr or a mapping { pr: true, from, files }, got ${describe(iss.input)}` }),
    mapping({
      pr: z.literal(true, { error: (iss) => `expected true (promotion by pull request is the only kind so far), got ${describe(iss.input)}` }).describe('true: promote by pull request.'),
      from: unset(str(APP_NAME, 'an environment name')).describe('The environment whose image tags (and files) the pull request carries (default: the first one under after:).'),
      files: unset(list(str(PROMOTE_FILE, 'a path relative to the app folder of the environment, e.g. config.env'))).describe(
        "Files copied as they are from the source environment's app folder into this one's (paths relative to each app's folder), besides the image tags.",
      ),
    }),
  ])
  .describe('pr: this environment is not applied by the merge that deploys the one before it; once that one is healthy (and soaked) mergeops opens or updates one pull request per app carrying its image tags (and files:) here, and merging it applies this environment.');

const environmentSchema = mapping({
  name: str(APP_NAME, 'use lowercase letters, digits and "-", at most 63 characters').describe('The environment name: unique, what {env} becomes in app paths.'),
  cluster: str(APP_NAME, 'a cluster name the operator configured').describe('The cluster every app of this environment deploys to.'),
  after: unset(list(str())).describe('Environments applied and healthy before this one starts (default: the one listed before it; [] = none).'),
  soak: duration().optional().describe('How long the environments it comes after stay healthy before it starts: "10m", or 0 (default: 0).'),
  previewCheck: unset(bool()).describe(`Give this environment its own check run on pull requests, "mergeops / preview (<name>)", for branch protection to require (default: false; at most ${MAX_ENVIRONMENT_CHECKS} environments of a file).`),
  approval: unset(str().refine((v) => APPROVAL_ROLES.includes(v as Permission), { error: `expected one of ${APPROVAL_ROLES.join(', ')}` })).describe(
    'Hold this environment after the ones it comes after are healthy (and soaked) until a person with this repository role promotes it: the "Promote" button on the mergeops / deploy check, or /mergeops promote <app|all> <environment> (read, triage, write, maintain, admin; the operator may raise it).',
  ),
  promote: promoteSchema.optional(),
});

/**
 * App keys every app of a file inherits (`appDefaults:`), in the organisation's defaults
 * file or a repository's own: an app's own keys win, key by key (see config/defaults.ts).
 * Not `name`, `path`, `url`, `adopt` nor `release` (they belong to one app), nor a Helm `releaseName`, nor `environments` (the file's own).
 */
const { name: _name, path: _path, adopt: _adopt, release: _release, helm: _helm, environments: _environments, url: _url, ...inheritableShape } = appShape;
export const appDefaultsSchema = mapping({
  ...inheritableShape,
  helm: mapping(helmValuesShape)
    .optional()
    .describe('Helm values files and inline values every chart app of the file starts from.'),
});

/** `owner/repo`, or `repo` for a repository of the same owner: another defaults file to build on. */
export const EXTENDS_REF = /^([A-Za-z0-9-]+\/)?[A-Za-z0-9._-]+$/;
/** The version of this file's format that this mergeops reads (see README, "Config file versions"). */
export const CONFIG_VERSION = 1;

/** The file's shape as written, before defaults: what editors validate against. */
export const repoConfigFileSchema = mapping({
  version: unset(
    z.literal(CONFIG_VERSION, { error: (iss) => `this mergeops reads version ${CONFIG_VERSION} of the file, not ${describe(iss.input)}; leave version out or set ${CONFIG_VERSION}` }),
  ).describe(`The file format's version: ${CONFIG_VERSION}, the only one so far (default). A change that would make a valid file mean something else comes with a new version.`),
  _extends: unset(str(EXTENDS_REF, 'owner/repo, or repo for one of the same owner')).describe(
    "Only in the organisation's defaults file (.github/mergeops.yml of the owner's .github repository): another repository of the same owner whose .github/mergeops.yml these defaults build on (one level).",
  ),
  appDefaults: unset(appDefaultsSchema).describe(
    "Keys every app inherits unless it sets them itself; in the organisation's .github repository they apply to every repository of the installation. Mappings merge key by key, lists and values replace.",
  ),
  environments: unset(list(environmentSchema)).describe('Where apps deploy, in rollout order: each a cluster (and {env} in app paths); a merge applies them in waves.'),
  apps: unset(list(appSchema)).describe('The apps this repository deploys.'),
  images: unset(list(imageRuleSchema)).describe('Images to keep current with bump pull requests.'),
  dashboard: unset(bool()).describe(
    'Keep a deploy dashboard issue in this repository: every app × environment, recent deploys, and checkboxes that unlock, re-deploy and re-run (default: false, or true when the operator turns dashboards on for every repository).',
  ),
});

/** The file's schema with this repository's defaults (an app's branch defaults to the default branch). */
function repoConfigSchema(defaultBranch: string): z.ZodType<RepoConfig, unknown> {
  return repoConfigFileSchema
    .superRefine((c, ctx) => {
      const apps = c.apps ?? [];
      // A file of defaults alone (the organisation's .github repository) deploys nothing.
      const defaultsOnly = c.appDefaults !== undefined || c._extends !== undefined;
      if (apps.length === 0 && !defaultsOnly) return fail(ctx, 'lists no apps; add at least one under "apps:"', ['apps']);
      const seen = new Set<string>();
      for (const [i, a] of apps.entries()) {
        if (seen.has(a.name)) return fail(ctx, `duplicate app name "${a.name}"`, ['apps', i, 'name']);
        seen.add(a.name);
      }
      const problem = environmentsProblem(c.environments, apps);
      if (problem) return fail(ctx, problem.message, problem.path);
      for (const [i, r] of (c.images ?? []).entries()) {
        for (const [j, name] of (r.apps ?? []).entries()) {
          if (!seen.has(name)) return fail(ctx, `no app named "${name}" in apps`, ['images', i, 'apps', j]);
        }
        const envNames = (c.environments ?? []).map((e) => e.name);
        if (r.environments && !c.environments) return fail(ctx, 'names environments, but this file has no top-level environments: list; add one, or remove this key', ['images', i, 'environments']);
        if (r.environments?.length === 0) return fail(ctx, 'lists no environments; leave the key out to bump every environment', ['images', i, 'environments']);
        for (const [j, name] of (r.environments ?? []).entries()) {
          if (!envNames.includes(name)) return fail(ctx, `no environment named "${name}" (environments: ${envNames.join(', ')})`, ['images', i, 'environments', j]);
        }
      }
    })
    .transform((c) => {
      const environments = c.environments ? resolveEnvironments(c.environments) : undefined;
      const entries = (c.apps ?? []).map((a) => appEntry(a, defaultBranch));
      if (!environments) {
        const apps: App[] = entries.map((a, i) => ({ ...a, path: safeRelativePath(a.path, `apps[${i}].path`) }));
        const names = apps.map((a) => a.name);
        return { apps, images: (c.images ?? []).map(({ environments: _none, ...r }) => ({ ...r, apps: r.apps ?? names })), ...(c.dashboard !== undefined ? { dashboard: c.dashboard } : {}) };
      }
      // Each (app, environment) is one deployable unit; images[].apps names apps, so every unit of them.
      const units = entries.flatMap((a, i) => {
        const wanted = c.apps?.[i]?.environments;
        return environments.filter((e) => !wanted || wanted.includes(e.name)).map((e, j) => expandUnit(a, e, i, j === 0, c.apps?.[i]?.previewEnvironment?.cluster !== undefined));
      });
      // images[].environments narrows the units further: a bump edits only those environments' files.
      const unitsOf = (names: string[], envs: string[] | undefined): string[] =>
        units.filter((u) => names.includes(u.unit?.app ?? u.name) && (!envs || envs.includes(u.unit?.environment ?? ''))).map((u) => u.name);
      const images = (c.images ?? []).map(({ environments: envs, ...r }) => ({ ...r, apps: unitsOf(r.apps ?? entries.map((a) => a.name), envs) }));
      return { apps: units, images, environments, ...(c.dashboard !== undefined ? { dashboard: c.dashboard } : {}) };
    });
}

/** An app entry with this repository's defaults, before any environment expands it. */
function appEntry(a: z.output<typeof appSchema>, defaultBranch: string) {
  return {
    name: a.name,
    path: a.path,
    cluster: a.cluster ?? 'default',
    branch: a.branch ?? defaultBranch,
    prune: a.prune ?? true,
    pruneEmpty: a.pruneEmpty ?? false,
    waitMs: a.wait ?? DEFAULT_WAIT_MS,
    // `force:` is the older spelling: true was "take over" (now the default), false "fail".
    conflicts: (a.conflicts ?? (a.force === false ? 'fail' : 'overwrite')) as 'overwrite' | 'fail',
    createNamespace: a.createNamespace ?? false,
    failOn: (a.failOn ?? []) as ('warnings' | RolloutCheck)[],
    adopt: a.adopt ?? [],
    ...(a.release?.length ? { release: a.release.map((r) => (r.to ? { object: r.object, to: r.to } : { object: r.object })) } : {}),
    selfHeal: a.selfHeal ?? false,
    ...(a.restartOnConfigChange ? { restartOnConfigChange: true as const } : {}),
    ...(a.review?.onRisk === 'action_required' ? { review: { onRisk: 'action_required' as const } } : {}),
    ...(a.namespace ? { namespace: a.namespace } : {}),
    ...(a.helm ? { helm: a.helm } : {}),
    ...(a.url ? { url: a.url } : {}),
    ...(a.previewEnvironment ? { previewEnvironment: previewEnvironmentOf(a.previewEnvironment, a.cluster ?? 'default', a.wait ?? DEFAULT_WAIT_MS) } : {}),
  };
}

/** A preview environment as the flow uses it: every default filled in, templates not yet expanded. */
export interface PreviewEnvironmentSpec {
  cluster: string;
  /** With {number} and {app}. */
  namespace: string;
  url?: string;
  values?: Record<string, unknown>;
  set: { kind: string; name?: string; path: string; value: string }[];
  ttlMs: number;
  waitMs: number;
  when: 'label' | 'always';
}

function previewEnvironmentOf(p: z.output<typeof previewEnvironmentSchema>, cluster: string, waitMs: number): PreviewEnvironmentSpec {
  return {
    cluster: p.cluster ?? cluster,
    namespace: p.namespace ?? DEFAULT_PREVIEW_NAMESPACE,
    ...(p.url ? { url: p.url } : {}),
    ...(p.values ? { values: p.values } : {}),
    set: (p.set ?? []).map((s) => (s.name ? { kind: s.kind, name: s.name, path: s.path, value: s.value } : { kind: s.kind, path: s.path, value: s.value })),
    ttlMs: p.ttl ?? DEFAULT_PREVIEW_TTL_MS,
    waitMs: p.wait ?? waitMs,
    when: (p.when ?? 'label') as 'label' | 'always',
  };
}

/** One environment as the engine uses it: its dependencies resolved, its soak in milliseconds. */
export interface Environment {
  name: string;
  cluster: string;
  /** Environments applied and healthy before this one starts. */
  after: string[];
  soakMs: number;
  /** Its own preview check run, `mergeops / preview (<name>)`, beside the overall one. */
  previewCheck?: true;
  /** The repository role that promotes it (`approval:`); absent: it follows on its own. */
  approval?: Permission;
  /** Set for `promote: pr`: moved forward by a promotion pull request from `from`, not by the merge. */
  promote?: Promotion;
}

/** How an environment is promoted: by a pull request carrying `from`'s image tags and `files` (relative to each app's folder). */
export interface Promotion {
  from: string;
  files: string[];
}

type PromoteEntry = 'pr' | { pr: true; from?: string | undefined; files?: string[] | undefined };
type EnvironmentEntry = { name: string; cluster: string; after?: string[] | undefined; soak?: number | undefined; previewCheck?: boolean | undefined; approval?: string | undefined; promote?: PromoteEntry | undefined };
type AppEntry = { name: string; path: string; cluster?: string | undefined; namespace?: string | undefined; helm?: { valuesFiles: string[] } | undefined; environments?: string[] | undefined; url?: string | undefined };

/** `after` defaults to the environment listed before (none for the first). */
function resolveEnvironments(entries: EnvironmentEntry[]): Environment[] {
  return entries.map((e, i) => {
    const after = e.after ?? (i > 0 ? [(entries[i - 1] as EnvironmentEntry).name] : []);
    const env: Environment = { name: e.name, cluster: e.cluster, after, soakMs: e.soak ?? 0, ...(e.previewCheck ? { previewCheck: true as const } : {}), ...(e.approval !== undefined && isPermission(e.approval) ? { approval: e.approval } : {}) };
    if (e.promote !== undefined) {
      const p: Exclude<PromoteEntry, 'pr'> | Record<string, never> = e.promote === 'pr' ? {} : e.promote;
      env.promote = { from: p.from ?? (after[0] as string), files: p.files ?? [] };
    }
    return env;
  });
}

/**
 * What is wrong with the environments and the apps' use of them, with its key path: unknown
 * or duplicate names, a cycle in `after`, `{env}` or `environments:` on an app while the file
 * has none, a `cluster:` on an app the environments place, an expanded name too long.
 */
function environmentsProblem(envEntries: EnvironmentEntry[] | undefined, apps: AppEntry[]): { message: string; path: PropertyKey[] } | null {
  const templated = (a: AppEntry): [string, PropertyKey[]][] => [
    [a.path, ['path']],
    [a.namespace ?? '', ['namespace']],
    ...(a.helm?.valuesFiles ?? []).map((f, j): [string, PropertyKey[]] => [f, ['helm', 'valuesFiles', j]]),
    [a.url ?? '', ['url']],
  ];
  if (!envEntries) {
    for (const [i, a] of apps.entries()) {
      if (a.environments) return { message: 'names environments, but this file has no top-level environments: list; add one, or remove this key', path: ['apps', i, 'environments'] };
      const hit = templated(a).find(([v]) => v.includes(ENV_TOKEN));
      if (hit) return { message: `"${hit[0]}" holds ${ENV_TOKEN}, which only a file with a top-level environments: list expands; add one, or write the path out`, path: ['apps', i, ...hit[1]] };
    }
    return null;
  }
  if (envEntries.length === 0) return { message: 'lists no environments; add at least one, or remove the key', path: ['environments'] };
  const names = envEntries.map((e) => e.name);
  const known = `environments: ${names.join(', ')}`;
  const checked = envEntries.map((e, i) => [e, i] as const).filter(([e]) => e.previewCheck);
  const over = checked[MAX_ENVIRONMENT_CHECKS];
  if (over) return { message: `more than ${MAX_ENVIRONMENT_CHECKS} environments ask for their own preview check (each is one more GitHub write per preview); keep previewCheck: true on the ones branch protection requires`, path: ['environments', over[1], 'previewCheck'] };
  for (const [i, e] of envEntries.entries()) {
    if (names.indexOf(e.name) !== i) return { message: `duplicate environment name "${e.name}"`, path: ['environments', i, 'name'] };
    for (const [j, dep] of (e.after ?? []).entries()) {
      if (!names.includes(dep)) return { message: `no environment named "${dep}" (${known})`, path: ['environments', i, 'after', j] };
      if (dep === e.name) return { message: `"${e.name}" cannot come after itself`, path: ['environments', i, 'after', j] };
    }
  }
  for (const [i, e] of envEntries.entries()) {
    const p = e.promote;
    if (p === undefined) continue;
    const after = e.after ?? (i > 0 ? [(envEntries[i - 1] as EnvironmentEntry).name] : []);
    const from = p === 'pr' ? undefined : p.from;
    if (from === undefined && after.length === 0) return { message: `"${e.name}" comes after no environment, so there is nothing to promote from; name one under after:, or remove promote:`, path: ['environments', i, 'promote'] };
    if (from !== undefined && !after.includes(from)) return { message: `promotes from "${from}", which is not one it comes after (after: ${after.join(', ') || 'none'}); the source must be healthy before a promotion is proposed`, path: ['environments', i, 'promote', 'from'] };
  }
  const resolved = resolveEnvironments(envEntries);
  const cycle = findCycle(resolved);
  if (cycle) return { message: `the environments come after each other in a circle (${cycle.join(' → ')}); one of them must not wait for the others`, path: ['environments', names.indexOf(cycle[0] as string), 'after'] };
  for (const [i, a] of apps.entries()) {
    if (a.cluster !== undefined) return { message: `the environments decide where an app deploys (${resolved.map((e) => `${e.name} → cluster ${e.cluster}`).join(', ')}); remove cluster: here, or list the app's environments`, path: ['apps', i, 'cluster'] };
    if (a.environments?.length === 0) return { message: 'lists no environments; leave the key out to deploy to every environment', path: ['apps', i, 'environments'] };
    for (const [j, env] of (a.environments ?? []).entries()) {
      if (!names.includes(env)) return { message: `no environment named "${env}" (${known})`, path: ['apps', i, 'environments', j] };
    }
    for (const env of a.environments ?? names) {
      const key = unitKey(a.name, env);
      if (key.length > 63) return { message: `"${a.name}" in environment "${env}" makes the name ${key}, longer than the 63 characters a Kubernetes label allows; shorten the app or environment name`, path: ['apps', i, 'name'] };
      const ns = a.namespace?.split(ENV_TOKEN).join(env);
      if (ns !== undefined && !APP_NAME.test(ns)) return { message: `"${ns}" (in environment ${env}) is not valid: a Kubernetes namespace name`, path: ['apps', i, 'namespace'] };
    }
  }
  return null;
}

/** The first circle of `after` edges, as names (`a → b → a`); null when there is none. */
function findCycle(envs: Environment[]): string[] | null {
  const byName = new Map(envs.map((e) => [e.name, e]));
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | null => {
    if (state.get(name) === 'done') return null;
    if (state.get(name) === 'visiting') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'visiting');
    stack.push(name);
    for (const dep of byName.get(name)?.after ?? []) {
      const found = visit(dep);
      if (found) return found;
    }
    stack.pop();
    state.set(name, 'done');
    return null;
  };
  for (const e of envs) {
    const found = visit(e.name);
    if (found) return found;
  }
  return null;
}

/** `web.staging`: the unit's name where Kubernetes reads it (inventory, field manager, labels); app and environment names hold no `.`. */
function unitKey(app: string, environment: string): string {
  return `${app}.${environment}`;
}

/** Between an app and its environment in the name people read: `web · staging`. */
const UNIT_SEPARATOR = ' · ';

/** clusterAppName from the name people read (`web · staging` → `web.staging`), for records that keep only that. */
export function clusterNameOf(displayName: string): string {
  const [app, environment, ...rest] = displayName.split(UNIT_SEPARATOR);
  return environment !== undefined && rest.length === 0 ? unitKey(app as string, environment) : displayName;
}

/**
 * The app of one environment: that environment's cluster, `{env}` in its path, namespace and
 * Helm values files replaced, and the name people read (`web · staging`: Deployments, reports).
 */
function expandUnit<A extends Omit<App, 'unit'>>(a: A, env: Environment, i: number, first: boolean, explicitPreviewCluster: boolean): App {
  const fill = (v: string): string => v.split(ENV_TOKEN).join(env.name);
  const out: App = { ...a, name: `${a.name}${UNIT_SEPARATOR}${env.name}`, cluster: env.cluster, path: safeRelativePath(fill(a.path), `apps[${i}].path`), unit: { app: a.name, environment: env.name } };
  // One preview environment per app: the unit of its first environment runs it (on that cluster, unless it names one).
  if (a.previewEnvironment && !first) delete out.previewEnvironment;
  else if (a.previewEnvironment && !explicitPreviewCluster) out.previewEnvironment = { ...a.previewEnvironment, cluster: env.cluster };
  if (a.namespace) out.namespace = fill(a.namespace);
  if (a.helm) out.helm = { ...a.helm, valuesFiles: a.helm.valuesFiles.map(fill) };
  if (a.url) out.url = fill(a.url);
  return out;
}

/**
 * The name the cluster knows an app by (inventory, field manager, `mergeops.dev/app`): the
 * app's own name, or `web.staging` for one environment of it, so two environments (on two
 * clusters or on one) never share an inventory or a field manager.
 */
export function clusterAppName(app: Pick<App, 'name' | 'unit'>): string {
  return app.unit ? unitKey(app.unit.app, app.unit.environment) : app.name;
}

/** The app's name in the config (`web` for `web · staging`): Helm's default release name. */
export function configAppName(app: Pick<App, 'name' | 'unit'>): string {
  return app.unit?.app ?? app.name;
}

type ImageRuleOut = z.output<typeof imageRuleSchema>;

/** One deployable unit: an app, or (with environments) one app in one environment. */
export type App = ReturnType<typeof appEntry> & {
  /** Set when the config has environments: which app of it, in which environment. */
  unit?: { app: string; environment: string };
};

export interface RepoConfig {
  apps: App[];
  /** With environments, `apps` names the units its `environments:` (default: all) cover: the files a bump edits. */
  images: (Omit<ImageRuleOut, 'apps' | 'environments'> & { apps: string[] })[];
  /** In the order written; absent when the config has no environments. */
  environments?: Environment[];
  /** The defaults files the config was built on (the preview's footer names them). */
  defaultsFrom?: string[];
  /** `dashboard:` as written: true or false decides, absent follows the operator (MERGEOPS_DASHBOARD). */
  dashboard?: boolean;
}
export type HelmSettings = NonNullable<App['helm']>;
export type ImageRule = RepoConfig['images'][number];
export type ImagePolicy = ImageRule['policy'];

/**
 * Reads a repository's `.github/mergeops.yml` on top of `defaults` (the organisation's).
 * `_extends:` is the organisation's file's alone, unless this repository holds it
 * (`defaultsRepo`: its own file is that file).
 */
export function parseRepoConfig(text: string, defaultBranch: string, defaults: ConfigDefaults = NO_DEFAULTS, opts: { defaultsRepo?: boolean } = {}): RepoConfig {
  try {
    const raw = parseConfigDocument(text);
    if (isObj(raw) && raw['_extends'] != null && !opts.defaultsRepo) {
      throw new ConfigError(
        `only the organisation's defaults file (${REPO_CONFIG_PATH} in the owner's .github repository) may extend another; a repository's own file always builds on the organisation's. Remove _extends here, or move it there`,
        '_extends',
      );
    }
    return validateRepoConfig(raw, defaultBranch, defaults);
  } catch (err) {
    throw err instanceof ConfigError ? err.inFile(REPO_CONFIG_PATH) : err;
  }
}

/** The one YAML document of a config file, not yet validated. */
export function parseConfigDocument(text: string): unknown {
  let docs;
  try {
    docs = parseYamlDocuments(text, REPO_CONFIG_PATH);
  } catch (err) {
    if (err instanceof RenderError) throw new ConfigError(`${err.message} (line ${err.line ?? '?'})`, '');
    throw err;
  }
  if (docs.length !== 1) throw new ConfigError(`expected exactly one YAML document, found ${docs.length}`, '');
  return docs[0]?.value;
}

/**
 * Validates a config as written, each app on top of the defaults: the organisation's
 * `appDefaults:`, then the file's own, then the app's keys (config/merge.ts). A mistake a
 * default caused (a `createNamespace: true` inherited by an app with no namespace) says
 * where the key came from.
 */
export function validateRepoConfig(raw: unknown, defaultBranch: string, defaults: ConfigDefaults = NO_DEFAULTS): RepoConfig {
  const own = isObj(raw) && isObj(raw['appDefaults']) ? raw['appDefaults'] : {};
  const inherited = mergeConfig(defaults.appDefaults, own) as Obj;
  let merged = raw;
  if (Object.keys(inherited).length > 0 && isObj(raw) && Array.isArray(raw['apps'])) {
    merged = { ...raw, apps: raw['apps'].map((app: unknown) => (isObj(app) ? mergeConfig(inherited, app) : app)) };
  }
  let config: RepoConfig;
  try {
    config = check(repoConfigSchema(defaultBranch), merged);
  } catch (err) {
    const m = err instanceof ConfigError ? /^apps\[(\d+)\]\.([A-Za-z]+)/.exec(err.path) : null;
    const app = m && isObj(raw) && Array.isArray(raw['apps']) ? (raw['apps'][Number(m[1])] as unknown) : undefined;
    const key = m?.[2] as string;
    if (!(err instanceof ConfigError) || !m || (isObj(app) && app[key] != null) || inherited[key] === undefined) throw err;
    const from = own[key] != null ? "this file's appDefaults" : `the organisation's defaults (${defaults.sources.join(', extending ')})`;
    throw new ConfigError(`${err.detail} (inherited from ${from}; set ${key} on the app to override it)`, err.path);
  }
  return defaults.sources.length > 0 ? { ...config, defaultsFrom: defaults.sources } : config;
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

/** Where the published JSON Schema of `.github/mergeops.yml` lives in this repository. */
export const REPO_CONFIG_SCHEMA_FILE = 'schema/mergeops.schema.json';

/**
 * The JSON Schema of the file as written (defaults and cross-checks such as duplicate app
 * names are the app's, not the editor's), for `# yaml-language-server: $schema=…`.
 */
export function repoConfigJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(repoConfigFileSchema, { io: 'input', target: 'draft-2020-12' }),
    title: 'mergeops config (.github/mergeops.yml)',
    description:
      "The apps a repository deploys with mergeops and the images it keeps current; in the owner's .github repository, also the defaults (appDefaults, _extends) every repository of the installation builds on.",
  };
}
