import type { RedisClient } from '../redis.js';
import { Gauge } from 'prom-client';
import type { DeployJob } from '../flows/jobs.js';
import { registry } from '../metrics.js';

/** The field of a repo-wide lock (`/mergeops lock all`): it covers apps added later too. */
export const ALL_APPS = '*';

/** A deploy freeze of one app (or all of a repo's apps): who, when, why. */
export interface Lock {
  /** An app name from the repo's config, or ALL_APPS. */
  app: string;
  /** `owner/name`, for the locks check and metrics. */
  repo: string;
  by: string;
  /** ISO time. */
  at: string;
  reason: string;
}

/**
 * The newest commit that would have deployed an app while it was locked: enough to enqueue
 * its deploy again on unlock (references only, like every job).
 */
export interface PendingDeploy extends Pick<DeployJob, 'installationId' | 'owner' | 'repo' | 'repoId' | 'sha' | 'branch' | 'defaultBranch'> {
  app: string;
  /** When the commit was pushed; the newest push wins, whatever order deploys ran in. */
  pushedAtMs: number;
}

export interface LockResult {
  locked: Lock[];
  /** Apps that were locked already; their lock (who/why) is kept. */
  already: Lock[];
}

export interface UnlockResult {
  unlocked: Lock[];
  notLocked: string[];
  /** Commits recorded while locked, now due to be applied. */
  pending: PendingDeploy[];
  /** Set when a repo-wide lock still holds the apps named. */
  heldByAll?: Lock;
}

const HOLD = `local l = redis.call('hget', KEYS[1], ARGV[1]) or redis.call('hget', KEYS[1], '*')
if not l then return false end
local cur = redis.call('hget', KEYS[2], ARGV[1])
if cur then
  local t = tonumber(cjson.decode(cur).pushedAtMs)
  if t and t > tonumber(ARGV[3]) then return l end
end
redis.call('hset', KEYS[2], ARGV[1], ARGV[2])
return l`;

const UNLOCK = `local out = {unlocked = {}, pending = {}, notLocked = {}}
if ARGV[2] == 'all' then
  local locks = redis.call('hgetall', KEYS[1])
  for i = 1, #locks, 2 do table.insert(out.unlocked, locks[i + 1]) end
  local p = redis.call('hgetall', KEYS[2])
  for i = 1, #p, 2 do table.insert(out.pending, p[i + 1]) end
  redis.call('del', KEYS[1], KEYS[2])
else
  local all = redis.call('hget', KEYS[1], '*')
  for i = 3, #ARGV do
    local app = ARGV[i]
    local l = redis.call('hget', KEYS[1], app)
    if l then
      redis.call('hdel', KEYS[1], app)
      table.insert(out.unlocked, l)
    else
      table.insert(out.notLocked, app)
    end
    if not all then
      local p = redis.call('hget', KEYS[2], app)
      if p then
        redis.call('hdel', KEYS[2], app)
        table.insert(out.pending, p)
      end
    end
  end
  if all then out.all = all end
end
if redis.call('hlen', KEYS[1]) == 0 then redis.call('srem', KEYS[3], ARGV[1]) end
return cjson.encode(out)`;

const LOCK = `local ok = redis.call('hsetnx', KEYS[1], ARGV[1], ARGV[2])
redis.call('sadd', KEYS[2], ARGV[3])
if ok == 1 then return false end
return redis.call('hget', KEYS[1], ARGV[1])`;

/** Lua's cjson writes an empty table as `{}`. */
const list = (v: unknown): string[] => (Array.isArray(v) ? (v as string[]) : []);

/**
 * Deploy freezes in Redis, so they survive restarts and every replica sees the same ones.
 * Locking and recording a held deploy are one script, and so are unlocking and taking the
 * held commits: a merge that lands while someone unlocks is either held and handed to the
 * unlock, or applied, never lost in between.
 */
export class LockStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  async lock(r: { repoId: number; repo: string }, apps: string[] | 'all', by: string, reason: string, now = new Date()): Promise<LockResult> {
    const out: LockResult = { locked: [], already: [] };
    for (const app of apps === 'all' ? [ALL_APPS] : apps) {
      const lock: Lock = { app, repo: r.repo, by, at: now.toISOString(), reason };
      // One script: the repo joins the index /metrics reads in the same step its lock appears.
      const held = (await this.redis.eval(LOCK, 2, this.locksKey(r.repoId), this.reposKey(), app, JSON.stringify(lock), String(r.repoId))) as string | null;
      if (held === null) out.locked.push(lock);
      else out.already.push(JSON.parse(held) as Lock);
    }
    return out;
  }

  async unlock(repoId: number, apps: string[] | 'all'): Promise<UnlockResult> {
    const raw = (await this.redis.eval(UNLOCK, 3, this.locksKey(repoId), this.pendingKey(repoId), this.reposKey(), String(repoId), ...(apps === 'all' ? ['all'] : ['', ...apps]))) as string;
    const o = JSON.parse(raw) as { unlocked: unknown; pending: unknown; notLocked: unknown; all?: string };
    const result: UnlockResult = {
      unlocked: list(o.unlocked).map((s) => JSON.parse(s) as Lock),
      notLocked: list(o.notLocked),
      pending: list(o.pending).map((s) => JSON.parse(s) as PendingDeploy),
    };
    if (o.all) result.heldByAll = JSON.parse(o.all) as Lock;
    return result;
  }

  /** The lock holding `app` (its own, else the repo-wide one), or null. */
  async lockOf(repoId: number, app: string): Promise<Lock | null> {
    const [own, all] = await this.redis.hmget(this.locksKey(repoId), app, ALL_APPS);
    const v = own ?? all;
    return v ? (JSON.parse(v) as Lock) : null;
  }

  async list(repoId: number): Promise<Lock[]> {
    const all = await this.redis.hvals(this.locksKey(repoId));
    return all.map((v) => JSON.parse(v) as Lock).sort((a, b) => a.app.localeCompare(b.app));
  }

  /**
   * For the deploy flow: when `app` is locked, records `deploy` as its pending commit (unless
   * a newer push is recorded already) and returns the lock; null means deploy it now.
   */
  async holdIfLocked(deploy: PendingDeploy): Promise<Lock | null> {
    const v = (await this.redis.eval(HOLD, 2, this.locksKey(deploy.repoId), this.pendingKey(deploy.repoId), deploy.app, JSON.stringify(deploy), String(deploy.pushedAtMs))) as string | null;
    return v ? (JSON.parse(v) as Lock) : null;
  }

  async pending(repoId: number): Promise<PendingDeploy[]> {
    return (await this.redis.hvals(this.pendingKey(repoId))).map((v) => JSON.parse(v) as PendingDeploy);
  }

  /** Every lock of every repo (for /metrics). */
  async all(): Promise<Lock[]> {
    const repos = await this.redis.smembers(this.reposKey());
    const out: Lock[] = [];
    for (const id of repos) out.push(...(await this.list(Number(id))));
    return out;
  }

  private locksKey(repoId: number): string {
    return `${this.prefix}:locks:${repoId}`;
  }

  private pendingKey(repoId: number): string {
    return `${this.prefix}:lock-pending:${repoId}`;
  }

  private reposKey(): string {
    return `${this.prefix}:locked-repos`;
  }
}

/** The stores this process's /metrics reads (one per runtime; tests start several). */
const sources = new Set<LockStore>();

/**
 * Current locks, read from Redis at scrape time (locks outlive processes and are shared by
 * replicas, so a counter kept in memory would be wrong after a restart). Label values come
 * only from stored locks, whose app names were checked against the repo's config.
 */
export const locksGauge = new Gauge({
  name: 'mergeops_locks',
  help: 'Deploy locks currently held, per repository and app ("all" for a repo-wide lock)',
  labelNames: ['repo', 'app'] as const,
  registers: [registry],
  async collect() {
    this.reset();
    for (const store of sources) {
      for (const l of await store.all()) this.inc({ repo: l.repo, app: l.app === ALL_APPS ? 'all' : l.app });
    }
  },
});

export function exposeLocks(store: LockStore): () => void {
  sources.add(store);
  return () => void sources.delete(store);
}
