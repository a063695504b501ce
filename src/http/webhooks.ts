import crypto from 'node:crypto';
import { emitterEventNames } from '@octokit/webhooks';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Probot } from 'probot';
import type { Deliveries } from '../queue/state.js';
import { webhooksReceived } from '../metrics.js';

export const WEBHOOK_PATH = '/api/github/webhooks';
/**
 * GitHub caps webhook payloads at 25 MB and drops larger events instead of sending them
 * (docs: "About webhook events and payloads", Payload cap); anything larger is not from GitHub.
 */
export const MAX_WEBHOOK_BYTES = 25 * 1024 * 1024;

/** How much an anonymous caller can make the receiver hold before the HMAC is checked. */
export interface IntakeLimits {
  /** Bodies declared (Content-Length) larger than this are refused before one byte is read. */
  maxBodyBytes: number;
  /**
   * Bytes of webhook bodies being received at once, all requests together. A request whose
   * declared length does not fit gets 503 at once: memory stays bounded however many
   * callers open connections with forged signature headers.
   */
  maxInflightBytes: number;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimits = { maxBodyBytes: MAX_WEBHOOK_BYTES, maxInflightBytes: 64 * 1024 * 1024 };

// Every event GitHub can send, from GitHub's own webhook schema (without `.action` suffixes).
const GITHUB_EVENTS: ReadonlySet<string> = new Set(emitterEventNames.filter((n) => !n.includes('.')));

/**
 * The `event` label of a delivery. The header is the caller's to choose until the signature
 * is checked, so only names GitHub defines are label values; anything else is `other` —
 * otherwise every invented name would add a time series to /metrics for good.
 */
export function eventLabel(name: string | undefined): string {
  return name !== undefined && GITHUB_EVENTS.has(name) ? name : 'other';
}

const SIGNATURE_SHAPE = /^sha256=[0-9a-f]{64}$/;

export function verifySignature(secret: string, body: Buffer, header: string | undefined): boolean {
  if (!header?.startsWith('sha256=')) return false;
  const expected = Buffer.from(`sha256=${crypto.createHmac('sha256', secret).update(body).digest('hex')}`);
  const given = Buffer.from(header);
  return given.length === expected.length && crypto.timingSafeEqual(given, expected);
}

/**
 * The GitHub webhook receiver. A request that cannot be a GitHub delivery (no event, id or
 * well-formed signature header, a declared body over GitHub's cap, or more bytes in flight
 * than the budget) is answered before its body is read; the rest is buffered only up to
 * the cap (slow senders are cut off by the server's request timeout), the HMAC is checked
 * over the raw bytes before anything is parsed, deliveries already handled are dropped
 * (GitHub redelivers with the same id; one whose handler died is not), and the event goes to Probot, whose handlers only
 * enqueue — so the answer goes back in milliseconds, far inside GitHub's 10 s deadline.
 */
export async function webhookRoutes(
  app: FastifyInstance,
  opts: { probot: Probot; secret: string; state: Pick<Deliveries, 'firstDelivery' | 'handled' | 'forgetDelivery'>; limits?: IntakeLimits },
): Promise<void> {
  const limits = opts.limits ?? DEFAULT_INTAKE_LIMITS;
  let inflight = 0;
  app.addContentTypeParser(['application/json', 'application/x-www-form-urlencoded'], { parseAs: 'buffer', bodyLimit: limits.maxBodyBytes }, (_req, body, done) => done(null, body));

  // Runs before fastify reads the body: cheap refusals cost the caller a round trip, not us memory.
  const admit = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const id = header(req, 'x-github-delivery');
    const name = header(req, 'x-github-event');
    const event = eventLabel(name);
    if (!id || !name) {
      webhooksReceived.inc({ event, outcome: 'bad_request' });
      return refuse(reply, 400, 'missing X-GitHub-Delivery / X-GitHub-Event headers');
    }
    if (!SIGNATURE_SHAPE.test(header(req, 'x-hub-signature-256') ?? '')) {
      req.log.warn({ event }, 'webhook without an X-Hub-Signature-256 header; set the webhook secret in the GitHub App settings');
      webhooksReceived.inc({ event, outcome: 'bad_signature' });
      return refuse(reply, 401, 'missing or malformed X-Hub-Signature-256');
    }
    const declared = Number(req.headers['content-length']);
    // Chunked bodies have no declared length: they hold the cap's worth of budget.
    const size = Number.isFinite(declared) && declared >= 0 ? declared : limits.maxBodyBytes;
    if (size > limits.maxBodyBytes) {
      webhooksReceived.inc({ event, outcome: 'too_large' });
      return refuse(reply, 413, `body over ${limits.maxBodyBytes} bytes; GitHub never sends more`);
    }
    if (inflight + size > limits.maxInflightBytes) {
      webhooksReceived.inc({ event, outcome: 'busy' });
      req.log.warn({ inflight, size }, 'webhook intake budget full; answering 503');
      return refuse(reply.header('retry-after', '1'), 503, 'too many webhook bodies in flight; retry shortly');
    }
    inflight += size;
    // 'close' fires once the response is done or the socket died (a timed-out slow body too).
    reply.raw.once('close', () => {
      inflight -= size;
    });
    return undefined;
  };

  app.post(WEBHOOK_PATH, { onRequest: admit }, async (req: FastifyRequest, reply: FastifyReply) => {
    const id = header(req, 'x-github-delivery') as string;
    const name = header(req, 'x-github-event') as string;
    const event = eventLabel(name);
    const body = req.body;
    if (!Buffer.isBuffer(body)) {
      webhooksReceived.inc({ event, outcome: 'bad_request' });
      return reply.code(400).send({ error: 'missing body' });
    }
    if (!verifySignature(opts.secret, body, header(req, 'x-hub-signature-256'))) {
      req.log.warn({ event }, 'webhook signature wrong; check WEBHOOK_SECRET matches the GitHub App');
      webhooksReceived.inc({ event, outcome: 'bad_signature' });
      return reply.code(401).send({ error: 'signature does not match' });
    }
    let payload: unknown;
    try {
      const text = body.toString('utf8');
      payload = req.headers['content-type']?.startsWith('application/x-www-form-urlencoded')
        ? JSON.parse(new URLSearchParams(text).get('payload') ?? '')
        : JSON.parse(text);
    } catch {
      webhooksReceived.inc({ event, outcome: 'bad_request' });
      return reply.code(400).send({ error: 'body is not valid JSON' });
    }
    if (!(await opts.state.firstDelivery(id))) {
      req.log.info({ delivery: id, event: name }, 'duplicate delivery ignored');
      webhooksReceived.inc({ event, outcome: 'duplicate' });
      return reply.code(200).send({ ok: true, duplicate: true });
    }
    try {
      await opts.probot.receive({ id, name, payload } as Parameters<Probot['receive']>[0]);
    } catch (err) {
      // Let GitHub's redelivery try again: the id must not stay marked as handled.
      await opts.state.forgetDelivery(id);
      req.log.error({ delivery: id, event: name, err }, 'webhook handler failed');
      webhooksReceived.inc({ event, outcome: 'error' });
      return reply.code(500).send({ error: 'handler failed; redeliver to retry' });
    }
    // Only now is the id kept for GitHub's redelivery window: a process that died above
    // left a short-lived mark, so the redelivery of this event is handled, not dropped.
    await opts.state.handled(id);
    webhooksReceived.inc({ event, outcome: 'accepted' });
    return reply.code(202).send({ ok: true });
  });
}

/** Answers without reading the body; `connection: close` stops a sender streaming it anyway. */
function refuse(reply: FastifyReply, status: number, error: string): FastifyReply {
  return reply.code(status).header('connection', 'close').send({ error });
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
