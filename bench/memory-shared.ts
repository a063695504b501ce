/** What the memory benchmark's worker process reports. */
export interface MemoryResult {
  /** Peak resident set after start-up, before the job. */
  idleKiB: number;
  /** Peak resident set (VmHWM) once the preview was posted. */
  peakKiB: number;
  /** The same peak as Node sees it (getrusage). */
  maxRssKiB: number;
  ms: number;
  title: string;
  commentParts: number;
}

export interface MemoryJob {
  n: number;
  ns: string;
  app: string;
  repoId: number;
  /** The operator's clusters file naming the bench API server as `default`. */
  clustersFile: string;
}
