/**
 * The process the memory benchmark measures: the whole runtime (receiver and worker, as
 * `npm start` runs it) previewing one PR of a big app, GitHub stood in by nock. Reads
 * {n, ns, app} from argv[2]; prints its memory figures as JSON on stdout.
 */
import fs from 'node:fs';
import { deliver, waitFor } from '../test/support/github.js';
import { prPayload, sha, startHarness } from '../test/support/harness.js';
import { CLUSTERS_YAML, appRepo, dropKeys, harnessEnv, productionLog } from './common.js';
import type { MemoryResult } from './memory-shared.js';

/** The kernel's peak resident set of this process (VmHWM), in KiB. */
function vmHwmKiB(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

async function main(): Promise<void> {
  const { n, ns, app } = JSON.parse(process.argv[2] ?? '{}') as { n: number; ns: string; app: string };
  const h = await startHarness(CLUSTERS_YAML, harnessEnv(), { log: productionLog() });
  try {
    const [base, head] = [sha(`${ns}-base`), sha(`${ns}-head`)];
    await h.push(base, appRepo(app, ns, n, 0));
    await h.push(head, appRepo(app, ns, n, 1));
    const idleKiB = vmHwmKiB();
    const t0 = performance.now();
    const res = await deliver(h.rt.url as string, 'pull_request', prPayload('opened', 1, head, base));
    if (res.status !== 202) throw new Error(`webhook answered ${res.status}`);
    const check = await waitFor(() => h.calls.find((c) => c.method === 'PATCH' && c.path.includes('/check-runs/') && c.body?.status === 'completed'), 'check', 300_000);
    await waitFor(() => h.calls.find((c) => c.method === 'POST' && c.path.endsWith('/comments')), 'comment', 300_000);
    const out: MemoryResult = {
      idleKiB,
      peakKiB: vmHwmKiB(),
      maxRssKiB: process.resourceUsage().maxRSS,
      ms: performance.now() - t0,
      title: String(check.body.output?.title),
      commentParts: h.calls.filter((c) => c.method === 'POST' && c.path.endsWith('/comments')).length,
    };
    console.log(JSON.stringify(out));
  } finally {
    await h.stop();
    await dropKeys(process.env['MERGEOPS_TEST_REDIS_URL'] ?? '', h.prefix);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
