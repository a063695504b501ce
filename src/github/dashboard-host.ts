import type { HostTarget } from '../flows/host.js';
import type { DashboardHost } from '../flows/dashboard.js';
import { OctokitCommandHost } from './command-host.js';
import type { OctokitHostOptions } from './host.js';
import type { Octokit } from './types.js';

const status = (err: unknown): number | undefined => (err as { status?: number }).status;

/** The dashboard's GitHub calls (its issue, our open PRs) on top of the command host, whose rules its boxes follow. */
export class OctokitDashboardHost extends OctokitCommandHost implements DashboardHost {
  private readonly ownLogin: () => Promise<string>;

  constructor(target: HostTarget, octokit: Octokit, opts: Omit<OctokitHostOptions, 'octokit'>) {
    super(target, octokit, opts);
    this.ownLogin = opts.botLogin;
  }

  async findIssue(label: string, marker: string): Promise<number | null> {
    // One page of the label's open issues; only ours count: anyone can paste the marker.
    const res = await this.octokit.rest.issues.listForRepo({ ...this.r, labels: label, state: 'open', per_page: 100 });
    const me = await this.ownLogin();
    const mine = res.data.filter((i) => !i.pull_request && i.user?.login === me && (i.body ?? '').includes(marker));
    return mine.length ? Math.min(...mine.map((i) => i.number)) : null;
  }

  async createIssue(title: string, body: string, labels: string[]): Promise<number> {
    return (await this.octokit.rest.issues.create({ ...this.r, title, body, labels })).data.number;
  }

  async updateIssue(issue: number, body: string): Promise<boolean> {
    try {
      await this.octokit.rest.issues.update({ ...this.r, issue_number: issue, body });
      return true;
    } catch (err) {
      // Deleted (404), transferred or gone (410): the dashboard is found again or made anew.
      if (status(err) === 404 || status(err) === 410) return false;
      throw err;
    }
  }

  async openPullsFromUs(): Promise<{ number: number; title: string; headRef: string }[]> {
    const res = await this.octokit.rest.pulls.list({ ...this.r, state: 'open', sort: 'updated', direction: 'desc', per_page: 100 });
    const me = await this.ownLogin();
    return res.data.filter((p) => p.user?.login === me && p.head.ref.startsWith('mergeops/')).map((p) => ({ number: p.number, title: p.title, headRef: p.head.ref }));
  }
}
