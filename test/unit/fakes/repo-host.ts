import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { CheckName } from '../../../src/check-names.js';
import type { CommentIdStore, DeploymentState, FileChange, HostTarget, PullRequestRef, RepoHost, RepoHosts } from '../../../src/flows/host.js';
import type { CheckOutput } from '../../../src/report/check.js';
import type { Checkout } from '../../../src/source/checkout.js';
import { labelChanges } from '../../../src/report/labels.js';
import type { Permission } from '../../../src/config/command-permissions.js';
import type { ChangedFiles } from '../../../src/engine/affected.js';
import type { ConfigDefaults } from '../../../src/config/merge.js';
import { readDefaultsFiles, resolveDefaults } from '../../../src/config/defaults.js';

export type Files = Record<string, string>;

export interface FakeCheck {
  id: number;
  name: CheckName;
  headSha: string;
  status: 'in_progress' | 'completed';
  conclusion?: string;
  output?: CheckOutput | { title: string; summary: string };
}

export interface FakeDeployment {
  id: number;
  sha: string;
  environment: string;
  statuses: { state: DeploymentState; description: string; logUrl?: string; environmentUrl?: string }[];
}

export interface FakePull {
  number: number;
  head: string;
  base: string;
  title: string;
  body: string;
  state: 'open' | 'closed';
  merged: boolean;
  labels: string[];
  autoMerge: boolean;
}

const sha1 = (s: string): string => crypto.createHash('sha1').update(s).digest('hex');

/**
 * An in-memory GitHub for one repository, behind the same RepoHost seam the flows use:
 * commits with their files, branches, check runs, comments, Deployments and pull
 * requests. Unknown commits and files answer like GitHub does (a 404 error, or null).
 * Everything a flow reports is kept, so tests assert what a user would see.
 */
export class FakeRepoHost implements RepoHost {
  readonly checks: FakeCheck[] = [];
  readonly comments: { id: number; issue: number; body: string }[] = [];
  readonly deployments: FakeDeployment[] = [];
  readonly pulls: FakePull[] = [];
  readonly commits = new Map<string, { files: Files; parents: string[] }>();
  readonly branches = new Map<string, string>();
  /** Commit SHA → the merged PR it came from. */
  readonly merged = new Map<string, number>();
  /** Errors a revision download throws instead (a refused archive, GitHub down). */
  readonly revisionErrors = new Map<string, Error>();
  /** Why enabling auto-merge fails, when it should. */
  autoMergeRefusal: string | null = null;
  /** Checkouts handed out and not yet removed: flows must always clean up. */
  openCheckouts = 0;
  private nextId = 1;

  constructor(readonly target: HostTarget = { installationId: 1, owner: 'acme', repo: 'deploys', repoId: 777 }) {}

  /** A commit with these files (its SHA is derived from them), optionally moving a branch to it. */
  push(files: Files, branch?: string, parents: string[] = []): string {
    const sha = sha1(JSON.stringify([files, parents, this.commits.size]));
    this.commits.set(sha, { files, parents });
    if (branch) this.branches.set(branch, sha);
    return sha;
  }

  check(name: CheckName): FakeCheck | undefined {
    return this.checks.filter((c) => c.name === name).at(-1);
  }

  async startCheck(name: CheckName, headSha: string): Promise<{ id: number; url?: string }> {
    const id = this.nextId++;
    this.checks.push({ id, name, headSha, status: 'in_progress' });
    return { id, url: this.checkRunUrl(id) };
  }

  async finishCheck(id: number, output: CheckOutput): Promise<void> {
    const c = this.mustCheck(id);
    Object.assign(c, { status: 'completed', conclusion: output.conclusion, output });
  }

  async reportCheck(name: CheckName, headSha: string, output: CheckOutput): Promise<{ id: number; url?: string }> {
    const id = this.nextId++;
    this.checks.push({ id, name, headSha, status: 'completed', conclusion: output.conclusion, output });
    return { id, url: this.checkRunUrl(id) };
  }

  async failCheck(id: number, title: string, summary: string): Promise<void> {
    Object.assign(this.mustCheck(id), { status: 'completed', conclusion: 'failure', output: { title, summary } });
  }

  async holdCheck(name: CheckName, headSha: string, output: CheckOutput, id?: number): Promise<{ id: number; url?: string }> {
    if (id !== undefined) {
      Object.assign(this.mustCheck(id), { status: 'in_progress', output });
      return { id, url: this.checkRunUrl(id) };
    }
    const made = this.nextId++;
    this.checks.push({ id: made, name, headSha, status: 'in_progress', output });
    return { id: made, url: this.checkRunUrl(made) };
  }

  async progressCheck(id: number, title: string, summary: string): Promise<void> {
    Object.assign(this.mustCheck(id), { status: 'in_progress', output: { title, summary } });
  }

  async cancelCheck(id: number, summary: string): Promise<void> {
    Object.assign(this.mustCheck(id), { status: 'completed', conclusion: 'cancelled', output: { title: 'Cancelled', summary } });
  }

  checkRunUrl(id: number): string {
    return `https://github.com/${this.target.owner}/${this.target.repo}/runs/${id}`;
  }

  webUrl(): string {
    return 'https://github.com';
  }

  async upsertPreviewComments(pr: number, bodies: string[], store: CommentIdStore): Promise<number[]> {
    const known = (await store.get()) ?? [];
    const ids = bodies.map((body, i) => {
      const existing = this.comments.find((c) => c.id === known[i]);
      if (existing) {
        existing.body = body;
        return existing.id;
      }
      const id = this.nextId++;
      this.comments.push({ id, issue: pr, body });
      return id;
    });
    for (const extra of known.slice(bodies.length)) this.comments.splice(this.comments.findIndex((c) => c.id === extra), 1);
    await store.set(ids);
    return ids;
  }

  async comment(issue: number, body: string): Promise<void> {
    this.comments.push({ id: this.nextId++, issue, body });
  }

  async createDeployment(sha: string, environment: string): Promise<number> {
    const id = this.nextId++;
    this.deployments.push({ id, sha, environment, statuses: [] });
    return id;
  }

  async setDeploymentState(deploymentId: number, state: DeploymentState, description: string, logUrl?: string, environmentUrl?: string): Promise<void> {
    const d = this.deployments.find((x) => x.id === deploymentId);
    if (!d) throw Object.assign(new Error('Not Found'), { status: 404 });
    // GitHub caps descriptions at 140 characters; the Octokit host shortens them.
    d.statuses.push({ state, description: description.slice(0, 140), ...(logUrl ? { logUrl } : {}), ...(environmentUrl ? { environmentUrl } : {}) });
  }

  async revision(sha: string): Promise<Checkout> {
    const refused = this.revisionErrors.get(sha);
    if (refused) throw refused;
    const commit = this.commits.get(sha);
    if (!commit) throw Object.assign(new Error(`No commit found for SHA: ${sha}`), { status: 404 });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mergeops-fake-'));
    for (const [rel, text] of Object.entries(commit.files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    this.openCheckouts++;
    let removed = false;
    return {
      dir,
      remove: async () => {
        if (!removed) this.openCheckouts--;
        removed = true;
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }

  cachedRevision(sha: string): Promise<Checkout> {
    return this.revision(sha);
  }

  async defaultBranch(): Promise<string> {
    return 'main';
  }

  async repository(): Promise<{ id: number; defaultBranch: string } | null> {
    return { id: this.target.repoId, defaultBranch: 'main' };
  }

  /** Compares asked for, as `base...head`: a test proves which flow asked GitHub what. */
  readonly compares: string[] = [];
  /** Every readFile, as `file@ref`. */
  readonly reads: string[] = [];
  /** Set to make the compare API fail (GitHub down) or cut its list (GitHub's 300 files). */
  compareError: Error | null = null;
  compareLimit = 300;

  async changedFiles(base: string, head: string): Promise<ChangedFiles> {
    this.compares.push(`${base}...${head}`);
    if (this.compareError) throw this.compareError;
    const a = this.commits.get(base)?.files;
    const b = this.commits.get(head)?.files;
    if (!a || !b) throw Object.assign(new Error('Not Found'), { status: 404 });
    const paths = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((f) => a[f] !== b[f]).sort();
    if (paths.length >= this.compareLimit) return { complete: false, reason: `${paths.length} or more files changed: GitHub's compare API lists at most ${this.compareLimit}` };
    return { complete: true, paths };
  }

  /**
   * `.github/mergeops.yml` on the default branch of other repositories of the owner (the
   * organisation's `.github` and what it extends), by full name; absent: GitHub's 404.
   */
  readonly defaultsFiles = new Map<string, string>();

  async configDefaults(): Promise<ConfigDefaults> {
    const files = await readDefaultsFiles(this.target.owner, async (repo) => this.defaultsFiles.get(repo) ?? null);
    return resolveDefaults(this.target.owner, files);
  }

  async readFile(file: string, ref: string): Promise<string | null> {
    this.reads.push(`${file}@${ref}`);
    const sha = this.branches.get(ref) ?? ref;
    return this.commits.get(sha)?.files[file] ?? null;
  }

  async branchHead(branch: string): Promise<string | null> {
    return this.branches.get(branch) ?? null;
  }

  /** The fake's commits record their parents: `sha` is on the branch when it is the head or an ancestor of it. */
  async commitOnBranch(sha: string, branch: string): Promise<boolean> {
    const seen = new Set<string>();
    const queue = [this.branches.get(branch)];
    while (queue.length) {
      const at = queue.shift();
      if (at === undefined || seen.has(at)) continue;
      if (at === sha) return true;
      seen.add(at);
      queue.push(...(this.commits.get(at)?.parents ?? []));
    }
    return false;
  }

  async commitFiles(baseSha: string, files: FileChange[]): Promise<{ sha: string; tree: string }> {
    const base = this.commits.get(baseSha);
    if (!base) throw Object.assign(new Error('Not Found'), { status: 404 });
    const merged = { ...base.files, ...Object.fromEntries(files.map((f) => [f.path, f.text])) };
    const sha = this.push(merged, undefined, [baseSha]);
    return { sha, tree: treeOf(merged) };
  }

  async commitTree(sha: string): Promise<{ tree: string; parents: string[] }> {
    const c = this.commits.get(sha);
    if (!c) throw Object.assign(new Error('Not Found'), { status: 404 });
    return { tree: treeOf(c.files), parents: c.parents };
  }

  async setBranch(branch: string, sha: string, exists: boolean): Promise<void> {
    // GitHub refuses to create a ref that exists (422) and to update one that does not.
    if (exists !== this.branches.has(branch)) throw Object.assign(new Error(exists ? 'Reference does not exist' : 'Reference already exists'), { status: 422 });
    this.branches.set(branch, sha);
  }

  async mergedPullRequest(sha: string): Promise<number | null> {
    return this.merged.get(sha) ?? null;
  }

  async findOpenPullRequest(branch: string): Promise<PullRequestRef | null> {
    const pr = this.pulls.find((p) => p.head === branch && p.state === 'open');
    return pr ? ref(pr) : null;
  }

  async findDeclinedPullRequest(branch: string, title: string): Promise<number | null> {
    return this.pulls.find((p) => p.head === branch && p.state === 'closed' && !p.merged && p.title === title)?.number ?? null;
  }

  async createPullRequest(pr: { title: string; head: string; base: string; body: string }): Promise<PullRequestRef> {
    if (!this.branches.has(pr.head)) throw Object.assign(new Error('Validation Failed: head'), { status: 422 });
    const p: FakePull = { number: this.nextId++, ...pr, state: 'open', merged: false, labels: [], autoMerge: false };
    this.pulls.push(p);
    return ref(p);
  }

  async updatePullRequest(number: number, pr: { title: string; body: string }): Promise<void> {
    Object.assign(this.mustPull(number), pr);
  }

  async closePullRequest(number: number): Promise<void> {
    this.mustPull(number).state = 'closed';
  }

  async addLabels(issue: number, labels: string[]): Promise<void> {
    const p = this.mustPull(issue);
    p.labels = [...new Set([...p.labels, ...labels])];
  }

  /** Labels of issues and PRs that are not pulls made here (previewed PRs), by number. */
  readonly issueLabels = new Map<number, string[]>();
  /** Collaborators' access by login; anyone else has none. */
  readonly permissions = new Map<string, Permission>();

  async syncLabels(issue: number, desired: readonly string[], known?: readonly string[]): Promise<{ add: string[]; remove: string[] }> {
    const current = this.pulls.find((p) => p.number === issue)?.labels ?? this.issueLabels.get(issue) ?? [];
    const { add, remove } = labelChanges(known ?? current, desired);
    const next = [...new Set([...current.filter((l) => !remove.includes(l)), ...add])];
    const pull = this.pulls.find((p) => p.number === issue);
    if (pull) pull.labels = next;
    else this.issueLabels.set(issue, next);
    return { add, remove };
  }

  async permission(login: string): Promise<Permission> {
    return this.permissions.get(login) ?? 'none';
  }

  async enableAutoMerge(pr: PullRequestRef): Promise<string | null> {
    if (this.autoMergeRefusal) return this.autoMergeRefusal;
    this.mustPull(pr.number).autoMerge = true;
    return null;
  }

  private mustCheck(id: number): FakeCheck {
    const c = this.checks.find((x) => x.id === id);
    if (!c) throw Object.assign(new Error('Not Found'), { status: 404 });
    return c;
  }

  private mustPull(number: number): FakePull {
    const p = this.pulls.find((x) => x.number === number);
    if (!p) throw Object.assign(new Error('Not Found'), { status: 404 });
    return p;
  }
}

/** Hosts for flows: every target gets this one repository's fake (tests use one repo). */
export function fakeHosts(host: FakeRepoHost): RepoHosts {
  return async (target) => {
    if (target.repoId !== host.target.repoId) throw Object.assign(new Error('Not Found'), { status: 404 });
    return host;
  };
}

function treeOf(files: Files): string {
  return sha1(JSON.stringify(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))));
}

function ref(p: FakePull): PullRequestRef {
  return { number: p.number, nodeId: `PR_${p.number}`, url: `https://github.com/acme/deploys/pull/${p.number}` };
}
