import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { FastifyInstance } from 'fastify';
import type { Queues } from '../queue/queues.js';
import { sameSecret } from '../util/compare.js';

export const ADMIN_PATH = '/admin/queues';

/**
 * Bull Board behind HTTP basic auth. Only registered when the operator set credentials:
 * job data holds repo names and SHAs, which is not for the open internet.
 */
export async function adminRoutes(app: FastifyInstance, opts: { queues: Queues; user: string; password: string }): Promise<void> {
  const adapter = new FastifyAdapter();
  createBullBoard({ queues: opts.queues.all.map((q) => new BullMQAdapter(q)), serverAdapter: adapter });
  adapter.setBasePath(ADMIN_PATH);
  app.addHook('onRequest', async (req, reply) => {
    const header = req.headers.authorization ?? '';
    const [user, password] = Buffer.from(header.replace(/^Basic /i, ''), 'base64').toString('utf8').split(/:(.*)/s);
    if (!header.startsWith('Basic ') || !sameSecret(user ?? '', opts.user) || !sameSecret(password ?? '', opts.password)) {
      return reply.code(401).header('www-authenticate', 'Basic realm="mergeops"').send({ error: 'authentication required' });
    }
  });
  await app.register(adapter.registerPlugin(), { prefix: ADMIN_PATH });
}
