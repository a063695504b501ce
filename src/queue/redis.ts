import { Redis } from 'ioredis';

/**
 * BullMQ needs maxRetriesPerRequest: null on worker connections (blocking commands must
 * wait out a Redis restart rather than fail). Sentinel/Cluster URLs work through ioredis.
 */
export function createRedis(url: string, forWorker = false): Redis {
  return new Redis(url, { maxRetriesPerRequest: forWorker ? null : 3, enableReadyCheck: true, lazyConnect: false });
}

export async function redisAnswers(redis: Redis, timeoutMs = 1000): Promise<boolean> {
  try {
    const pong = await Promise.race([
      redis.ping(),
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), timeoutMs).unref()),
    ]);
    return pong === 'PONG';
  } catch {
    return false;
  }
}
