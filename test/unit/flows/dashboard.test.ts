import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { NO_DEFAULTS } from '../../../src/config/merge.js';
import { refreshDashboard, type DashboardDeps, type DashboardHost, type DashboardRecords } from '../../../src/flows/dashboard.js';
import type { CommentIdStore } from '../../../src/flows/host.js';
import { DASHBOARD_LABEL, DASHBOARD_MARKER, type DashboardDeploy, type UnitRecord } from '../../../src/report/dashboard.js';

const target = { installationId: 1, owner: 'acme', repo: 'shop', repoId: 7, defaultBranch: 'main' };
const CONFIG = 'dashboard: true\napps:\n  - name: web\n    path: deploy/web\n';

/** GitHub's issues as the dashboard sees them, with every write counted. */
class FakeIssues implements DashboardHost {
  readonly target = target;
  issues = new Map<number, { body: string; labels: string[]; ours: boolean }>();
  writes: string[] = [];
  config: string | null = CONFIG;
  readFile = async (): Promise<string | null> => this.config;
  configDefaults = async () => NO_DEFAULTS;
  webUrl = () => 'https://github.com';
  upsertPreviewComments = async (_n: number, bodies: string[]): Promise<number[]> => {
    this.writes.push(`comments ${bodies.length}`);
    return bodies.map((_, i) => i + 1);
  };
  async findIssue(label: string, marker: string): Promise<number | null> {
    this.writes.push('find');
    const found = [...this.issues].find(([, i]) => i.ours && i.labels.includes(label) && i.body.includes(marker));
    return found ? found[0] : null;
  }
  async createIssue(_title: string, body: string, labels: string[]): Promise<number> {
    const n = 100 + this.issues.size;
    this.issues.set(n, { body, labels, ours: true });
    this.writes.push(`create ${n}`);
    return n;
  }
  async updateIssue(n: number, body: string): Promise<boolean> {
    const i = this.issues.get(n);
    if (!i) return false;
    i.body = body;
    this.writes.push(`update ${n}`);
    return true;
  }
  openPullsFromUs = async () => [];
}

class MemoryRecords implements DashboardRecords {
  number: number | null = null;
  body: string | null = null;
  deployList: DashboardDeploy[] = [];
  issue = async () => this.number;
  setIssue = async (_: number, n: number) => void (this.number = n);
  changed = async (_: number, pages: string[]) => JSON.stringify(pages) !== this.body;
  written = async (_: number, pages: string[]) => void (this.body = JSON.stringify(pages));
  continuations = (): CommentIdStore => ({ get: async () => null, set: async () => undefined });
  units = async () => new Map<string, { deployed?: UnitRecord }>([['web', { deployed: { sha: 'a'.repeat(40), at: '2026-12-07T01:00:00.000Z', state: 'healthy' } }]]);
  deploys = async () => this.deployList;
  drift = async () => new Map();
  actions = async () => [];
}

function deps(host: FakeIssues, records: MemoryRecords, mode: DashboardDeps['mode'] = 'opt-in'): DashboardDeps {
  return { host, records, mode, locks: async () => [], deployedSha: async () => null, log: pino({ level: 'silent' }), now: () => new Date('2026-12-07T02:00:00.000Z') };
}

describe('refreshDashboard', () => {
  it('creates the issue once, then edits it in place, and writes nothing when nothing changed', async () => {
    const host = new FakeIssues();
    const records = new MemoryRecords();
    expect(await refreshDashboard(target, deps(host, records))).toBe('created');
    expect(host.writes).toEqual(['find', 'create 100']);
    expect(host.issues.get(100)?.labels).toEqual([DASHBOARD_LABEL]);
    expect(host.issues.get(100)?.body.startsWith(DASHBOARD_MARKER)).toBe(true);
    expect(await refreshDashboard(target, deps(host, records))).toBe('unchanged');
    records.deployList = [{ sha: 'a'.repeat(40), branch: 'main', at: '2026-12-07T01:00:00.000Z', units: [{ unit: 'web', state: 'healthy' }] }];
    expect(await refreshDashboard(target, deps(host, records))).toBe('updated');
    expect(host.writes).toEqual(['find', 'create 100', 'update 100']);
  });

  it('finds its issue by label and marker when the stored number is lost or gone, before ever creating one', async () => {
    const host = new FakeIssues();
    // Someone else's issue with the label and a pasted marker is not ours.
    host.issues.set(50, { body: `${DASHBOARD_MARKER} copied`, labels: [DASHBOARD_LABEL], ours: false });
    host.issues.set(60, { body: `${DASHBOARD_MARKER}\nold`, labels: [DASHBOARD_LABEL], ours: true });
    const records = new MemoryRecords();
    expect(await refreshDashboard(target, deps(host, records))).toBe('updated');
    expect(records.number).toBe(60);
    expect(host.writes).toEqual(['find', 'update 60']);
    // The stored issue was deleted: found again by marker (none now), then made anew, once.
    host.issues.delete(60);
    records.body = null;
    expect(await refreshDashboard(target, deps(host, records))).toBe('created');
    expect(records.number).toBe(101);
    expect(host.writes.slice(2)).toEqual(['find', 'create 101']);
  });

  it('follows the repository and the operator: dashboard: true opts in, all turns it on unless false, off wins', async () => {
    const host = new FakeIssues();
    host.config = 'apps:\n  - name: web\n    path: deploy/web\n';
    expect(await refreshDashboard(target, deps(host, new MemoryRecords()))).toBe('off');
    expect(await refreshDashboard(target, deps(host, new MemoryRecords(), 'all'))).toBe('created');
    host.config = 'dashboard: false\napps:\n  - name: web\n    path: deploy/web\n';
    expect(await refreshDashboard(target, deps(host, new MemoryRecords(), 'all'))).toBe('off');
    host.config = CONFIG;
    expect(await refreshDashboard(target, deps(host, new MemoryRecords(), 'off'))).toBe('off');
    host.config = null;
    expect(await refreshDashboard(target, deps(host, new MemoryRecords()))).toBe('no-config');
    expect(host.writes).toEqual(['find', 'create 100']);
  });
});
