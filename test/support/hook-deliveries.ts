import crypto from 'node:crypto';
import { sign } from './github.js';
import { assertWebhookPayload } from './webhook-schemas.js';
import type { Route } from './stand-in.js';

/** One delivery as GitHub records it (the OpenAPI `hook-delivery-item`), with what it sent. */
export interface RecordedDelivery {
  id: number;
  guid: string;
  delivered_at: string;
  redelivery: boolean;
  duration: number;
  status: string;
  status_code: number;
  event: string;
  action: string | null;
  installation_id: number | null;
  repository_id: number | null;
  throttled_at: null;
  /** The payload sent, so a redelivery sends the same bytes. */
  body: string;
}

/**
 * GitHub's side of the app's webhook: it sends each event to `url` (signed, as GitHub
 * does), records every attempt with what came back — "failed to connect" (GitHub's 502)
 * when nothing listens — and serves the App-JWT endpoints that list the attempts (newest
 * first, paged by a cursor in the `Link` header) and redeliver one: 202, then the same
 * payload and guid sent again as a new delivery marked `redelivery`.
 */
export class HookDeliveries {
  url = '';
  readonly list: RecordedDelivery[] = [];
  private nextId = 80_000;
  private pending: Promise<unknown>[] = [];

  constructor(private readonly apiBase: () => string) {}

  /** Sends an event now; resolves with the recorded delivery. */
  async deliver(event: string, payload: Record<string, unknown>): Promise<RecordedDelivery> {
    assertWebhookPayload(event, payload);
    const p = payload as { action?: string; installation?: { id: number }; repository?: { id: number } };
    return this.send({ guid: crypto.randomUUID(), event, action: p.action ?? null, installation_id: p.installation?.id ?? null, repository_id: p.repository?.id ?? null, body: JSON.stringify(payload) }, false);
  }

  /** Redeliveries GitHub has accepted and not yet sent. */
  async settled(): Promise<void> {
    await Promise.all(this.pending);
  }

  routes(): Route[] {
    return [
      {
        method: 'GET',
        path: '/app/hook/deliveries',
        handle: (req) => {
          const perPage = Number(req.url.searchParams.get('per_page') ?? 30);
          const newest = [...this.list].reverse();
          const cursor = req.url.searchParams.get('cursor');
          const from = cursor === null ? 0 : newest.findIndex((d) => String(d.id) === cursor);
          if (from < 0) return [422, { message: 'Validation Failed', errors: [{ resource: 'HookDelivery', field: 'cursor', code: 'invalid' }], documentation_url: 'https://docs.github.com/rest/apps/webhooks#list-deliveries-for-an-app-webhook' }];
          const page = newest.slice(from, from + perPage);
          const next = newest[from + perPage];
          const headers: Record<string, string> = { 'content-type': 'application/json; charset=utf-8' };
          if (next) headers['link'] = `<${this.apiBase()}/app/hook/deliveries?per_page=${perPage}&cursor=${next.id}>; rel="next"`;
          return [200, page.map(({ body: _body, ...d }) => d), headers];
        },
      },
      {
        method: 'POST',
        path: /^\/app\/hook\/deliveries\/\d+\/attempts$/,
        handle: (req) => {
          const original = this.list.find((d) => d.id === Number(req.url.pathname.split('/')[4]));
          if (!original) return [404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest/apps/webhooks#redeliver-a-delivery-for-an-app-webhook' }];
          this.pending.push(this.send(original, true));
          return [202, {}, { 'content-type': 'application/json; charset=utf-8' }];
        },
      },
    ];
  }

  private async send(d: Pick<RecordedDelivery, 'guid' | 'event' | 'action' | 'installation_id' | 'repository_id' | 'body'>, redelivery: boolean): Promise<RecordedDelivery> {
    const started = Date.now();
    let status = 'failed to connect';
    let code = 502;
    try {
      const res = await fetch(`${this.url}/api/github/webhooks`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-github-event': d.event, 'x-github-delivery': d.guid, 'x-hub-signature-256': sign(d.body), 'user-agent': 'GitHub-Hookshot/stand-in' },
        body: d.body,
      });
      await res.arrayBuffer();
      code = res.status;
      status = res.ok ? 'OK' : `Invalid HTTP Response: ${res.status}`;
    } catch {
      // Connection refused: nothing listened (mergeops was down).
    }
    const recorded: RecordedDelivery = { ...d, id: ++this.nextId, delivered_at: new Date(started).toISOString().replace(/\.\d+Z$/, 'Z'), redelivery, duration: (Date.now() - started) / 1000, status, status_code: code, throttled_at: null };
    this.list.push(recorded);
    return recorded;
  }
}
