import type { Queue } from 'bullmq';
import type { Cluster } from '../../src/cluster/connect.js';
import { commandsApi, type CommandStandIn } from './commands.js';
import { REPO, startHarness, type Harness, type Recorded } from './harness.js';
import { INSTALLATION_ID, deliver, waitFor } from './github.js';
import { testCluster } from './kube.js';
import { BOT_LOGIN, type Route } from './stand-in.js';
import { webhookExample } from './webhook-schemas.js';

/** The deploy dashboard's issue as the GitHub stand-in keeps it, and the edits people make to it. */
export interface FakeIssue {
  number: number;
  title: string;
  body: string;
  labels: string[];
  author: string;
}

/** GitHub's issues endpoints the dashboard uses: create, edit, list by label; bodies kept as GitHub keeps them. */
export function issuesApi(h: Harness): FakeIssue[] {
  const issues: FakeIssue[] = [];
  const repoPath = `/repos/${REPO.owner}/${REPO.name}`;
  const json = (i: FakeIssue) => ({ id: i.number, number: i.number, title: i.title, body: i.body, state: 'open', user: { login: i.author, type: 'Bot' }, labels: i.labels.map((name) => ({ name })) });
  const record = (req: { method: string; uri: string; body?: unknown }): void => void h.calls.push({ at: Date.now(), method: req.method, path: req.uri, body: req.body ?? null });
  const routes: Route[] = [
    {
      method: 'POST',
      path: `${repoPath}/issues`,
      handle: (req) => {
        record(req);
        const b = req.body as { title: string; body: string; labels?: string[] };
        const issue = { number: 900 + issues.length, title: b.title, body: b.body, labels: b.labels ?? [], author: BOT_LOGIN };
        issues.push(issue);
        return [201, json(issue)];
      },
    },
    {
      method: 'PATCH',
      path: new RegExp(`^${repoPath}/issues/\\d+$`),
      handle: (req) => {
        record(req);
        const issue = issues.find((i) => i.number === Number(req.uri.split('/').pop()));
        if (!issue) return [404, { message: 'Not Found' }];
        issue.body = (req.body as { body: string }).body;
        return [200, json(issue)];
      },
    },
    {
      method: 'GET',
      path: new RegExp(`^${repoPath}/issues\\?`),
      handle: (req) => {
        record(req);
        const label = req.url.searchParams.get('labels');
        return [200, issues.filter((i) => !label || i.labels.includes(label)).map(json)];
      },
    },
  ];
  h.serve(routes);
  return issues;
}

/** A signed `issues.edited` as GitHub sends it when someone ticks a box: the new body, and the old one in `changes.body.from`. */
export async function edit(h: Harness, issue: FakeIssue, from: string, to: string, sender: { login: string; type?: 'User' | 'Bot' }, id?: string): Promise<number> {
  const p = webhookExample('issues', 'edited');
  Object.assign(p['repository'], { name: REPO.name, full_name: `${REPO.owner}/${REPO.name}`, id: REPO.id, default_branch: 'main' });
  p['repository'].owner.login = REPO.owner;
  p['installation'] = { id: INSTALLATION_ID, node_id: 'MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ==' };
  Object.assign(p['issue'], { number: issue.number, title: issue.title, body: to });
  delete p['issue'].pull_request;
  p['issue'].user = { ...p['issue'].user, login: BOT_LOGIN, type: 'Bot' };
  p['changes'] = { body: { from } };
  p['sender'] = { ...p['sender'], login: sender.login, type: sender.type ?? 'User' };
  return (await deliver(h.rt.url as string, 'issues', p, id ? { id } : {})).status;
}

export const tick = (body: string, line: RegExp): string => {
  const lines = body.split('\n');
  const i = lines.findIndex((l) => l.startsWith('- [ ] <!-- mergeops-box') && line.test(l));
  if (i < 0) throw new Error(`no box matching ${line} in\n${body}`);
  lines[i] = (lines[i] as string).replace('- [ ]', '- [x]');
  return lines.join('\n');
};


/** The whole app on the run's API server with dashboards rendered 300 ms apart, a `writer` and a `reader`, and GitHub's issues endpoints. */
export interface DashboardStand {
  h: Harness;
  gh: CommandStandIn;
  issues: FakeIssue[];
  queue: Queue;
  cluster: Cluster;
  stop(): Promise<void>;
}

/** `namespaces`: the grant's namespace glob. */
export async function startDashboardStand(namespaces: string): Promise<DashboardStand> {
  const cluster = await testCluster();
  const h = await startHarness(`clusters:\n  default:\n    kubeconfig: $KUBECONFIG\n    grants:\n      - repos: ["acme/*"]\n        namespaces: ["${namespaces}"]\n`, { MERGEOPS_DASHBOARD_DELAY_MS: '300' });
  const gh = commandsApi(h);
  gh.roles.set('writer', 'write');
  gh.roles.set('reader', 'read');
  return {
    h,
    gh,
    issues: issuesApi(h),
    queue: h.rt.queues.all.find((q) => q.name === 'dashboard') as Queue,
    cluster,
    stop: async () => {
      await h.stop();
      cluster.client.close();
    },
  };
}

/** The dashboard's first write after `since` whose body satisfies `ok`. */
export function dashboardWhen(h: Harness, since: number, what: string, ok: (body: string) => boolean): Promise<Recorded> {
  return waitFor(() => h.calls.slice(since).find((c) => !c.status && ((c.method === 'PATCH' && /\/issues\/\d+$/.test(c.path)) || (c.method === 'POST' && c.path.endsWith('/issues'))) && ok(String(c.body.body))), `the dashboard to show ${what}`);
}
