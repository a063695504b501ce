import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import crypto from 'node:crypto';
import net from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { MAX_WEBHOOK_BYTES } from '../../../src/http/webhooks.js';
import { deliver } from '../../support/github.js';
import { startHarness, type Harness } from '../../support/harness.js';

const REQUEST_TIMEOUT_MS = 1000;
const INFLIGHT_BYTES = 30 * 1024 * 1024;
const ATTACK_REQUESTS = 600;
const ROUNDS = 3;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

/** Heap and Buffer memory after full collections: what the process actually keeps. */
async function retained(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    // Let closed sockets and finished requests release what they hold first.
    await new Promise((r) => setImmediate(r));
    gc();
  }
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

interface RawAnswer {
  status: number;
  /** When the server's answer (or its closing the socket) arrived, ms after the request started. */
  ms: number;
  closed: boolean;
}

/**
 * Speaks HTTP/1.1 on a raw socket so the test controls what fetch would not let it: a
 * declared length that is never sent, or a body trickled a byte at a time.
 */
function rawPost(url: string, headers: Record<string, string>, send: (socket: net.Socket) => void): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(port), hostname);
    let text = '';
    let done = false;
    const finish = (closed: boolean): void => {
      if (done) return;
      done = true;
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, ms: Date.now() - started, closed });
      socket.destroy();
    };
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      // The answers here are small JSON; the first complete head and body is all we need.
      if (/\r\n\r\n[\s\S]*\}/.test(text)) setTimeout(() => finish(socket.readableEnded), 20);
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      const head = Object.entries({ host: `${hostname}:${port}`, ...headers }).map(([k, v]) => `${k}: ${v}`).join('\r\n');
      socket.write(`POST /api/github/webhooks HTTP/1.1\r\n${head}\r\n\r\n`);
      // Like a client sending `Expect: 100-continue`: an answer to the head alone means the
      // body is not wanted, and writing it into a closing socket would only lose the answer.
      // 750 ms: the refusal comes at once, but a loaded machine (other suites) may need a while.
      setTimeout(() => text === '' && !done && send(socket), 750);
    });
  });
}

const forged = (event: string, length: number): Record<string, string> => ({
  'content-type': 'application/json',
  'content-length': String(length),
  'x-github-event': event,
  'x-github-delivery': crypto.randomUUID(),
  // Well-formed, so the receiver has to read the body to find out it is wrong.
  'x-hub-signature-256': `sha256=${crypto.randomBytes(32).toString('hex')}`,
});

/**
 * Anonymous callers against the real receiver (fastify + Probot on a real Redis): what they
 * send must cost a bounded amount of memory and no new time series, however they vary it.
 */
describe('anonymous intake: unsigned and forged webhook requests', () => {
  let h: Harness;
  const metrics = async (): Promise<string> => (await fetch(`${h.rt.url}/metrics`)).text();
  const series = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('mergeops_webhooks_received_total{'));

  beforeAll(async () => {
    h = await startHarness('clusters: {}\n', {
      MERGEOPS_MODE: 'web',
      MERGEOPS_HTTP_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
      MERGEOPS_WEBHOOK_INFLIGHT_BYTES: String(INFLIGHT_BYTES),
    });
  });
  afterAll(async () => {
    await h?.stop();
  });

  it(`${ATTACK_REQUESTS} unsigned or forged requests with invented event names add no series to /metrics and keep no memory`, async () => {
    const invented = (i: number): string => `evil_${i}_${crypto.randomBytes(6).toString('hex')}`;
    const send = async (i: number): Promise<number> => {
      const body = JSON.stringify({ action: invented(i), pad: 'x'.repeat(4096) });
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-github-event': invented(i), 'x-github-delivery': crypto.randomUUID() };
      // Half carry no signature, half a well-formed wrong one (their bodies are read and checked).
      if (i % 2) headers['x-hub-signature-256'] = `sha256=${crypto.randomBytes(32).toString('hex')}`;
      return (await fetch(`${h.rt.url}/api/github/webhooks`, { method: 'POST', headers, body })).status;
    };
    const attack = async (first: number, n: number): Promise<number[]> => {
      const statuses: number[] = [];
      for (let batch = 0; batch < n; batch += 50) statuses.push(...(await Promise.all(Array.from({ length: 50 }, (_, j) => send(first + batch + j)))));
      return statuses;
    };
    // Warm-up round: the `other` series appear, and the first rounds compile code paths and
    // grow pools (10-15 MiB, once), so memory is judged on the rounds after it.
    expect(new Set(await attack(0, ATTACK_REQUESTS))).toEqual(new Set([401]));
    const before = await metrics();
    const rounds: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      const start = await retained();
      expect(new Set(await attack(round * 10_000, ATTACK_REQUESTS))).toEqual(new Set([401]));
      rounds.push((await retained()) - start);
    }
    const after = await metrics();

    // Counter values grew (digits), series did not: the webhook series are the same set.
    expect(series(after).map((l) => l.replace(/ [\d.e+]+$/, ''))).toEqual(series(before).map((l) => l.replace(/ [\d.e+]+$/, '')));
    expect(after).not.toMatch(/evil_/);
    // Byte size: the counters' digits and the runtime's own gauges move a little; a series per name would add ~100 bytes a request.
    expect(after.length - before.length).toBeLessThan(2048);
    const counted = (text: string): number => Number(/mergeops_webhooks_received_total\{event="other",outcome="bad_signature"\} (\d+)/.exec(text)?.[1]);
    expect(counted(after) - counted(before)).toBe(ROUNDS * ATTACK_REQUESTS);
    // Bounded means flat: a cost per request shows in every round, so the cheapest round
    // is the measure (a round may also catch a one-off, like another file's cleanup).
    const mib = (n: number): string => (n / 1024 / 1024).toFixed(2);
    process.stdout.write(`anonymous intake: /metrics ${before.length} -> ${after.length} bytes over ${ROUNDS * ATTACK_REQUESTS} requests; retained per round of ${ATTACK_REQUESTS}: ${rounds.map(mib).join(', ')} MiB\n`);
    expect(Math.min(...rounds)).toBeLessThan(1024 * 1024);
  });

  it("a declared body over GitHub's 25 MB cap is refused before any of it is sent", async () => {
    const answer = await rawPost(h.rt.url as string, forged('push', MAX_WEBHOOK_BYTES + 1), () => undefined);
    expect(answer.status).toBe(413);
    expect(answer.ms).toBeLessThan(REQUEST_TIMEOUT_MS);
  });

  it('a body trickled a byte at a time is cut off by the request timeout (408), and its budget is returned', async () => {
    let timer: NodeJS.Timeout | undefined;
    const answer = await rawPost(h.rt.url as string, forged('push', 1000), (socket) => {
      timer = setInterval(() => socket.writable && socket.write('{'), 100);
    });
    clearInterval(timer);
    expect(answer.status).toBe(408);
    expect(answer.ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS);
    expect(answer.ms).toBeLessThan(REQUEST_TIMEOUT_MS * 3);
    // The trickler's reservation went back: a real delivery is served.
    expect((await deliver(h.rt.url as string, 'ping', { zen: 'Keep it logically awesome.', hook_id: 1 })).status).toBe(202);
  });

  it('forged 25 MB bodies sent at once hold at most the in-flight budget: the rest get 503 before their bytes are read', async () => {
    const body = Buffer.alloc(MAX_WEBHOOK_BYTES, 0x20);
    const baseline = await retained();
    let peak = 0;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.heapUsed + m.arrayBuffers - baseline);
    }, 5);
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        rawPost(h.rt.url as string, forged('push', MAX_WEBHOOK_BYTES), (socket) => {
          socket.write(body);
        }),
      ),
    );
    clearInterval(sampler);
    const statuses = answers.map((a) => a.status).sort();
    // One fits the 30 MiB budget and is read (then fails its HMAC); the other seven are refused unread.
    expect(statuses).toEqual([401, 503, 503, 503, 503, 503, 503, 503]);
    // Reading one 25 MiB body costs it about twice (chunks, then one Buffer); eight would be ~400 MiB.
    expect(peak).toBeLessThan(3 * MAX_WEBHOOK_BYTES);
    expect(await metrics()).toMatch(/mergeops_webhooks_received_total\{event="push",outcome="busy"\} 7/);
  });
});
