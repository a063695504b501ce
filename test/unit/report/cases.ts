import type { ObjectDiff } from '../../../src/diff/types.js';
import type { DeployReport } from '../../../src/report/deploy.js';
import type { AppReport, PreviewReport } from '../../../src/report/types.js';

/**
 * The preview reports the golden tests render: the three-app PR of the design mockup
 * (shared/design/preview-comment-*.png) and one report per case the issue names.
 */
export const HEAD = 'cccccccccccccccccccccccccccccccccccccccc';
export const BASE = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';

const merge = { prune: true, waitMs: 300_000, force: true };

function report(apps: AppReport[], extra: Partial<PreviewReport> = {}): PreviewReport {
  return {
    repo: 'acme/deploys',
    sha: HEAD,
    baseSha: BASE,
    baseRef: 'main',
    at: '2026-12-01T21:12:00.000Z',
    checkRunUrl: 'https://github.com/acme/deploys/runs/4242',
    repoId: 1296269,
    version: '0.1.0',
    apps,
    problems: [],
    ...extra,
  };
}

function app(name: string, diffs: ObjectDiff[], extra: Partial<AppReport> = {}): AppReport {
  return { app: name, cluster: 'default', namespace: 'shop', diffs, problems: [], drift: [], merge, ...extra };
}

const webDeployment: ObjectDiff = {
  ref: 'apps/v1 Deployment shop/web',
  kind: 'Deployment',
  action: 'update',
  diff: '@@ -5,7 +5,7 @@\n   name: web\n   namespace: shop\n spec:\n-  replicas: 2\n+  replicas: 5\n   selector:\n     matchLabels:\n       app: web',
  fields: [{ path: 'spec.replicas', before: '2', after: '5' }],
  source: { file: 'apps/web/deploy.yaml', line: 2 },
};

const webConfig: ObjectDiff = {
  ref: 'v1 ConfigMap shop/web-config',
  kind: 'ConfigMap',
  action: 'update',
  diff: '@@ -1,5 +1,5 @@\n apiVersion: v1\n data:\n-  THEME: light\n+  THEME: dark\n kind: ConfigMap',
  fields: [{ path: 'data.THEME', before: 'light', after: 'dark' }],
  source: { file: 'apps/web/config.yaml', line: 1 },
};

const webFlags: ObjectDiff = {
  ref: 'v1 ConfigMap shop/web-flags',
  kind: 'ConfigMap',
  action: 'create',
  diff: '@@ -0,0 +1,6 @@\n+apiVersion: v1\n+data:\n+  beta: "true"\n+kind: ConfigMap\n+metadata:\n+  name: web-flags',
  source: { file: 'apps/web/flags.yaml', line: 1 },
};

const webSecret: ObjectDiff = {
  ref: 'v1 Secret shop/web-secrets',
  kind: 'Secret',
  action: 'update',
  diff: '@@ -1,4 +1,4 @@\n apiVersion: v1\n data:\n-  STRIPE_KEY: "*** (old value)"\n+  STRIPE_KEY: "*** (new value)"\n kind: Secret',
  secretKeys: { added: [], changed: ['STRIPE_KEY'], removed: [] },
  fields: [{ path: 'data.STRIPE_KEY' }],
  source: { file: 'apps/web/config.yaml', line: 9 },
};

/** A deleted Service: the live object is long (clusterIP, ipFamilies…); the comment must not print it. */
const webLegacy: ObjectDiff = {
  ref: 'v1 Service shop/web-legacy',
  kind: 'Service',
  action: 'delete',
  diff: ['@@ -1,27 +0,0 @@', '-apiVersion: v1', '-kind: Service', '-spec:', '-  clusterIP: 10.0.0.12', '-  ipFamilies:', '-  - IPv4', '-  ipFamilyPolicy: SingleStack'].join('\n'),
};

const apiDeployment: ObjectDiff = {
  ref: 'apps/v1 Deployment shop-prod/prod-api',
  kind: 'Deployment',
  action: 'update',
  diff: '@@ -20,7 +20,7 @@\n         envFrom:\n         - configMapRef:\n-            name: prod-api-settings-9kd7ch2tgh\n+            name: prod-api-settings-84h459494f',
  fields: [{ path: 'spec.template.spec.containers[api].envFrom[0].configMapRef.name', before: 'prod-api-settings-9kd7ch2tgh', after: 'prod-api-settings-84h459494f' }],
  source: { file: 'apps/api/overlays/prod/kustomization.yaml', line: 1 },
};

const apiSettings: ObjectDiff = {
  ref: 'v1 ConfigMap shop-prod/prod-api-settings-84h459494f',
  kind: 'ConfigMap',
  action: 'update',
  renamedFrom: 'v1 ConfigMap shop-prod/prod-api-settings-9kd7ch2tgh',
  diff: '@@ -1,6 +1,6 @@\n apiVersion: v1\n data:\n-  POOL: "10"\n+  POOL: "20"\n kind: ConfigMap\n metadata:\n-  name: prod-api-settings-9kd7ch2tgh\n+  name: prod-api-settings-84h459494f',
  fields: [
    { path: 'data.POOL', before: '10', after: '20' },
    { path: 'metadata.name', before: 'prod-api-settings-9kd7ch2tgh', after: 'prod-api-settings-84h459494f' },
  ],
  source: { file: 'apps/api/overlays/prod/kustomization.yaml', line: 1 },
};

const workerDeployment: ObjectDiff = {
  ref: 'apps/v1 Deployment shop/worker-worker',
  kind: 'Deployment',
  action: 'update',
  diff: "@@ -18,6 +18,7 @@\n       - args:\n         - --queue=default\n+        - --verbose",
  fields: [{ path: 'spec.template.spec.containers[worker].args', before: undefined, after: undefined }],
  source: { file: 'charts/worker/templates/deployment.yaml', line: 1 },
};

const unchanged = (ref: string, kind = 'ConfigMap'): ObjectDiff => ({ ref, kind, action: 'unchanged', diff: '' });

/** The mockup's three apps, with today's default (Git wins): drift reads "the merge reverts it". */
export function threeApps(): PreviewReport {
  return report([
    app('web', [webDeployment, webConfig, webFlags, webSecret, webLegacy, unchanged('v1 Service shop/web')], {
      drift: [{ ref: 'v1 ConfigMap shop/web-config', fields: [{ path: '.data.THEME', live: 'blue', git: 'light', by: 'kubectl-edit' }], kept: [{ path: '.data.EXTRA', by: 'kubectl-edit' }] }],
    }),
    app('api-prod', [apiDeployment, apiSettings, unchanged('v1 Service shop-prod/prod-api')], { namespace: 'shop-prod' }),
    app('worker', [workerDeployment]),
  ]);
}

/** A failed app next to an unchanged one: the failed heading says failed, the quiet one is one line. */
export function failedAndQuiet(): PreviewReport {
  return report([
    app('web', [], {
      problems: [
        {
          ref: 'apps/v1 Deployment shop/web',
          message: 'Deployment.apps "web" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0',
          file: 'apps/web/deploy.yaml',
          line: 7,
        },
      ],
    }),
    app('worker', [unchanged('apps/v1 Deployment shop/worker', 'Deployment')]),
    app('cron', [unchanged('batch/v1 CronJob shop/nightly', 'CronJob')]),
  ]);
}

/** Nothing changes anywhere. */
export function noOp(): PreviewReport {
  return report([app('web', [unchanged('apps/v1 Deployment shop/web', 'Deployment')])]);
}

/**
 * Strings from the server and the repo that look like Markdown or HTML: Secret key names,
 * a server message with `|`, `*`, `<script>`, an @mention and a heading marker.
 */
export function hostile(): PreviewReport {
  return report([
    app('web', [
      {
        ref: 'v1 Secret shop/api-keys',
        kind: 'Secret',
        action: 'update',
        diff: '@@ -1,3 +1,3 @@\n data:\n-  a|b: "*** (old value)"\n+  a|b: "*** (new value)"',
        secretKeys: { added: ['x_<b>y</b>_z'], changed: ['a|b'], removed: ['`tick`'] },
        fields: [{ path: 'data.a|b' }],
        source: { file: 'apps/web/secret <1>.yaml', line: 3 },
      },
    ]),
    app('api', [], {
      problems: [{ ref: 'v1 ConfigMap shop/x', message: '# admission webhook "deny.example.com" denied: **no** <script>alert(1)</script> | ping @acme/admins `x`', file: 'apps/api/x.yaml', line: 1 }],
    }),
  ]);
}

/** Deletions with prune: false stay in the cluster; a Namespace and a PVC are deleted with prune: true. */
export function deletions(): PreviewReport {
  return report([
    app('keep', [{ ref: 'v1 ConfigMap shop/old', kind: 'ConfigMap', action: 'delete', diff: '-x' }], { merge: { prune: false, waitMs: 0, force: false } }),
    app('data', [
      { ref: 'v1 PersistentVolumeClaim shop/db-data', kind: 'PersistentVolumeClaim', action: 'delete', diff: '-x' },
      { ref: 'v1 Namespace shop-old', kind: 'Namespace', action: 'delete', diff: '-x' },
    ]),
    app('images', [
      {
        ref: 'apps/v1 Deployment shop/web',
        kind: 'Deployment',
        action: 'update',
        diff: '@@ -1 +1 @@\n-        image: ghcr.io/acme/web:1.4.0\n+        image: ghcr.io/acme/web:1.5.0',
        fields: [{ path: 'spec.template.spec.containers[web].image', before: 'ghcr.io/acme/web:1.4.0', after: 'ghcr.io/acme/web:1.5.0' }],
        source: { file: 'apps/web/deploy.yaml', line: 2 },
      },
    ]),
  ]);
}

/** A report with `n` changed ConfigMaps whose diffs are about `size` characters each. */
export function big(n: number, size: number): PreviewReport {
  const diffs = Array.from({ length: n }, (_, i): ObjectDiff => {
    const ref = `v1 ConfigMap shop/cm-${String(i).padStart(3, '0')}`;
    const lines = ['@@ -1,1 +1,1 @@'];
    for (let j = 0; lines.join('\n').length < size; j++) lines.push(`+  key-${j}: value for ${ref} number ${j}`);
    return { ref, kind: 'ConfigMap', action: 'update', diff: lines.join('\n'), fields: [{ path: 'data.key-0', added: true, after: 'x' }] };
  });
  return report([app('web', diffs)]);
}

/** A merged PR whose deploy failed: one app timed out on health, one hit a field-manager conflict (conflicts: fail). */
export function failedDeploy(): DeployReport {
  return {
    repo: 'acme/deploys',
    sha: HEAD,
    branch: 'main',
    problems: [],
    apps: [
      {
        app: 'web',
        cluster: 'default',
        namespace: 'shop',
        waitMs: 300_000,
        applied: { changes: [{ ref: 'apps/v1 Deployment shop/web', action: 'configured' }, { ref: 'v1 Service shop/web', action: 'unchanged' }], warnings: [] },
        health: { healthy: false, unhealthy: [{ ref: 'apps/v1 Deployment shop/web', reason: 'not healthy after 300 s: 1 of 5 replicas available' }] },
        problems: [],
      },
      {
        app: 'api',
        cluster: 'default',
        namespace: 'shop',
        applied: {
          warnings: [],
          changes: [
            {
              ref: 'v1 ConfigMap shop/api-settings',
              action: 'failed',
              reason: 'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1: .data.POOL (the app sets conflicts: fail, so fields another field manager set are not taken over and this apply is refused; remove the field from Git, or drop conflicts: fail so Git wins)',
              source: { file: 'apps/api/settings.yaml', line: 1 },
            },
          ],
        },
        problems: [],
      },
      { app: 'worker', cluster: 'default', namespace: 'shop', applied: { changes: [{ ref: 'apps/v1 Deployment shop/worker', action: 'unchanged' }], warnings: [] }, problems: [] },
    ],
  };
}

/**
 * A monorepo PR touching one app of 40: one app planned, 39 not (37 no file they read
 * changed, 2 render the same as on main), each unplanned app in one line, never a row.
 */
export function monorepo(): PreviewReport {
  const unchangedApps = Array.from({ length: 39 }, (_, i) => ({ app: `app-${String(i + 2).padStart(2, '0')}`, cluster: 'default', namespace: 'shop', why: (i < 37 ? 'files' : 'render') as 'files' | 'render' }));
  return report([app('app-01', [webConfig])], { unchanged: unchangedApps });
}

/** A PR whose changed files GitHub could not list completely: every app rendered, and the comment says why. */
export function allRendered(): PreviewReport {
  return report([app('web', [webConfig]), app('worker', [unchanged('apps/v1 Deployment shop/worker', 'Deployment')])], { allRendered: "320 or more files changed: GitHub's compare API lists at most 300" });
}
