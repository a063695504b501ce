import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Probot } from 'probot';
import { redisAnswers, type RedisClient } from '../redis.js';
import type { Deliveries } from '../queue/state.js';
import type { Queues } from '../queue/queues.js';
import { queueDepth, registry } from '../metrics.js';
import { DEFAULT_INTAKE_LIMITS, webhookRoutes, type IntakeLimits } from './webhooks.js';
import { registryWebhookRoutes, type RegistryWebhookSecrets } from './registry-webhook.js';
import type { ImageEvent } from '../images/events.js';

export interface ServerDeps {
  /** Absent in worker mode: workers serve only health and metrics. */
  webhooks?: { probot: Probot; secret: string };
  queues: Queues;
  /** Bull Board is served only when both are set. */
  admin?: { user: string; password: string };
  /** `POST /registry/webhook`, only when the operator set a shared or per-host secret. */
  registry?: { secrets: RegistryWebhookSecrets; onEvents(events: ImageEvent[]): Promise<number> };
  redis: RedisClient;
  state: Deliveries;
  logger: Logger;
  /** Webhook intake budget; the defaults follow GitHub's payload cap. */
  intake?: IntakeLimits;
  /**
   * A request (headers and body) must arrive whole within this, or the server answers 408
   * and closes the connection: a caller trickling bytes cannot hold memory or a socket.
   * GitHub gives up on a delivery after 10 s, so a slower upload is never GitHub's.
   */
  requestTimeoutMs?: number;
}

export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export async function buildServer(deps: ServerDeps): Promise<FastifyInstance> {
  const intake = deps.intake ?? DEFAULT_INTAKE_LIMITS;
  const requestTimeout = deps.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: intake.maxBodyBytes,
    requestTimeout,
    // An idle socket (nothing sent either way) is closed after this.
    connectionTimeout: 3 * requestTimeout,
    http: {
      headersTimeout: requestTimeout,
      // Node checks the two timeouts above only this often (default 30 s, which would let
      // a slow sender hold its connection three times longer than configured).
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(requestTimeout / 4))),
    },
  });
  app.get('/healthz', { logLevel: 'silent' }, async () => ({ ok: true }));
  app.get('/readyz', { logLevel: 'silent' }, async (_req, reply) => {
    const ok = await redisAnswers(deps.redis);
    return reply.code(ok ? 200 : 503).send({ ok, redis: ok ? 'up' : 'down' });
  });
  app.get('/metrics', { logLevel: 'silent' }, async (_req, reply) => {
    await refreshQueueDepth(deps.queues);
    return reply.type(registry.contentType).send(await registry.metrics());
  });
  if (deps.admin) {
    const admin = deps.admin;
    // Loaded only where served: Bull Board and its UI assets cost every worker ~10 MiB otherwise.
    const { adminRoutes } = await import('./admin.js');
    await app.register(async (scope) => adminRoutes(scope, { queues: deps.queues, ...admin }));
  }
  if (deps.registry) await app.register(registryWebhookRoutes, deps.registry);
  if (deps.webhooks) await app.register(webhookRoutes, { probot: deps.webhooks.probot, secret: deps.webhooks.secret, state: deps.state, limits: intake });
  return app;
}

async function refreshQueueDepth(queues: Queues): Promise<void> {
  for (const q of queues.all) {
    const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed');
    for (const [state, n] of Object.entries(counts)) queueDepth.set({ queue: q.name, state }, n);
  }
}
