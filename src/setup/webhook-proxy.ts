import { SmeeClient } from 'smee-client';
import type { Logger } from 'pino';
import { WEBHOOK_PATH } from './app-registration.js';

export interface WebhookProxy {
  stop(): Promise<void>;
}

/**
 * WEBHOOK_PROXY_URL (Probot's convention): a smee.io channel the App's webhooks are sent
 * to, relayed here to this process's own webhook route. For laptops; a deployed mergeops has
 * a public URL and no proxy.
 */
export async function startWebhookProxy(source: string, localBaseUrl: string, log: Logger): Promise<WebhookProxy> {
  const child = log.child({ name: 'webhook-proxy' });
  const client = new SmeeClient({
    source,
    target: `${localBaseUrl}${WEBHOOK_PATH}`,
    logger: { info: (msg: unknown) => child.info(String(msg)), error: (msg: unknown) => child.warn({ err: msg }, 'webhook proxy error') },
    maxConnectionTimeout: 15_000,
  });
  await client.start();
  child.info({ source, target: `${localBaseUrl}${WEBHOOK_PATH}` }, 'relaying webhooks from WEBHOOK_PROXY_URL');
  return { stop: () => client.stop() };
}
