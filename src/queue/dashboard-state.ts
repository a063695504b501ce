import crypto from 'node:crypto';
import type { RedisClient } from '../redis.js';
import type { CommentIdStore } from '../flows/host.js';
import type { DashboardRecords, DashboardDrift } from '../flows/dashboard.js';
import { RECENT_ACTIONS, RECENT_DEPLOYS, type DashboardDeploy, type UnitRecord } from '../report/dashboard.js';

/** How long a ticked box stays acted on: far longer than anyone keeps an old page open. */
const BOX_TTL_S = 30 * 24 * 3600;

/**
 * What the deploy dashboard remembers per repository, in Redis so every worker renders the
 * same: its issue number, the body last written (a hash: an unchanged dashboard costs no
 * write), each unit's last deploy and drift, recent deploys, the action lines, and the boxes
 * already acted on.
 */
export class DashboardState implements DashboardRecords {
  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {}

  private key(repoId: number, what: string): string {
    return `${this.prefix}:dashboard-${what}:${repoId}`;
  }

  async issue(repoId: number): Promise<number | null> {
    const v = await this.redis.hget(this.key(repoId, 'issue'), 'number');
    return v ? Number(v) : null;
  }

  async setIssue(repoId: number, issue: number): Promise<void> {
    // A new issue has none of the old one's body: the next render writes it whole.
    await this.redis.hset(this.key(repoId, 'issue'), 'number', String(issue), 'body', '');
  }

  /** True when `pages` differ from what was last written (and `record` was not asked to store yet). */
  async changed(repoId: number, pages: string[]): Promise<boolean> {
    return (await this.redis.hget(this.key(repoId, 'issue'), 'body')) !== digest(pages);
  }

  async written(repoId: number, pages: string[]): Promise<void> {
    await this.redis.hset(this.key(repoId, 'issue'), 'body', digest(pages));
  }

  /** The continuation comments' ids (a table too long for one issue body). */
  continuations(repoId: number): CommentIdStore {
    const k = this.key(repoId, 'issue');
    return {
      get: async () => {
        const v = await this.redis.hget(k, 'comments');
        return v ? (JSON.parse(v) as number[]) : null;
      },
      set: async (ids) => {
        await this.redis.hset(k, 'comments', JSON.stringify(ids));
      },
    };
  }

  async recordDeploy(repoId: number, deploy: DashboardDeploy): Promise<void> {
    const units = this.key(repoId, 'units');
    const prev = await this.redis.hmget(units, ...deploy.units.map((u) => u.unit));
    const multi = this.redis.multi();
    deploy.units.forEach((u, i) => {
      const cur = prev[i] ? (JSON.parse(prev[i] as string) as { deployed?: UnitRecord; last?: UnitRecord }) : {};
      const rec: UnitRecord = { sha: deploy.sha, at: deploy.at, state: u.state, ...(deploy.pr ? { pr: deploy.pr } : {}), ...(deploy.checkUrl ? { checkUrl: deploy.checkUrl } : {}) };
      // A healthy deploy is the new deployed commit and clears an older failure; anything else stays beside it.
      const next = u.state === 'healthy' ? { deployed: rec } : { ...cur, last: rec };
      multi.hset(units, u.unit, JSON.stringify(next));
    });
    multi.lpush(this.key(repoId, 'deploys'), JSON.stringify(deploy));
    multi.ltrim(this.key(repoId, 'deploys'), 0, RECENT_DEPLOYS - 1);
    await multi.exec();
  }

  async units(repoId: number): Promise<Map<string, { deployed?: UnitRecord; last?: UnitRecord }>> {
    const all = await this.redis.hgetall(this.key(repoId, 'units'));
    return new Map(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as { deployed?: UnitRecord; last?: UnitRecord }]));
  }

  async deploys(repoId: number): Promise<DashboardDeploy[]> {
    return (await this.redis.lrange(this.key(repoId, 'deploys'), 0, RECENT_DEPLOYS - 1)).map((v) => JSON.parse(v) as DashboardDeploy);
  }

  async recordDrift(repoId: number, unit: string, drift: DashboardDrift | null): Promise<boolean> {
    const k = this.key(repoId, 'drift');
    if (drift === null) return (await this.redis.hdel(k, unit)) > 0;
    const before = await this.redis.hget(k, unit);
    const prev = before ? (JSON.parse(before) as DashboardDrift) : null;
    if (prev && prev.objects === drift.objects && JSON.stringify(prev.fields) === JSON.stringify(drift.fields)) return false;
    await this.redis.hset(k, unit, JSON.stringify(drift));
    return true;
  }

  async drift(repoId: number): Promise<Map<string, DashboardDrift>> {
    const all = await this.redis.hgetall(this.key(repoId, 'drift'));
    return new Map(Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as DashboardDrift]));
  }

  async recordAction(repoId: number, line: string): Promise<void> {
    await this.redis.multi().lpush(this.key(repoId, 'actions'), line).ltrim(this.key(repoId, 'actions'), 0, RECENT_ACTIONS - 1).exec();
  }

  async actions(repoId: number): Promise<string[]> {
    return this.redis.lrange(this.key(repoId, 'actions'), 0, RECENT_ACTIONS - 1);
  }

  /** True while box `id` was never acted on. */
  async unacted(repoId: number, id: string): Promise<boolean> {
    return (await this.redis.exists(`${this.key(repoId, 'box')}:${digest([id])}`)) === 0;
  }

  /** True the first time box `id` is acted on: the same box ticked again (or redelivered) does nothing. */
  async firstAction(repoId: number, id: string): Promise<boolean> {
    return (await this.redis.set(`${this.key(repoId, 'box')}:${digest([id])}`, '1', 'EX', BOX_TTL_S, 'NX')) === 'OK';
  }

  /**
   * Coalescing: true when no render of this repository is due yet (the caller enqueues
   * one); false when one is waiting, which will read the newest state anyway.
   */
  async markDue(repoId: number, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.key(repoId, 'due'), '1', 'PX', Math.max(1000, ttlMs), 'NX')) === 'OK';
  }

  /** A render starts: changes from now on need a render of their own. */
  async clearDue(repoId: number): Promise<void> {
    await this.redis.del(this.key(repoId, 'due'));
  }

  /** One render of a repository at a time (issue creation must not race); released by the returned function. */
  async renderLock(repoId: number, ttlMs: number): Promise<(() => Promise<void>) | null> {
    const token = crypto.randomUUID();
    const k = this.key(repoId, 'render');
    if ((await this.redis.set(k, token, 'PX', ttlMs, 'NX')) !== 'OK') return null;
    return async () => {
      await this.redis.eval(`if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`, 1, k, token);
    };
  }
}

function digest(pages: string[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(pages)).digest('hex');
}
