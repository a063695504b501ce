import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** An extracted revision lent to one job; `release()` returns it, success or not. */
export interface CachedRevision {
  dir: string;
  release(): Promise<void>;
}

interface Entry {
  dir: string;
  bytes: number;
  users: number;
  ready: Promise<void>;
  done: boolean;
}

/**
 * Extracted checkouts of immutable revisions, kept on this worker's disk so a PR's base
 * commit is downloaded once, not on every push to the PR. Keys must name the repository
 * and the commit SHA: a SHA's content never changes, so an entry never goes stale.
 *
 * Entries live in a folder only this process user can read and are evicted least
 * recently used first once their extracted bytes pass `maxBytes`; an entry a job is
 * still reading is never evicted. Nothing is shared with other workers: Redis holds only
 * references, never repository content.
 */
export class RevisionCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;

  private constructor(
    private readonly root: string,
    private readonly maxBytes: number,
  ) {}

  /** `maxBytes` 0 turns caching off: every `get` downloads, and `release` deletes. */
  static async create(maxBytes: number): Promise<RevisionCache> {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'mergeops-revisions-'));
    await fs.chmod(root, 0o700);
    return new RevisionCache(root, maxBytes);
  }

  /**
   * The revision under `key`, extracting it with `fill(dir)` (which returns the bytes
   * written) on a miss. Concurrent misses of one key share a single download; a failed
   * download is not cached.
   */
  async get(key: string, fill: (dir: string) => Promise<number>): Promise<CachedRevision> {
    let entry = this.entries.get(key);
    if (entry) {
      // Map order is the LRU order: re-inserting marks the entry most recently used.
      this.entries.delete(key);
      this.entries.set(key, entry);
    } else {
      // Registered before any await, so a concurrent get of the same key finds it.
      const e: Entry = { dir: '', bytes: 0, users: 0, done: false, ready: Promise.resolve() };
      e.ready = (async () => {
        e.dir = await fs.mkdtemp(path.join(this.root, 'rev-'));
        try {
          // An empty revision still holds a folder; counting it keeps such entries evictable.
          e.bytes = Math.max(await fill(e.dir), 1);
        } catch (err) {
          if (this.entries.get(key) === e) this.entries.delete(key);
          await fs.rm(e.dir, { recursive: true, force: true });
          throw err;
        }
        e.done = true;
        this.bytes += e.bytes;
      })();
      this.entries.set(key, e);
      entry = e;
    }
    entry.users++;
    try {
      await entry.ready;
    } catch (err) {
      entry.users--;
      throw err;
    }
    const e = entry;
    let released = false;
    return {
      dir: e.dir,
      release: async () => {
        if (released) return;
        released = true;
        e.users--;
        await this.evict();
      },
    };
  }

  private async evict(): Promise<void> {
    for (const [key, e] of this.entries) {
      if (this.bytes <= this.maxBytes) return;
      if (e.users > 0 || !e.done) continue;
      this.entries.delete(key);
      this.bytes -= e.bytes;
      await fs.rm(e.dir, { recursive: true, force: true });
    }
  }

  /** Deletes every entry; for process shutdown, after the workers stopped. */
  async close(): Promise<void> {
    this.entries.clear();
    this.bytes = 0;
    await fs.rm(this.root, { recursive: true, force: true });
  }
}
