import { createHash, randomUUID } from 'node:crypto';
import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { RedisClient } from '../redis.js';
import type { Logger } from 'pino';
import { errorText } from '../errors.js';
import { notificationsSent } from '../metrics.js';
import { routes, type Receiver } from './config.js';
import type { NotifyEvent } from './events.js';
import { formatMessage } from './receivers.js';

export const NOTIFY_QUEUE = 'notify';

/** A reference to the receiver, not its URL or secret: those stay in the operator's file. */
export interface NotifyJob {
  receiver: string;
  event: NotifyEvent;
}

/**
 * Attempts over about 8.5 minutes (BullMQ calls the backoff with 1 after the first failure:
 * waits of 1 s doubling to 256 s; a receiver's Retry-After up to 5 min instead), then the
 * message is dropped and logged.
 */
export const NOTIFY_ATTEMPTS = 10;
const BACKOFF_BASE_MS = 1000;
const BACKOFF_MAX_MS = 5 * 60_000;
const SEND_TIMEOUT_MS = 10_000;

export function createNotifyQueue(connection: ConnectionOptions, prefix: string): Queue<NotifyJob> {
  return new Queue<NotifyJob>(NOTIFY_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: NOTIFY_ATTEMPTS,
      backoff: { type: 'notify' },
      // Kept a day: the id makes the same drift seen on every scan one message, not one per scan.
      removeOnComplete: { age: 24 * 3600, count: 10_000 },
      removeOnFail: { age: 7 * 24 * 3600, count: 10_000 },
    },
  });
}

/**
 * The same event for the same receiver is one job: its id hashes everything but the time
 * and the link, so a drift that persists across scans, or a redelivered deploy, notifies
 * once. The link is left out because every drift scan (and deploy attempt) opens a check run
 * of its own, which would make the same drift news again at every scan.
 */
export function notifyJobId(receiver: string, e: NotifyEvent): string {
  const { at: _at, url: _url, ...stable } = e;
  return `notify-${receiver}-${createHash('sha256').update(JSON.stringify(stable)).digest('hex').slice(0, 32)}`;
}

/** What flows call. Routing happens here; delivery in the worker. It never throws. */
export class Notifier {
  constructor(
    private readonly queue: Queue<NotifyJob> | null,
    private readonly receivers: Receiver[],
    private readonly log: Logger,
  ) {}

  get enabled(): boolean {
    return this.queue !== null && this.receivers.length > 0;
  }

  async emit(events: NotifyEvent[]): Promise<void> {
    if (!this.queue) return;
    for (const event of events) {
      for (const r of this.receivers) {
        if (!routes(r, event.kind, event.repo, event.app)) continue;
        try {
          await this.queue.add(event.kind, { receiver: r.name, event }, { jobId: notifyJobId(r.name, event) });
        } catch (err) {
          // A deploy never fails because a notification could not be queued.
          this.log.error({ receiver: r.name, event: event.kind, app: event.app, err: errorText(err) }, 'could not queue a notification');
        }
      }
    }
  }
}

/** A failed delivery that is worth another try, after `retryAfterMs` when the receiver said so. */
export class RetryableSendError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'RetryableSendError';
  }
}

function retryAfter(header: string | null): number | undefined {
  if (!header) return undefined;
  const s = Number(header);
  if (Number.isFinite(s)) return Math.max(0, s * 1000);
  const at = Date.parse(header);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

/** POSTs one message. 2xx: done; 408, 429, 5xx and network errors: retry; anything else: drop. */
export async function send(r: Receiver, job: NotifyJob, delivery: string): Promise<void> {
  const msg = formatMessage(r.type, job.event, delivery, r.secret);
  let res: Response;
  try {
    res = await fetch(r.url, { method: 'POST', body: msg.body, headers: { ...msg.headers, 'user-agent': 'mergeops' }, redirect: 'manual', signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
  } catch (err) {
    throw new RetryableSendError(`no answer: ${errorText(err)}`);
  }
  // The body says why (Slack: "invalid_payload"); never echo more than a line.
  const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
  if (res.ok) return;
  const why = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
  if (res.status === 408 || res.status === 429 || res.status >= 500) throw new RetryableSendError(why, retryAfter(res.headers.get('retry-after')));
  throw new UnrecoverableError(`${why} (not retried: the receiver refused the message)`);
}

export interface NotifyWorkerDeps {
  receivers: Receiver[];
  /** For the per-receiver rate limit, shared by every worker replica. */
  redis: RedisClient;
  prefix: string;
  log: Logger;
}

// One sliding-window log per receiver, in Redis so every worker replica shares it, on the
// Redis server's clock (replicas' clocks may differ): entries older than the window go, a
// slot is taken while fewer than max are left in it, else the script answers how long until
// the entry that blocks leaves the window. A fixed window would let 2 × max through within
// moments around its boundary, which is what a receiver's own limit (Slack: about one a
// second per webhook) refuses.
const TAKE_SLOT = `
local key, window, max, id = KEYS[1], tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)
if used >= max then
  local blocking = redis.call('ZRANGE', key, used - max, used - max, 'WITHSCORES')
  return math.max(tonumber(blocking[2]) + window - now + 1, 1)
end
redis.call('ZADD', key, now, id)
redis.call('PEXPIRE', key, window)
return 0
`;

/**
 * Takes one of the receiver's slots, or says how long until one frees (ms). Over the limit,
 * the message waits rather than being dropped: a burst of failures arrives late, not never.
 */
async function waitForWindow(deps: NotifyWorkerDeps, r: Receiver): Promise<number> {
  const key = `${deps.prefix}:notify-rate:${r.name}`;
  // A random member: two slots taken in the same millisecond must count as two.
  return Number(await deps.redis.eval(TAKE_SLOT, 1, key, String(r.rateLimit.windowMs), String(r.rateLimit.max), randomUUID()));
}

export function startNotifyWorker(connection: ConnectionOptions, deps: NotifyWorkerDeps, concurrency = 4): Worker<NotifyJob> {
  const byName = new Map(deps.receivers.map((r) => [r.name, r]));
  const worker = new Worker<NotifyJob>(
    NOTIFY_QUEUE,
    async (job: Job<NotifyJob>, token?: string) => {
      const { receiver, event } = job.data;
      const r = byName.get(receiver);
      const log = deps.log.child({ receiver, event: event.kind, repo: event.repo, app: event.app });
      if (!r) {
        log.warn('receiver no longer configured; notification dropped');
        return 'dropped';
      }
      const wait = await waitForWindow(deps, r);
      if (wait > 0) {
        log.info({ waitMs: wait }, 'receiver rate limit reached; the notification waits for the next window');
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      try {
        await send(r, job.data, job.id ?? '');
      } catch (err) {
        const last = err instanceof UnrecoverableError || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        notificationsSent.inc({ receiver, event: event.kind, outcome: last ? 'dropped' : 'retried' });
        // Logged, never thrown at a deploy: the deploy finished before this job existed.
        if (last) log.error({ attempt: job.attemptsMade + 1, err: errorText(err) }, 'notification dropped');
        else log.warn({ attempt: job.attemptsMade + 1, err: errorText(err) }, 'notification failed; retrying');
        throw err;
      }
      notificationsSent.inc({ receiver, event: event.kind, outcome: 'sent' });
      log.info({ attempt: job.attemptsMade + 1 }, 'notification sent');
      return 'sent';
    },
    {
      connection,
      prefix: deps.prefix,
      concurrency,
      settings: {
        backoffStrategy: (attemptsMade: number, _type?: string, err?: Error): number => {
          if (err instanceof RetryableSendError && err.retryAfterMs !== undefined) return Math.min(err.retryAfterMs, BACKOFF_MAX_MS);
          return Math.min(BACKOFF_BASE_MS * 2 ** Math.max(0, attemptsMade - 1), BACKOFF_MAX_MS);
        },
      },
    },
  );
  worker.on('error', (err) => deps.log.error({ err: errorText(err) }, 'notify worker error'));
  return worker;
}
