/**
 * What the monorepo benchmark (bench/monorepo.ts) and its scenario processes
 * (bench/monorepo-worker.ts) share: the repository's shape, the generated repository, the
 * job one process runs and what it reports. Nothing here loads the GitHub stand-in.
 */
import type { KubeObject } from '../src/objects.js';
import { dumpYaml } from '../src/yaml.js';

/** `apps` apps of `perApp` ConfigMaps each, spread over NAMESPACES namespaces. */
export interface Shape {
  apps: number;
  perApp: number;
}

export const NAMESPACES = 4;

export const shapeName = (s: Shape): string => `${s.apps} × ${s.perApp}`;

/** `40x25,200x5` → shapes. */
export function parseShapes(text: string): Shape[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const m = /^(\d+)x(\d+)$/.exec(s);
      if (!m) throw new Error(`BENCH_MONOREPO_SHAPES: "${s}" is not APPSxOBJECTS (e.g. 40x25)`);
      return { apps: Number(m[1]), perApp: Number(m[2]) };
    });
}

/**
 * A generated monorepo as a platform team keeps one: `.github/mergeops.yml` lists every app
 * (name, path, namespace; everything else at its default), each app a folder of plain-YAML
 * ConfigMaps, one file per object, no namespace in the files (the app's config names it).
 * `values` is the state of every object; `change` edits one and says which file it was.
 */
export class MonoRepo {
  private readonly values: number[][];

  constructor(
    readonly shape: Shape,
    /** Namespaces are `bench-mono-<tag>-0…3`; a fresh tag per scenario process. */
    readonly tag: string,
  ) {
    this.values = Array.from({ length: shape.apps }, () => Array.from({ length: shape.perApp }, () => 0));
  }

  get objectCount(): number {
    return this.shape.apps * this.shape.perApp;
  }

  namespaces(prefix = 'bench-mono'): string[] {
    return Array.from({ length: Math.min(NAMESPACES, this.shape.apps) }, (_, i) => `${prefix}-${this.tag}-${i}`);
  }

  namespaceOf(app: number, prefix = 'bench-mono'): string {
    return `${prefix}-${this.tag}-${app % NAMESPACES}`;
  }

  /**
   * Apps are identified by repository and name across namespaces (labels, inventories): a
   * name of this scenario's own keeps an earlier scenario's deploys out of this one's.
   */
  appName(app: number): string {
    return `app-${this.tag}-${String(app).padStart(3, '0')}`;
  }

  objectName(app: number, obj: number): string {
    return `${this.appName(app)}-cm-${String(obj).padStart(2, '0')}`;
  }

  file(app: number, obj: number): string {
    return `apps/${this.appName(app)}/cm-${String(obj).padStart(2, '0')}.yaml`;
  }

  value(app: number, obj: number): string {
    return String(this.values[app]?.[obj] ?? 0);
  }

  object(app: number, obj: number, namespace?: string): KubeObject {
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: this.objectName(app, obj), ...(namespace ? { namespace } : {}) },
      data: { value: this.value(app, obj), payload: 'x'.repeat(200) },
    };
  }

  config(): string {
    const apps = Array.from({ length: this.shape.apps }, (_, i) => `  - name: ${this.appName(i)}\n    path: apps/${this.appName(i)}\n    namespace: ${this.namespaceOf(i)}\n`);
    return `apps:\n${apps.join('')}`;
  }

  files(): Record<string, string> {
    const out: Record<string, string> = { '.github/mergeops.yml': this.config() };
    for (let i = 0; i < this.shape.apps; i++) for (let j = 0; j < this.shape.perApp; j++) out[this.file(i, j)] = dumpYaml(this.object(i, j));
    return out;
  }

  /** Changes one object's value; returns its file. */
  change(app: number, obj: number): string {
    const row = this.values[app] as number[];
    row[obj] = (row[obj] ?? 0) + 1;
    return this.file(app, obj);
  }

  /** Takes a change back (a PR's head is built from the base, which stays as deployed). */
  undo(app: number, obj: number): void {
    const row = this.values[app] as number[];
    row[obj] = (row[obj] ?? 0) - 1;
  }

  /** Every object with its namespace, as `kubectl apply` gets them. */
  manifests(prefix: string): { file: string; yaml: string }[] {
    const out: { file: string; yaml: string }[] = [];
    for (let i = 0; i < this.shape.apps; i++) for (let j = 0; j < this.shape.perApp; j++) out.push({ file: this.file(i, j), yaml: dumpYaml(this.object(i, j, this.namespaceOf(i, prefix))) });
    return out;
  }
}

/** The object a run changes: a different app each run, spread over the repository. */
export function changedObject(shape: Shape, run: number): { app: number; obj: number } {
  return { app: (run * 7 + 3) % shape.apps, obj: run % shape.perApp };
}

export type Scenario = 'first' | 'merge' | 'pr';

export interface MonorepoJob {
  scenario: Scenario;
  shape: Shape;
  runs: number;
  /** How long one run (merge or PR: webhook → job done) may take before the scenario stops. */
  runWaitMs: number;
  /** First deploy: how long until all objects are applied, and then until GitHub's part is done. */
  applyWaitMs: number;
  githubWaitMs: number;
  kubeconfig: string;
  redisUrl: string;
}

/** GitHub's side of a flow, as the stand-in saw it. */
export interface GitHubTally {
  calls: number;
  /** Content-creating requests (POST, PATCH, PUT, DELETE). */
  writes: number;
  /** Requests GitHub refused (403/429 from the stand-in's secondary-limit rules, or other). */
  refused: { status: number; request: string }[];
  /** Most content-creating requests in any 60 s window. */
  maxWritesPerMinute: number;
  /** Most content-creating requests in flight at once, seen at the app's fetch. */
  maxWritesInFlight: number;
  /** Shortest gap between two consecutive content-creating requests, ms (NaN with fewer than 2). */
  minWriteGapMs: number;
  /** `POST /deployments` count. */
  deployments: number;
  /** `METHOD /path` of every call, ids elided, in order. */
  shape: string[];
}

export interface RunResult {
  /** Merge: webhook → the changed object has its new value in the cluster. PR: webhook → comment written. */
  ms: number;
  /** Webhook → the flow's check run completed and the queues idle. */
  doneMs: number;
  /** kube-apiserver's apiserver_request_total delta over the run, without the benchmark's own polls. */
  apiRequests: number;
  /** The same by verb and resource, largest first (`LIST configmaps: 60`). */
  apiBreakdown: string[];
  github: GitHubTally;
}

export interface FirstResult {
  objects: number;
  kubectlMs: number;
  kubectlApiRequests: number;
  /** Webhook → every object applied; null when not within applyWaitMs. */
  appliedMs: number | null;
  /** Objects seen applied when the wait ended. */
  appliedObjects: number;
  /** Webhook → the deploy check completed and GitHub quiet; null when not within githubWaitMs after the apply. */
  doneMs: number | null;
  apiRequests: number;
  github: GitHubTally;
}

export interface ScenarioResult {
  scenario: Scenario;
  shape: Shape;
  runs: RunResult[];
  first?: FirstResult;
  /** Set when the scenario stopped early: what did not happen in time. */
  stopped?: string;
  loadAvg: [number, number];
}
