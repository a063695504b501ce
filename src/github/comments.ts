import { parseMarker } from '../report/comment.js';
import type { Octokit, RepoRef } from './types.js';

export interface CommentIdStore {
  get(): Promise<number[] | null>;
  set(ids: number[]): Promise<void>;
}

/**
 * Makes the PR's mergeops comments equal `bodies`: edits the existing parts in place,
 * posts missing ones and deletes parts no longer needed. The ids are remembered so a
 * push normally costs one PATCH and no listing; when the memory is missing or stale the
 * comments are found by their hidden marker, and only among bot comments, so nobody
 * can hijack the preview by pasting the marker.
 */
export async function upsertComments(octokit: Octokit, r: RepoRef, pr: number, bodies: string[], store: CommentIdStore): Promise<number[]> {
  let ids = await store.get();
  if (ids && ids.length === bodies.length) {
    try {
      for (let i = 0; i < bodies.length; i++) {
        await octokit.rest.issues.updateComment({ ...r, comment_id: ids[i] as number, body: bodies[i] as string });
      }
      return ids;
    } catch (err) {
      if ((err as { status?: number }).status !== 404) throw err;
    }
  }
  ids = await findComments(octokit, r, pr);
  const out: number[] = [];
  for (let i = 0; i < bodies.length; i++) {
    const body = bodies[i] as string;
    const existing = ids[i];
    if (existing !== undefined) {
      await octokit.rest.issues.updateComment({ ...r, comment_id: existing, body });
      out.push(existing);
    } else {
      const res = await octokit.rest.issues.createComment({ ...r, issue_number: pr, body });
      out.push(res.data.id);
    }
  }
  for (const extra of ids.slice(bodies.length)) await octokit.rest.issues.deleteComment({ ...r, comment_id: extra });
  await store.set(out);
  return out;
}

async function findComments(octokit: Octokit, r: RepoRef, pr: number): Promise<number[]> {
  const comments = await octokit.paginate(octokit.rest.issues.listComments, { ...r, issue_number: pr, per_page: 100 });
  return comments
    .filter((c) => c.user?.type === 'Bot')
    .map((c) => ({ id: c.id, part: parseMarker(c.body) }))
    .filter((c): c is { id: number; part: number } => c.part !== null)
    .sort((a, b) => a.part - b.part)
    .map((c) => c.id);
}
