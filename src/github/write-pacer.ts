import crypto from 'node:crypto';
import type { RedisClient } from '../redis.js';

/** GitHub: "no more than 80 content-generating requests per minute" (and 500 an hour). */
export const WRITES_PER_MINUTE = 80;
export const WRITES_PER_HOUR = 500;
/** GitHub's windows; a test may scale them down (MERGEOPS_GITHUB_WRITE_WINDOW_MS), never production. */
export const WRITE_WINDOW_MS = 60_000;

/**
 * How long one write may hold its installation's turn before another process may take it
 * (a worker killed mid-request); renewed while the request is running, so a slow request or
 * a retry-after wait inside it keeps the turn.
 */
const TURN_MS = 10_000;
/** How often a waiting write looks again while another write of its installation is in flight. */
const TURN_POLL_MS = 15;
/** How often bookkeeping looks again while a person's write waits before it. */
const DEFER_POLL_MS = 25;
/**
 * How long a person's waiting write is remembered past its next look: a process that stopped
 * asking (killed mid-wait) holds bookkeeping back no longer than this.
 */
const WAITER_GRACE_MS = 2_000;
/**
 * Bookkeeping held back by people's writes for this long in all (not counting waits for
 * GitHub's window) competes with them as an equal: a stream of previews never starves it.
 */
export const BOOKKEEPING_MAX_DEFER_MS = 10_000;

/**
 * Who waits for a write. `person`: someone is looking at the PR or the command they typed
 * (the preview comment and its check run, a command's reply, a button's result).
 * `bookkeeping`: records nobody is waiting on at that moment (Deployments and their
 * statuses, labels, the deploy's check and comment).
 */
export type WritePriority = 'person' | 'bookkeeping';

/**
 * The share of each window bookkeeping leaves free for people's writes: after a deploy has
 * used its share, a preview still finds room at once instead of waiting out GitHub's minute.
 * An eighth of the minute (10 of GitHub's 80), a tenth of the hour; none under tiny limits.
 */
export function personReserve(limits: Pick<WriteLimits, 'perMinute' | 'perHour'>): { perMinute: number; perHour: number } {
  return { perMinute: Math.floor(limits.perMinute / 8), perHour: Math.floor(limits.perHour / 10) };
}

// One sliding-window log per installation, in Redis so every worker process shares it, plus
// the installation's turn: at most one content-creating request in flight (GitHub: "make
// requests serially, not concurrently") and a pause while GitHub said to wait. A slot is
// taken when the turn is free and both windows have room, else the script answers how long
// to wait (never 0: 0 alone means granted, and an entry exactly one window old still
// counts). The minute is one window plus a second: a request reaches GitHub a little after
// its slot is taken, and GitHub's own clock decides. Every key is declared (the log, its
// pause, its turn, its waiting people): a Redis Cluster routes and checks a script by its KEYS.
//
// Priorities live here too, so they hold across processes: a person's write that is not
// granted at once is entered in the installation's waiting set (until a little past its next
// look), and bookkeeping is answered -3 ("a person goes first") while that set has anyone in
// it. Writes are also spaced: the next starts a second (GitHub's window / 60) after the last
// one's answer, GitHub's advice for mutating requests ("wait at least one second between
// each"), kept here rather than by Octokit's per-process queue so that a person's write is
// the next one sent, whichever process holds it. Bookkeeping also keeps within the window
// minus the people's reserve. Bookkeeping deferred for long (`aged`) is neither held back
// nor kept out of the reserve.
const ACQUIRE = `
local key, pause, turn, waiting = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local now, id = tonumber(ARGV[1]), ARGV[2]
local perMin, perHour = tonumber(ARGV[3]), tonumber(ARGV[4])
local minute, hour, turnMs = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local priority, reserveMin, reserveHour = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local turnPoll, grace, spacing = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local function answer(wait)
  if priority == 'person' then
    if wait == 0 then
      redis.call('ZREM', waiting, id)
    else
      redis.call('ZADD', waiting, now + (wait > 0 and wait or turnPoll) + grace, id)
      redis.call('PEXPIRE', waiting, hour)
    end
  end
  return wait
end
local paused = redis.call('PTTL', pause)
if paused > 0 then return answer(paused) end
if priority == 'bookkeeping' then
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  if redis.call('ZCARD', waiting) > 0 then return -3 end
  perMin, perHour = perMin - reserveMin, perHour - reserveHour
end
local holder = redis.call('PTTL', turn)
if holder > 0 or holder == -1 then return answer(-2) end
local last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
if last[2] and now - tonumber(last[2]) < spacing then return answer(math.max(1, spacing - (now - tonumber(last[2])))) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - hour)
local lastMinute = redis.call('ZCOUNT', key, now - minute, '+inf')
if lastMinute >= perMin then
  local oldest = redis.call('ZRANGEBYSCORE', key, now - minute, '+inf', 'WITHSCORES', 'LIMIT', lastMinute - perMin, 1)
  return answer(math.max(1, tonumber(oldest[2]) + minute - now + 1))
end
local total = redis.call('ZCARD', key)
if total >= perHour then
  local oldest = redis.call('ZRANGE', key, total - perHour, total - perHour, 'WITHSCORES')
  return answer(math.max(1, tonumber(oldest[2]) + hour - now + 1))
end
redis.call('ZADD', key, now, id)
redis.call('PEXPIRE', key, hour)
redis.call('SET', turn, id, 'PX', turnMs)
return answer(0)
`;

// Only the holder extends or gives back its turn: a turn that expired and went to another
// process is not theirs to touch. Giving it back moves the write's entry in the window to
// the time GitHub's answer came: GitHub counted the request when it arrived, which may be
// long after its slot was taken (a busy event loop, a slow network), and the next write
// starts only now. Counting by answer time keeps any stretch of GitHub's clock under the
// limit, whatever the delay between slot and arrival.
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `
redis.call('ZADD', KEYS[2], 'XX', ARGV[2], ARGV[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;
// A pause only ever grows: a shorter retry-after seen later must not cut a longer one.
const PAUSE = `if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end return 1`;

export interface WriteLimits {
  perMinute: number;
  perHour: number;
  /** The length of GitHub's minute; GitHub's 60 s unless a test scales it. */
  windowMs?: number;
  /** The least time from one write's answer to the next write; a second of GitHub's minute by default. */
  spacingMs?: number;
}

/**
 * Paces content-creating requests (POST, PATCH, PUT, DELETE) per installation under
 * GitHub's secondary rate limits, across all workers: no more than `perMinute` a minute and
 * `perHour` an hour, one at a time, none while GitHub asked us to wait. A burst of deploys
 * and previews waits its turn instead of collecting 403s. Reads are not paced. Writes a
 * person waits for go first (see WritePriority).
 */
export class WritePacer {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly limits: WriteLimits = { perMinute: WRITES_PER_MINUTE, perHour: WRITES_PER_HOUR },
    /** How long people's writes may hold one bookkeeping write back (tests shorten it). */
    private readonly maxDeferMs = BOOKKEEPING_MAX_DEFER_MS,
  ) {}

  private key(installationId: number): string {
    return `${this.prefix}:github-writes:${installationId}`;
  }

  /**
   * Resolves once this installation may send one more content-creating request, holding its
   * turn: call the returned release when GitHub has answered. A person's write goes before
   * any bookkeeping that waits with it, in whichever process; bookkeeping goes whenever no
   * person's write waits, within the window less the people's reserve.
   */
  async acquire(installationId: number, priority: WritePriority = 'person'): Promise<() => Promise<void>> {
    const key = this.key(installationId);
    const minute = (this.limits.windowMs ?? WRITE_WINDOW_MS) + 1000;
    const hour = (this.limits.windowMs ?? WRITE_WINDOW_MS) * 60;
    const reserve = personReserve(this.limits);
    const spacing = this.limits.spacingMs ?? Math.round((this.limits.windowMs ?? WRITE_WINDOW_MS) / 60);
    // A random member: workers in containers all run as pid 1, and two slots taken in the
    // same millisecond under one name would count as one (ZADD only moves its score). One
    // name for the whole wait: it is also this write's entry among the waiting people.
    const id = crypto.randomUUID();
    let deferredMs = 0;
    for (;;) {
      const asked = priority === 'bookkeeping' && deferredMs >= this.maxDeferMs ? 'aged' : priority;
      const wait = Number(
        await this.redis.eval(ACQUIRE, 4, key, `${key}:pause`, `${key}:turn`, `${key}:waiting`, String(Date.now()), id, String(this.limits.perMinute), String(this.limits.perHour), String(minute), String(hour), String(TURN_MS), asked, String(reserve.perMinute), String(reserve.perHour), String(TURN_POLL_MS), String(WAITER_GRACE_MS), String(spacing)),
      );
      if (wait === 0) return this.holdTurn(key, id);
      if (wait === -3) deferredMs += DEFER_POLL_MS;
      await new Promise((r) => setTimeout(r, wait === -3 ? DEFER_POLL_MS : wait === -2 ? TURN_POLL_MS : Math.min(wait, minute) + 5));
    }
  }

  /** GitHub asked for a wait (retry-after): no process sends a write of this installation before it ends. */
  async pause(installationId: number, ms: number): Promise<void> {
    await this.redis.eval(PAUSE, 1, `${this.key(installationId)}:pause`, String(Math.ceil(ms)));
  }

  private holdTurn(key: string, id: string): () => Promise<void> {
    const renew = setInterval(() => void this.redis.eval(RENEW, 1, `${key}:turn`, id, String(TURN_MS)).catch(() => undefined), TURN_MS / 3);
    return async () => {
      clearInterval(renew);
      await this.redis.eval(RELEASE, 2, `${key}:turn`, key, id, String(Date.now()));
    };
  }
}

/** GitHub counts these as content-creating; the App's own token calls are not. */
export function isContentCreating(method: string, url: string): boolean {
  return method !== 'GET' && method !== 'HEAD' && !/^\/app(\/|$)|\/app\/installations\//.test(url.replace(/^https?:\/\/[^/]+(\/api\/v3)?/, ''));
}

/** Marks one request as bookkeeping whatever its client's priority (`request: BOOKKEEPING`), e.g. labels. */
export const BOOKKEEPING = { priority: 'bookkeeping' } as const satisfies { priority: WritePriority };

/** A request's own priority (`request: { priority }`), else its client's. */
export function priorityOf(options: { request?: { [option: string]: unknown } }, client: WritePriority): WritePriority {
  const own = options.request?.['priority'];
  return own === 'person' || own === 'bookkeeping' ? own : client;
}
