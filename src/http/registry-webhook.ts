import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { fromRegistryWebhook, type ImageEvent } from '../images/events.js';
import { sameSecret } from '../util/compare.js';
import { webhooksReceived } from '../metrics.js';
import { verifySignature } from './webhooks.js';

export const REGISTRY_WEBHOOK_PATH = '/registry/webhook';
/** Notification envelopes are small; Distribution batches at most a few events. */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Accepts the shared secret the way registries can send it: `Authorization: Bearer <secret>`
 * (Distribution's notification `headers`, Harbor's auth header), the bare secret in
 * `Authorization` (Harbor), or an HMAC of the body in `X-Hub-Signature-256` (GitHub style).
 */
export function registryRequestAuthorized(secret: string, body: Buffer, authorization: string | undefined, signature: string | undefined): boolean {
  if (signature?.startsWith('sha256=')) return verifySignature(secret, body, signature);
  if (!authorization) return false;
  return sameSecret(authorization.replace(/^Bearer\s+/i, ''), secret);
}

/** `POST /registry/webhook`: verify, parse, fan out; answers before any registry or GitHub work. */
export async function registryWebhookRoutes(app: FastifyInstance, opts: { secret: string; onEvents(events: ImageEvent[]): Promise<number> }): Promise<void> {
  // Distribution sends its own media type; everything is read as raw bytes for the HMAC
  // (fastify's JSON parser would otherwise take application/json in this scope).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: MAX_BODY_BYTES }, (_req, body, done) => done(null, body));
  // Without any credential header the request cannot be authorized: refuse before reading the body.
  const admit = async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    if (req.headers.authorization || req.headers['x-hub-signature-256']) return undefined;
    webhooksReceived.inc({ event: 'registry', outcome: 'bad_signature' });
    return reply.code(401).header('connection', 'close').send({ error: 'missing secret: send Authorization or X-Hub-Signature-256' });
  };
  app.post(REGISTRY_WEBHOOK_PATH, { bodyLimit: MAX_BODY_BYTES, onRequest: admit }, async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const auth = req.headers.authorization;
    const sig = req.headers['x-hub-signature-256'];
    if (!registryRequestAuthorized(opts.secret, body, auth, Array.isArray(sig) ? sig[0] : sig)) {
      webhooksReceived.inc({ event: 'registry', outcome: 'bad_signature' });
      req.log.warn('registry webhook without a valid secret; check MERGEOPS_REGISTRY_WEBHOOK_SECRET matches the registry notification config');
      return reply.code(401).send({ error: 'missing or wrong secret' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return reply.code(400).send({ error: 'body is not valid JSON' });
    }
    const events = fromRegistryWebhook(parsed);
    if (events === null) {
      webhooksReceived.inc({ event: 'registry', outcome: 'bad_request' });
      return reply.code(400).send({ error: 'not a Distribution, Harbor or Docker Hub notification' });
    }
    const enqueued = await opts.onEvents(events);
    webhooksReceived.inc({ event: 'registry', outcome: 'accepted' });
    req.log.info({ events: events.length, enqueued }, 'registry notification');
    return reply.code(202).send({ ok: true, events: events.length, enqueued });
  });
}
