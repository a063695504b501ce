import { LABELS, labelChanges } from '../report/labels.js';
import type { Octokit, RepoRef } from './types.js';

const STYLE = new Map<string, { color: string; description: string }>(Object.values(LABELS).map((l) => [l.name, { color: l.color, description: l.description }]));

/**
 * Makes mergeops's labels on an issue or PR equal `desired`: one read (none when the
 * webhook said which labels it has), then only the changes (a push that changes nothing in the labels writes nothing). A label new to the
 * repository is created first with its colour and description.
 */
export async function syncLabels(octokit: Octokit, r: RepoRef, issue: number, desired: readonly string[], known?: readonly string[]): Promise<{ add: string[]; remove: string[] }> {
  // The event's labels when the job has them (a stale one only costs an idempotent add or a 404 on remove).
  const current = known ?? (await octokit.paginate(octokit.rest.issues.listLabelsOnIssue, { ...r, issue_number: issue, per_page: 100 })).map((l) => l.name);
  const changes = labelChanges(current, desired);
  for (const name of changes.add) {
    const style = STYLE.get(name);
    if (!style) continue;
    try {
      await octokit.rest.issues.getLabel({ ...r, name });
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
      await octokit.rest.issues.createLabel({ ...r, name, ...style }).catch((e: unknown) => {
        // 422: created meanwhile (another PR's preview); adding it works either way.
        if ((e as { status?: number }).status !== 422) throw e;
      });
    }
  }
  if (changes.add.length) await octokit.rest.issues.addLabels({ ...r, issue_number: issue, labels: changes.add });
  for (const name of changes.remove) {
    await octokit.rest.issues.removeLabel({ ...r, issue_number: issue, name }).catch((e: unknown) => {
      if ((e as { status?: number }).status !== 404) throw e;
    });
  }
  return changes;
}
