import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Probot } from 'probot';
import { webhookRoutes } from '../../../src/http/webhooks.js';
import { DELIVERY_HANDLED_S, Deliveries } from '../../../src/queue/state.js';
import { createRedis } from '../../../src/redis.js';
import { WEBHOOK_SECRET, deliver, waitFor } from '../../support/github.js';
import { webhookExample } from '../../support/webhook-schemas.js';

/** The mark a handler holds before it is confirmed; short here so the test waits for it, not a minute. */
const HANDLING_S = 1;

/**
 * Webhook dedupe marks a delivery as handled only once its handler succeeded. A process
 * that died mid-handler answered GitHub nothing, so GitHub lists the delivery as failed
 * and its redelivery (by hand, or by catch-up) must be handled then, not dropped as a
 * duplicate for three days. Real Redis; the receiver is the real route.
 */
describe('webhook dedupe: a delivery counts as handled only after its handler succeeded', () => {
  let app: FastifyInstance;
  let url: string;
  let redis: ReturnType<typeof createRedis>;
  let deliveries: Deliveries;
  const prefix = `mergeops-dedupe-${crypto.randomUUID().slice(0, 8)}`;
  const received: string[] = [];

  beforeAll(async () => {
    redis = createRedis(process.env['MERGEOPS_TEST_REDIS_URL'] as string);
    deliveries = new Deliveries(redis, prefix, HANDLING_S);
    const probot = { receive: async (e: { id: string }) => void received.push(e.id) } as unknown as Probot;
    app = Fastify();
    await app.register(webhookRoutes, { probot, secret: WEBHOOK_SECRET, state: deliveries });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis?.disconnect();
  });

  const push = () => webhookExample('push');
  const ttl = (id: string) => redis.ttl(`${prefix}:delivery:${id}`);

  it('a delivery whose handler died (its mark taken, never confirmed) is handled when GitHub redelivers it after the short mark lapsed', async () => {
    const id = crypto.randomUUID();
    // What a process killed inside probot.receive leaves behind: the mark, no confirmation.
    expect(await deliveries.firstDelivery(id)).toBe(true);
    expect(await ttl(id)).toBeLessThanOrEqual(HANDLING_S);
    // While that mark lives, a duplicate arriving at once is still dropped.
    expect((await deliver(url, 'push', push(), { id })).body).toEqual({ ok: true, duplicate: true });
    await waitFor(async () => (await redis.exists(`${prefix}:delivery:${id}`)) === 0, 'the dead handler\'s mark to lapse', 10_000);
    const redelivered = await deliver(url, 'push', push(), { id });
    expect(redelivered.status).toBe(202);
    expect(received.filter((r) => r === id)).toHaveLength(1);
  });

  it('a handled delivery is kept for GitHub\'s redelivery window and its redelivery is dropped', async () => {
    const id = crypto.randomUUID();
    expect((await deliver(url, 'push', push(), { id })).status).toBe(202);
    expect(await ttl(id)).toBeGreaterThan(DELIVERY_HANDLED_S - 60);
    expect((await deliver(url, 'push', push(), { id })).body).toEqual({ ok: true, duplicate: true });
    expect(received.filter((r) => r === id)).toHaveLength(1);
  });
});
