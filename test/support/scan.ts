import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';

/** A logger at debug level whose every line is kept, for scanning what the app logs. */
export function capturedLog(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/**
 * Everything stored under `prefix` in Redis — job payloads, return values, failure
 * reasons, logs, mergeops' own state — as one text to search.
 */
export async function redisDump(url: string, prefix: string): Promise<{ keys: number; text: string }> {
  const r = new Redis(url);
  try {
    const out: string[] = [];
    let keys = 0;
    let cursor = '0';
    do {
      const [next, batch] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
      cursor = next;
      for (const key of batch) {
        keys++;
        const type = await r.type(key);
        const value =
          type === 'string'
            ? await r.get(key)
            : type === 'hash'
              ? await r.hgetall(key)
              : type === 'list'
                ? await r.lrange(key, 0, -1)
                : type === 'set'
                  ? await r.smembers(key)
                  : type === 'zset'
                    ? await r.zrange(key, 0, -1)
                    : type === 'stream'
                      ? await r.xrange(key, '-', '+')
                      : null;
        out.push(`${key} ${JSON.stringify(value)}`);
      }
    } while (cursor !== '0');
    return { keys, text: out.join('\n') };
  } finally {
    r.disconnect();
  }
}

/** The needles found in the haystack (empty when none): a failing expect names them. */
export function leaks(haystack: string, needles: string[]): string[] {
  return needles.filter((n) => n !== '' && haystack.includes(n));
}
