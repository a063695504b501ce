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

/**
 * Who may announce what: each host's own secret (MERGEOPS_REGISTRIES `webhookSecret`)
 * speaks for that host only; the shared MERGEOPS_REGISTRY_WEBHOOK_SECRET, when set, for
 * every host without a secret of its own.
 */
export interface RegistryWebhookSecrets {
  shared?: string;
  perHost: Map<string, string>;
}

/** The hosts a request may announce images of: the one whose secret it carries, or every unclaimed one. */
type Speaker = { host: string } | { shared: true };

function speakerOf(secrets: RegistryWebhookSecrets, body: Buffer, authorization: string | undefined, signature: string | undefined): Speaker | null {
  // Every secret is tried (no early exit), so timing does not tell which host's secret is close.
  let found: Speaker | null = null;
  for (const [host, secret] of secrets.perHost) {
    if (registryRequestAuthorized(secret, body, authorization, signature) && !found) found = { host };
  }
  if (secrets.shared !== undefined && registryRequestAuthorized(secrets.shared, body, authorization, signature) && !found) found = { shared: true };
  return found;
}

function hostOf(repository: string): string {
  return repository.split('/')[0] ?? '';
}

/** `POST /registry/webhook`: verify, parse, fan out; answers before any registry or GitHub work. */
export async function registryWebhookRoutes(app: FastifyInstance, opts: { secrets: RegistryWebhookSecrets; onEvents(events: ImageEvent[]): Promise<number> }): Promise<void> {
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
    const speaker = speakerOf(opts.secrets, body, auth, Array.isArray(sig) ? sig[0] : sig);
    if (!speaker) {
      webhooksReceived.inc({ event: 'registry', outcome: 'bad_signature' });
      req.log.warn('registry webhook without a valid secret; check the registry notification config sends its webhookSecret (MERGEOPS_REGISTRIES) or MERGEOPS_REGISTRY_WEBHOOK_SECRET');
      return reply.code(401).send({ error: 'missing or wrong secret' });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return reply.code(400).send({ error: 'body is not valid JSON' });
    }
    const all = fromRegistryWebhook(parsed);
    if (all === null) {
      webhooksReceived.inc({ event: 'registry', outcome: 'bad_request' });
      return reply.code(400).send({ error: 'not a Distribution, Harbor or Docker Hub notification' });
    }
    // A registry speaks for its own images only: registry A's secret cannot announce B's.
    const events = all.filter((e) => ('host' in speaker ? hostOf(e.repository) === speaker.host : !opts.secrets.perHost.has(hostOf(e.repository))));
    const refused = all.length - events.length;
    if (refused > 0) {
      req.log.warn({ refused, hosts: [...new Set(all.filter((e) => !events.includes(e)).map((e) => hostOf(e.repository)))], by: 'host' in speaker ? speaker.host : 'the shared secret' }, 'registry notification names images of hosts its secret does not speak for; those events are dropped');
    }
    const enqueued = await opts.onEvents(events);
    webhooksReceived.inc({ event: 'registry', outcome: 'accepted' });
    req.log.info({ events: events.length, refused, enqueued }, 'registry notification');
    return reply.code(202).send({ ok: true, events: events.length, refused, enqueued });
  });
}
