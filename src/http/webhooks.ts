import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Probot } from 'probot';
import type { SharedState } from '../queue/state.js';
import { webhooksReceived } from '../metrics.js';

export const WEBHOOK_PATH = '/api/github/webhooks';
/** GitHub caps webhook payloads at 25 MB; anything larger is not from GitHub. */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/**
 * The GitHub webhook receiver. Verifies the HMAC over the raw bytes before parsing
 * anything, drops deliveries it has already seen (GitHub redelivers with the same id),
 * and hands the event to Probot, whose handlers only enqueue — so the answer goes back
 * in milliseconds, far inside GitHub's 10 s deadline.
 */
export async function webhookRoutes(app: FastifyInstance, opts: { probot: Probot; secret: string; state: SharedState }): Promise<void> {
  app.addContentTypeParser(['application/json', 'application/x-www-form-urlencoded'], { parseAs: 'buffer', bodyLimit: MAX_WEBHOOK_BYTES }, (_req, body, done) => done(null, body));

  app.post(WEBHOOK_PATH, async (req: FastifyRequest, reply: FastifyReply) => {
    const id = header(req, 'x-github-delivery');
    const name = header(req, 'x-github-event');
    const body = req.body;
    if (!id || !name || !Buffer.isBuffer(body)) {
      webhooksReceived.inc({ event: name ?? 'unknown', outcome: 'bad_request' });
      return reply.code(400).send({ error: 'missing X-GitHub-Delivery / X-GitHub-Event headers or body' });
    }
    if (!verifySignature(opts.secret, body, header(req, 'x-hub-signature-256'))) {
      req.log.warn({ delivery: id, event: name }, 'webhook signature missing or wrong; check WEBHOOK_SECRET matches the GitHub App');
      webhooksReceived.inc({ event: name, outcome: 'bad_signature' });
      return reply.code(401).send({ error: 'signature does not match' });
    }
    let payload: unknown;
    try {
      const text = body.toString('utf8');
      payload = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
        ? JSON.parse(new URLSearchParams(text).get('payload') ?? '')
        : JSON.parse(text);
    } catch {
      return reply.code(400).send({ error: 'body is not valid JSON' });
    }
    if (!(await opts.state.firstDelivery(id))) {
      req.log.info({ delivery: id, event: name }, 'duplicate delivery ignored');
      webhooksReceived.inc({ event: name, outcome: 'duplicate' });
      return reply.code(200).send({ ok: true, duplicate: true });
    }
    try {
      await opts.probot.receive({ id, name, payload } as Parameters<Probot['receive']>[0]);
    } catch (err) {
      // Let GitHub's redelivery try again: the id must not stay marked as handled.
      await opts.state.forgetDelivery(id);
      req.log.error({ delivery: id, event: name, err }, 'webhook handler failed');
      webhooksReceived.inc({ event: name, outcome: 'error' });
      return reply.code(500).send({ error: 'handler failed; redeliver to retry' });
    }
    webhooksReceived.inc({ event: name, outcome: 'accepted' });
    return reply.code(202).send({ ok: true });
  });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
