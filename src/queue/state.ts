import type { RedisClient } from '../redis.js';
import type { CommentIdStore } from '../flows/host.js';
import type { DeployJob, PreviewJob } from '../flows/jobs.js';
import { driftAppKey, type DeployedApp, type DriftAlerts } from '../flows/drift.js';

/*
 * The little shared state mergeops keeps, all in Redis so any worker can pick up any job,
 * one class per thing it serves: webhook intake, previews, deploys (and the drift watch,
 * which reads what deploys recorded), and leases that serialise work across workers.
 * Keys are `<prefix>:…` and must not change: running installs hold them.
 */

const WEEK_S = 7 * 24 * 3600;

/**
 * While a delivery's handler runs, its id is held this long only: a process that dies
 * mid-handler (no answer reached GitHub, so GitHub lists the delivery as failed) must not
 * turn GitHub's redelivery — or catch-up's — away as a duplicate. Handlers only enqueue,
 * far inside GitHub's 10 s deadline; a minute covers a slow Redis.
 */
export const DELIVERY_HANDLING_S = 60;
/** A handled delivery's id is kept for GitHub's redelivery window (three days). */
export const DELIVERY_HANDLED_S = 3 * 24 * 3600;

/** Webhook delivery ids being handled (briefly) or handled (within three days, GitHub's redelivery window). */
export class Deliveries {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    /** How long a handler's mark lasts before it is confirmed (tests shorten it). */
    private readonly handlingS = DELIVERY_HANDLING_S,
  ) {}

  /** True the first time a delivery id is seen (or once a handler that took it died): the caller handles it. */
  async firstDelivery(id: string): Promise<boolean> {
    return (await this.redis.set(this.key(id), '1', 'EX', this.handlingS, 'NX')) === 'OK';
  }

  /** The handler succeeded: the id is kept for GitHub's whole redelivery window. */
  async handled(id: string): Promise<void> {
    await this.redis.set(this.key(id), '1', 'EX', DELIVERY_HANDLED_S);
  }

  /** Lets GitHub's redelivery try again after the handler failed. */
  async forgetDelivery(id: string): Promise<void> {
    await this.redis.del(this.key(id));
  }

  private key(id: string): string {
    return `${this.prefix}:delivery:${id}`;
  }
}

/**
 * Records `sha` under `key` unless a later event already recorded another: webhooks
 * arrive out of order and get redelivered, so the event's own time decides.
 */
async function setNewest(redis: RedisClient, key: string, sha: string, atMs: number): Promise<boolean> {
  const script = `local cur = redis.call('get', KEYS[1])
if cur then
  local t = tonumber(string.match(cur, '^(%d+):'))
  if t and t > tonumber(ARGV[1]) then return 0 end
end
redis.call('set', KEYS[1], ARGV[1] .. ':' .. ARGV[2], 'EX', ARGV[3])
return 1`;
  return (await redis.eval(script, 1, key, String(Math.floor(atMs)), sha, String(WEEK_S))) === 1;
}

async function isNewest(redis: RedisClient, key: string, sha: string): Promise<boolean> {
  const v = await redis.get(key);
  return v === null || v.slice(v.indexOf(':') + 1) === sha;
}

/** Each PR's newest head SHA and its preview comment ids. */
export class PreviewState {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async setHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>, eventAtMs: number): Promise<boolean> {
    return setNewest(this.redis, this.headKey(j), j.headSha, eventAtMs);
  }

  async isLatestHead(j: Pick<PreviewJob, 'repoId' | 'pr' | 'headSha'>): Promise<boolean> {
    return isNewest(this.redis, this.headKey(j), j.headSha);
  }

  commentIds(j: Pick<PreviewJob, 'repoId' | 'pr'>): CommentIdStore {
    const key = `${this.prefix}:comments:${j.repoId}:${j.pr}`;
    return {
      get: async () => {
        const v = await this.redis.get(key);
        return v ? (JSON.parse(v) as number[]) : null;
      },
      set: async (ids) => {
        await this.redis.set(key, JSON.stringify(ids), 'EX', 30 * 24 * 3600);
      },
    };
  }

  /** A merge queue group left the queue: its preview, waiting or running, is called off. */
  async cancelMergeGroup(j: Pick<PreviewJob, 'repoId' | 'headSha'>): Promise<void> {
    await this.redis.set(`${this.prefix}:merge-group-cancelled:${j.repoId}:${j.headSha}`, '1', 'EX', 24 * 3600);
  }

  async mergeGroupCancelled(j: Pick<PreviewJob, 'repoId' | 'headSha'>): Promise<boolean> {
    return (await this.redis.exists(`${this.prefix}:merge-group-cancelled:${j.repoId}:${j.headSha}`)) === 1;
  }

  private headKey(j: Pick<PreviewJob, 'repoId' | 'pr'>): string {
    return `${this.prefix}:head:${j.repoId}:${j.pr}`;
  }
}

/** Each branch's newest pushed commit, and the last commit each app deployed successfully. */
export class DeployState {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** The newest commit pushed to a branch: older deploy jobs still waiting are dropped. */
  async setLatest(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>, pushedAtMs: number): Promise<boolean> {
    return setNewest(this.redis, branchKey(this.prefix, 'latest', j), j.sha, pushedAtMs);
  }

  async isLatest(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<boolean> {
    return isNewest(this.redis, branchKey(this.prefix, 'latest', j), j.sha);
  }

  /** The last commit each app deployed successfully: the drift watch's baseline. */
  async recordDeployed(j: DeployJob, app: string): Promise<void> {
    // The check run belongs to this attempt's commit run; a later heal opens its own.
    // Nor the push's file list: a heal re-applies the commit whole.
    const { checkRun: _checkRun, changes: _changes, ...job } = j;
    await this.redis.hset(`${this.prefix}:deployed`, `${j.repoId}/${app}`, JSON.stringify({ ...job, app }));
  }

  /** The commit `app` last deployed successfully, or null when it never did. */
  async deployedSha(j: Pick<DeployJob, 'repoId'>, app: string): Promise<string | null> {
    const v = await this.redis.hget(`${this.prefix}:deployed`, `${j.repoId}/${app}`);
    return v ? (JSON.parse(v) as DeployJob).sha : null;
  }

  /**
   * The commit apps were first deployed at by a bootstrap that wrote them no GitHub
   * Deployment: rollback's oldest candidate for them. One write for all of them.
   */
  async recordFirstDeploys(j: Pick<DeployJob, 'repoId' | 'sha'>, apps: string[]): Promise<void> {
    if (apps.length) await this.redis.hset(`${this.prefix}:first-deployed`, Object.fromEntries(apps.map((a) => [`${j.repoId}/${a}`, j.sha])));
  }

  /** The commit a bootstrap first deployed `app` at without a GitHub Deployment, or null. */
  async firstDeploySha(j: Pick<DeployJob, 'repoId'>, app: string): Promise<string | null> {
    return this.redis.hget(`${this.prefix}:first-deployed`, `${j.repoId}/${app}`);
  }

  /** Records that `j.sha` of its branch holds a repository config (its deploy read one). */
  async recordConfigAt(j: Pick<DeployJob, 'repoId' | 'branch' | 'sha'>): Promise<void> {
    await this.redis.set(branchKey(this.prefix, 'config', j), j.sha);
  }

  /** The newest commit of the branch a deploy found a repository config in, or null. */
  async configAt(j: Pick<DeployJob, 'repoId' | 'branch'>): Promise<string | null> {
    return this.redis.get(branchKey(this.prefix, 'config', j));
  }

  async deployedApps(): Promise<(DeployJob & { app: string })[]> {
    const all = await this.redis.hvals(`${this.prefix}:deployed`);
    return all.map((v) => JSON.parse(v) as DeployJob & { app: string });
  }
}

/** What catch-up after an outage remembers: when it last ran, which events it asked for again. */
export class CatchUpState {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async swapLastRun(nowMs: number): Promise<number | null> {
    const prev = await this.redis.getset(`${this.prefix}:catch-up:last-run`, String(nowMs));
    return prev === null ? null : Number(prev);
  }

  /** True the first time an event is asked for again (within GitHub's three-day window). */
  async firstRedelivery(guid: string): Promise<boolean> {
    return (await this.redis.set(`${this.prefix}:catch-up:redelivered:${guid}`, '1', 'EX', 3 * 24 * 3600, 'NX')) === 'OK';
  }
}

/** The drift each app was last alerted for, so one drift is alerted once (see DriftDeps.alerts). */
export class DriftAlertState implements DriftAlerts {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async first(d: DeployedApp, fingerprint: string): Promise<boolean> {
    const prev = await this.redis.hget(`${this.prefix}:drift-alerted`, driftAppKey(d));
    if (prev === fingerprint) return false;
    await this.redis.hset(`${this.prefix}:drift-alerted`, driftAppKey(d), fingerprint);
    return true;
  }

  async clear(d: DeployedApp): Promise<void> {
    await this.redis.hdel(`${this.prefix}:drift-alerted`, driftAppKey(d));
  }
}

/**
 * Which worker holds the drift watches of a cluster: one owner per cluster across the fleet
 * (N workers watching would each trigger every check), renewed while it lives; a worker
 * that fails to renew stops watching, and another takes over within the lease's time.
 */
export class WatchOwnership {
  private readonly token = `${process.pid}-${Math.random().toString(36).slice(2)}`;

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** Takes or keeps the cluster's watches for `ttlMs`; false while another worker holds them. */
  async hold(cluster: string, ttlMs: number): Promise<boolean> {
    const script = `local cur = redis.call('get', KEYS[1])
if cur == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
if cur then return 0 end
redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;
    return (await this.redis.eval(script, 1, this.key(cluster), this.token, String(ttlMs))) === 1;
  }

  async release(cluster: string): Promise<void> {
    await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, this.key(cluster), this.token);
  }

  private key(cluster: string): string {
    return `${this.prefix}:lease:drift-watch:${cluster}`;
  }
}

export interface Lease {
  release(): Promise<void>;
  extend(): Promise<void>;
}

/** Leases so work that must not overlap (one branch's deploys, one repo's bumps) never does, across workers. */
export class Leases {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  /** The lease of a branch's deploys (and so of its apps); null when another deploy holds it. */
  async acquireDeployLock(j: Pick<DeployJob, 'repoId' | 'branch'>, ttlMs: number): Promise<Lease | null> {
    return this.lease(branchKey(this.prefix, 'lock', j), ttlMs);
  }

  /** The same kind of lease for other serialised work (e.g. `bump:<repoId>`). */
  async acquireLease(name: string, ttlMs: number): Promise<Lease | null> {
    return this.lease(`${this.prefix}:lease:${name}`, ttlMs);
  }

  private async lease(key: string, ttlMs: number): Promise<Lease | null> {
    const token = `${process.pid}-${Math.random().toString(36).slice(2)}`;
    if ((await this.redis.set(key, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
    return {
      // Compare-and-delete: never release a lease that expired and went to someone else.
      release: async () => {
        await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end", 1, key, token);
      },
      extend: async () => {
        await this.redis.eval("if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end", 1, key, token, String(ttlMs));
      },
    };
  }
}

function branchKey(prefix: string, kind: string, j: Pick<DeployJob, 'repoId' | 'branch'>): string {
  return `${prefix}:deploy-${kind}:${j.repoId}:${j.branch}`;
}
