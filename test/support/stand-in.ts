import nock from 'nock';
import { GitHubContract, parseBody, type GitHubRequest } from './github-contract.js';

/** [status, body, headers], as nock replies. */
export type StandInReply = [number, unknown, Record<string, string>?];

export interface StandInRequest {
  method: string;
  /** Path and query as sent, without the API base (`/repos/acme/deploys/check-runs`). */
  uri: string;
  url: URL;
  body: unknown;
  headers: GitHubRequest['headers'];
}

export interface Route {
  method: string;
  path: RegExp | string;
  handle(req: StandInRequest): StandInReply | Promise<StandInReply>;
}

/** Where GitHub redirects archive downloads (as `codeload.github.com` does for github.com). */
export const DOWNLOAD_HOST = 'https://codeload.github.com';

export interface StandIn {
  contract: GitHubContract;
  /** Every request, contract first: GitHub's refusal, else the route's answer. */
  dispatch(req: GitHubRequest): Promise<StandInReply>;
}

/**
 * GitHub's front door for a stand-in: each request is held to the contract before any
 * route sees it, so no stand-in can accept what GitHub would refuse. `before` runs after the
 * contract and before the route (the tests' fault injection). A request no route serves is
 * itself recorded as a violation: the stand-in is missing part of GitHub the app relies on.
 */
export function standIn(contract: GitHubContract, routes: Route[], opts: { apiBase: string; before?: (req: StandInRequest) => StandInReply | undefined | Promise<StandInReply | undefined>; onRefusal?: (req: StandInRequest, reply: StandInReply) => void }): StandIn {
  return {
    contract,
    dispatch: async (raw) => {
      const url = new URL(raw.url);
      const base = new URL(opts.apiBase);
      const prefix = url.origin === base.origin ? base.pathname.replace(/\/$/, '') : '';
      const uri = `${url.pathname.slice(prefix.length)}${url.search}`;
      const req: StandInRequest = { method: raw.method.toUpperCase(), uri, url, body: raw.body, headers: raw.headers };
      const refusal = await contract.check(raw);
      if (refusal) {
        const reply: StandInReply = [refusal.status, refusal.body, { 'content-type': 'application/json; charset=utf-8', ...refusal.headers }];
        opts.onRefusal?.(req, reply);
        return reply;
      }
      const early = await opts.before?.(req);
      if (early) return early;
      const path = uri.split('?')[0] as string;
      const route = routes.find((r) => r.method === req.method && (typeof r.path === 'string' ? r.path === path : r.path.test(uri)));
      if (!route) {
        contract.violation(raw, `the GitHub stand-in has no ${req.method} ${path} (GitHub serves it; add it to the stand-in)`, 501);
        return [501, { message: `the stand-in has no ${req.method} ${path}` }];
      }
      return route.handle(req);
    },
  };
}

/** Serves a stand-in through nock for `origins` (every method, every path). */
export function interceptWithNock(s: StandIn, origins: string[]): void {
  for (const origin of origins) {
    for (const method of ['GET', 'POST', 'PATCH', 'PUT', 'DELETE']) {
      nock(origin)
        .persist()
        .intercept(() => true, method)
        // A function, not an arrow: nock passes the intercepted request as `this.req`.
        .reply(async function (this: { req: { headers: Record<string, string | string[] | undefined> } }, uri: string, body: unknown) {
          return s.dispatch({ method, url: `${origin}${uri}`, headers: this.req.headers, body: parseBody(body) });
        });
    }
  }
}

/** The app the stand-ins are: its slug makes the login of its comments, `<slug>[bot]`. */
export const APP_SLUG = 'mergeops';
export const BOT_LOGIN = `${APP_SLUG}[bot]`;

/**
 * `GET /app` (the contract has checked the App JWT): the authenticated app, in the shape
 * GitHub answers (the OpenAPI `integration` schema).
 */
export function appRoute(appId: number): Route {
  return {
    method: 'GET',
    path: '/app',
    handle: () => [
      200,
      {
        id: appId,
        slug: APP_SLUG,
        node_id: 'A_kwDOAAAAAc4AAAAB',
        client_id: 'Iv1.8a61f9b3a7aba766',
        owner: { login: 'acme', id: 1, node_id: 'MDEyOk9yZ2FuaXphdGlvbjE=', type: 'Organization', site_admin: false, avatar_url: 'https://github.com/images/error/octocat_happy.gif', url: 'https://api.github.com/users/acme', html_url: 'https://github.com/acme' },
        name: 'mergeops',
        description: 'Previews and deploys Kubernetes changes from pull requests',
        external_url: 'https://mergeops.example.com',
        html_url: `https://github.com/apps/${APP_SLUG}`,
        created_at: '2026-01-01T00:00:00Z',
        updated_at: '2026-01-01T00:00:00Z',
        permissions: { checks: 'write', contents: 'write', deployments: 'write', issues: 'write', metadata: 'read', pull_requests: 'write' },
        events: ['check_run', 'issue_comment', 'merge_group', 'pull_request', 'push'],
        installations_count: 1,
      },
      { 'content-type': 'application/json; charset=utf-8' },
    ],
  };
}
