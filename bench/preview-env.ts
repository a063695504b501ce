/**
 * Issue 28: a pull request's preview environment, timed through the whole runtime (fastify +
 * Probot + BullMQ worker, the real API server, GitHub as nock): a plain preview of a
 * 100-object app (webhook → comment), then, in the same run, the PR labelled
 * `mergeops: preview-env` → the comment's "🌐 Preview environment: ready · <url>" line, and
 * a push to the labelled PR → the environment updated.
 */
import crypto from 'node:crypto';
import { PREVIEW_ENV_LABEL } from '../src/engine/preview-env.js';
import { deliver, GITHUB, INSTALLATION_ID, waitFor } from '../test/support/github.js';
import { REPO, nextEventTime, prPayload, sha, startHarness, type Harness, type Recorded } from '../test/support/harness.js';
import { webhookExample } from '../test/support/webhook-schemas.js';
import { connect, dropKeys, log, manifest, percentile, sleep, type BenchEnv, type Section } from './common.js';
import { harnessEnv, productionLog, productionProbot } from './harness.js';

/** Octokit's throttle spaces comment POSTs 3 s apart; runs wait it out so none measures the previous one's. */
const NOTIFICATION_GAP_MS = 3100;
const ROLE = 'mergeops-bench-preview';

const isCommentWrite = (c: Recorded): boolean => c.method !== 'GET' && /\/issues\/(\d+\/)?comments/.test(c.path);

function config(app: string, ns: string): string {
  // wait: 0 because the API server runs no controllers: its Deployments never become ready.
  return `apps:\n  - name: ${app}\n    path: deploy\n    namespace: ${ns}\n    wait: 0s\n    previewEnvironment:\n      namespace: "pr-{number}-${app}"\n      url: "https://pr-{number}.${app}.example.com"\n      wait: 0s\n`;
}

function labeled(pr: number, head: string, base: string): Record<string, unknown> {
  const p = webhookExample('pull_request', 'labeled');
  p['number'] = pr;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  for (const repo of [p['repository'], p['pull_request']['head']['repo'], p['pull_request']['base']['repo']]) {
    Object.assign(repo, { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
    repo.owner.login = REPO.owner;
  }
  const label = { id: 1, node_id: 'LA_1', url: `${GITHUB}/repos/${REPO.owner}/${REPO.name}/labels/${encodeURIComponent(PREVIEW_ENV_LABEL)}`, name: PREVIEW_ENV_LABEL, color: 'ededed', default: false, description: null };
  Object.assign(p['pull_request'], { number: pr, state: 'open', labels: [label], updated_at: new Date(nextEventTime() * 1000).toISOString() });
  p['pull_request']['head']['sha'] = head;
  Object.assign(p['pull_request']['base'], { ref: 'main', sha: base });
  p['label'] = label;
  return p;
}

/** Delivers `payload` and times it until a comment write holding `needle` reaches the stand-in. */
async function timed(h: Harness, event: string, payload: unknown, needle: string): Promise<number> {
  const from = h.calls.length;
  const t0 = Date.now();
  const res = await deliver(h.rt.url as string, event, payload);
  if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
  const c = await waitFor(() => h.calls.slice(from).find((x) => isCommentWrite(x) && String(x.body?.body).includes(needle)), `a comment with "${needle}"`, 120_000);
  return c.at - t0;
}

export async function benchPreviewEnv(env: BenchEnv, objectCount: number, runs: number): Promise<Section> {
  const cluster = await connect(env.kubeconfig);
  // The operator's role for the environments (the built-in edit aggregates through kube-controller-manager, absent here).
  await cluster.client.request('PATCH', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${ROLE}`, {
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: ROLE }, rules: [{ apiGroups: ['', 'apps'], resources: ['configmaps', 'deployments'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }] },
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: 'bench', force: 'true' },
  });
  const clusters = `clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["bench-*"]\n        previewNamespaces: ["pr-*"]\n        preview: {role: ${ROLE}, maxPerRepository: ${runs + 1}, maxTotal: ${runs + 1}}\n`;
  const settings = harnessEnv({ MERGEOPS_PREVIEW_ENV_SWEEP_MS: '0' });
  const h = await startHarness(clusters, settings, { probot: productionProbot(), log: productionLog() });
  const plain: number[] = [];
  const up: number[] = [];
  const update: number[] = [];
  try {
    const tag = crypto.randomUUID().slice(0, 6);
    const app = `pe-${tag}`;
    const ns = `bench-pe-${tag}`;
    await cluster.client.request('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    const base = sha(`pe-base-${tag}`);
    await h.push(base, { '.github/mergeops.yml': config(app, ns), 'deploy/app.yaml': manifest(ns, objectCount, 0) });
    for (let i = 0; i < runs; i++) {
      const pr = 2000 + i;
      const [h1, h2] = [sha(`pe-${tag}-${i}-a`), sha(`pe-${tag}-${i}-b`)];
      await h.push(h1, { '.github/mergeops.yml': config(app, ns), 'deploy/app.yaml': manifest(ns, objectCount, 1) });
      await h.push(h2, { '.github/mergeops.yml': config(app, ns), 'deploy/app.yaml': manifest(ns, objectCount, 2) });
      plain.push(await timed(h, 'pull_request', prPayload('opened', pr, h1, base), h1.slice(0, 7)));
      await sleep(NOTIFICATION_GAP_MS);
      h.git.issueLabels.set(pr, [PREVIEW_ENV_LABEL]);
      up.push(await timed(h, 'pull_request', labeled(pr, h1, base), `🌐 Preview environment: ready · https://pr-${pr}.${app}.example.com`));
      await sleep(NOTIFICATION_GAP_MS);
      const sync = prPayload('synchronize', pr, h2, base) as Record<string, any>; // fixture JSON is untyped
      sync['pull_request'].labels = [{ id: 1, node_id: 'LA_1', url: `${GITHUB}/repos/${REPO.owner}/${REPO.name}/labels/x`, name: PREVIEW_ENV_LABEL, color: 'ededed', default: false, description: null }];
      update.push(await timed(h, 'pull_request', sync, `🌐 Preview environment: ready · https://pr-${pr}.${app}.example.com`));
      await sleep(NOTIFICATION_GAP_MS);
      log(`preview env run ${i + 1}/${runs}: plain preview ${plain.at(-1)} ms, label → URL ${up.at(-1)} ms, push → updated ${update.at(-1)} ms`);
    }
  } finally {
    await h.stop();
    await dropKeys(env.redisUrl, settings['MERGEOPS_REDIS_PREFIX'] as string);
    cluster.client.close();
  }
  const p = (xs: number[], q: number): string => `${(percentile(xs, q) / 1000).toFixed(2)} s`;
  return {
    title: '12. Preview environments (issue 28)',
    table: [
      `| ${objectCount}-object app, ${runs} PRs | p50 | max |`,
      '|---|--:|--:|',
      `| plain preview: \`opened\` webhook → comment | ${p(plain, 50)} | ${p(plain, 100)} |`,
      `| label → "🌐 Preview environment: ready · <url>" in the comment | ${p(up, 50)} | ${p(up, 100)} |`,
      `| push to the labelled PR → comment with the updated environment | ${p(update, 50)} | ${p(update, 100)} |`,
    ],
    notes: [
      `Same runtime and API server as the other sections; production Probot (Octokit's throttle spaces comment writes 3 s apart, so runs are spaced by that). The label's time covers a whole preview of the head (plan and diff of ${objectCount} objects, comment with "⏳ starting"), then the namespace, its ServiceAccount and RoleBinding, ${objectCount} server-side applies impersonating that ServiceAccount, and the edited comment with the URL. \`wait: 0s\`: no controllers run here, so the Deployments would never report ready; the health wait is not in these figures. The push runs the plain preview and the environment's apply and prune of the changed objects.`,
    ],
    targets: [],
  };
}
