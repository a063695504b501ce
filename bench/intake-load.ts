/**
 * The load generator of the intake benchmark, in its own process so that generating and
 * signing deliveries does not share an event loop with the server it measures. Reads its
 * job as JSON from argv[2], prints autocannon's figures as JSON on stdout.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import autocannon from 'autocannon';
import { build } from 'hdr-histogram-js';
import { PR_MARK, SHA_MARK, type LoadJob, type LoadResult } from './intake-shared.js';

async function main(): Promise<void> {
  const job = JSON.parse(process.argv[2] ?? '{}') as LoadJob;
  const template = fs.readFileSync(job.templateFile, 'utf8');
  let next = 0;
  // autocannon 8 corrects for coordinated omission at a fixed rate with an expected interval
  // of ceil(1 / per-connection rate) = 1 ms, where the real interval is connections × 1000 /
  // rate (40 ms at 500/s over 20 connections): every slow answer then back-fills dozens of
  // phantom samples and inflates the percentiles. Its own histogram records the raw
  // latencies (ignoreCoordinatedOmission), and this one corrects them with the real interval.
  const intervalMs = (job.connections * 1000) / job.rate;
  const corrected = build({ lowestDiscernibleValue: 1, highestTrackableValue: 10 * 60_000, numberOfSignificantValueDigits: 3 });
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({
    url: `${job.url}/api/github/webhooks`,
    connections: job.connections,
    duration: job.seconds,
    overallRate: job.rate,
    ignoreCoordinatedOmission: true,
    requests: [
      {
        method: 'POST',
        // Every delivery is a new event: its own delivery id, PR number and signature.
        setupRequest: (req) => {
          const i = next++;
          const body = template.replaceAll(PR_MARK, String(100_000 + i)).replaceAll(SHA_MARK, job.shas[i % job.shas.length] as string);
          req.body = body;
          req.headers = {
            'content-type': 'application/json',
            'x-github-event': 'pull_request',
            'x-github-delivery': crypto.randomUUID(),
            'x-hub-signature-256': `sha256=${crypto.createHmac('sha256', job.secret).update(body).digest('hex')}`,
            'user-agent': 'GitHub-Hookshot/bench',
          };
          return req;
        },
      },
    ],
    }, (err, res) => (err ? reject(err) : resolve(res)));
    instance.on('response', (_client: unknown, statusCode: number, _bytes: number, responseTime: number) => {
      if (statusCode >= 200 && statusCode < 300) corrected.recordValueWithExpectedInterval(Math.max(1, Math.round(responseTime)), intervalMs);
    });
  });
  const out: LoadResult = {
    sent: result.requests.sent,
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    perSecond: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    max: result.latency.max,
    correctedP50: corrected.getValueAtPercentile(50),
    correctedP99: corrected.getValueAtPercentile(99),
    intervalMs,
  };
  console.log(JSON.stringify(out));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
