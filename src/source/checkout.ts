/** A revision of a repository extracted on this worker's disk. */
export interface Checkout {
  dir: string;
  /** Always call, success or not: checkouts hold customer code. */
  remove(): Promise<void>;
}
