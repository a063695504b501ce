import { LABELS, labelChanges } from '../report/labels.js';
import { BOOKKEEPING } from './write-pacer.js';
import type { LabelDefinitions } from '../queue/label-definitions.js';
import type { Octokit, RepoRef } from './types.js';

const STYLE = new Map<string, { color: string; description: string }>(Object.values(LABELS).map((l) => [l.name, { color: l.color, description: l.description }]));

/**
 * Makes mergeops's labels on an issue or PR equal `desired`, as bookkeeping (a person's
 * writes go first): no read when the webhook said which labels it has, then only the
 * changes — one write for what is added, one per label removed, none when nothing changed.
 * A label new to the repository is created first with its colour and description, once:
 * `definitions` remembers it (without a store, one read tells).
 */
export async function syncLabels(octokit: Octokit, r: RepoRef & { repoId: number }, issue: number, desired: readonly string[], known?: readonly string[], definitions?: LabelDefinitions): Promise<{ add: string[]; remove: string[] }> {
  const repo = { owner: r.owner, repo: r.repo };
  // The event's labels when the job has them (a stale one only costs an idempotent add or a 404 on remove).
  const current = known ?? (await octokit.paginate(octokit.rest.issues.listLabelsOnIssue, { ...repo, issue_number: issue, per_page: 100 })).map((l) => l.name);
  const changes = labelChanges(current, desired);
  for (const name of changes.add) await defineLabel(octokit, r, name, definitions);
  if (changes.add.length) await octokit.rest.issues.addLabels({ ...repo, issue_number: issue, labels: changes.add, request: BOOKKEEPING });
  for (const name of changes.remove) {
    await octokit.rest.issues.removeLabel({ ...repo, issue_number: issue, name, request: BOOKKEEPING }).catch((e: unknown) => {
      if ((e as { status?: number }).status !== 404) throw e;
    });
  }
  return changes;
}

/** Creates one of mergeops's labels in the repository unless it is known to be there. */
async function defineLabel(octokit: Octokit, r: RepoRef & { repoId: number }, name: string, definitions?: LabelDefinitions): Promise<void> {
  const style = STYLE.get(name);
  if (!style) return;
  const repo = { owner: r.owner, repo: r.repo };
  if (await definitions?.has(r.repoId, name)) return;
  if (!definitions) {
    try {
      await octokit.rest.issues.getLabel({ ...repo, name });
      return;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  await octokit.rest.issues.createLabel({ ...repo, name, ...style, request: BOOKKEEPING }).catch((e: unknown) => {
    // 422: it exists already (made by hand, or by another PR's preview); adding it works either way.
    if ((e as { status?: number }).status !== 422) throw e;
  });
  await definitions?.remember(r.repoId, name);
}
