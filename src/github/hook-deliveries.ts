import type { HookDelivery } from '../flows/catch-up.js';
import type { Octokit } from './types.js';

/** GitHub's largest page of deliveries. */
const PER_PAGE = 100;

/**
 * The app's webhook deliveries, newest first, back to `sinceMs` (App JWT auth). GitHub pages
 * this list by cursor in its `Link` header, which Octokit's paginator follows; paging stops
 * at the first page reaching past `sinceMs`.
 */
export async function listHookDeliveries(appOctokit: Octokit, sinceMs: number): Promise<HookDelivery[]> {
  const out: HookDelivery[] = [];
  for await (const page of appOctokit.paginate.iterator('GET /app/hook/deliveries', { per_page: PER_PAGE })) {
    for (const d of page.data) {
      out.push({ id: d.id, guid: d.guid, deliveredAtMs: Date.parse(d.delivered_at), status: d.status, event: d.event, installationId: d.installation_id ?? null });
    }
    if (page.data.some((d) => Date.parse(d.delivered_at) < sinceMs)) break;
  }
  return out;
}

/** Asks GitHub to deliver it again (202: GitHub sends it soon, with the same guid). */
export async function redeliverHookDelivery(appOctokit: Octokit, id: number): Promise<void> {
  await appOctokit.request('POST /app/hook/deliveries/{delivery_id}/attempts', { delivery_id: id });
}
