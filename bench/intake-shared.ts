/** What the intake benchmark and its load generator process exchange. */
export interface LoadJob {
  url: string;
  secret: string;
  rate: number;
  seconds: number;
  connections: number;
  /** A `pull_request` payload with PR_MARK and SHA_MARK where each delivery's number and head SHA go. */
  templateFile: string;
  shas: string[];
}

export interface LoadResult {
  sent: number;
  ok: number;
  non2xx: number;
  errors: number;
  perSecond: number;
  /** Raw: each answer's own latency (autocannon with ignoreCoordinatedOmission). */
  p50: number;
  p99: number;
  max: number;
  /** Corrected for coordinated omission with the real per-connection send interval. */
  correctedP50: number;
  correctedP99: number;
  intervalMs: number;
}

export const PR_MARK = '987654321';
export const SHA_MARK = 'e'.repeat(40);
